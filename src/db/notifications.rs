//! What the app tells each user, as stored: reminders before a key expires, approval requests
//! and their outcomes; read or not, mailed or not. And each user's mail digest of a day, claimed
//! by the process that sends it, so that it goes out once whatever the number of instances.

use super::pool::on_backend;
use super::schema::{mail_digests, notifications, users};
use super::{DbConnection, DbError};
use crate::domain::ids::{AccountId, TokenId, UserId};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A notification to add.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub account_id: &'a AccountId,
    pub user_id: &'a UserId,
    /// What it is about, once: a second notification with the same topic is not added.
    pub topic: &'a str,
    pub kind: &'a str,
    pub token_id: Option<&'a TokenId>,
    pub message: &'a str,
    pub at: NaiveDateTime,
}

/// A notification as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub token_id: Option<String>,
    pub message: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// Adds it unless its topic was told before: whether it was added.
pub fn add(conn: &mut DbConnection, new: &NewNotification<'_>) -> Result<bool, DbError> {
    let row = (
        notifications::account_id.eq(new.account_id.as_str()),
        notifications::user_id.eq(new.user_id.as_str()),
        notifications::topic.eq(new.topic),
        notifications::kind.eq(new.kind),
        notifications::token_id.eq(new.token_id.map(TokenId::as_str)),
        notifications::message.eq(new.message),
        notifications::created_at.eq(new.at),
    );
    let added = on_backend!(conn, |c| diesel::insert_into(notifications::table)
        .values(row)
        .on_conflict((notifications::user_id, notifications::topic))
        .do_nothing()
        .execute(c))?;
    Ok(added == 1)
}

/// How many of the user's notifications are unread.
pub fn unread(conn: &mut DbConnection, user_id: &UserId) -> Result<i64, DbError> {
    Ok(notifications::table
        .filter(notifications::user_id.eq(user_id.as_str()))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)?)
}

/// The user's latest notifications, newest first.
pub fn latest(
    conn: &mut DbConnection,
    user_id: &UserId,
    limit: i64,
) -> Result<Vec<Notification>, DbError> {
    Ok(notifications::table
        .filter(notifications::user_id.eq(user_id.as_str()))
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(limit)
        .select((
            notifications::id,
            notifications::kind,
            notifications::token_id,
            notifications::message,
            notifications::created_at,
            notifications::read_at,
        ))
        .load(conn)?)
}

/// Marks every notification of the user read at `at`: how many were unread.
pub fn mark_read(
    conn: &mut DbConnection,
    user_id: &UserId,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id.as_str()))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(at))
    .execute(conn)?)
}

/// A user with notifications not yet mailed: who to write to, and what.
#[derive(Debug, Clone)]
pub struct Unmailed {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub notifications: Vec<(i64, String, NaiveDateTime)>,
}

/// Every active user with notifications not yet mailed whose digest of `day` is due at `now`
/// (not sent, not being sent, no retry waiting): at most `limit` users.
pub fn unmailed(
    conn: &mut DbConnection,
    day: NaiveDate,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Unmailed>, DbError> {
    let not_due = mail_digests::table
        .filter(mail_digests::user_id.eq(users::id))
        .filter(mail_digests::day.eq(day))
        .filter(
            mail_digests::sent_at
                .is_not_null()
                .or(mail_digests::next_attempt_at.gt(now)),
        );
    let rows: Vec<(String, String, String, i64, String, NaiveDateTime)> = notifications::table
        .inner_join(users::table)
        .filter(notifications::mailed_at.is_null())
        .filter(users::active.eq(true))
        .filter(diesel::dsl::not(diesel::dsl::exists(not_due)))
        .order((notifications::user_id.asc(), notifications::id.asc()))
        .select((
            users::id,
            users::email,
            users::name,
            notifications::id,
            notifications::message,
            notifications::created_at,
        ))
        .load(conn)?;
    let mut out: Vec<Unmailed> = Vec::new();
    for (user_id, email, name, id, message, at) in rows {
        match out.last_mut() {
            Some(last) if last.user_id.as_str() == user_id => {
                last.notifications.push((id, message, at));
            }
            _ => {
                if out.len() as i64 >= limit {
                    break;
                }
                out.push(Unmailed {
                    user_id: UserId::from_trusted(user_id),
                    email,
                    name,
                    notifications: vec![(id, message, at)],
                });
            }
        }
    }
    Ok(out)
}

/// Where a user's digest of `day` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// Nobody has claimed it: this process did now.
    Claimed,
    /// Another attempt may be made now (the last one failed, or its sender stopped): claimed.
    Retrying { attempts: i32 },
    /// Sent already, or another process is sending it, or a retry is not due yet.
    NotNow,
}

