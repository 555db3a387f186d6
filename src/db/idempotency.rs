//! API POSTs sent with an `Idempotency-Key`: what was sent (a digest of the method, path and
//! body) and the first answer, per account, claimed in the transaction of the action and
//! replayed for 24 h by any instance.

use super::schema::idempotency_keys;
use super::{DbConnection, DbError};
use crate::domain::ids::AccountId;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// How long a key and its answer are kept.
pub const KEPT: Duration = Duration::hours(24);

/// A first answer, as kept: its status and its body sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Kept {
    pub fingerprint: String,
    pub status: i32,
    pub answer: Vec<u8>,
}

/// The answer kept for the account's `key`, if one was kept since `since`.
pub fn find(
    conn: &mut DbConnection,
    account_id: &AccountId,
    key: &str,
    since: NaiveDateTime,
) -> Result<Option<Kept>, DbError> {
    Ok(idempotency_keys::table
        .find((account_id.as_str(), key))
        .filter(idempotency_keys::created_at.ge(since))
        .select((
            idempotency_keys::fingerprint,
            idempotency_keys::status,
            idempotency_keys::answer,
        ))
        .first(conn)
        .optional()?)
}

/// Keeps the first answer to the account's `key`; `Conflict` when one is kept already (then the
/// transaction it ran in must not act). An expired one is replaced.
pub fn keep(
    conn: &mut DbConnection,
    account_id: &AccountId,
    key: &str,
    kept: &Kept,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(
        idempotency_keys::table
            .find((account_id.as_str(), key))
            .filter(idempotency_keys::created_at.lt(at - KEPT)),
    )
    .execute(conn)?;
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::account_id.eq(account_id.as_str()),
            idempotency_keys::key.eq(key),
            idempotency_keys::fingerprint.eq(&kept.fingerprint),
            idempotency_keys::status.eq(kept.status),
            idempotency_keys::answer.eq(&kept.answer),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets the keys older than `now - KEPT`.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - KEPT)))
            .execute(conn)?,
    )
}
