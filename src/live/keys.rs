//! What API keys need checked, kept in memory between requests, and how every instance learns
//! that a token changed.
//!
//! The cache holds, per token id, what `Token::for_key` reads (status, digests, expiry, modules,
//! account, allowed networks, rate limit); the time-based checks (expiry, a rotation's grace
//! period) are made on every request against the clock, so only writes make an entry stale.
//! Three ways keep it from serving one:
//!
//! - **This instance's writes**: every write of what a key depends on calls `changed` inside its
//!   transaction; the entry is dropped the moment the transaction commits, before the answer
//!   goes out.
//! - **Other instances' and the command line's writes**: triggers in the database (migration
//!   `key_changes`) report every such change in the writing transaction itself: on PostgreSQL as a
//!   `NOTIFY tokendesk_keys, '<token id>'`, heard by a listener connection of each instance
//!   (`KeyWatch`); on SQLite as a row of `key_changes`, read by each instance every 200 ms.
//! - **A listener that lost its connection** may have missed some: until it is back, the cache
//!   is not used, and when it is back everything is forgotten once.
//!
//! A read that began before a change and ends after it must not put the old state back: every
//! change moves a generation, and an entry read under an older generation is not kept.

use super::worker::Job;
use crate::db::key_changes::{self, BATCH, Listener};
use crate::db::pool::ConnectionManager;
use crate::db::tokens::KeyHolder;
use crate::db::{DatabaseUrl, DbConnection, DbError};
use crate::domain::ids::TokenId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many keys are kept at most; past that, one is forgotten for each new one.
pub const CAPACITY: usize = 10_000;

/// An entry older than this is read again even if nothing said it changed: a bound on the harm
/// of any change that was somehow not heard of.
const MAX_AGE: Duration = Duration::from_secs(60);

struct Entry<V> {
    holder: Arc<V>,
    read_at: Instant,
}

struct Entries<V> {
    map: HashMap<String, Entry<V>>,
    /// Moves on every change heard of; see the module's documentation.
    generation: u64,
    /// Until when changes are known to be heard of: the watch proved its connection alive
    /// (a ping answered, a poll read) shortly before. Past it, nothing is served or kept: a
    /// connection that hangs without failing cannot keep an old state in use.
    heard_until: Option<Instant>,
}

/// How long one proof that the watch's connection works is trusted. The watch proves it every
/// 250 ms (PostgreSQL) or 200 ms (SQLite); a connection that hangs is thus not trusted past
/// 750 ms after its last answer, and a change made elsewhere is never answered from memory for
/// more than that (the contract says a second).
const HEARD_FOR: Duration = Duration::from_millis(750);

/// The cache of one instance: what `Token::for_key` read, by token id.
pub type KeyCache = Cache<KeyHolder>;

/// A bounded map from token id to what was read of it, that forgets on every change heard of.
pub struct Cache<V> {
    entries: Mutex<Entries<V>>,
    capacity: usize,
}

impl<V> Entries<V> {
    fn heard(&self) -> bool {
        self.heard_until.is_some_and(|until| Instant::now() < until)
    }
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl<V> Cache<V> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
                heard_until: None,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries<V>> {
        super::lock(&self.entries)
    }

    /// What the key of token `id` needs checked, if it is known and fresh.
    pub fn get(&self, id: &TokenId) -> Option<Arc<V>> {
        let entries = self.lock();
        if !entries.heard() {
            return None;
        }
        entries
            .map
            .get(id.as_str())
            .filter(|entry| entry.read_at.elapsed() < MAX_AGE)
            .map(|entry| entry.holder.clone())
    }

    /// The generation to pass to `insert` for what is read from now on.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps what was read for token `id`, unless something changed since `generation`.
    pub fn insert(&self, id: &TokenId, holder: Arc<V>, generation: u64) {
        let mut entries = self.lock();
        if entries.generation != generation || !entries.heard() {
            return;
        }
        if entries.map.len() >= self.capacity
            && !entries.map.contains_key(id.as_str())
            && let Some(victim) = entries.map.keys().next().cloned()
        {
            entries.map.remove(&victim);
        }
        entries.map.insert(
            id.as_str().to_owned(),
            Entry {
                holder,
                read_at: Instant::now(),
            },
        );
    }

