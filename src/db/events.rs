//! The account's events: the activity log, and each token's history as part of it. Events are
//! only ever added.

use super::query::InSubquery;
use super::schema::events;
use super::{DbConnection, DbError, now};
use crate::domain::activity::ActivityQuery;
use crate::domain::event::EventKind;
use crate::domain::ids::{AccountId, TokenId, UserId};
use crate::domain::token::{Actor, Requester};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// One entry of a token's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEvent {
    pub kind: EventKind,
    pub actor_id: String,
    pub actor_name: String,
    pub client_ip: Option<String>,
    pub occurred_at: NaiveDateTime,
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
        diesel::insert_into(events::table)
            .values((
                events::account_id.eq(self.account_id.as_str()),
                events::kind.eq(self.kind.as_str()),
                events::actor_id.eq(&self.actor.id),
                events::actor_name.eq(&self.actor.name),
                events::user_id.eq(self.user_id.map(UserId::as_str)),
                events::detail.eq(self.detail),
                events::client_ip.eq(self.client_ip),
                events::occurred_at.eq(self.at),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// Adds what `by` did to the token to the account's events.
pub fn record_for_token(
    conn: &mut DbConnection,
    token_id: &TokenId,
    kind: EventKind,
    by: &Requester,
) -> Result<(), DbError> {
    record_for_token_because(conn, token_id, kind, by, None)
}

/// `record_for_token` with why it was done, shown beside the event ("reported as leaked").
pub fn record_for_token_because(
    conn: &mut DbConnection,
    token_id: &TokenId,
    kind: EventKind,
    by: &Requester,
    reason: Option<&str>,
) -> Result<(), DbError> {
    diesel::insert_into(events::table)
        .values((
            events::account_id.eq(by.account_id.as_str()),
            events::kind.eq(kind.as_str()),
            events::actor_id.eq(&by.actor.id),
            events::actor_name.eq(&by.actor.name),
            events::token_id.eq(Some(token_id.as_str())),
            events::detail.eq(reason),
            events::client_ip.eq(by.client_ip.as_deref()),
            events::occurred_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The most recent events of a token, newest first.
pub fn recent(
    conn: &mut DbConnection,
    token_id: &TokenId,
    limit: i64,
) -> Result<Vec<TokenEvent>, DbError> {
    let rows = events::table
        .filter(events::token_id.eq(token_id.as_str()))
        .order((events::occurred_at.desc(), events::id.desc()))
        .limit(limit)
        .select((
            events::kind,
            events::actor_id,
            events::actor_name,
            events::client_ip,
            events::occurred_at,
        ))
        .load::<(String, String, String, Option<String>, NaiveDateTime)>(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, actor_id, actor_name, client_ip, occurred_at)| {
            Some(TokenEvent {
                kind: EventKind::parse(&kind)?,
                actor_id,
                actor_name,
                client_ip,
                occurred_at,
            })
        })
        .collect())
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

type ActivityRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    NaiveDateTime,
);

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
    let mut select = events::table
        .filter(events::account_id.eq(account_id.as_str()))
        .into_boxed();
    if let Some(kind) = query.kind {
        select = select.filter(events::kind.eq(kind.as_str()));
    }
    if let Some(actor) = &query.actor {
        select = select.filter(events::actor_id.eq(actor.clone()));
    }
    if let Some(token) = &query.token {
        select = select.filter(events::token_id.eq(token.as_str().to_owned()));
    }
    if let Some(since) = query.since() {
        select = select.filter(events::occurred_at.ge(since));
    }
    if let Some(until) = query.until() {
        select = select.filter(events::occurred_at.lt(until));
    }
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
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                id,
                kind,
                actor_id,
                actor_name,
                token_id,
                token_name,
                user_id,
                user_name,
                detail,
                client_ip,
                occurred_at,
            )| {
                Some(ActivityEvent {
                    id,
                    kind: EventKind::parse(&kind)?,
                    actor_id,
                    actor_name,
                    token_id,
                    token_name,
                    user_id,
                    user_name,
                    detail,
                    client_ip,
                    occurred_at,
                })
            },
        )
        .collect())
}
