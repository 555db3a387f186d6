//! Every change, made by the rules, for whoever asks: the UI's handlers, the API's and the
//! command line call the same functions here. Each takes a connection and a `Requester` (who,
//! for which account, from where, when), reads what it changes once, checks the requester's
//! reach once, writes in one transaction, and answers a typed refusal when the rules say no.
//! Storage (`db`) only runs the statements; refusals are this layer's.

pub mod demo;
pub mod tokens;
pub mod users;

use crate::db::DbError;
use crate::domain::ids::TokenId;
use crate::domain::module::ModuleError;

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such thing in the requester's account (another account's answers the same).
    #[error("not found")]
    NotFound,
    /// The requester may not do this (a member acting on another's token, an API key acting
    /// beyond what it reaches); says why.
    #[error("{0}")]
    Forbidden(String),
    /// The modules asked for are not what a token of its extension may hold.
    #[error("{0}")]
    Modules(#[from] ModuleError),
    /// A change the rules do not allow in this state (demoting the last admin; advice that
    /// changed since it was shown); says why.
    #[error("{0}")]
    Refused(String),
    /// It exists already (a user with that e-mail); says what.
    #[error("{0}")]
    Conflict(String),
    /// The creation was asked for before and made this token; nothing new was made.
    #[error("already created as {0}")]
    AlreadyCreated(TokenId),
    /// Storage failed: the database is away, busy, or holds what cannot be read.
    #[error(transparent)]
    Storage(DbError),
}

impl From<diesel::result::Error> for ServiceError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::from(error).into()
    }
}

impl From<DbError> for ServiceError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => Self::NotFound,
            DbError::Conflict(what) => Self::Conflict(what),
            other => Self::Storage(other),
        }
    }
}
