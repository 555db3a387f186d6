//! Storage: one module per table, each with the queries that belong to it. No HTTP here.

pub mod accounts;
pub mod agreements;
pub mod bulk;
pub mod counts;
pub mod events;
pub mod keys;
pub mod leaks;
pub mod module_usage;
pub mod pool;
pub mod query;
pub mod rates;
pub mod schema;
pub mod seed;
pub mod sessions;
pub mod sign_in_attempts;
pub mod token_filters;
pub mod tokens;
pub mod usage;
pub mod users;

pub use pool::{
    DatabaseUrl, DbConnection, DbError, DbPool, connect, connect_one, run, run_with,
    under_startup_lock,
};

use chrono::{NaiveDateTime, Timelike, Utc};

/// The current UTC time at the precision both backends keep (microseconds), so a value read
/// back equals the one written.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
