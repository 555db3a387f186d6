//! Every change, made by the rules, for whoever asks: the UI's handlers, the API's and the
//! command line call the same functions here. Each takes a connection and a `Requester` (who,
//! for which account, from where, when), reads what it changes once, checks the requester's
//! reach once, writes in one transaction, and answers a typed refusal when the rules say no.
//! Storage (`db`) only runs the statements; refusals are this layer's.

pub mod approvals;
pub mod demo;
pub mod guesses;
pub mod passkeys;
pub mod policy;
pub mod reminders;
pub mod tokens;
pub mod two_factor;
pub mod users;

use crate::db::pool::write_transaction;
use crate::db::{DbConnection, DbError, submitted_forms};
use crate::domain::access::Requester;
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
    /// A value that cannot work as given (renewing an expired token without a new expiry);
    /// names the field and says why.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A value the account's policy refuses as given (an expiry past its maximum, no allowed
    /// networks where they are required, no reason where approval asks for one); names the
    /// field. Unlike `Invalid`, another value in the same request would do.
    #[error("{field}: {message}")]
    Rule {
        field: &'static str,
        message: String,
    },
    /// The creation was asked for before and made this token; nothing new was made.
    #[error("already created as {0}")]
    AlreadyCreated(TokenId),
    /// The form was sent before, and acted then; nothing was done again.
    #[error("this form was sent before")]
    AlreadyDone,
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

/// What a form that acts was sent with: the one-time id its page gave it, and where a second
/// sending of it goes.
pub struct Sent<'a> {
    pub form_id: Option<&'a str>,
    pub result: &'a str,
}

/// What came of sending a form.
pub enum Once<T> {
    Done(T),
    /// It was sent before and acted then: where that went.
    AlreadyDone(String),
}

/// Where the form `form_id` went, if it was sent before: for a form whose checks would
/// themselves fail the second time (the current password, once it has changed).
pub fn sent_before(
    conn: &mut DbConnection,
    by: &Requester,
    form_id: &str,
) -> Result<Option<String>, ServiceError> {
    Ok(submitted_forms::result_of(conn, &by.account_id, form_id)?)
}

/// Runs `work` once per form: its one-time id is claimed in the same transaction, so that a
/// second sending (a reload, a double click, the browser's resubmission) changes nothing and is
/// told where the first went. A form without an id (a script, an older page) acts each time.
pub fn once<T>(
    conn: &mut DbConnection,
    by: &Requester,
    sent: &Sent<'_>,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ServiceError>,
) -> Result<Once<T>, ServiceError> {
    let Some(form_id) = sent.form_id else {
        return work(conn).map(Once::Done);
    };
    let done = write_transaction(conn, |conn| {
        submitted_forms::claim(conn, &by.account_id, form_id, sent.result, by.at).map_err(|e| {
            match e {
                DbError::Conflict(_) => ServiceError::AlreadyDone,
                other => other.into(),
            }
        })?;
        work(conn)
    });
    match done {
        Ok(done) => Ok(Once::Done(done)),
        Err(ServiceError::AlreadyDone) => {
            let result = submitted_forms::result_of(conn, &by.account_id, form_id)?;
            Ok(Once::AlreadyDone(
                result.unwrap_or_else(|| sent.result.to_owned()),
            ))
        }
        Err(refused) => Err(refused),
    }
}
