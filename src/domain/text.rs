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
    #[error("{0} must not contain invisible or text-direction characters (U+{code:04X})", code = u32::from(*.1))]
    Invisible(&'static str, char),
}

/// Characters that change how text around them reads without showing themselves: the
/// text-direction marks, embeddings, overrides and isolates ("\u{202e}evil" reads "live"),
/// zero-width spaces, invisible operators, the byte-order mark, the soft hyphen, and blanks that
/// pass for letters (Hangul fillers, the braille blank). A name with one can pass for another.
/// Inclusive ranges, so that the OpenAPI document's patterns are written from the same list.
const INVISIBLE: [(char, char); 16] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200B}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{E0000}', '\u{E007F}'),
];

/// The joiners, which `first_invisible` accepts only between two characters that show.
const JOINERS: (char, char) = ('\u{200C}', '\u{200D}');

/// What `char::is_whitespace` takes (Unicode's White_Space), which `trim` removes.
const WHITESPACE: [(char, char); 10] = [
    ('\u{0009}', '\u{000D}'),
    ('\u{0020}', '\u{0020}'),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// What `char::is_control` takes (Unicode's Cc).
const CONTROLS: [(char, char); 2] = [('\u{0000}', '\u{001F}'), ('\u{007F}', '\u{009F}')];

/// The controls a multi-line field keeps inside its text.
const LINE_CONTROLS: [(char, char); 3] = [
    ('\u{0009}', '\u{0009}'),
    ('\u{000A}', '\u{000A}'),
    ('\u{000D}', '\u{000D}'),
];

/// One of `INVISIBLE`.
pub fn is_invisible(c: char) -> bool {
    INVISIBLE
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// The first character of `value` that hides itself: one of `is_invisible`, or a zero-width
/// joiner or non-joiner that does not sit between two characters that show (where scripts and
/// emoji use them).
pub fn first_invisible(value: &str) -> Option<char> {
    let chars: Vec<char> = value.chars().collect();
    let shows = |i: Option<usize>| {
        i.and_then(|i| chars.get(i)).is_some_and(|&c| {
            !c.is_whitespace()
                && !c.is_control()
                && !is_invisible(c)
                && !matches!(c, '\u{200C}' | '\u{200D}')
        })
    };
    chars.iter().enumerate().find_map(|(i, &c)| match c {
        '\u{200C}' | '\u{200D}' if !(shows(i.checked_sub(1)) && shows(Some(i + 1))) => Some(c),
        c if is_invisible(c) => Some(c),
        _ => None,
    })
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
    if let Some(c) = first_invisible(value) {
        return Err(TextError::Invisible(label, c));
    }
    Ok(value.to_owned())
}

/// The regular expression (ECMA-262, as JSON Schema's `pattern` takes it) of the text `bounded`
/// accepts, its length apart: blanks at either end (trimmed away), and between them characters
/// that show, with blanks (line breaks and tabs too where `multiline`) or one joiner between
/// two of them. Nothing at all, or blanks only, where the field is not `required`.
pub fn pattern(required: bool, multiline: bool) -> String {
    let inside_blanks = WHITESPACE
        .into_iter()
        .filter(|&(first, _)| !first.is_control())
        .chain(LINE_CONTROLS.into_iter().filter(|_| multiline));
    let hidden = CONTROLS
        .into_iter()
        .chain(WHITESPACE)
        .chain(INVISIBLE)
        .chain([JOINERS]);
    let (edge, gap, shows, joiner) = (
        format!("[{}]", class(WHITESPACE)),
        format!("[{}]", class(inside_blanks)),
        format!("[^{}]", class(hidden)),
        format!("[{}]", class([JOINERS])),
    );
    let text = format!("{shows}(?:{joiner}?{shows}|{gap}+{shows})*");
    if required {
        format!("^{edge}*{text}{edge}*$")
    } else {
        format!("^{edge}*(?:{text}{edge}*)?$")
    }
}

/// The inside of a character class holding `ranges`.
fn class(ranges: impl IntoIterator<Item = (char, char)>) -> String {
    ranges
        .into_iter()
        .map(|(first, last)| {
            if first == last {
                escaped(first)
            } else {
                format!("{}-{}", escaped(first), escaped(last))
            }
        })
        .collect()
}

/// A character as a pattern writes it: `\uXXXX`, or itself beyond the 16-bit range (where
/// `\u` cannot reach without the `u` flag, and Python's `re` has no `\u{…}`).
fn escaped(c: char) -> String {
    match u16::try_from(u32::from(c)) {
        Ok(unit) => format!("\\u{unit:04X}"),
        Err(_) => c.to_string(),
    }
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
    /// What a user calls one of their passkeys ("Work laptop"), 1–100 characters.
    PasskeyName, "Name", required = true, max = 100, multiline = false
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
    fn invisible_and_direction_characters_are_refused() {
        for (value, c) in [
            ("\u{202e}evil", '\u{202e}'),
            ("\u{200f}\u{200f}", '\u{200f}'),
            ("\u{202e}", '\u{202e}'),
            ("pay\u{200b}pal", '\u{200b}'),
            ("a\u{2066}b\u{2069}", '\u{2066}'),
            ("\u{feff}Robert", '\u{feff}'),
            ("\u{3164}", '\u{3164}'),
            ("x\u{200d}", '\u{200d}'),
            ("\u{200c}x", '\u{200c}'),
            ("tag\u{e0041}", '\u{e0041}'),
        ] {
            assert_eq!(
                TokenName::parse(value),
                Err(TextError::Invisible("Name", c)),
                "{value:?}"
            );
            assert!(PersonName::parse(value).is_err());
            assert!(AccountName::parse(value).is_err());
            assert!(ExternalId::parse(value).is_err());
            assert!(Description::parse(value).is_err());
        }
        assert_eq!(
            TextError::Invisible("Name", '\u{202e}').to_string(),
            "Name must not contain invisible or text-direction characters (U+202E)"
        );
        // Joiners where scripts and emoji need them, and emoji's variation selectors, stay.
        for value in [
            "می\u{200c}خواهم",
            "क्\u{200d}ष",
            "👩\u{200d}💻 team",
            "I ❤\u{fe0f} APIs",
            "Zoë Ångström",
        ] {
            assert_eq!(
                TokenName::parse(value).map(TokenName::into_inner),
                Ok(value.to_owned())
            );
        }
    }

    #[test]
    fn the_character_tables_are_what_char_says() {
        let within = |ranges: &[(char, char)], c: char| {
            ranges
                .iter()
                .any(|&(first, last)| (first..=last).contains(&c))
        };
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(within(&WHITESPACE, c), c.is_whitespace(), "{c:?}");
            assert_eq!(within(&CONTROLS, c), c.is_control(), "{c:?}");
        }
    }

    /// Characters each rule of `bounded` turns on, and some that pass.
    const ALPHABET: [char; 16] = [
        'a',
        'é',
        '字',
        '👩',
        '\u{fe0f}',
        ' ',
        '\u{a0}',
        '\u{3000}',
        '\t',
        '\n',
        '\u{b}',
        '\u{85}',
        '\u{7}',
        '\u{200d}',
        '\u{202e}',
        '\u{e0041}',
    ];

    proptest::proptest! {
        #[test]
        fn the_pattern_accepts_what_bounded_accepts(
            picks in proptest::collection::vec(0..ALPHABET.len(), 0..8),
            required: bool,
            multiline: bool,
        ) {
            let value: String = picks.iter().map(|&i| ALPHABET[i]).collect();
            let pattern = regex::Regex::new(&pattern(required, multiline)).unwrap();
            let accepted = bounded(&value, "Text", required, usize::MAX, multiline).is_ok();
            proptest::prop_assert_eq!(pattern.is_match(&value), accepted, "{:?}", value);
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
