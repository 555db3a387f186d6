//! One connection type over SQLite and PostgreSQL, its pool, migrations, and the one way async
//! code reaches the database (`run`).

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long any wait on the database may last (connecting, waiting for a pooled connection, one
/// statement) before the request is answered "unavailable"; `TOKENDESK_DB_TIMEOUT` changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs a statically typed query on the concrete connection. Through `DbConnection` every query
/// is first written out as SQL to find its cached statement; on the connection itself the cache
/// is keyed by the query's type, which is what the per-request API queries need.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// The pooled connections, who is told of what they do (`Hooks`), and whether the database
/// answers (`Health`).
#[derive(Clone)]
pub struct DbPool {
    pool: r2d2::Pool<ConnectionManager>,
    hooks: Arc<Hooks>,
    health: Arc<Health>,
    url: DatabaseUrl,
    /// Checkouts waiting for a connection now.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::ops::Deref for DbPool {
    type Target = r2d2::Pool<ConnectionManager>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

impl DbPool {
    /// Whether the database answers, as far as the watch knows.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// How many are waiting for a connection this moment.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Where the data lives.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// `hook` is told, after each commit of a transaction on this pool's connections, which
    /// tokens it changed in a way their API keys depend on (see `token_changed`).
    pub fn on_tokens_changed(&self, hook: impl Fn(&[String]) + Send + Sync + 'static) {
        write_lock(&self.hooks.tokens_changed).push(Box::new(hook));
    }

    /// `hook` is told the SQL of every statement this pool's connections start: for a test to
    /// count what a request asks of the database.
    pub fn on_statement(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        *write_lock(&self.hooks.statement) = Some(Box::new(hook));
        self.hooks
            .watching_statements
            .store(true, Ordering::Release);
    }
}

type TokensChanged = Box<dyn Fn(&[String]) + Send + Sync>;
type StatementStarted = Box<dyn Fn(&str) + Send + Sync>;

/// Who is told of what a pool's connections do. Storage knows nothing of what they keep: the
/// hooks are registered by whoever keeps something (the key cache, a test).
#[derive(Default)]
pub struct Hooks {
    tokens_changed: std::sync::RwLock<Vec<TokensChanged>>,
    statement: std::sync::RwLock<Option<StatementStarted>>,
    /// Whether `statement` is set: checked on every statement without taking the lock.
    watching_statements: std::sync::atomic::AtomicBool,
}

impl Hooks {
    fn committed(&self, tokens: &[String]) {
        for hook in read_lock(&self.tokens_changed).iter() {
            hook(tokens);
        }
    }
}

/// A poisoned lock (a hook panicked) still holds a valid list.
fn read_lock<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Where the data lives, as chosen by `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseUrlError {
    #[error("is empty")]
    Empty,
    #[error("is not a valid postgres:// URL ({0})")]
    Postgres(String),
}

impl DatabaseUrl {
    /// `postgres://…` / `postgresql://…`, `sqlite://path`, `sqlite:path`, or a plain file path.
    pub fn parse(value: &str) -> Result<Self, DatabaseUrlError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(DatabaseUrlError::Empty);
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let parsed =
                url::Url::parse(value).map_err(|e| DatabaseUrlError::Postgres(e.to_string()))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(DatabaseUrlError::Postgres("no host".into()));
            }
            return Ok(Self::Postgres(value.to_owned()));
        }
        let path = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
            .unwrap_or(value);
        if path.is_empty() {
            return Err(DatabaseUrlError::Empty);
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// For messages: the URL without a password.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("***"));
                    parsed.to_string()
                }
                _ => url.clone(),
            },
        }
    }
}

/// What the connections of one pool share: how often one of them found the database gone, and
/// whether the database answers at all, as the watch (`ping`) last found it.
///
/// While it does not, requests are answered "unavailable" at once, but for one at a time, let
/// through to find out (a circuit breaker): the watch of a server that refuses connections
/// finds out in milliseconds, and one that is frozen is taken for gone once it has not answered
/// for `FROZEN_AFTER` (`note_silence`). Requests already waiting are told at that moment.
#[derive(Debug, Default)]
pub struct Health {
    losses: AtomicU64,
    /// The database does not answer (the watch's last word).
    down: std::sync::atomic::AtomicBool,
    /// When the next request may be let through while down, to find out (milliseconds since
    /// `epoch()`): one a second.
    next_probe: AtomicU64,
    /// Told when the database is found gone, so that requests waiting on it stop waiting.
    went_down: tokio::sync::Notify,
    /// When the database last answered the watch or a request (milliseconds since `epoch()`;
    /// 0: never).
    last_answer: AtomicU64,
}

