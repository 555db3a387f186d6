//! The API's error type: every failure answers `{"error_code": "…", "errors": ["…"]}`.

use crate::db::DbError;
use crate::domain::form::FieldErrors;
use crate::services::ServiceError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code for programs, e.g. `AUTH_002`.
    pub error_code: String,
    /// What went wrong, for people.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    errors: Vec<String>,
    /// Seconds for `Retry-After`, when the client should wait.
    retry_after: Option<u32>,
}

/// Seconds a client should wait before trying again after a 503.
const RETRY_AFTER_SECS: &str = "5";

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            errors: vec![message.into()],
            retry_after: None,
        }
    }

    /// 429: the key's rate limit is spent until `retry_after` seconds from now.
    pub fn too_many_requests(limit: u32, retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_001",
                format!(
                    "This key may make {limit} requests a minute; try again in {retry_after} s."
                ),
            )
        }
    }

    /// 401: no usable credentials. Every failure of the key answers this.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// The request came from outside the key's allowed networks.
    pub fn outside_networks(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AUTH_005", message)
    }

    /// The key may not act on that token (beyond its modules, or its owner's reach).
    pub fn beyond_reach(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AUTH_007", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "REQ_001", message)
    }

    pub fn validation(errors: Vec<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "VAL_001",
            errors,
            retry_after: None,
        }
    }

    /// One field's problem, as `field: message`.
    pub fn invalid_field(field: &str, message: impl fmt::Display) -> Self {
        Self::validation(vec![format!("{field}: {message}")])
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code, e.g. `AUTH_002`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Answered 401 or 403: the key, or what it may reach, was refused.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        )
    }

    /// Answered 429: held back by the key's rate limit.
    pub fn is_throttled(&self) -> bool {
        self.status == StatusCode::TOO_MANY_REQUESTS
    }

    /// 409: it conflicts with what exists, or with the state of what it acts on.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "REQ_004", message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NFND_001",
            "The object does not exist or is not yours.",
        )
    }

    /// 415: a body that is not JSON.
    pub fn unsupported_media_type(content_type: Option<&str>) -> Self {
        let sent = content_type.map_or("no Content-Type".to_owned(), |kind| format!("{kind:?}"));
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "REQ_003",
            format!("The body must be JSON, sent as Content-Type: application/json (got {sent})."),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQ_002",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SRV_001",
            "The request could not be completed; try again.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.errors.join("; ")
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => Self::not_found(),
            // A body is checked against the rules before a change is asked for; what is still
            // refused here is refused for the token as it is (a Reports token's fixed modules,
            // its last module, its expiry already past): a well-formed request in conflict with
            // the token's state, which another request can resolve.
            ServiceError::Modules(e) => Self::conflict(format!("permissions: {e}")),
            // The account's policy refuses the value as given: another would do.
            ServiceError::Rule { field, message } => Self::invalid_field(field, message),
            ServiceError::Invalid { field, message } => {
                Self::conflict(format!("{field}: {message}"))
            }
            ServiceError::Forbidden(why) => Self::beyond_reach(why),
            ServiceError::Refused(why) | ServiceError::Conflict(why) => Self::conflict(why),
            ServiceError::AlreadyDone => Self::conflict("This was sent before, and done then."),
            ServiceError::AlreadyCreated(id) => {
                Self::conflict(format!("This was created before, as {id}."))
            }
            ServiceError::Storage(error) => error.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => Self::not_found(),
            DbError::BadQuery(e) => Self::bad_request(e.to_string()),
            DbError::Full(cause) => {
                tracing::error!(%cause, "the storage is full");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "SRV_003",
                    "The storage is full; nothing was changed. Reading still works.",
                )
            }
            DbError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SRV_002",
                "The database is busy; try again in a moment.",
            ),
            DbError::Unavailable(cause) => {
                tracing::warn!(%cause, "the database is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SRV_002",
                    "The database cannot be reached at the moment; try again shortly.",
                )
            }
            other => Self::internal(other),
        }
    }
}

/// The same messages a form shows beside its fields, as `field: message` items.
impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        Self::validation(
            errors
                .iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect(),
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        response.json(self.body())
    }
}

impl ApiError {
    /// What the answer's body says.
    pub fn body(&self) -> ErrorBody {
        let mut errors = self.errors.clone();
        // A failure of the server's own names the request, whose log lines carry the same id.
        if self.status.is_server_error()
            && let Some(id) = crate::request::current_request_id()
        {
            errors.push(format!("If it keeps happening, quote the request id {id}."));
        }
        ErrorBody {
            error_code: self.code.to_owned(),
            errors,
        }
    }
}
