//! At-rest encryption of token secrets with the master key (AES-256-GCM). The token id is the
//! associated data, so a ciphertext copied onto another token's row does not decrypt.

use super::api_key::TokenSecret;
use super::ids::TokenId;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct MasterKey {
    aead: Aes256Gcm,
    /// A key of its own for keyed digests, derived from the master key so that one key is still
    /// all there is to keep.
    digest_key: [u8; 32],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretBoxError {
    #[error("the master key must be exactly 32 bytes (got {0})")]
    KeyLength(usize),
    #[error("the stored secret cannot be decrypted with this master key")]
    Decrypt,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretBoxError> {
        if bytes.len() != 32 {
            return Err(SecretBoxError::KeyLength(bytes.len()));
        }
        let aead =
            Aes256Gcm::new_from_slice(bytes).map_err(|_| SecretBoxError::KeyLength(bytes.len()))?;
        let digest_key = Sha256::new()
            .chain_update(b"tokendesk keyed digest v1\0")
            .chain_update(bytes)
            .finalize()
            .into();
        Ok(Self { aead, digest_key })
    }

    /// `nonce ‖ ciphertext`, with a fresh random nonce each time.
    pub fn seal(&self, token_id: &TokenId, secret: &TokenSecret) -> Vec<u8> {
        self.seal_bytes(token_id.as_str().as_bytes(), secret.expose().as_bytes())
    }

    pub fn open(&self, token_id: &TokenId, sealed: &[u8]) -> Result<TokenSecret, SecretBoxError> {
        let plain = self.open_bytes(token_id.as_str().as_bytes(), sealed)?;
        String::from_utf8(plain)
            .map(TokenSecret::from_trusted)
            .map_err(|_| SecretBoxError::Decrypt)
    }

    /// Any short secret, bound to `context` (what it belongs to): `nonce ‖ ciphertext`, with a
    /// fresh random nonce each time.
    pub fn seal_bytes(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        [nonce.as_slice(), &ciphertext].concat()
    }

    /// What `seal_bytes` sealed with the same `context`.
    pub fn open_bytes(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() <= NONCE_LEN {
            return Err(SecretBoxError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SecretBoxError::Decrypt)
    }

    /// HMAC-SHA-256 of `data` under `context`, in hex: a digest that someone holding the
    /// database but not the master key cannot check guesses against (recovery codes are only
    /// 40 bits, too few to stand a plain hash being searched).
    pub fn keyed_digest(&self, context: &[u8], data: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_key)
            .expect("HMAC takes a key of any length");
        mac.update(context);
        mac.update(b"\0");
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn round_trip() {
        let id = TokenId::generate();
        let secret = TokenSecret::generate(&id);
        let sealed = key(1).seal(&id, &secret);
        assert!(
            !sealed
                .windows(8)
                .any(|w| secret.expose().as_bytes().windows(8).any(|s| s == w))
        );
        assert_eq!(key(1).open(&id, &sealed).unwrap(), secret);
    }

    #[test]
    fn wrong_key_wrong_token_or_tampering_fail() {
        let id = TokenId::parse("SU-111-111-111").unwrap();
        let other = TokenId::parse("SU-222-222-222").unwrap();
        let secret = TokenSecret::generate(&id);
        let mut sealed = key(1).seal(&id, &secret);
        assert_eq!(key(2).open(&id, &sealed), Err(SecretBoxError::Decrypt));
        assert_eq!(key(1).open(&other, &sealed), Err(SecretBoxError::Decrypt));
        assert_eq!(key(1).open(&id, &sealed[..5]), Err(SecretBoxError::Decrypt));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(key(1).open(&id, &sealed), Err(SecretBoxError::Decrypt));
    }

    #[test]
    fn key_length_is_checked() {
        assert_eq!(
            MasterKey::from_bytes(&[0; 16]).err(),
            Some(SecretBoxError::KeyLength(16))
        );
    }
}
