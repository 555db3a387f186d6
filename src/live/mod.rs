//! What an instance keeps in memory between requests, and the jobs that run beside them: the
//! API-key cache and the watch that keeps it in step with other instances (`keys`), the totals
//! kept while an account's tokens stay as they were (`counts`), the rate limiter and its
//! exchange with other instances (`rates`), the buffer of API use and its flush (`usage`), the
//! password checks (`passwords`), what it counts for Prometheus (`metrics`), and every periodic job (`jobs`, on the one worker shape of
//! `worker`). Storage (`db`) knows nothing of this wing: it tells it what it needs through the
//! pool's hooks.

pub mod counts;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod passwords;
pub mod rates;
pub mod spool;
pub mod usage;
pub mod worker;

use crate::db::DbPool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The in-memory state of one instance.
pub struct Live {
    pub keys: Arc<keys::KeyCache>,
    pub counts: Arc<counts::CountCache>,
    pub rates: Arc<rates::RateLimiter>,
    pub usage: Arc<usage::UsageBuffer>,
    /// What this instance counts of its own work, for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
}

impl Live {
    /// Fresh state, kept in step with what `pool`'s connections change.
    pub fn new(pool: &DbPool) -> Self {
        let keys = Arc::new(keys::KeyCache::default());
        let forget = Arc::clone(&keys);
        pool.on_tokens_changed(move |tokens| forget.forget(tokens.iter().map(String::as_str)));
        Self {
            keys,
            counts: Arc::default(),
            rates: Arc::default(),
            usage: Arc::default(),
            metrics: Arc::default(),
        }
    }
}

/// Every lock of this wing is taken alike: a panic while one was held (a bug, logged where it
/// happened) left a value that is still whole — a map, a count — so the next holder carries on
/// with it rather than failing every request after.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
