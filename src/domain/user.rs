//! Staff users: e-mail addresses, roles and passwords, and the forms that set them.

use super::form::{FieldErrors, capitalised};
use super::text::PersonName;
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
            && !value.chars().any(|c| {
                c.is_whitespace()
                    || c.is_control()
                    || crate::domain::text::is_invisible(c)
                    || matches!(c, '\u{200C}' | '\u{200D}')
            })
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

/// The Add user form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct NewUserInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
}

impl NewUserInput {
    pub fn parse(&self) -> Result<(PersonName, Email, Role), FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = PersonName::parse(&self.name)
            .map_err(|e| errors.add("name", e.to_string()))
            .ok();
        let email = Email::parse(&self.email)
            .map_err(|e| errors.add("email", capitalised(&e.to_string())))
            .ok();
        let role = Role::parse(&self.role)
            .map_err(|e| errors.add("role", capitalised(&e.to_string())))
            .ok();
        match (name, email, role) {
            (Some(name), Some(email), Some(role)) => Ok((name, email, role)),
            _ => Err(errors),
        }
    }
}

/// The Password form, as typed. Whether the current password is right is the caller's to
/// check (it takes a slow hash).
#[derive(Clone, Default, serde::Deserialize)]
pub struct PasswordChangeInput {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub confirm_password: String,
}

impl PasswordChangeInput {
    /// The new password, if it is long enough, typed the same twice, and not the current one.
    pub fn parse(&self) -> Result<NewPassword, FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.current_password.is_empty() {
            errors.add("current_password", "Enter your current password");
        }
        let new = NewPassword::parse(&self.new_password)
            .map_err(|e| errors.add("new_password", capitalised(&e.to_string())))
            .ok();
        if self.confirm_password != self.new_password {
            errors.add("confirm_password", "The two new passwords differ");
        }
        if !self.new_password.is_empty() && self.new_password == self.current_password {
            errors.add(
                "new_password",
                "Choose a password other than the current one",
            );
        }
        match new {
            Some(new) if errors.is_empty() => Ok(new),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_user_forms() {
        let input = |name: &str, email: &str, role: &str| NewUserInput {
            name: name.into(),
            email: email.into(),
            role: role.into(),
        };
        let (name, email, role) = input("Ann", "Ann@X.example", "member").parse().unwrap();
        assert_eq!(
            (name.as_str(), email.as_str(), role),
            ("Ann", "ann@x.example", Role::Member)
        );
        let errors = input("", "nope", "root").parse().unwrap_err();
        assert_eq!(errors.get("name"), Some("Name is required"));
        assert!(errors.get("email").unwrap().contains("not an e-mail"));
        assert_eq!(errors.get("role"), Some("The role must be admin or member"));
    }

    #[test]
    fn password_changes() {
        let change = |current: &str, new: &str, confirm: &str| PasswordChangeInput {
            current_password: current.into(),
            new_password: new.into(),
            confirm_password: confirm.into(),
        };
        assert!(
            change("old password", "a new long password", "a new long password")
                .parse()
                .is_ok()
        );
        let errors = change("", "short", "other").parse().unwrap_err();
        assert!(errors.get("current_password").is_some());
        assert!(errors.get("new_password").unwrap().contains("12"));
        assert_eq!(
            errors.get("confirm_password"),
            Some("The two new passwords differ")
        );
        let same = change(
            "the same password",
            "the same password",
            "the same password",
        );
        assert!(same.parse().unwrap_err().get("new_password").is_some());
    }

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