/// The instant `Health::last_answer` counts from.
fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn millis_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// How long a database that does not answer the watch is given before it is taken for gone.
pub const FROZEN_AFTER: Duration = Duration::from_millis(750);

impl Health {
    fn losses(&self) -> u64 {
        self.losses.load(Ordering::Acquire)
    }

    /// Whether the database answers, as far as is known.
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    /// A statement was answered: the database is there.
    fn answered(&self) {
        self.last_answer
            .store(millis_since_epoch(), Ordering::Release);
        if self.down.load(Ordering::Acquire) && self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("the database answers again");
        }
    }

    fn gone(&self, why: &str) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                why,
                "the database does not answer; requests are answered 503 at once, one at a time let through to find out"
            );
            self.went_down.notify_waiters();
        }
    }

    /// Nothing has answered for `FROZEN_AFTER` (the watch's own question is stuck, or failed):
    /// the database is taken for gone. For a watch that asks every `FROZEN_AFTER` / 3 or so. A
    /// failure while other statements are answered (a pool too busy to lend the watch a
    /// connection in time) is not an outage.
    pub fn note_silence(&self) {
        let last = self.last_answer.load(Ordering::Acquire);
        let silent = last > 0
            && millis_since_epoch().saturating_sub(last)
                > u64::try_from(FROZEN_AFTER.as_millis()).unwrap_or(u64::MAX);
        if silent {
            self.gone("no answer for 750 ms");
        }
    }

    /// Whether a request may try the database now: always while it answers (`Some(false)`);
    /// while it does not, one a second, to find out (`Some(true)`, a probe).
    fn admit(&self) -> Option<bool> {
        if self.is_up() {
            return Some(false);
        }
        let now = millis_since_epoch();
        let next = self.next_probe.load(Ordering::Acquire);
        (now >= next
            && self
                .next_probe
                .compare_exchange(
                    next,
                    now + PROBE_EVERY_MS,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok())
        .then_some(true)
    }
}

/// While the database does not answer, a request is let through to find out this often.
const PROBE_EVERY_MS: u64 = 1000;

/// What a connection carries besides the connection itself (diesel's instrumentation slot).
///
/// On PostgreSQL it watches the queries: when one fails because the connection is gone (the
/// server restarted, the network dropped), the connection is marked lost, so the pool discards
/// it, and every other connection is checked once before its next use: the pool does not pay a
/// query on every checkout, and after an outage the first requests still succeed.
///
/// On both, it holds the tokens the transaction under way changed, for the pool's hooks to be
/// told when it commits (`token_changed`).
struct Link {
    watches_losses: bool,
    lost: bool,
    /// `Health::losses` when this connection last worked.
    checked_at: u64,
    health: Arc<Health>,
    hooks: Arc<Hooks>,
    changed: Vec<String>,
}

impl Instrumentation for Link {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. }
                if self.hooks.watching_statements.load(Ordering::Acquire) =>
            {
                if let Some(hook) = read_lock(&self.hooks.statement).as_ref() {
                    hook(&query.to_string());
                }
            }
            InstrumentationEvent::FinishQuery {
                error: Some(error), ..
            } if self.watches_losses && is_connection_lost(error) => {
                self.lost = true;
                self.health.losses.fetch_add(1, Ordering::AcqRel);
            }
            // An answer, whatever it says: the database is there.
            InstrumentationEvent::FinishQuery { error, .. }
                if error.is_none_or(|e| !is_connection_lost(e)) =>
            {
                self.health.answered();
            }
            _ => {}
        }
    }
}

/// Token `id` changed in a way its API key depends on (status, secret, expiry, modules,
/// networks, rate limit). Inside a transaction (as every token write is) the pool's hooks are
/// told when it commits, so that nothing reads the token again as it was; outside one, at once.
pub fn token_changed(conn: &mut DbConnection, id: &crate::domain::ids::TokenId) {
    announce(conn, id.as_str());
}

/// What a change that concerns every key is announced as (an account's policy, which every
/// key of it is checked against); the triggers of `accounts` write it too.
pub const EVERY_KEY: &str = "*";

/// Something every key depends on changed (`EVERY_KEY`), as `token_changed` tells of one.
pub fn every_key_changed(conn: &mut DbConnection) {
    announce(conn, EVERY_KEY);
}

