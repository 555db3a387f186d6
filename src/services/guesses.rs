//! Guesses at a password, wherever one is checked (signing in, the current password on the
//! password page), counted together against the same keys, in the database every instance
//! shares, before the password is checked: no way in checks more passwords than the limit.

use crate::db::{DbConnection, DbError, sign_in_attempts};
use crate::domain::throttle::AttemptKey;
use chrono::NaiveDateTime;

/// Counts one more guess against each key, atomically; until when the next one is refused, if
/// any key is over its limit (then no password is to be checked).
pub fn count(
    conn: &mut DbConnection,
    keys: &[&AttemptKey],
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, DbError> {
    let mut refused_until = None;
    for key in keys {
        let attempts = sign_in_attempts::count(conn, key, now)?;
        refused_until = refused_until.max(attempts.refused_until(key.limit()));
    }
    Ok(refused_until)
}

/// The password was right: the user's guesses are forgotten, and the one counted against the
/// address, shared with others, is given back.
pub fn proved(
    conn: &mut DbConnection,
    by_user: &AttemptKey,
    by_address: &AttemptKey,
) -> Result<(), DbError> {
    sign_in_attempts::forget(conn, by_user)?;
    sign_in_attempts::refund(conn, by_address)
}

/// A passkey proved who signed in: the attempt counted against the address is given back (no
/// e-mail was typed, so none of its guesses are forgotten).
pub fn proved_by_passkey(conn: &mut DbConnection, by_address: &AttemptKey) -> Result<(), DbError> {
    sign_in_attempts::refund(conn, by_address)
}