/// Claims the user's digest of `day` for sending, at `now`. A claim older than `stale` that
/// was neither sent nor failed (its sender stopped) may be taken over.
pub fn claim_digest(
    conn: &mut DbConnection,
    user_id: &UserId,
    day: NaiveDate,
    now: NaiveDateTime,
    stale: chrono::Duration,
) -> Result<Digest, DbError> {
    super::pool::write_transaction(conn, |conn| {
        let added = on_backend!(conn, |c| diesel::insert_into(mail_digests::table)
            .values((
                mail_digests::user_id.eq(user_id.as_str()),
                mail_digests::day.eq(day),
                mail_digests::claimed_at.eq(now),
                mail_digests::next_attempt_at.eq(now + stale),
            ))
            .on_conflict((mail_digests::user_id, mail_digests::day))
            .do_nothing()
            .execute(c))?;
        if added == 1 {
            return Ok(Digest::Claimed);
        }
        // Due again: its retry time has come and it was not sent. Taken by one process only:
        // the update moves the time on, and only the one that moved it goes on.
        let retried = diesel::update(
            mail_digests::table
                .find((user_id.as_str(), day))
                .filter(mail_digests::sent_at.is_null())
                .filter(mail_digests::next_attempt_at.le(now)),
        )
        .set((
            mail_digests::claimed_at.eq(now),
            mail_digests::next_attempt_at.eq(now + stale),
        ))
        .execute(conn)?;
        if retried == 0 {
            return Ok(Digest::NotNow);
        }
        let attempts: i32 = mail_digests::table
            .find((user_id.as_str(), day))
            .select(mail_digests::attempts)
            .first(conn)?;
        Ok(Digest::Retrying { attempts })
    })
}

/// The digest went out: it and the notifications it carried are marked.
pub fn digest_sent(
    conn: &mut DbConnection,
    user_id: &UserId,
    day: NaiveDate,
    notification_ids: &[i64],
    at: NaiveDateTime,
) -> Result<(), DbError> {
    super::pool::write_transaction(conn, |conn| {
        diesel::update(mail_digests::table.find((user_id.as_str(), day)))
            .set(mail_digests::sent_at.eq(at))
            .execute(conn)?;
        diesel::update(notifications::table.filter(notifications::id.eq_any(notification_ids)))
            .set(notifications::mailed_at.eq(at))
            .execute(conn)?;
        Ok(())
    })
}

/// The digest could not be sent: tried again at `retry_at`.
pub fn digest_failed(
    conn: &mut DbConnection,
    user_id: &UserId,
    day: NaiveDate,
    error: &str,
    retry_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(mail_digests::table.find((user_id.as_str(), day)))
        .set((
            mail_digests::attempts.eq(mail_digests::attempts + 1),
            mail_digests::last_error.eq(error),
            mail_digests::next_attempt_at.eq(retry_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Digests whose day is over 30 days past, and notifications read over 90 days ago, go.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    let old_digests = diesel::delete(
        mail_digests::table.filter(mail_digests::day.lt((now - chrono::Duration::days(30)).date())),
    )
    .execute(conn)?;
    let old_notes = diesel::delete(
        notifications::table.filter(notifications::read_at.lt(now - chrono::Duration::days(90))),
    )
    .execute(conn)?;
    Ok(old_digests + old_notes)
}
