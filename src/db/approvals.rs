//! What members asked an admin to approve, as stored: a new token that waits, or more
//! permissions for one. One open request per token. Who may ask and decide is
//! `services::approvals`'.

use super::schema::{approval_requests, tokens};
use super::tokens::stored_module;
use super::{DbConnection, DbError};
use crate::domain::access::Actor;
use crate::domain::ids::{AccountId, TokenId};
use crate::domain::module::ModuleSet;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A new token, which waits (its key refused) until decided.
    Token,
    /// More permissions for a token, which keeps its old ones in force meanwhile.
    Permissions,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Permissions => "permissions",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Denied,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }
}

/// A request, with the name of the token it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub id: i64,
    pub token_id: TokenId,
    pub token_name: String,
    pub kind: RequestKind,
    /// For a new token, the modules it asks for; for a change, the permissions it would hold.
    pub modules: ModuleSet,
    pub reason: String,
    pub requested_by: Actor,
    pub requested_at: NaiveDateTime,
    pub decision: Option<(Decision, Actor, NaiveDateTime, String)>,
}

#[derive(Queryable)]
struct RequestRow {
    id: i64,
    token_id: String,
    token_name: String,
    kind: String,
    modules: String,
    reason: String,
    requested_by_id: String,
    requested_by_name: String,
    requested_at: NaiveDateTime,
    decision: Option<String>,
    note: Option<String>,
    decided_by_id: Option<String>,
    decided_by_name: Option<String>,
    decided_at: Option<NaiveDateTime>,
}

impl TryFrom<RequestRow> for ApprovalRequest {
    type Error = DbError;

    fn try_from(row: RequestRow) -> Result<Self, DbError> {
        let corrupt = |column: &str, value: &str| {
            DbError::Corrupt(format!("approval request {}: {column} “{value}”", row.id))
        };
        let kind = match row.kind.as_str() {
            "token" => RequestKind::Token,
            "permissions" => RequestKind::Permissions,
            other => return Err(corrupt("kind", other)),
        };
        let modules = ModuleSet::of(
            row.modules
                .split(',')
                .filter(|id| !id.is_empty())
                .map(stored_module)
                .collect::<Result<Vec<_>, _>>()?,
        );
        let decision = match (row.decision.as_deref(), row.decided_at) {
            (Some(decision), Some(at)) => {
                let decision = match decision {
                    "approved" => Decision::Approved,
                    "denied" => Decision::Denied,
                    other => return Err(corrupt("decision", other)),
                };
                let by = Actor {
                    id: row.decided_by_id.unwrap_or_default(),
                    name: row.decided_by_name.unwrap_or_default(),
                };
                Some((decision, by, at, row.note.unwrap_or_default()))
            }
            _ => None,
        };
        Ok(Self {
            id: row.id,
            token_id: TokenId::from_trusted(row.token_id),
            token_name: row.token_name,
            kind,
            modules,
            reason: row.reason,
            requested_by: Actor {
                id: row.requested_by_id,
                name: row.requested_by_name,
            },
            requested_at: row.requested_at,
            decision,
        })
    }
}

macro_rules! requests_with_names {
    () => {
        approval_requests::table.inner_join(tokens::table).select((
            approval_requests::id,
            approval_requests::token_id,
            tokens::name,
            approval_requests::kind,
            approval_requests::modules,
            approval_requests::reason,
            approval_requests::requested_by_id,
            approval_requests::requested_by_name,
            approval_requests::requested_at,
            approval_requests::decision,
            approval_requests::note,
            approval_requests::decided_by_id,
            approval_requests::decided_by_name,
            approval_requests::decided_at,
        ))
    };
}

/// Records what `by` asks for token `token_id`.
#[allow(clippy::too_many_arguments)]
pub fn open(
    conn: &mut DbConnection,
    account_id: &AccountId,
    token_id: &TokenId,
    kind: RequestKind,
    modules: &ModuleSet,
    reason: &str,
    by: &Actor,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    let modules: Vec<&str> = modules.iter().map(|m| m.id).collect();
    diesel::insert_into(approval_requests::table)
        .values((
            approval_requests::account_id.eq(account_id.as_str()),
            approval_requests::token_id.eq(token_id.as_str()),
            approval_requests::kind.eq(kind.as_str()),
            approval_requests::modules.eq(modules.join(",")),
            approval_requests::reason.eq(reason),
            approval_requests::requested_by_id.eq(&by.id),
            approval_requests::requested_by_name.eq(&by.name),
            approval_requests::requested_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The request waiting for a decision on token `token_id`, if there is one.
pub fn open_for(
    conn: &mut DbConnection,
    account_id: &AccountId,
    token_id: &TokenId,
) -> Result<Option<ApprovalRequest>, DbError> {
    requests_with_names!()
        .filter(approval_requests::account_id.eq(account_id.as_str()))
        .filter(approval_requests::token_id.eq(token_id.as_str()))
        .filter(approval_requests::decided_at.is_null())
        .first::<RequestRow>(conn)
        .optional()?
        .map(ApprovalRequest::try_from)
        .transpose()
}

/// The last decided request on token `token_id`, if any: what the token page says of it.
pub fn last_decided(
    conn: &mut DbConnection,
    account_id: &AccountId,
    token_id: &TokenId,
) -> Result<Option<ApprovalRequest>, DbError> {
    requests_with_names!()
        .filter(approval_requests::account_id.eq(account_id.as_str()))
        .filter(approval_requests::token_id.eq(token_id.as_str()))
        .filter(approval_requests::decided_at.is_not_null())
        .order(approval_requests::id.desc())
        .first::<RequestRow>(conn)
        .optional()?
        .map(ApprovalRequest::try_from)
        .transpose()
}

/// The account's requests waiting for a decision, oldest first (of live tokens).
pub fn queue(
    conn: &mut DbConnection,
    account_id: &AccountId,
) -> Result<Vec<ApprovalRequest>, DbError> {
    requests_with_names!()
        .filter(approval_requests::account_id.eq(account_id.as_str()))
        .filter(approval_requests::decided_at.is_null())
        .filter(tokens::deleted_at.is_null())
        .order((
            approval_requests::requested_at.asc(),
            approval_requests::id.asc(),
        ))
        .load::<RequestRow>(conn)?
        .into_iter()
        .map(ApprovalRequest::try_from)
        .collect()
}

/// How many requests wait for a decision in the account.
pub fn waiting(conn: &mut DbConnection, account_id: &AccountId) -> Result<i64, DbError> {
    Ok(approval_requests::table
        .inner_join(tokens::table)
        .filter(approval_requests::account_id.eq(account_id.as_str()))
        .filter(approval_requests::decided_at.is_null())
        .filter(tokens::deleted_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Records the decision on request `id`, if it still waits: whether it did.
pub fn decide(
    conn: &mut DbConnection,
    id: i64,
    decision: Decision,
    note: &str,
    by: &Actor,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let decided = diesel::update(
        approval_requests::table
            .find(id)
            .filter(approval_requests::decided_at.is_null()),
    )
    .set((
        approval_requests::decision.eq(decision.as_str()),
        approval_requests::note.eq(note),
        approval_requests::decided_by_id.eq(&by.id),
        approval_requests::decided_by_name.eq(&by.name),
        approval_requests::decided_at.eq(at),
    ))
    .execute(conn)?;
    Ok(decided == 1)
}