fn announce(conn: &mut DbConnection, id: &str) {
    let open = in_transaction(conn);
    let Some(link) = link_of(conn) else {
        return;
    };
    if open {
        link.changed.push(id.to_owned());
    } else {
        link.hooks.committed(&[id.to_owned()]);
    }
}

fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        // libpq reports a server that ended the connection (shut down, restarted, or a timeout
        // of its own after a freeze) as an ordinary error; only its words tell.
        Error::DatabaseError(_, info) => LOST_CONNECTION
            .iter()
            .any(|words| info.message().contains(words)),
        _ => false,
    }
}

/// What libpq and PostgreSQL say when the connection is gone rather than the query wrong.
const LOST_CONNECTION: [&str; 6] = [
    "terminating connection",
    "server closed the connection",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
    "SSL connection has been closed",
];

/// The link of a PostgreSQL connection, whose losses are watched.
fn watch_of(conn: &mut DbConnection) -> Option<&mut Link> {
    match conn {
        DbConnection::Postgres(_) => link_of(conn),
        DbConnection::Sqlite(_) => None,
    }
}

/// The link of any connection this module opened.
fn link_of(conn: &mut DbConnection) -> Option<&mut Link> {
    match conn {
        DbConnection::Postgres(pg) => pg.instrumentation().downcast_mut::<Link>(),
        DbConnection::Sqlite(sqlite) => sqlite.instrumentation().downcast_mut::<Link>(),
    }
}

/// Whether a transaction is open on the connection.
fn in_transaction(conn: &mut DbConnection) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let status = match conn {
        DbConnection::Postgres(pg) => AnsiTransactionManager::transaction_manager_status_mut(pg),
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        }
    };
    status.transaction_depth().ok().flatten().is_some()
}

/// Opens connections of the configured kind; unlike diesel's generic manager it never falls back
/// from one backend to the other, and it sets SQLite's pragmas and PostgreSQL's timeouts on every
/// new connection.
#[derive(Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    timeout: Duration,
    health: Arc<Health>,
    hooks: Arc<Hooks>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Connection(#[from] ConnectionError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot prepare the database file {0}: {1}")]
    File(String, std::io::Error),
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl, timeout: Duration) -> Self {
        Self {
            url,
            timeout,
            health: Arc::default(),
            hooks: Arc::default(),
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    fn link(&self, watches_losses: bool) -> Link {
        Link {
            watches_losses,
            lost: false,
            checked_at: self.health.losses(),
            health: self.health.clone(),
            hooks: self.hooks.clone(),
            changed: Vec::new(),
        }
    }

    pub fn open(&self) -> Result<DbConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                // An unreachable server must be reported in seconds, not after the TCP timeout.
                let url = if url.contains("connect_timeout=") {
                    url.clone()
                } else {
                    let separator = if url.contains('?') { '&' } else { '?' };
                    format!(
                        "{url}{separator}connect_timeout={}",
                        self.timeout.as_secs().max(1)
                    )
                };
                let mut conn = PgConnection::establish(&url)?;
                // The server ends a statement that runs too long, and a transaction left open
                // by a client that stopped answering.
                //
                // The statements diesel keeps prepared are the fixed ones (a key by its token id,
                // a plain page of a collection): their plan does not depend on the values, yet by
                // default the server plans them again for each execution's values, which cost it
                // as much as running them (pgbench -f with the agreements page: 22 000 tps
                // planned each time, 37 000 with one plan). Queries built from a filter are not
                // kept prepared, so they are still planned for their values.
                let millis = self.timeout.as_millis();
                conn.batch_execute(&format!(
                    "SET statement_timeout = {millis}; \
                     SET idle_in_transaction_session_timeout = {}; \
                     SET plan_cache_mode = force_generic_plan;",
                    millis * 6
                ))?;
                conn.set_instrumentation(self.link(true));
                Ok(DbConnection::Postgres(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder)
                        .map_err(|e| ConnectError::File(path.display().to_string(), e))?;
                }
                let new = !path.exists();
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // It holds password hashes and encrypted secrets: readable by its owner only,
                // like the keys. SQLite gives its -wal and -shm files the same mode.
                #[cfg(unix)]
                if new {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| ConnectError::File(path.display().to_string(), e))?;
                }
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA case_sensitive_like = ON;",
                )?;
                conn.set_instrumentation(self.link(false));
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(ConnectError::from)
    }

    /// Lost connections and ones left in a transaction go; the pool opens new ones.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        let in_error = match conn {
            DbConnection::Postgres(pg) => pg.is_broken(),
            DbConnection::Sqlite(sqlite) => sqlite.is_broken(),
        };
        in_error || watch_of(conn).is_some_and(|watch| watch.lost)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PoolSetupError {
    #[error("cannot open the database {0}: {1}")]
    Connect(String, ConnectError),
    #[error("cannot fill the connection pool for {0}: {1}")]
    Pool(String, r2d2::Error),
    #[error("cannot migrate the database {0}: {1}")]
    Migrate(String, String),
}

