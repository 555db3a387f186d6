use super::schema::token_events;
use super::{DbConnection, DbError, now};
use crate::domain::ids::TokenId;
use crate::domain::token::{EventKind, Requester};
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

/// Adds what `by` did to the token's history.
pub fn record(
    conn: &mut DbConnection,
    token_id: &TokenId,
    kind: EventKind,
    by: &Requester,
) -> Result<(), DbError> {
    diesel::insert_into(token_events::table)
        .values((
            token_events::token_id.eq(token_id.as_str()),
            token_events::kind.eq(kind.as_str()),
            token_events::actor_id.eq(&by.actor.id),
            token_events::actor_name.eq(&by.actor.name),
            token_events::client_ip.eq(by.client_ip.as_deref()),
            token_events::occurred_at.eq(now()),
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
    let rows = token_events::table
        .filter(token_events::token_id.eq(token_id.as_str()))
        .order((token_events::occurred_at.desc(), token_events::id.desc()))
        .limit(limit)
        .select((
            token_events::kind,
            token_events::actor_id,
            token_events::actor_name,
            token_events::client_ip,
            token_events::occurred_at,
        ))
        .load::<(String, String, String, Option<String>, NaiveDateTime)>(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, actor_id, actor_name, client_ip, occurred_at)| {
            Some(TokenEvent {
                kind: EventKind::from_stored(&kind)?,
                actor_id,
                actor_name,
                client_ip,
                occurred_at,
            })
        })
        .collect())
}
