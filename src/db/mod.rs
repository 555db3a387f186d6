//! Storage, and nothing else: the schema, the pool (one connection type over SQLite and
//! PostgreSQL), and one module per table (or group of tables) with the statements that read and
//! write it, stamped with the times their callers give. No HTTP, no rules of who may do what
//! (`services`), nothing kept in memory (`live`, which the pool tells of the commits it cares
//! about through its hooks), no thread.

pub mod accounts;
pub mod agreements;
pub mod approvals;
pub mod events;
pub mod idempotency;
pub mod key_changes;
pub mod leaks;
pub mod module_usage;
pub mod notifications;
pub mod passkeys;
pub mod pool;
pub mod query;
pub mod rate_counts;
pub mod schema;
pub mod sessions;
pub mod sign_in_attempts;
pub mod submitted_forms;
pub mod token_filters;
pub mod token_versions;
pub mod tokens;
pub mod two_factor;
pub mod usage;
pub mod users;

pub use pool::{
    DatabaseUrl, DbConnection, DbError, DbPool, connect, connect_one, read_with, run, run_with,
    under_startup_lock,
};

/// The database's own clock, `seconds` from now, as SQL that writes or compares a timestamp:
/// for what is told by the clock every instance shares (whether an instance is alive, how old a
/// trigger's row is), never for what requests are judged by (the application's clock, which a
/// test moves an hour ahead).
fn database_time(conn: &DbConnection, seconds: i64) -> String {
    match conn {
        DbConnection::Postgres(_) => {
            format!("((now() AT TIME ZONE 'UTC') + interval '{seconds} seconds')")
        }
        DbConnection::Sqlite(_) => {
            format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '{seconds} seconds')")
        }
    }
}

/// An UPDATE of one row by its key: `NotFound` when it changed none.
fn found(changed: usize) -> Result<(), DbError> {
    match changed {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
