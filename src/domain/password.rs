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

/// A short mark of a stored hash, for what must end when the password changes (a sign-in
/// waiting for its second factor): any new hash, even of the same password, has another salt
/// and so another mark. Not the hash itself, which stays in the users table.
pub fn fingerprint(password_hash: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..16])
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

    #[test]
    fn a_new_hash_of_the_same_password_has_another_fingerprint() {
        let (first, second) = (hash("correct horse"), hash("correct horse"));
        assert_eq!(fingerprint(&first), fingerprint(&first));
        assert_ne!(fingerprint(&first), fingerprint(&second));
        assert_eq!(fingerprint(&first).len(), 32);
    }
}
