//! Identifiers of the platform: a fixed prefix followed by groups of digits
//! (`VA-123-456`, `UR-431-800-699`, `SU-160-984-311`, `AGP-123-456-789`).

use rand::Rng;
use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid {1} id (expected {2})")]
pub struct InvalidId(pub String, pub &'static str, pub &'static str);

/// True when `value` is `prefix` followed by `groups` groups of `digits` digits, each after a dash.
fn has_shape(value: &str, prefix: &str, groups: usize, digits: usize) -> bool {
    let Some(rest) = value.strip_prefix(prefix) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    parts.len() == groups + 1
        && parts[0].is_empty()
        && parts[1..]
            .iter()
            .all(|p| p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
}

fn random_digits(prefix: &str, groups: usize, digits: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut id = prefix.to_owned();
    for _ in 0..groups {
        id.push('-');
        for _ in 0..digits {
            id.push(char::from(b'0' + rng.gen_range(0..10u8)));
        }
    }
    id
}

macro_rules! platform_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $prefix:literal, $groups:literal, $digits:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                if has_shape(value, $prefix, $groups, $digits) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidId(value.chars().take(64).collect(), $what, $example))
                }
            }

            /// A fresh random id; uniqueness is the database's job (primary key + retry).
            pub fn generate() -> Self {
                Self(random_digits($prefix, $groups, $digits))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from our own database, where only parsed ids are written.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

platform_id!(
    /// A vendor account, `VA-ddd-ddd`.
    AccountId, "account", "VA", 2, 3, "VA-123-456"
);
platform_id!(
    /// A staff user, `UR-ddd-ddd-ddd`.
    UserId, "user", "UR", 3, 3, "UR-431-800-699"
);
platform_id!(
    /// An API token, `SU-ddd-ddd-ddd`.
    TokenId, "token", "SU", 3, 3, "SU-160-984-311"
);
platform_id!(
    /// An agreement, `AGP-ddd-ddd-ddd`.
    AgreementId, "agreement", "AGP", 3, 3, "AGP-123-456-789"
);

/// 256 random bits from the OS, URL-safe: session ids, CSRF tokens, one-time form ids, batch
/// ids.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids() {
        let cases = [
            ("SU-160-984-311", true),
            ("SU-000-000-000", true),
            ("su-160-984-311", false),
            ("SU-160-984-31", false),
            ("SU-160-984-3111", false),
            ("SU-160-984", false),
            ("SU-160-984-311-", false),
            ("SU--160-984-311", false),
            ("SU-16a-984-311", false),
            ("SU-١٢٣-984-311", false),
            ("XX-160-984-311", false),
            (" SU-160-984-311", false),
            ("", false),
        ];
        for (value, ok) in cases {
            assert_eq!(TokenId::parse(value).is_ok(), ok, "{value:?}");
        }
    }

    #[test]
    fn other_ids() {
        assert!(AccountId::parse("VA-123-456").is_ok());
        assert!(AccountId::parse("VA-123-456-789").is_err());
        assert!(UserId::parse("UR-431-800-699").is_ok());
        assert!(UserId::parse("UR-431-800").is_err());
        assert!(AgreementId::parse("AGP-123-456-789").is_ok());
        assert!(AgreementId::parse("AG-123-456-789").is_err());
    }

    #[test]
    fn generated_ids_parse() {
        for _ in 0..100 {
            assert!(TokenId::parse(TokenId::generate().as_str()).is_ok());
            assert!(AccountId::parse(AccountId::generate().as_str()).is_ok());
            assert!(UserId::parse(UserId::generate().as_str()).is_ok());
            assert!(AgreementId::parse(AgreementId::generate().as_str()).is_ok());
        }
    }

    #[test]
    fn error_names_the_expected_shape() {
        let err = TokenId::parse("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"nope\" is not a valid token id (expected SU-160-984-311)"
        );
    }
}