/// One migrated connection, for commands that do one thing and exit: no pool, so no background
/// thread is still connecting while the process exits (libpq's TLS teardown at exit crashes
/// threads caught mid-connect).
///
/// Opening it also brings the schema up to date, so that a bad URL, a server that is down or a
/// failed migration is reported at once with its real cause.
pub fn connect_one(url: &DatabaseUrl, timeout: Duration) -> Result<DbConnection, PoolSetupError> {
    let mut conn = ConnectionManager::new(url.clone(), timeout)
        .open()
        .map_err(|e| PoolSetupError::Connect(url.redacted(), e))?;
    migrate(&mut conn).map_err(|e| PoolSetupError::Migrate(url.redacted(), e.to_string()))?;
    Ok(conn)
}

/// Brings the schema up to date, under the start-up lock. SQLite changes some tables only by
/// rebuilding them, and dropping the old one must not set off the foreign keys' actions (a
/// cascade would empty the sessions): its migrations run with foreign keys off, which SQLite
/// allows only outside a transaction, and every reference is checked before the commit.
fn migrate(conn: &mut DbConnection) -> Result<(), DbError> {
    use diesel::connection::SimpleConnection;
    let DbConnection::Sqlite(sqlite) = conn else {
        return under_startup_lock(conn, run_migrations);
    };
    sqlite.batch_execute("PRAGMA foreign_keys = OFF")?;
    let result = under_startup_lock(conn, |conn| {
        run_migrations(conn)?;
        #[derive(QueryableByName)]
        struct Broken {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let broken: Broken =
            diesel::sql_query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check")
                .get_result(conn)?;
        if broken.n > 0 {
            return Err(DbError::Migration(format!(
                "{} rows would refer to rows that do not exist; nothing was changed",
                broken.n
            )));
        }
        Ok(())
    });
    if let DbConnection::Sqlite(sqlite) = conn {
        sqlite.batch_execute("PRAGMA foreign_keys = ON")?;
    }
    result
}

/// The pool for serving; the schema is brought up to date by `connect_one` first.
pub fn connect(url: &DatabaseUrl, timeout: Duration) -> Result<DbPool, PoolSetupError> {
    let size = match url {
        DatabaseUrl::Sqlite(_) => 8,
        DatabaseUrl::Postgres(_) => 10,
    };
    let manager = ConnectionManager::new(url.clone(), timeout);
    let (hooks, health) = (manager.hooks.clone(), manager.health.clone());
    let pool = r2d2::Pool::builder()
        .max_size(size)
        // Connections are opened on demand, never in the background: none is half-open (in
        // libpq's TLS handshake) when the process exits.
        .min_idle(Some(0))
        // A lost connection is found by its failed query (`Link`); a `SELECT 1` before every
        // checkout would double the round trips of a short request.
        .test_on_check_out(false)
        .connection_timeout(timeout)
        .build(manager)
        .map_err(|e| PoolSetupError::Pool(url.redacted(), e))?;
    Ok(DbPool {
        pool,
        hooks,
        health,
        url: url.clone(),
        waiting: Arc::default(),
    })
}

/// Any number of instances may start at once on one database: each migrates and seeds while
/// holding this lock (a PostgreSQL advisory lock; SQLite's write lock), one after the other, so
/// none trips over another's half-made tables and exactly one seeds.
pub fn under_startup_lock<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError> + From<diesel::result::Error>,
{
    /// Any number that is this program's own: "SU-160-984-311".
    const LOCK: i64 = 160_984_311;
    const WAIT: Duration = Duration::from_secs(120);
    let DbConnection::Postgres(pg) = conn else {
        return write_transaction(conn, work);
    };
    // Waited for in steps, so that no single statement runs into the statement timeout.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let locked: bool = diesel::select(pg_try_advisory_lock(LOCK))
            .get_result(pg)
            .map_err(DbError::from)?;
        if locked {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(DbError::Unavailable(format!(
                "another instance held the start-up lock for {}s",
                WAIT.as_secs()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = work(conn);
    if let DbConnection::Postgres(pg) = conn {
        diesel::select(pg_advisory_unlock(LOCK))
            .get_result::<bool>(pg)
            .map_err(DbError::from)?;
    }
    result
}

diesel::define_sql_function!(fn pg_try_advisory_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool);
diesel::define_sql_function!(fn pg_advisory_unlock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool);

fn run_migrations(conn: &mut DbConnection) -> Result<(), DbError> {
    let result = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// Everything that can go wrong storing and reading: storage's failures only (what the rules
/// refuse is `services::ServiceError`).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("conflicts with an existing row: {0}")]
    Conflict(String),
    /// A list query that cannot be put into SQL: it names an unknown field or compares it with
    /// a value it cannot hold.
    #[error("{0}")]
    BadQuery(#[from] crate::domain::query::QueryError),
    /// Stored data that cannot be read back: a secret that does not open under this master key,
    /// a value this version does not know.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    #[error("the schema could not be brought up to date: {0}")]
    Migration(String),
    /// The database cannot be reached, or did not answer in time: the request may be tried
    /// again once it is back.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database worker was cancelled")]
    Cancelled,
    /// SQLite's lock was held longer than busy_timeout: the request may be tried again.
    #[error("the database is busy")]
    Busy,
    /// The storage is full: nothing was written; reads still work.
    #[error("the storage is full: {0}")]
    Full(String),
}

/// What SQLite and PostgreSQL say when there is no room left to write. Neither backend's error
/// code reaches diesel's error type, so their words are what tells (as for a lost connection).
const NO_ROOM: [&str; 4] = [
    "database or disk is full",
    "No space left on device",
    "could not extend file",
    "disk full",
];

impl From<diesel::result::Error> for DbError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(info.message().to_owned())
            }
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                Self::Busy
            }
            Error::DatabaseError(_, info) if info.message().contains("statement timeout") => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(_, info) if NO_ROOM.iter().any(|w| info.message().contains(w)) => {
                Self::Full(info.message().to_owned())
            }
            lost if is_connection_lost(&lost) => Self::Unavailable(lost.to_string()),
            other => Self::Query(other),
        }
    }
}

/// No connection could be had in time: the database is down, or every connection is busy.
impl From<r2d2::Error> for DbError {
    fn from(error: r2d2::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first and writes later fails at once with "database is locked" when
/// another write committed in between, whatever busy_timeout says; an immediate one waits its
/// turn. Inside another transaction it is a savepoint, as `transaction` is.
///
/// When the outermost one commits, the pool's hooks are told the tokens it changed
/// (`token_changed`): after the commit, so that no request can read them again as they were.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError> + From<diesel::result::Error>,
{
    if in_transaction(conn) {
        return conn.transaction(work);
    }
    let done = outermost_write(conn, work);
    if let Some(link) = link_of(conn) {
        let changed = std::mem::take(&mut link.changed);
        // A rolled-back transaction changed nothing, but forgetting more than needed is harmless.
        if !changed.is_empty() {
            link.hooks.committed(&changed);
        }
    }
    done
}

fn outermost_write<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError> + From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let open = AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()
        .map_err(DbError::from)?
        .is_some();
    if open {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        .map_err(DbError::from)?;
    match work(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)
                .map_err(DbError::from)?;
            Ok(value)
        }
        Err(error) => {
            // SQLite rolls back by itself after some failures (a full disk, for one): then there
            // is nothing left to roll back, and the failure that matters is the first.
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::debug!(%rollback, "the failed transaction was already rolled back");
            }
            Err(error)
        }
    }
}

