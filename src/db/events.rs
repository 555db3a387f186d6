//! The account's events: the activity log, and each token's history as part of it. Events are
//! only ever added.

use super::schema::events;
use super::{DbConnection, DbError, now};
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
    diesel::insert_into(events::table)
        .values((
            events::account_id.eq(by.account_id.as_str()),
            events::kind.eq(kind.as_str()),
            events::actor_id.eq(&by.actor.id),
            events::actor_name.eq(&by.actor.name),
            events::token_id.eq(Some(token_id.as_str())),
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
