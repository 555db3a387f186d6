//! `Idempotency-Key` on the API's POSTs, as Stripe has it: a client whose answer was lost sends
//! the same request again with the same key, and gets the first answer again instead of a
//! second token or a second rotation. The first successful answer to a key is kept per account
//! for 24 h, in the transaction of the action itself, so any instance replays it; the same key
//! with another request (method, path or body) is refused with 422 `REQ_005`. Answers may hold a
//! new key's secret: they are kept sealed with the master key. Failures are not kept: nothing
//! was done, and sending again does it.

use super::auth::ApiCaller;
use super::error::ApiError;
use crate::db::pool::write_transaction;
use crate::db::{DbConnection, DbError, idempotency};
use crate::domain::secret_box::MasterKey;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

pub const HEADER: &str = "Idempotency-Key";

/// Says a replayed answer is one.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// The longest key taken (Stripe's).
pub const MAX_LEN: usize = 255;

/// The key a POST was sent with, and what it was sent with it.
pub struct Idempotency {
    key: String,
    fingerprint: String,
}

impl Idempotency {
    /// The request's key, if it has one, bound to its method, path, query and `body`.
    pub fn of(req: &HttpRequest, body: &[u8]) -> Result<Option<Self>, ApiError> {
        let mut sent = req.headers().get_all(HEADER);
        let Some(value) = sent.next() else {
            return Ok(None);
        };
        let invalid = || {
            ApiError::bad_request(format!(
                "{HEADER} must be one value of 1 to {MAX_LEN} visible ASCII characters."
            ))
        };
        if sent.next().is_some() {
            return Err(invalid());
        }
        let key = value.to_str().map_err(|_| invalid())?;
        if key.is_empty() || key.len() > MAX_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        let mut digest = Sha256::new();
        for part in [req.method().as_str(), req.path(), req.query_string()] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        digest.update(body);
        Ok(Some(Self {
            key: key.to_owned(),
            fingerprint: hex::encode(digest.finalize()),
        }))
    }
}

/// An answer as an endpoint gives it: its status and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn new(status: StatusCode, body: &impl serde::Serialize) -> Result<Self, ApiError> {
        Ok(Self {
            status,
            body: serde_json::to_value(body)
                .map_err(|e| ApiError::from(DbError::Corrupt(format!("an answer as JSON: {e}"))))?,
        })
    }

    /// The answer; `replayed` when it is the first answer to the same request, sent again.
    pub fn response(self, replayed: bool) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if replayed {
            response.insert_header((REPLAYED, "true"));
        }
        response.json(self.body)
    }
}

/// Why a keyed action did not go through.
enum Refused {
    /// The action's own refusal, or the database's.
    Api(ApiError),
    /// Another request with the same key kept its answer first.
    Raced,
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<DbError> for Refused {
    fn from(error: DbError) -> Self {
        Self::Api(error.into())
    }
}

impl From<diesel::result::Error> for Refused {
    fn from(error: diesel::result::Error) -> Self {
        Self::from(DbError::from(error))
    }
}

/// Runs `work` once per idempotency key of the caller's account (each time, without one);
/// the answer, and whether it is a replay of the first.
pub fn once(
    conn: &mut DbConnection,
    caller: &ApiCaller,
    master_key: &MasterKey,
    idempotency: Option<&Idempotency>,
    work: impl FnOnce(&mut DbConnection) -> Result<Answer, ApiError>,
) -> Result<(Answer, bool), ApiError> {
    let Some(sent) = idempotency else {
        return Ok((work(conn)?, false));
    };
    if let Some(answer) = kept(conn, caller, master_key, sent)? {
        return Ok((answer, true));
    }
    let context = context(caller, sent);
    let done = write_transaction(conn, |conn| {
        let answer = work(conn)?;
        let body = serde_json::to_vec(&answer.body)
            .map_err(|e| DbError::Corrupt(format!("an answer as JSON: {e}")))?;
        let first = idempotency::Kept {
            fingerprint: sent.fingerprint.clone(),
            status: i32::from(answer.status.as_u16()),
            answer: master_key.seal_bytes(context.as_bytes(), &body),
        };
        match idempotency::keep(conn, &caller.account().id, &sent.key, &first, caller.at) {
            Ok(()) => Ok(answer),
            Err(DbError::Conflict(_)) => Err(Refused::Raced),
            Err(other) => Err(other.into()),
        }
    });
    match done {
        Ok(answer) => Ok((answer, false)),
        Err(Refused::Api(error)) => Err(error),
        // The same request ran at the same time elsewhere and kept its answer first: that one.
        Err(Refused::Raced) => match kept(conn, caller, master_key, sent)? {
            Some(answer) => Ok((answer, true)),
            None => Err(ApiError::new(
                StatusCode::CONFLICT,
                "REQ_004",
                format!("A request with this {HEADER} is under way; send it again shortly."),
            )),
        },
    }
}

/// What a kept answer is sealed for: the account and the key.
fn context(caller: &ApiCaller, sent: &Idempotency) -> String {
    format!("idempotency:{}:{}", caller.account().id, sent.key)
}

/// The first answer kept for the key, if there is one and it answered this very request.
fn kept(
    conn: &mut DbConnection,
    caller: &ApiCaller,
    master_key: &MasterKey,
    sent: &Idempotency,
) -> Result<Option<Answer>, ApiError> {
    let since = caller.at - idempotency::KEPT;
    let Some(kept) = idempotency::find(conn, &caller.account().id, &sent.key, since)? else {
        return Ok(None);
    };
    if kept.fingerprint != sent.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "REQ_005",
            format!(
                "This {HEADER} was used with another request in the last 24 hours; use a new key \
                 for a new request."
            ),
        ));
    }
    let body = master_key
        .open_bytes(context(caller, sent).as_bytes(), &kept.answer)
        .map_err(|e| DbError::Corrupt(format!("a kept answer: {e}")))?;
    let body = serde_json::from_slice(&body)
        .map_err(|e| DbError::Corrupt(format!("a kept answer: {e}")))?;
    let status = u16::try_from(kept.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| DbError::Corrupt(format!("a kept status {}", kept.status)))?;
    Ok(Some(Answer { status, body }))
}