/// `run` for work whose errors are not only the database's (the API's, for one).
pub async fn run_with<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    // A statement's own timeout is enforced by the server; one that stopped answering (frozen,
    // cut off) is not heard from again, so the request stops waiting here. Its thread goes on
    // until the server answers or the connection drops.
    let patience = pool.connection_timeout() * 2;
    let health = pool.health.clone();
    // Registered before the state is read: a fall between the two is not missed.
    let went_down = health.went_down.notified();
    tokio::pin!(went_down);
    went_down.as_mut().enable();
    let Some(probing) = health.admit() else {
        return Err(E::from(DbError::Unavailable(
            "the database did not answer the last check".into(),
        )));
    };
    // A request let through to find out whether the database is back waits no longer than the
    // watch would to take it for gone: its answer is due within a second either way.
    let patience = if probing {
        patience.min(FROZEN_AFTER)
    } else {
        patience
    };
    let pool = pool.clone();
    // What the work logs belongs to the request that asked for it.
    let span = tracing::Span::current();
    let work = actix_web::web::block(move || {
        let _entered = span.enter();
        let mut conn = checkout(&pool)?;
        work(&mut conn)
    });
    let unavailable = |why: String| Err(E::from(DbError::Unavailable(why)));
    let answer = tokio::select! {
        done = actix_web::rt::time::timeout(patience, work) => match done {
            Ok(done) => done.map_err(|_| E::from(DbError::Cancelled))?,
            Err(_) => unavailable(format!("no answer within {}s", patience.as_secs())),
        },
        // Found gone meanwhile: no use waiting (a probe waits, to find out).
        () = &mut went_down, if !probing => unavailable("the database stopped answering".into()),
    };
    answer
}

