//! Password hashing with argon2id. Both functions are CPU-heavy by design: call them off the
//! async executor.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// A valid hash of a password nobody knows: verifying against it when the e-mail is unknown makes
/// a failed sign-in take as long whether or not the account exists.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$gZiV/M1gPc22ElAH/Jh1Hw$CWOrkoo7oJBQ/iyh7uJ0LO2aLEfrHwTWllSAxT0zRno";

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// False for a wrong password and for a hash that cannot be read.
pub fn verify(password_hash: &str, candidate: &str) -> bool {
    PasswordHash::new(password_hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let hashed = hash("correct horse battery staple");
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify(&hashed, "correct horse battery staple"));
        assert!(!verify(&hashed, "Correct horse battery staple"));
        assert!(!verify("not a hash", "anything"));
    }

    #[test]
    fn dummy_hash_is_well_formed_and_matches_nothing_typed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify(DUMMY_HASH, ""));
        assert!(!verify(DUMMY_HASH, "password"));
    }
}
