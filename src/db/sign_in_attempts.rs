//! Sign-in attempts counted in the database, shared by every instance: one upsert per key and
//! attempt, atomic under concurrency (no read-then-write).

use super::schema::sign_in_attempts;
use super::{DbConnection, DbError};
use crate::domain::throttle::{AttemptKey, Attempts, WINDOW};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamp)]
    window_started_at: NaiveDateTime,
}

/// Counts one more attempt against `key`, starting a new window when the last one is over.
pub fn count(
    conn: &mut DbConnection,
    key: &AttemptKey,
    now: NaiveDateTime,
) -> Result<Attempts, DbError> {
    // The same statement on both backends, but for how each writes a parameter.
    const UPSERT: &str = "INSERT INTO sign_in_attempts (key, attempts, window_started_at) \
        VALUES (#1, 1, #2) \
        ON CONFLICT (key) DO UPDATE SET \
          attempts = CASE WHEN sign_in_attempts.window_started_at <= #3 THEN 1 \
                          ELSE sign_in_attempts.attempts + 1 END, \
          window_started_at = CASE WHEN sign_in_attempts.window_started_at <= #3 THEN #2 \
                                   ELSE sign_in_attempts.window_started_at END \
        RETURNING attempts, window_started_at";
    let window_over = now - WINDOW;
    let counted: Counted = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(UPSERT.replace('#', "$"))
            .bind::<Text, _>(key.key())
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(window_over)
            .get_result(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(UPSERT.replace('#', "?"))
            .bind::<Text, _>(key.key())
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(window_over)
            .get_result(sqlite)?,
    };
    Ok(Attempts {
        count: counted.attempts,
        window_started_at: counted.window_started_at,
    })
}

/// A successful sign-in: the key's attempts are forgotten.
pub fn forget(conn: &mut DbConnection, key: &AttemptKey) -> Result<(), DbError> {
    diesel::delete(sign_in_attempts::table.find(key.key())).execute(conn)?;
    Ok(())
}

/// A successful sign-in counted against a shared key (an address): it was no guess, so it is
/// given back.
pub fn refund(conn: &mut DbConnection, key: &AttemptKey) -> Result<(), DbError> {
    diesel::update(
        sign_in_attempts::table
            .find(key.key())
            .filter(sign_in_attempts::attempts.gt(0)),
    )
    .set(sign_in_attempts::attempts.eq(sign_in_attempts::attempts - 1))
    .execute(conn)?;
    Ok(())
}

/// Deletes the counts whose window is over; how many.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        sign_in_attempts::table.filter(sign_in_attempts::window_started_at.le(now - WINDOW)),
    )
    .execute(conn)?)
}
