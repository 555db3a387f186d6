//! The one way a password is hashed or checked while serving: argon2 takes ~19 MiB and a core
//! for a while, so only a few run at once, off the async threads, and they never crowd out the
//! database work that shares the blocking threads.

use crate::domain::password;
use tokio::sync::Semaphore;

/// Password checks at once: one per core of the machine this is sized for.
const AT_ONCE: usize = 2;

pub struct PasswordGate {
    turns: Semaphore,
}

impl Default for PasswordGate {
    fn default() -> Self {
        Self {
            turns: Semaphore::new(AT_ONCE),
        }
    }
}

/// The work could not be run (the server is stopping).
#[derive(Debug, thiserror::Error)]
#[error("the password check could not be run: {0}")]
pub struct Interrupted(String);

impl PasswordGate {
    /// Runs `work` (hashing or checking) when its turn comes.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Interrupted> {
        let _turn = self
            .turns
            .acquire()
            .await
            .map_err(|e| Interrupted(e.to_string()))?;
        actix_web::web::block(work)
            .await
            .map_err(|e| Interrupted(e.to_string()))
    }

    /// Whether `candidate` is the password `stored` is the hash of.
    pub async fn verify(&self, stored: String, candidate: String) -> Result<bool, Interrupted> {
        self.run(move || password::verify(&stored, &candidate))
            .await
    }

    /// A new hash of `plain`.
    pub async fn hash(&self, plain: String) -> Result<String, Interrupted> {
        self.run(move || password::hash(&plain)).await
    }
}
