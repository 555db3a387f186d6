//! The account's events: the activity log, and each token's history as part of it. Events are
//! only ever added.

use super::pool::MultiBackend;
use super::query::InSubquery;
use super::schema::events;
use super::{DbConnection, DbError};
use crate::domain::access::{Actor, Requester};
use crate::domain::activity::ActivityQuery;
use crate::domain::event::EventKind;
use crate::domain::ids::{AccountId, TokenId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// An event's row as written.
#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
struct NewEventRow<'a> {
    account_id: &'a str,
    kind: &'a str,
    actor_id: &'a str,
    actor_name: &'a str,
    token_id: Option<&'a str>,
    user_id: Option<&'a str>,
    detail: Option<&'a str>,
    client_ip: Option<&'a str>,
    occurred_at: NaiveDateTime,
}

/// A kind this version cannot read: an error naming the event, never an event left out.
fn kind_of(id: i64, kind: &str) -> Result<EventKind, DbError> {
    EventKind::parse(kind)
        .ok_or_else(|| DbError::Corrupt(format!("event {id}: kind {kind:?} cannot be read")))
}

/// One entry of a token's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEvent {
    pub kind: EventKind,
    pub actor_id: String,
    pub actor_name: String,
    pub client_ip: Option<String>,
    pub occurred_at: NaiveDateTime,
}

#[derive(Queryable)]
struct TokenEventRow {
    id: i64,
    kind: String,
    actor_id: String,
    actor_name: String,
    client_ip: Option<String>,
    occurred_at: NaiveDateTime,
}

/// An event about something other than a token: a user, a sign-in.
pub struct NewEvent<'a> {
    pub account_id: &'a AccountId,
    pub kind: EventKind,
    pub actor: &'a Actor,
    /// The user it is about, where it is about one.
    pub user_id: Option<&'a UserId>,
    /// What else is worth keeping: the e-mail a failed sign-in tried, the new role.
    pub detail: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub at: NaiveDateTime,
}

impl NewEvent<'_> {
    pub fn record(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        insert(
            conn,
            &NewEventRow {
                account_id: self.account_id.as_str(),
                kind: self.kind.as_str(),
                actor_id: &self.actor.id,
                actor_name: &self.actor.name,
                token_id: None,
                user_id: self.user_id.map(UserId::as_str),
                detail: self.detail,
                client_ip: self.client_ip,
                occurred_at: self.at,
            },
        )
    }
}

