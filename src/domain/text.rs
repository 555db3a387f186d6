//! Free-text fields typed by people: names, external ids, descriptions.

/// Why a text field was refused; the message is shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{0} is required")]
    Required(&'static str),
    #[error("{0} must be at most {1} characters")]
    TooLong(&'static str, usize),
    #[error("{0} must not contain control characters")]
    ControlCharacter(&'static str),
}

/// Trims `value` and checks its length in characters and that it holds no control characters
/// (line breaks and tabs only where `multiline`).
pub fn bounded(
    value: &str,
    label: &'static str,
    required: bool,
    max: usize,
    multiline: bool,
) -> Result<String, TextError> {
    let value = value.trim();
    if value.is_empty() && required {
        return Err(TextError::Required(label));
    }
    if value.chars().count() > max {
        return Err(TextError::TooLong(label, max));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(TextError::ControlCharacter(label));
    }
    Ok(value.to_owned())
}

macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, $label:literal, required = $required:literal, max = $max:literal, multiline = $multiline:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(value: &str) -> Result<Self, TextError> {
                bounded(value, $label, $required, $max, $multiline).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_field!(
    /// A token's name, 1–128 characters.
    TokenName, "Name", required = true, max = 128, multiline = false
);
text_field!(
    /// An optional identifier from the customer's own system, up to 128 characters.
    ExternalId, "External ID", required = false, max = 128, multiline = false
);
text_field!(
    /// A token's description, 1–255 characters; line breaks allowed.
    Description, "Description", required = true, max = 255, multiline = true
);
text_field!(
    /// A person's display name.
    PersonName, "Name", required = true, max = 128, multiline = false
);
text_field!(
    /// An account's (company's) name.
    AccountName, "Account name", required = true, max = 128, multiline = false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        let cases: [(String, Result<&str, TextError>); 8] = [
            ("Tutorial API Token".into(), Ok("Tutorial API Token")),
            ("  padded  ".into(), Ok("padded")),
            (
                "<script>alert(1)</script>".into(),
                Ok("<script>alert(1)</script>"),
            ),
            ("".into(), Err(TextError::Required("Name"))),
            ("   ".into(), Err(TextError::Required("Name"))),
            ("x".repeat(128), Ok(&*"x".repeat(128).leak())),
            ("x".repeat(129), Err(TextError::TooLong("Name", 128))),
            (
                "bad\u{7}bell".into(),
                Err(TextError::ControlCharacter("Name")),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                TokenName::parse(&value).as_ref().map(|n| n.as_str()),
                expected.as_deref(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(TokenName::parse(&"é".repeat(128)).is_ok());
        assert!(TokenName::parse(&"é".repeat(129)).is_err());
    }

    #[test]
    fn external_id_is_optional() {
        assert_eq!(ExternalId::parse("").unwrap().as_str(), "");
        assert!(ExternalId::parse(&"1".repeat(129)).is_err());
        assert!(ExternalId::parse("a\nb").is_err());
    }

    #[test]
    fn descriptions_may_span_lines() {
        assert!(Description::parse("line one\nline two").is_ok());
        assert!(Description::parse("nul\0byte").is_err());
        assert!(Description::parse(&"d".repeat(255)).is_ok());
        assert_eq!(
            Description::parse(&"d".repeat(256)),
            Err(TextError::TooLong("Description", 255))
        );
        assert_eq!(
            Description::parse(""),
            Err(TextError::Required("Description"))
        );
    }
}
