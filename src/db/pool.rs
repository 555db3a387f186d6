//! One connection type over SQLite and PostgreSQL, its pool, migrations, and the one way async
//! code reaches the database (`run`).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::PathBuf;
use std::time::Duration;

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

pub type DbPool = r2d2::Pool<ConnectionManager>;

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

/// Opens connections of the configured kind; unlike diesel's generic manager it never falls back
/// from one backend to the other, and it sets SQLite's pragmas on every new connection.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
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
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    fn open(&self) -> Result<DbConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                // An unreachable server must fail start-up in seconds, not hang on the TCP timeout.
                let url = if url.contains("connect_timeout=") {
                    url.clone()
                } else {
                    let separator = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{separator}connect_timeout=5")
                };
                Ok(DbConnection::Postgres(PgConnection::establish(&url)?))
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

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
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
pub fn connect_one(url: &DatabaseUrl) -> Result<DbConnection, PoolSetupError> {
    let mut conn = ConnectionManager::new(url.clone())
        .open()
        .map_err(|e| PoolSetupError::Connect(url.redacted(), e))?;
    run_migrations(&mut conn).map_err(|e| PoolSetupError::Migrate(url.redacted(), e))?;
    Ok(conn)
}

/// Opens one connection first, so a bad URL or a server that is down is reported at once with
/// its real cause, then runs pending migrations and builds the pool.
pub fn connect(url: &DatabaseUrl) -> Result<DbPool, PoolSetupError> {
    let manager = ConnectionManager::new(url.clone());
    let mut first = manager
        .open()
        .map_err(|e| PoolSetupError::Connect(url.redacted(), e))?;
    run_migrations(&mut first).map_err(|e| PoolSetupError::Migrate(url.redacted(), e))?;
    let size = match url {
        DatabaseUrl::Sqlite(_) => 8,
        DatabaseUrl::Postgres(_) => 10,
    };
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        // A failed query reports a broken connection; a `SELECT 1` before every checkout would
        // double the round trips of a short request.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(5))
        .build(manager)
        .map_err(|e| PoolSetupError::Pool(url.redacted(), e))
}

pub fn run_migrations(conn: &mut DbConnection) -> Result<(), String> {
    let result = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
    };
    result.map_err(|e| e.to_string())
}

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("conflicts with an existing row: {0}")]
    Conflict(String),
    /// The creation was asked for before and made this token; nothing new was made.
    #[error("already created as {0}")]
    AlreadyCreated(crate::domain::ids::TokenId),
    /// A list query names an unknown field or compares it with a value it cannot hold.
    #[error("{0}")]
    BadQuery(#[from] crate::domain::query::QueryError),
    /// The modules asked for are not what a token of its extension may hold.
    #[error("{0}")]
    Modules(#[from] crate::domain::module::ModuleError),
    /// Stored data that cannot be read back: a secret that does not open under this master key.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the database worker was cancelled")]
    Cancelled,
    /// SQLite's lock was held longer than busy_timeout: the request may be tried again.
    #[error("the database is busy")]
    Busy,
}

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
            other => Self::Query(other),
        }
    }
}

/// A transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first and writes later fails at once with "database is locked" when
/// another write committed in between, whatever busy_timeout says; an immediate one waits its
/// turn. Inside another transaction it is a savepoint, as `transaction` is.
pub fn write_transaction<T, F>(conn: &mut DbConnection, work: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
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
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
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
    let pool = pool.clone();
    // What the work logs belongs to the request that asked for it.
    let span = tracing::Span::current();
    actix_web::web::block(move || {
        let _entered = span.enter();
        let mut conn = pool.get().map_err(DbError::from)?;
        work(&mut conn)
    })
    .await
    .map_err(|_| E::from(DbError::Cancelled))?
}

/// Runs `work` with a pooled connection on the blocking thread pool, off the async executor.
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
