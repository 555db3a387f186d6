//! Forms that act, by the one-time id their page gave them: claimed in the transaction of the
//! action, so that a second sending (a reload, a double click, a resubmission) acts no more.

use super::schema::submitted_forms;
use super::{DbConnection, DbError};
use crate::domain::ids::AccountId;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// How long a form's id is remembered.
pub const KEPT: Duration = Duration::hours(24);

/// Claims `form_id` for the account, with `result` as where a second sending goes; `Conflict`
/// when it was claimed before (then the transaction it ran in must not act).
pub fn claim(
    conn: &mut DbConnection,
    account_id: &AccountId,
    form_id: &str,
    result: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(submitted_forms::table)
        .values((
            submitted_forms::form_id.eq(form_id),
            submitted_forms::account_id.eq(account_id.as_str()),
            submitted_forms::result.eq(result),
            submitted_forms::submitted_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Where the first sending of the account's form `form_id` went, if it was sent.
pub fn result_of(
    conn: &mut DbConnection,
    account_id: &AccountId,
    form_id: &str,
) -> Result<Option<String>, DbError> {
    Ok(submitted_forms::table
        .find(form_id)
        .filter(submitted_forms::account_id.eq(account_id.as_str()))
        .select(submitted_forms::result)
        .first(conn)
        .optional()?)
}

/// Forgets the forms sent before `now - KEPT`.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(submitted_forms::table.filter(submitted_forms::submitted_at.lt(now - KEPT)))
            .execute(conn)?,
    )
}