/// A pooled connection that is known to work: after any connection found the database gone,
/// each other one is tried once (`SELECT 1`) before it is used again, and replaced if it fails.
pub fn checkout(pool: &DbPool) -> Result<PooledConnection, DbError> {
    for _ in 0..=pool.max_size() {
        let mut conn = {
            let waiting = &pool.waiting;
            waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let got = pool.get();
            waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            got?
        };
        let Some(watch) = watch_of(&mut conn) else {
            return Ok(conn);
        };
        let losses = watch.health.losses();
        if watch.checked_at == losses {
            return Ok(conn);
        }
        if conn.batch_execute("SELECT 1").is_ok() {
            if let Some(watch) = watch_of(&mut conn) {
                watch.checked_at = losses;
            }
            return Ok(conn);
        }
        // Its watch marked it lost: back in the pool, it is discarded, and the next is tried.
    }
    Err(DbError::Unavailable(
        "no pooled connection reached the database".into(),
    ))
}

/// Asks the database whether it is there, for the watch: the answer (or the failure) is what
/// `Health` knows; a failure also marks every pooled connection for a check before its next use.
pub fn ping(pool: &DbPool) -> Result<(), DbError> {
    let answered = pool
        .get()
        .map_err(DbError::from)
        .and_then(|mut conn| conn.batch_execute("SELECT 1").map_err(DbError::from));
    if answered.is_err() {
        pool.health.note_silence();
    }
    answered
}

/// Runs `work` with a pooled connection on the blocking thread pool, off the async executor.
/// `run_with` for work that only reads: on SQLite, while it answers and a connection is free at
/// once, the work runs here, on the request's own thread, rather than on the blocking threads and
/// back (a reader of SQLite in WAL mode waits for no writer, and a read of a page takes
/// microseconds, less than the trip to another thread). Anything else goes as `run_with`.
pub async fn read_with<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    if matches!(pool.url, DatabaseUrl::Sqlite(_))
        && pool.health.is_up()
        && let Some(mut conn) = pool.try_get()
    {
        return work(&mut conn);
    }
    run_with(pool, work).await
}

pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    run_with(pool, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let cases = [
            (
                "data/tokendesk.db",
                Ok(DatabaseUrl::Sqlite("data/tokendesk.db".into())),
            ),
            (
                "sqlite://data/x.db",
                Ok(DatabaseUrl::Sqlite("data/x.db".into())),
            ),
            (
                "sqlite:/tmp/x.db",
                Ok(DatabaseUrl::Sqlite("/tmp/x.db".into())),
            ),
            (
                "postgres://postgres@127.0.0.1:5432/test",
                Ok(DatabaseUrl::Postgres(
                    "postgres://postgres@127.0.0.1:5432/test".into(),
                )),
            ),
            (
                "postgresql://u:p@db/app",
                Ok(DatabaseUrl::Postgres("postgresql://u:p@db/app".into())),
            ),
            ("", Err(DatabaseUrlError::Empty)),
            ("sqlite://", Err(DatabaseUrlError::Empty)),
        ];
        for (value, expected) in cases {
            assert_eq!(DatabaseUrl::parse(value), expected, "{value:?}");
        }
        assert!(matches!(
            DatabaseUrl::parse("postgres://"),
            Err(DatabaseUrlError::Postgres(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgres://[::1"),
            Err(DatabaseUrlError::Postgres(_))
        ));
    }

    #[test]
    fn redaction_hides_passwords() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@db:5432/td").unwrap();
        assert!(!url.redacted().contains("hunter2"));
    }
}
