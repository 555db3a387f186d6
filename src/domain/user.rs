//! Staff users: e-mail addresses, roles and passwords.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserInputError {
    #[error("{0:?} is not an e-mail address")]
    Email(String),
    #[error("the role must be admin or member")]
    Role,
    #[error("the password must be between 12 and 128 characters")]
    PasswordLength,
}

impl Email {
    /// Lower-cased, trimmed; one `@` with something on each side and a dot in the domain.
    pub fn parse(value: &str) -> Result<Self, UserInputError> {
        let value = value.trim().to_lowercase();
        let valid = value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if valid {
            Ok(Self(value))
        } else {
            Err(UserInputError::Email(value.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn parse(value: &str) -> Result<Self, UserInputError> {
        match value.trim() {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(UserInputError::Role),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

/// A new password chosen for an account. Its `Debug` hides it.
#[derive(Clone)]
pub struct NewPassword(String);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub fn parse(value: &str) -> Result<Self, UserInputError> {
        let length = value.chars().count();
        if (12..=128).contains(&length) {
            Ok(Self(value.to_owned()))
        } else {
            Err(UserInputError::PasswordLength)
        }
    }

    /// 20 characters from an alphabet without look-alikes, from the OS RNG.
    pub fn generate() -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand::rngs::OsRng;
        Self(
            (0..20)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let cases = [
            (
                "robert@frontstreet.example",
                Some("robert@frontstreet.example"),
            ),
            (
                "  Robert@FrontStreet.Example ",
                Some("robert@frontstreet.example"),
            ),
            ("robert", None),
            ("@frontstreet.example", None),
            ("robert@", None),
            ("robert@localhost", None),
            ("rob ert@frontstreet.example", None),
            ("a@b@c.example", None),
            ("robert@.example", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                Email::parse(value).ok().as_ref().map(Email::as_str),
                expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn roles() {
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
        assert_eq!(Role::parse("member"), Ok(Role::Member));
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn passwords() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("exactly12chr").is_ok());
        assert!(NewPassword::parse(&"p".repeat(129)).is_err());
        let generated = NewPassword::generate();
        assert_eq!(generated.expose().len(), 20);
        assert!(NewPassword::parse(generated.expose()).is_ok());
        assert!(!format!("{generated:?}").contains(generated.expose()));
    }
}