    /// Token `ids` changed: what is kept of them goes. `*` (an account's policy changed,
    /// which every key of it is checked against) makes everything go.
    pub fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.lock();
        entries.generation += 1;
        for id in ids {
            if id == EVERY_KEY {
                entries.map.clear();
                return;
            }
            entries.map.remove(id);
        }
    }

    pub fn forget_all(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.clear();
    }

    /// Changes are heard of from now on: what was kept before may be stale and goes.
    fn trust(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.clear();
        entries.heard_until = Some(Instant::now() + HEARD_FOR);
    }

    /// The watch's connection answered just now: changes are still being heard of.
    fn alive(&self) {
        let mut entries = self.lock();
        if entries.heard_until.is_some() {
            entries.heard_until = Some(Instant::now() + HEARD_FOR);
        }
    }

    /// Changes may go unheard: nothing is served or kept until `trust`.
    fn distrust(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.clear();
        entries.heard_until = None;
    }

    pub fn is_trusted(&self) -> bool {
        self.lock().heard()
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How often SQLite's `key_changes` is read.
pub const POLL: Duration = Duration::from_millis(200);
/// How often the PostgreSQL listener looks for notifications.
pub const LISTEN_POLL: Duration = Duration::from_millis(50);
/// How often the listener asks its connection whether it is still there, when nothing arrives.
const LISTEN_PING: Duration = Duration::from_millis(250);
/// How long to wait before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(250);

/// The job that hears of changes made elsewhere (other instances, the command line) and keeps
/// the cache from serving what they changed; run every `period()`.
pub struct KeyWatch {
    manager: ConnectionManager,
    keys: Arc<KeyCache>,
    hearing: Hearing,
    /// No connection is tried again before this, after a failure.
    retry_at: Instant,
    /// Whether hearing was lost, so that the next success is logged.
    lost: bool,
}

/// What the watch hears with.
enum Hearing {
    Nothing,
    /// PostgreSQL: a listening connection, and when it last proved alive.
    Listening {
        listener: Listener,
        pinged: Instant,
    },
    /// SQLite: a connection of its own, and the last change read.
    Polling {
        conn: DbConnection,
        seen: i64,
    },
}

impl KeyWatch {
    pub fn new(url: &DatabaseUrl, timeout: Duration, keys: Arc<KeyCache>) -> Self {
        Self {
            manager: ConnectionManager::new(url.clone(), timeout),
            keys,
            hearing: Hearing::Nothing,
            retry_at: Instant::now(),
            lost: false,
        }
    }

    /// How often the watch looks for changes.
    pub fn period(url: &DatabaseUrl) -> Duration {
        match url {
            DatabaseUrl::Postgres(_) => LISTEN_POLL,
            DatabaseUrl::Sqlite(_) => POLL,
        }
    }

    /// Starts hearing: a listener (PostgreSQL) or the last change so far (SQLite).
    fn connect(&mut self) -> Result<(), DbError> {
        self.hearing = match self.manager.url() {
            DatabaseUrl::Postgres(_) => Hearing::Listening {
                listener: Listener::open(&self.manager)?,
                pinged: Instant::now(),
            },
            DatabaseUrl::Sqlite(_) => {
                let mut conn = self
                    .manager
                    .open()
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                let seen = key_changes::last_change(&mut conn)?;
                Hearing::Polling { conn, seen }
            }
        };
        self.keys.trust();
        if std::mem::take(&mut self.lost) {
            tracing::info!("hearing of key changes again");
        }
        Ok(())
    }

    /// One look for changes; whether the connection proved alive.
    fn hear(&mut self) -> Result<(), DbError> {
        match &mut self.hearing {
            Hearing::Nothing => Ok(()),
            Hearing::Listening { listener, pinged } => {
                let heard = listener.heard()?;
                if !heard.is_empty() {
                    self.keys.forget(heard.iter().map(String::as_str));
                }
                if pinged.elapsed() >= LISTEN_PING {
                    listener.ping()?;
                    *pinged = Instant::now();
                    self.keys.alive();
                }
                Ok(())
            }
            Hearing::Polling { conn, seen } => {
                let changes = key_changes::changes_after(conn, *seen)?;
                *seen = apply(&self.keys, *seen, changes);
                self.keys.alive();
                Ok(())
            }
        }
    }
}

impl Job for KeyWatch {
    /// Connects if it must, then hears. Changes cannot be heard of while this fails: the cache
    /// is not used until a new connection hears again, and forgets everything then.
    fn run(&mut self) -> Result<(), DbError> {
        if matches!(self.hearing, Hearing::Nothing) {
            if Instant::now() < self.retry_at {
                // Still failing, as far as the worker's log goes: no recovery to report yet.
                return Err(DbError::Unavailable(
                    "waiting before connecting again".into(),
                ));
            }
            self.connect()
        } else {
            self.hear()
        }
        .inspect_err(|_| {
            self.keys.distrust();
            self.hearing = Hearing::Nothing;
            self.retry_at = Instant::now() + RETRY;
            self.lost = true;
        })
    }
}

/// Forgets the tokens `changes` name; the last change seen. A gap in the numbers (rows pruned
/// before they were read) or a full batch forgets everything.
fn apply(keys: &KeyCache, seen: i64, changes: Vec<(i64, String)>) -> i64 {
    let Some(&(last, _)) = changes.last() else {
        return seen;
    };
    let gap = changes.first().is_some_and(|(first, _)| *first != seen + 1);
    if gap || changes.len() as i64 >= BATCH {
        keys.forget_all();
    } else {
        keys.forget(changes.iter().map(|(_, id)| id.as_str()));
    }
    last
}

pub use crate::db::pool::EVERY_KEY;

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> TokenId {
        TokenId::parse(&format!("SU-000-000-{n:03}")).unwrap()
    }

    #[test]
    fn nothing_is_served_or_kept_until_changes_are_heard_of() {
        let cache = Cache::<u32>::with_capacity(10);
        cache.insert(&id(1), Arc::new(1), cache.generation());
        assert!(cache.get(&id(1)).is_none() && cache.is_empty());
        cache.trust();
        cache.insert(&id(1), Arc::new(1), cache.generation());
        assert_eq!(cache.get(&id(1)).as_deref(), Some(&1));
        cache.distrust();
        assert!(cache.get(&id(1)).is_none() && cache.is_empty());
    }

    /// A read that began before a change and ends after it does not put the old state back.
    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = Cache::<u32>::with_capacity(10);
        cache.trust();
        let before = cache.generation();
        cache.forget([id(2).as_str()]);
        cache.insert(&id(1), Arc::new(1), before);
        assert!(
            cache.get(&id(1)).is_none(),
            "any change moves the generation"
        );
        cache.insert(&id(1), Arc::new(1), cache.generation());
        cache.forget([id(1).as_str()]);
        assert!(cache.get(&id(1)).is_none());
    }

    /// A watch that stopped proving its connection alive (a ping hanging on a dead network)
    /// stops the cache without any failure reported.
    #[test]
    fn nothing_is_served_once_the_watch_stops_proving_it_hears() {
        let cache = Cache::<u32>::with_capacity(10);
        cache.trust();
        cache.insert(&id(1), Arc::new(1), cache.generation());
        assert!(cache.get(&id(1)).is_some());
        cache.lock().heard_until = Some(Instant::now() - Duration::from_millis(1));
        assert!(cache.get(&id(1)).is_none() && !cache.is_trusted());
        cache.insert(&id(2), Arc::new(2), cache.generation());
        cache.alive();
        assert!(cache.get(&id(1)).is_some(), "heard again: in use again");
        assert!(cache.get(&id(2)).is_none(), "nothing was kept meanwhile");
        cache.distrust();
        cache.alive();
        assert!(!cache.is_trusted(), "only `trust` starts it again");
    }

    #[test]
    fn it_keeps_at_most_its_capacity() {
        let cache = Cache::<u32>::with_capacity(3);
        cache.trust();
        for n in 0..10 {
            cache.insert(&id(n), Arc::new(n), cache.generation());
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&id(9)).as_deref(), Some(&9), "the newest is kept");
    }
}
