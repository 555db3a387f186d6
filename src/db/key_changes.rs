//! How a change to what an API key depends on is heard of outside the transaction that made it:
//! triggers (migration `key_changes`) report every such change in the writing transaction, on
//! PostgreSQL as `NOTIFY tokendesk_keys, '<token id>'`, on SQLite as a row of `key_changes`.

use super::pool::{ConnectionManager, DbConnection};
use super::schema::key_changes;
use super::{DbError, database_time};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// The PostgreSQL channel the triggers notify.
pub const CHANNEL: &str = "tokendesk_keys";

/// The listener's name in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "tokendesk key watch";

/// More changes than this at once are not read one by one.
pub const BATCH: i64 = 5_000;

/// `key_changes` rows older than this are deleted (every instance has read them long before).
const KEEP_SECONDS: i64 = 600;

/// A PostgreSQL connection of its own that listens on `CHANNEL`.
pub struct Listener(PgConnection);

impl Listener {
    pub fn open(manager: &ConnectionManager) -> Result<Self, DbError> {
        let DbConnection::Postgres(mut conn) = manager
            .open()
            .map_err(|e| DbError::Unavailable(e.to_string()))?
        else {
            return Err(DbError::Unavailable("not a PostgreSQL database".into()));
        };
        conn.batch_execute(&format!(
            "SET application_name = '{LISTENER_NAME}'; LISTEN {CHANNEL};"
        ))?;
        Ok(Self(conn))
    }

    /// The token ids notified since the last call.
    pub fn heard(&mut self) -> Result<Vec<String>, DbError> {
        self.0
            .notifications_iter()
            .map(|notification| {
                notification
                    .map(|n| n.payload)
                    .map_err(|e| DbError::Unavailable(e.to_string()))
            })
            .collect()
    }

    /// Whether the connection still answers.
    pub fn ping(&mut self) -> Result<(), DbError> {
        Ok(self.0.batch_execute("SELECT 1")?)
    }
}

/// SQLite: the number of the last change recorded.
pub fn last_change(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(key_changes::table
        .select(diesel::dsl::max(key_changes::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// SQLite: the changes after `seen`, oldest first, at most `BATCH` of them.
pub fn changes_after(conn: &mut DbConnection, seen: i64) -> Result<Vec<(i64, String)>, DbError> {
    Ok(key_changes::table
        .filter(key_changes::seq.gt(seen))
        .order(key_changes::seq)
        .limit(BATCH)
        .select((key_changes::seq, key_changes::token_id))
        .load(conn)?)
}

/// SQLite: deletes the changes every instance has read long ago. Their time is the database's
/// own (the trigger's), so it is compared with the database's clock.
pub fn prune(conn: &mut DbConnection) -> Result<usize, DbError> {
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return Ok(0);
    }
    let read_long_ago = database_time(conn, -KEEP_SECONDS);
    Ok(diesel::sql_query(format!(
        "DELETE FROM key_changes WHERE changed_at < {read_long_ago}"
    ))
    .execute(conn)?)
}
