//! Acting on several tokens at once: all of them, in one transaction, or none. A selection
//! holding a token the requester may not manage (or that no longer exists) changes nothing and
//! says which token stopped it.

use super::pool::write_transaction;
use super::tokens::{Token, within_reach};
use super::{DbConnection, DbError};
use crate::domain::ids::TokenId;
use crate::domain::token::{Requester, StoredStatus, TokenAction};
use std::fmt;

/// A selected token the requester may not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: TokenId,
    /// Unknown when the token does not exist (or is not in the requester's account).
    pub name: Option<String>,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "“{name}” ({}): {}", self.id, self.reason),
            None => write!(f, "{}: {}", self.id, self.reason),
        }
    }
}

/// The selected tokens the requester may act on, in the order given, and the refusals for the
/// others. Repeated ids count once.
pub fn check(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
) -> Result<(Vec<Token>, Vec<Refusal>), DbError> {
    let mut tokens: Vec<Token> = Vec::with_capacity(ids.len());
    let mut refusals = Vec::new();
    for id in ids {
        if tokens.iter().any(|t| &t.id == id) || refusals.iter().any(|r: &Refusal| &r.id == id) {
            continue;
        }
        match within_reach(conn, by, id) {
            Ok(_) => tokens.push(Token::find(conn, &by.account_id, id)?),
            Err(DbError::NotFound) => refusals.push(Refusal {
                id: id.clone(),
                name: None,
                reason: "it does not exist or has been deleted".to_owned(),
            }),
            Err(DbError::Forbidden(reason)) => refusals.push(Refusal {
                id: id.clone(),
                name: Token::find(conn, &by.account_id, id).ok().map(|t| t.name),
                reason,
            }),
            Err(other) => return Err(other),
        }
    }
    Ok((tokens, refusals))
}

/// Does `action` to every selected token, each with its own event, or to none of them: any
/// refusal leaves everything as it was and is the answer. Answers the tokens as they were.
pub fn apply(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
    action: TokenAction,
) -> Result<Result<Vec<Token>, Vec<Refusal>>, DbError> {
    apply_because(conn, by, ids, action, None)
}

/// `apply`, with why, recorded with each event.
pub fn apply_because(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
    action: TokenAction,
    reason: Option<&str>,
) -> Result<Result<Vec<Token>, Vec<Refusal>>, DbError> {
    write_transaction(conn, |conn| {
        let (tokens, refusals) = check(conn, by, ids)?;
        if !refusals.is_empty() {
            return Ok(Err(refusals));
        }
        for token in &tokens {
            match action {
                TokenAction::Disable => {
                    Token::set_status_because(conn, by, &token.id, StoredStatus::Inactive, reason)?;
                }
                TokenAction::Enable => {
                    Token::set_status_because(conn, by, &token.id, StoredStatus::Active, reason)?;
                }
                TokenAction::Delete => Token::delete(conn, by, &token.id)?,
            }
        }
        Ok(Ok(tokens))
    })
}
