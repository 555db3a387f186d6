//! Stored sessions: the cookie holds a random id, the row (found by the id's SHA-256) holds the
//! state, who signed in, and when and from where.

use super::schema::sessions;
use super::{DbConnection, DbError};
use crate::domain::ids::UserId;
use crate::domain::session::{ABSOLUTE_LIMIT, IDLE_LIMIT, SessionTimes};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id_hash: String,
    user_id: Option<String>,
    state: String,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    client_ip: Option<String>,
    user_agent: Option<String>,
    sign_in_method: Option<String>,
}

impl SessionRow {
    fn times(&self) -> SessionTimes {
        SessionTimes {
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            signed_in: self.user_id.is_some(),
        }
    }
}

/// A signed-in session as its owner sees it on the Sessions page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    pub id_hash: String,
    pub started: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// How it signed in (`SignInMethod::as_str`); sessions from before it was kept have none.
    pub sign_in_method: Option<String>,
}

/// What is written for a session: its state, and the columns read from it.
pub struct SessionData<'a> {
    pub state: &'a str,
    pub user_id: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub sign_in_method: Option<&'a str>,
}

/// The state of a live session; an expired one is deleted and `None`. Writes "last seen" at
/// most once a minute.
pub fn load(
    conn: &mut DbConnection,
    id_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    let Some(row) = sessions::table
        .find(id_hash)
        .select(SessionRow::as_select())
        .first::<SessionRow>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let times = row.times();
    if times.is_expired(now) {
        delete(conn, id_hash)?;
        return Ok(None);
    }
    if times.needs_touch(now) {
        diesel::update(sessions::table.find(id_hash))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(row.state))
}

pub fn insert(
    conn: &mut DbConnection,
    id_hash: &str,
    data: &SessionData<'_>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(data.user_id),
            sessions::state.eq(data.state),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            sessions::client_ip.eq(data.client_ip),
            sessions::user_agent.eq(data.user_agent),
            sessions::sign_in_method.eq(data.sign_in_method),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes a session's new state; `false` when the row is gone (ended meanwhile), which must
/// not bring it back.
pub fn update(
    conn: &mut DbConnection,
    id_hash: &str,
    data: &SessionData<'_>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let written = diesel::update(sessions::table.find(id_hash))
        .set((
            sessions::state.eq(data.state),
            sessions::user_id.eq(data.user_id),
            sessions::client_ip.eq(data.client_ip),
            sessions::user_agent.eq(data.user_agent),
            sessions::sign_in_method.eq(data.sign_in_method),
            sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok(written == 1)
}

pub fn delete(conn: &mut DbConnection, id_hash: &str) -> Result<(), DbError> {
    diesel::delete(sessions::table.find(id_hash)).execute(conn)?;
    Ok(())
}

/// A user's live sessions, the most recently used first.
pub fn open_for(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> Result<Vec<OpenSession>, DbError> {
    let rows = sessions::table
        .filter(sessions::user_id.eq(user_id.as_str()))
        .order(sessions::last_seen_at.desc())
        .select(SessionRow::as_select())
        .load::<SessionRow>(conn)?;
    Ok(rows
        .into_iter()
        .filter(|row| !row.times().is_expired(now))
        .map(|row| OpenSession {
            id_hash: row.id_hash,
            started: row.created_at,
            last_seen: row.last_seen_at,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
            sign_in_method: row.sign_in_method,
        })
        .collect())
}

/// Ends one of a user's sessions; another user's is `NotFound`.
pub fn end(conn: &mut DbConnection, user_id: &UserId, id_hash: &str) -> Result<(), DbError> {
    let ended = diesel::delete(
        sessions::table
            .filter(sessions::id_hash.eq(id_hash))
            .filter(sessions::user_id.eq(user_id.as_str())),
    )
    .execute(conn)?;
    if ended == 1 {
        Ok(())
    } else {
        Err(DbError::NotFound)
    }
}

/// Deletes expired sessions; how many.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        sessions::table.filter(
            sessions::last_seen_at
                .lt(now - IDLE_LIMIT)
                .or(sessions::user_id
                    .is_not_null()
                    .and(sessions::created_at.lt(now - ABSOLUTE_LIMIT))),
        ),
    )
    .execute(conn)?)
}
