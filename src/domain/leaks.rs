//! Finding API keys in text: pasted into a ticket, committed to a repository. A key is
//! `SU-ddd-ddd-ddd:` and 40 lowercase hex digits whose last 8 are the CRC-32 of the rest
//! (`api_key`), so a key is recognised exactly: a git SHA, a UUID or any other 40-hex string,
//! even behind a token id, is not one unless its checksum holds (1 chance in 2³²).

use super::api_key::ApiKey;

/// The most text a person may paste to be checked (1 MiB).
pub const MAX_TEXT_BYTES: usize = 1_048_576;

/// Why a key found in pasted text was disabled, as its event says.
pub const REASON: &str = "reported as leaked";

/// What became of a key found in pasted text, as the API answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakResult {
    /// Live (its secret works) and now disabled.
    Disabled,
    /// Its secret is the token's, but the token was already disabled or expired.
    AlreadyInactive,
    /// No such token in the caller's account: unknown, deleted, or another account's (told apart
    /// from nothing, so that nothing is learnt about other accounts).
    NotFound,
    /// The caller's token, but not its key (a secret that never was, or no longer is).
    SecretMismatch,
}

impl LeakResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::AlreadyInactive => "already_inactive",
            Self::NotFound => "not_found",
            Self::SecretMismatch => "secret_mismatch",
        }
    }
}

/// Every key in `text` once, in the order first seen.
pub fn unique_keys(text: &str) -> Vec<ApiKey> {
    let mut seen = std::collections::HashSet::new();
    keys_in(text)
        .into_iter()
        .map(|found| found.key)
        .filter(|key| seen.insert(key.expose()))
        .collect()
}

/// `SU-ddd-ddd-ddd` and `:` and 40 hex digits, all ASCII.
pub const KEY_LEN: usize = 14 + 1 + 40;
const PREFIX: &str = "SU-";

/// A key found, and the line it is on (from 1).
#[derive(Debug)]
pub struct FoundKey {
    pub line: usize,
    pub key: ApiKey,
}

/// The keys on one line, in order. A key is found only whole: not when letters or digits run on
/// before or after it (`XSU-…`, a 41st hex digit).
pub fn keys_in_line(line: &str) -> Vec<ApiKey> {
    line.match_indices(PREFIX)
        .filter_map(|(start, _)| key_at(line.as_bytes(), start))
        .collect()
}

/// The key that starts at `start` in `bytes`, if one does, whole (as `keys_in_line` says). Bytes,
/// not text, so that a file is searched as it is, binary or not; a key is ASCII.
pub fn key_at(bytes: &[u8], start: usize) -> Option<ApiKey> {
    let end = start + KEY_LEN;
    let candidate = bytes.get(start..end)?;
    let joined_before = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
    let joined_after = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
    if joined_before || joined_after || !candidate.starts_with(PREFIX.as_bytes()) {
        return None;
    }
    ApiKey::parse(std::str::from_utf8(candidate).ok()?).ok()
}

/// Every key in `text`, with its line.
pub fn keys_in(text: &str) -> Vec<FoundKey> {
    text.lines()
        .enumerate()
        .flat_map(|(index, line)| {
            keys_in_line(line).into_iter().map(move |key| FoundKey {
                line: index + 1,
                key,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::api_key::TokenSecret;
    use crate::domain::ids::TokenId;

    fn key() -> ApiKey {
        let id = TokenId::generate();
        let secret = TokenSecret::generate(&id);
        ApiKey::new(id, secret)
    }

    #[test]
    fn keys_are_found_in_any_surroundings() {
        let (a, b) = (key(), key());
        let text = format!(
            "curl -H 'Authorization: ApiKey {}'\nnothing here\n\"{}\",{}",
            a.expose(),
            b.expose(),
            a.expose()
        );
        let found: Vec<_> = keys_in(&text)
            .into_iter()
            .map(|f| (f.line, f.key.token_id.to_string()))
            .collect();
        assert_eq!(
            found,
            [
                (1, a.token_id.to_string()),
                (3, b.token_id.to_string()),
                (3, a.token_id.to_string())
            ]
        );
    }

    #[test]
    fn look_alikes_are_not_keys() {
        let real = key().expose();
        let (id, secret) = real.split_once(':').unwrap();
        let mut wrong_digit = secret.to_owned().into_bytes();
        wrong_digit[0] = if wrong_digit[0] == b'a' { b'b' } else { b'a' };
        let wrong_digit = String::from_utf8(wrong_digit).unwrap();
        for text in [
            format!("{id}:{wrong_digit}"),
            format!("X{real}"),
            format!("{real}0"),
            format!("{real}g"),
            format!("{id}:{}", secret.to_uppercase()),
            format!("{id}:{}", &secret[..39]),
            format!("{id}:da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            "SU-123-456-789:123e4567-e89b-12d3-a456-426614174000".to_owned(),
            "SU-é".to_owned(),
        ] {
            assert!(keys_in(&text).is_empty(), "{text}");
        }
        assert_eq!(keys_in(&format!("({real})")).len(), 1);
    }
}
