//! API keys: `<token id>:<secret>`, where the secret is 32 random lowercase hex digits followed by
//! the 8-hex CRC-32 of `"<token id>:<first 32>"`. The CRC lets anyone reject a mistyped or forged
//! key without a database lookup; the digest is what the database keeps to verify it.

use super::ids::TokenId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

const RANDOM_HEX: usize = 32;
const SECRET_LEN: usize = RANDOM_HEX + 8;

/// The secret half of an API key. Its `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

fn checksum(token_id: &TokenId, random_part: &str) -> String {
    format!("{:08x}", crc(token_id, random_part))
}

fn crc(token_id: &TokenId, random_part: &str) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(token_id.as_str().as_bytes());
    hasher.update(b":");
    hasher.update(random_part.as_bytes());
    hasher.finalize()
}

impl TokenSecret {
    /// 128 bits from the operating system's RNG, bound to `token_id` by the checksum.
    pub fn generate(token_id: &TokenId) -> Self {
        let mut bytes = [0u8; RANDOM_HEX / 2];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let random_part = hex::encode(bytes);
        let crc = checksum(token_id, &random_part);
        Self(random_part + &crc)
    }

    /// Wraps a secret decrypted from our own storage.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores to verify a presented secret: hex SHA-256.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The digest's hex digits, on the stack: what every API request compares, without a
    /// string made for it.
    fn digest_hex(&self) -> [u8; 64] {
        let raw = Sha256::digest(self.0.as_bytes());
        let mut hex = [0u8; 64];
        // Into a buffer of exactly twice the input's length this cannot fail.
        let _ = hex::encode_to_slice(raw, &mut hex);
        hex
    }
}

/// Hex SHA-256 of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDigest(String);

impl SecretDigest {
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison, so response timing says nothing about how much matched.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }

    /// Whether this is `secret`'s digest, compared as `matches` does.
    pub fn is_of(&self, secret: &TokenSecret) -> bool {
        self.0.as_bytes().ct_eq(&secret.digest_hex()).into()
    }
}

/// Why a presented key was refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the key must have the form <token id>:<secret>")]
    Shape,
    #[error("the token id of the key is malformed")]
    TokenId,
    #[error("the secret of the key must be 40 lowercase hexadecimal digits")]
    SecretFormat,
    #[error("the key's checksum does not match; it was mistyped or forged")]
    Checksum,
}

/// A well-formed key whose checksum is right. It may still be unknown or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub token_id: TokenId,
    pub secret: TokenSecret,
}

impl ApiKey {
    pub fn new(token_id: TokenId, secret: TokenSecret) -> Self {
        Self { token_id, secret }
    }

    pub fn parse(value: &str) -> Result<Self, ApiKeyError> {
        let (id, secret) = value.split_once(':').ok_or(ApiKeyError::Shape)?;
        let token_id = TokenId::parse(id).map_err(|_| ApiKeyError::TokenId)?;
        if secret.len() != SECRET_LEN
            || !secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ApiKeyError::SecretFormat);
        }
        // Lowercase hex digits only (checked above), so the number read is the one written.
        let (random_part, sent) = secret.split_at(RANDOM_HEX);
        if u32::from_str_radix(sent, 16).ok() != Some(crc(&token_id, random_part)) {
            return Err(ApiKeyError::Checksum);
        }
        Ok(Self {
            token_id,
            secret: TokenSecret(secret.to_owned()),
        })
    }

    /// The full handle a person copies: `SU-…:secret`.
    pub fn expose(&self) -> String {
        format!("{}:{}", self.token_id, self.secret.expose())
    }

    /// The handle with the secret hidden, for pages that have not been asked to reveal it.
    pub fn masked(token_id: &TokenId) -> String {
        format!("{token_id}:{}", "•".repeat(SECRET_LEN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> TokenId {
        TokenId::parse("SU-160-984-311").unwrap()
    }

    #[test]
    fn generated_secret_has_the_spec_format() {
        let secret = TokenSecret::generate(&id());
        let s = secret.expose();
        assert_eq!(s.len(), 40);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let expected_crc = format!(
            "{:08x}",
            crc32fast::hash(format!("SU-160-984-311:{}", &s[..32]).as_bytes())
        );
        assert_eq!(&s[32..], expected_crc);
        assert_eq!(
            ApiKey::parse(&format!("SU-160-984-311:{s}"))
                .unwrap()
                .secret,
            secret
        );
    }

    #[test]
    fn two_secrets_differ() {
        assert_ne!(TokenSecret::generate(&id()), TokenSecret::generate(&id()));
    }

    #[test]
    fn parse_rejects_bad_keys() {
        let good = ApiKey::new(id(), TokenSecret::generate(&id())).expose();
        let secret = good.split_once(':').unwrap().1.to_owned();
        let flipped_last = {
            let mut s = secret.clone();
            let last = s.pop().unwrap();
            s.push(if last == '0' { '1' } else { '0' });
            s
        };
        let cases: Vec<(String, Result<(), ApiKeyError>)> = vec![
            (good.clone(), Ok(())),
            (String::new(), Err(ApiKeyError::Shape)),
            ("SU-160-984-311".into(), Err(ApiKeyError::Shape)),
            (format!(":{secret}"), Err(ApiKeyError::TokenId)),
            (format!("SU-160-984-31:{secret}"), Err(ApiKeyError::TokenId)),
            ("SU-160-984-311:".into(), Err(ApiKeyError::SecretFormat)),
            (
                format!("SU-160-984-311:{}", secret.to_uppercase()),
                Err(ApiKeyError::SecretFormat),
            ),
            (
                format!("SU-160-984-311:{}", &secret[..39]),
                Err(ApiKeyError::SecretFormat),
            ),
            (
                format!("SU-160-984-311:{secret}0"),
                Err(ApiKeyError::SecretFormat),
            ),
            (
                format!("SU-160-984-311:{secret}:"),
                Err(ApiKeyError::SecretFormat),
            ),
            (
                format!("SU-160-984-311::{secret}"),
                Err(ApiKeyError::SecretFormat),
            ),
            (
                format!("SU-160-984-311:{flipped_last}"),
                Err(ApiKeyError::Checksum),
            ),
            // The checksum binds the secret to its token id.
            (
                format!("SU-160-984-312:{secret}"),
                Err(ApiKeyError::Checksum),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(ApiKey::parse(&value).map(|_| ()), expected, "{value:?}");
        }
    }

    #[test]
    fn digest_matches_only_the_same_secret() {
        let a = TokenSecret::generate(&id());
        let b = TokenSecret::generate(&id());
        assert!(a.digest().matches(&a.digest()));
        assert!(!a.digest().matches(&b.digest()));
        assert!(a.digest().is_of(&a));
        assert!(!a.digest().is_of(&b));
        assert_eq!(a.digest().as_str().len(), 64);
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let secret = TokenSecret::generate(&id());
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn masked_hides_the_secret() {
        assert!(ApiKey::masked(&id()).starts_with("SU-160-984-311:•"));
    }
}
