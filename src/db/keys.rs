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

use super::pool::{ConnectionManager, DbConnection, in_transaction, link_of};
use super::tokens::KeyHolder;
use super::{DatabaseUrl, DbError};
use crate::domain::ids::TokenId;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many keys are kept at most; past that, one is forgotten for each new one.
pub const CAPACITY: usize = 10_000;

/// An entry older than this is read again even if nothing said it changed: a bound on the harm
/// of any change that was somehow not heard of.
const MAX_AGE: Duration = Duration::from_secs(60);

/// The PostgreSQL channel the triggers notify.
pub const CHANNEL: &str = "tokendesk_keys";

/// The listener's name in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "tokendesk key watch";

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
/// second (PostgreSQL) or every 200 ms (SQLite).
const HEARD_FOR: Duration = Duration::from_millis(2500);

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
        // A panic while holding the lock leaves a map that is still a valid map.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Token `ids` changed: what is kept of them goes.
    pub fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.lock();
        entries.generation += 1;
        for id in ids {
            entries.map.remove(id);
        }
    }

    pub fn forget_all(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.clear();
    }

    /// Changes are heard of from now on: what was kept before may be stale and goes.
    pub(crate) fn trust(&self) {
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

/// Token `id` changed in a way its key depends on. Inside a transaction (as every token write
/// is) it is forgotten when the transaction commits; outside one, at once.
pub fn changed(conn: &mut DbConnection, id: &TokenId) {
    let open = in_transaction(conn);
    let Some(link) = link_of(conn) else {
        return;
    };
    if open {
        link.changed.push(id.as_str().to_owned());
    } else {
        link.keys().forget([id.as_str()]);
    }
}

/// How often SQLite's `key_changes` is read, and PostgreSQL's listener looks for notifications.
const POLL: Duration = Duration::from_millis(200);
const LISTEN_POLL: Duration = Duration::from_millis(50);
/// How often the listener asks its connection whether it is still there, when nothing arrives.
const LISTEN_PING: Duration = Duration::from_secs(1);
/// How long to wait before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(250);
/// `key_changes` rows older than this are deleted (every instance has read them long before).
const KEEP_CHANGES_MINUTES: u32 = 10;
const PRUNE_EVERY: u32 = 300;
/// More changes than this at once: everything is forgotten rather than read one by one.
const BATCH: i64 = 5_000;

/// The thread that hears of changes made elsewhere; `stop` ends it.
pub struct KeyWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KeyWatch {
    pub fn start(url: &DatabaseUrl, timeout: Duration, keys: Arc<KeyCache>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let watching = Watching {
            manager: ConnectionManager::new(url.clone(), timeout),
            keys,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("key-watch".into())
            .spawn(move || match watching.manager.url() {
                DatabaseUrl::Postgres(_) => watching.listen(),
                DatabaseUrl::Sqlite(_) => watching.poll(),
            })
            .expect("a thread can be started at start-up");
        Self {
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

struct Watching {
    manager: ConnectionManager,
    keys: Arc<KeyCache>,
    stop: Arc<AtomicBool>,
}

impl Watching {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps `time` in short steps; whether the watch was stopped meanwhile.
    fn pause(&self, time: Duration) -> bool {
        let until = Instant::now() + time;
        while Instant::now() < until {
            if self.stopped() {
                return true;
            }
            std::thread::sleep(LISTEN_POLL.min(until - Instant::now()));
        }
        self.stopped()
    }

    /// Changes cannot be heard of: the cache stops, the first failure of a series is logged, and
    /// the next attempt waits a little; whether the watch was stopped meanwhile.
    fn failed(&self, error: &DbError, logged: &mut bool) -> bool {
        self.keys.distrust();
        if !*logged {
            tracing::warn!(%error, "cannot hear of key changes; API keys are checked in the database meanwhile");
            *logged = true;
        }
        self.pause(RETRY)
    }

    /// PostgreSQL: `LISTEN`, then forget what each notification names. A lost connection stops
    /// the cache until a new one listens.
    fn listen(&self) {
        let mut lost_logged = false;
        while !self.stopped() {
            let mut conn = match self.listener() {
                Ok(conn) => conn,
                Err(e) => {
                    if self.failed(&e, &mut lost_logged) {
                        return;
                    }
                    continue;
                }
            };
            self.keys.trust();
            if lost_logged {
                tracing::info!("listening for key changes again");
            }
            let mut pinged = Instant::now();
            loop {
                if self.pause(LISTEN_POLL) {
                    return;
                }
                let mut heard = Vec::new();
                let mut failure = None;
                for notification in conn.notifications_iter() {
                    match notification {
                        Ok(notification) => heard.push(notification.payload),
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    }
                }
                if !heard.is_empty() {
                    self.keys.forget(heard.iter().map(String::as_str));
                }
                if failure.is_none() && pinged.elapsed() >= LISTEN_PING {
                    failure = conn.batch_execute("SELECT 1").err().map(|e| e.to_string());
                    pinged = Instant::now();
                    if failure.is_none() {
                        self.keys.alive();
                    }
                }
                if let Some(e) = failure {
                    self.keys.distrust();
                    tracing::warn!(error = %e, "the key-change listener lost its connection");
                    lost_logged = true;
                    break;
                }
            }
        }
    }

    fn listener(&self) -> Result<PgConnection, DbError> {
        let DbConnection::Postgres(mut conn) = self
            .manager
            .open()
            .map_err(|e| DbError::Unavailable(e.to_string()))?
        else {
            return Err(DbError::Unavailable("not a PostgreSQL database".into()));
        };
        conn.batch_execute(&format!(
            "SET application_name = '{LISTENER_NAME}'; LISTEN {CHANNEL};"
        ))?;
        Ok(conn)
    }

    /// SQLite: read the rows the triggers add to `key_changes`.
    fn poll(&self) {
        let mut ticks = 0u32;
        let mut failing = false;
        while !self.stopped() {
            let opened = self
                .manager
                .open()
                .map_err(|e| DbError::Unavailable(e.to_string()))
                .and_then(|mut conn| last_change(&mut conn).map(|seen| (conn, seen)));
            let (mut conn, mut seen) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    if self.failed(&e, &mut failing) {
                        return;
                    }
                    continue;
                }
            };
            self.keys.trust();
            loop {
                if self.pause(POLL) {
                    return;
                }
                match changes_after(&mut conn, seen) {
                    Ok(changes) => {
                        seen = self.apply(seen, changes);
                        self.keys.alive();
                    }
                    Err(e) => {
                        self.keys.distrust();
                        tracing::warn!(error = %e, "cannot read key changes");
                        failing = true;
                        break;
                    }
                }
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(PRUNE_EVERY)
                    && let Err(e) = prune_changes(&mut conn)
                {
                    tracing::warn!(error = %e, "cannot delete old key changes");
                }
            }
        }
    }

    /// Forgets the tokens `changes` name; the last change seen. A gap in the numbers (rows
    /// pruned before they were read) or a full batch forgets everything.
    fn apply(&self, seen: i64, changes: Vec<(i64, String)>) -> i64 {
        let Some(&(last, _)) = changes.last() else {
            return seen;
        };
        let gap = changes.first().is_some_and(|(first, _)| *first != seen + 1);
        if gap || changes.len() as i64 >= BATCH {
            self.keys.forget_all();
        } else {
            self.keys.forget(changes.iter().map(|(_, id)| id.as_str()));
        }
        last
    }
}

fn last_change(conn: &mut DbConnection) -> Result<i64, DbError> {
    use super::schema::key_changes;
    Ok(key_changes::table
        .select(diesel::dsl::max(key_changes::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

fn changes_after(conn: &mut DbConnection, seen: i64) -> Result<Vec<(i64, String)>, DbError> {
    use super::schema::key_changes;
    Ok(key_changes::table
        .filter(key_changes::seq.gt(seen))
        .order(key_changes::seq)
        .limit(BATCH)
        .select((key_changes::seq, key_changes::token_id))
        .load(conn)?)
}

fn prune_changes(conn: &mut DbConnection) -> Result<(), DbError> {
    conn.batch_execute(&format!(
        "DELETE FROM key_changes WHERE changed_at < datetime('now', '-{KEEP_CHANGES_MINUTES} minutes')"
    ))?;
    Ok(())
}

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
