//! Second factors as stored: a user's authenticator-app secret (sealed with the master key) with
//! the last step whose code was accepted, and their recovery codes as keyed digests.

use super::schema::{recovery_codes, totp_secrets};
use super::{DbConnection, DbError};
use crate::domain::ids::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A user's authenticator app, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_secrets)]
pub struct StoredTotp {
    pub secret_ciphertext: Vec<u8>,
    pub enabled_at: NaiveDateTime,
    pub last_used_step: i64,
}

/// The user's authenticator app, if they set one up.
pub fn totp_of(conn: &mut DbConnection, user_id: &UserId) -> Result<Option<StoredTotp>, DbError> {
    Ok(totp_secrets::table
        .find(user_id.as_str())
        .select(StoredTotp::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the user has an authenticator app set up.
pub fn has_totp(conn: &mut DbConnection, user_id: &UserId) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        totp_secrets::table.filter(totp_secrets::user_id.eq(user_id.as_str())),
    ))
    .get_result(conn)?)
}

/// Stores the user's authenticator app, replacing any other; `step` is the one its confirming
/// code was of (so that code is not taken again).
pub fn set_totp(
    conn: &mut DbConnection,
    user_id: &UserId,
    sealed: &[u8],
    step: i64,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    remove_totp(conn, user_id)?;
    diesel::insert_into(totp_secrets::table)
        .values((
            totp_secrets::user_id.eq(user_id.as_str()),
            totp_secrets::secret_ciphertext.eq(sealed),
            totp_secrets::enabled_at.eq(at),
            totp_secrets::last_used_step.eq(step),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the code of `step`: `false` when a code of that step or a later one was taken
/// already (by a concurrent request on any instance too), which refuses it.
pub fn take_step(conn: &mut DbConnection, user_id: &UserId, step: i64) -> Result<bool, DbError> {
    let taken = diesel::update(
        totp_secrets::table
            .filter(totp_secrets::user_id.eq(user_id.as_str()))
            .filter(totp_secrets::last_used_step.lt(step)),
    )
    .set(totp_secrets::last_used_step.eq(step))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Removes the user's authenticator app; whether there was one.
pub fn remove_totp(conn: &mut DbConnection, user_id: &UserId) -> Result<bool, DbError> {
    Ok(diesel::delete(totp_secrets::table.find(user_id.as_str())).execute(conn)? > 0)
}

/// Replaces the user's recovery codes with these digests.
pub fn set_recovery_codes(
    conn: &mut DbConnection,
    user_id: &UserId,
    digests: &[String],
    at: NaiveDateTime,
) -> Result<(), DbError> {
    remove_recovery_codes(conn, user_id)?;
    // One statement per code: ten rows, and no multi-row insert to tell apart per backend.
    for digest in digests {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id.as_str()),
                recovery_codes::code_digest.eq(digest.as_str()),
                recovery_codes::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses the recovery code with this digest: `false` when the user has no such unused code.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: &UserId,
    digest: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let used = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id.as_str()))
            .filter(recovery_codes::code_digest.eq(digest))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(at)))
    .execute(conn)?;
    Ok(used == 1)
}

/// How many of the user's recovery codes are still unused.
pub fn recovery_codes_left(conn: &mut DbConnection, user_id: &UserId) -> Result<i64, DbError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id.as_str()))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

pub fn remove_recovery_codes(conn: &mut DbConnection, user_id: &UserId) -> Result<(), DbError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id.as_str())))
        .execute(conn)?;
    Ok(())
}