fn insert(conn: &mut DbConnection, row: &NewEventRow<'_>) -> Result<(), DbError> {
    diesel::insert_into(events::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Adds what `by` did to the token (and why, when said: "reported as leaked") to the account's
/// events, at the time of the request.
pub fn record_for_token(
    conn: &mut DbConnection,
    token_id: &TokenId,
    kind: EventKind,
    by: &Requester,
    reason: Option<&str>,
) -> Result<(), DbError> {
    insert(
        conn,
        &NewEventRow {
            account_id: by.account_id.as_str(),
            kind: kind.as_str(),
            actor_id: &by.actor.id,
            actor_name: &by.actor.name,
            token_id: Some(token_id.as_str()),
            user_id: None,
            detail: reason,
            client_ip: by.client_ip.as_deref(),
            occurred_at: by.at,
        },
    )
}

/// The most recent events of a token, newest first.
pub fn recent(
    conn: &mut DbConnection,
    token_id: &TokenId,
    limit: i64,
) -> Result<Vec<TokenEvent>, DbError> {
    events::table
        .filter(events::token_id.eq(token_id.as_str()))
        .order((events::occurred_at.desc(), events::id.desc()))
        .limit(limit)
        .select((
            events::id,
            events::kind,
            events::actor_id,
            events::actor_name,
            events::client_ip,
            events::occurred_at,
        ))
        .load::<TokenEventRow>(conn)?
        .into_iter()
        .map(|row| {
            Ok(TokenEvent {
                kind: kind_of(row.id, &row.kind)?,
                actor_id: row.actor_id,
                actor_name: row.actor_name,
                client_ip: row.client_ip,
                occurred_at: row.occurred_at,
            })
        })
        .collect()
}

/// An event as the activity log shows it: who, what, about which token or user, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    pub id: i64,
    pub kind: EventKind,
    pub actor_id: String,
    pub actor_name: String,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub detail: Option<String>,
    pub client_ip: Option<String>,
    pub occurred_at: NaiveDateTime,
}

/// An event's row with the names of the token and the user it is about.
#[derive(Queryable)]
struct ActivityRow {
    id: i64,
    kind: String,
    actor_id: String,
    actor_name: String,
    token_id: Option<String>,
    token_name: Option<String>,
    user_id: Option<String>,
    user_name: Option<String>,
    detail: Option<String>,
    client_ip: Option<String>,
    occurred_at: NaiveDateTime,
}

/// The account's events that `query` selects.
fn selected<'a>(
    account_id: &'a AccountId,
    query: &'a ActivityQuery,
) -> events::BoxedQuery<'a, MultiBackend> {
    let mut select = events::table
        .filter(events::account_id.eq(account_id.as_str()))
        .into_boxed();
    if let Some(kind) = query.kind {
        select = select.filter(events::kind.eq(kind.as_str()));
    }
    if let Some(actor) = &query.actor {
        select = select.filter(events::actor_id.eq(actor.as_str()));
    }
    if let Some(token) = &query.token {
        select = select.filter(events::token_id.eq(token.as_str()));
    }
    if let Some(since) = query.since() {
        select = select.filter(events::occurred_at.ge(since));
    }
    if let Some(until) = query.until() {
        select = select.filter(events::occurred_at.lt(until));
    }
    select
}

/// How many of the account's events `query` selects, counted up to `at_most` (a log of
/// hundreds of thousands is not counted whole for a page: "10 000+" says enough).
pub fn count(
    conn: &mut DbConnection,
    account_id: &AccountId,
    query: &ActivityQuery,
    at_most: i64,
) -> Result<u64, DbError> {
    let ids = selected(account_id, query)
        .select(events::id)
        .limit(at_most);
    let counted: i64 = events::table
        .filter(InSubquery {
            column: events::id,
            subquery: ids,
        })
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(counted).unwrap_or(0))
}

/// The account's events that `query` selects, newest first: `limit` of them from `offset`, or
/// (for reading them all in batches) those older than `before`, an (instant, id) pair.
pub fn activity(
    conn: &mut DbConnection,
    account_id: &AccountId,
    query: &ActivityQuery,
    limit: i64,
    offset: i64,
    before: Option<(NaiveDateTime, i64)>,
) -> Result<Vec<ActivityEvent>, DbError> {
    use super::schema::{tokens, users};
    let mut select = selected(account_id, query);
    if let Some((at, id)) = before {
        select = select.filter(
            events::occurred_at
                .lt(at)
                .or(events::occurred_at.eq(at).and(events::id.lt(id))),
        );
    }
    // The page's ids first, from the indexes alone; then only its rows, with their names.
    let page = select
        .order((events::occurred_at.desc(), events::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(events::id);
    let rows = events::table
        .left_join(tokens::table)
        .left_join(users::table)
        .filter(InSubquery {
            column: events::id,
            subquery: page,
        })
        .order((events::occurred_at.desc(), events::id.desc()))
        .select((
            events::id,
            events::kind,
            events::actor_id,
            events::actor_name,
            events::token_id,
            tokens::name.nullable(),
            events::user_id,
            users::name.nullable(),
            events::detail,
            events::client_ip,
            events::occurred_at,
        ))
        .load::<ActivityRow>(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(ActivityEvent {
                kind: kind_of(row.id, &row.kind)?,
                id: row.id,
                actor_id: row.actor_id,
                actor_name: row.actor_name,
                token_id: row.token_id,
                token_name: row.token_name,
                user_id: row.user_id,
                user_name: row.user_name,
                detail: row.detail,
                client_ip: row.client_ip,
                occurred_at: row.occurred_at,
            })
        })
        .collect()
}
