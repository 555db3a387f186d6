//! The UI's error type: every failure of a page handler becomes one of these, rendered as a page
//! a person can act on. Internal causes are logged, never shown.

use crate::db::DbError;
use crate::domain::form::capitalised;
use crate::services::ServiceError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use std::fmt;

#[derive(Debug)]
pub enum AppError {
    /// Not signed in; carries the path to come back to after signing in.
    SignInRequired(Option<String>),
    /// Signed in, but the account's policy wants a second factor the user has not set up yet:
    /// every page but the Security page (whose path this carries) leads there.
    EnrolmentRequired(&'static str),
    NotFound,
    BadRequest(String),
    /// The database stayed locked; nothing was changed and the request may be repeated.
    Busy,
    /// The database cannot be reached; the request may be repeated once it is back.
    Unavailable,
    /// The storage is full: nothing was changed.
    Full,
    /// The signed-in user may not do this; says why.
    Forbidden(String),
    /// It exists already (a user with that e-mail); says what.
    Conflict(String),
    /// The rules do not allow it in this state (the last admin); says why.
    Refused(String),
    Internal(String),
}

impl AppError {
    pub fn internal(context: &str, cause: impl fmt::Display) -> Self {
        Self::Internal(format!("{context}: {cause}"))
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignInRequired(_) => f.write_str("sign-in required"),
            Self::EnrolmentRequired(_) => f.write_str("a second factor is required"),
            Self::NotFound => f.write_str("not found"),
            Self::BadRequest(why) => write!(f, "bad request: {why}"),
            Self::Busy => f.write_str("database busy"),
            Self::Unavailable => f.write_str("database unavailable"),
            Self::Full => f.write_str("storage full"),
            Self::Forbidden(why) => write!(f, "forbidden: {why}"),
            Self::Conflict(what) => write!(f, "conflict: {what}"),
            Self::Refused(why) => write!(f, "refused: {why}"),
            Self::Internal(cause) => write!(f, "internal error: {cause}"),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Forbidden(why) => Self::Forbidden(why),
            ServiceError::Conflict(what) => Self::Conflict(what),
            ServiceError::Refused(why) => Self::Refused(why),
            ServiceError::Modules(e) => Self::BadRequest(capitalised(&e.to_string())),
            ServiceError::Invalid { message, .. } | ServiceError::Rule { message, .. } => {
                Self::BadRequest(capitalised(&message))
            }
            ServiceError::AlreadyCreated(id) => {
                Self::Conflict(format!("This was created before, as {id}."))
            }
            ServiceError::AlreadyDone => {
                Self::Conflict("This form was sent before, and acted then.".into())
            }
            ServiceError::Storage(error) => error.into(),
        }
    }
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => Self::NotFound,
            DbError::Busy => Self::Busy,
            DbError::Unavailable(cause) => {
                tracing::warn!(%cause, "the database is unavailable");
                Self::Unavailable
            }
            DbError::Full(cause) => {
                tracing::error!(%cause, "the storage is full");
                Self::Full
            }
            DbError::Conflict(what) => Self::Conflict(what),
            DbError::BadQuery(e) => Self::BadRequest(capitalised(&e.to_string())),
            other => Self::internal("database", other),
        }
    }
}

/// What an error page says. It travels with the response (its extensions), so that a signed-in
/// user's page can be drawn again with the top bar and the navigation (`web::chrome`), where the
/// user is known.
#[derive(Debug, Clone)]
pub struct ErrorContent {
    pub title: String,
    pub message: String,
    /// For failures on our side: the reference a person can quote to whoever runs the server.
    pub request_id: Option<String>,
}

/// The error page as anyone sees it: without the navigation of a signed-in user.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    error: &'a ErrorContent,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired(_) | Self::EnrolmentRequired(_) => StatusCode::SEE_OTHER,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Busy | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Full => StatusCode::INSUFFICIENT_STORAGE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) | Self::Refused(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            Self::SignInRequired(next) => {
                let location = match next {
                    Some(next) => format!(
                        "/login?{}",
                        serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
                    ),
                    None => "/login".to_owned(),
                };
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish();
            }
            Self::EnrolmentRequired(location) => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, *location))
                    .finish();
            }
            Self::NotFound => (
                "Not found",
                "There is nothing here. It may have been deleted, or the link is wrong.",
            ),
            Self::BadRequest(why) => ("Request refused", why.as_str()),
            Self::Forbidden(why) => ("Not allowed", why.as_str()),
            Self::Conflict(why) | Self::Refused(why) => ("Not done", why.as_str()),
            Self::Unavailable => (
                "Database unavailable",
                "tokendesk cannot reach its database at the moment. Please try again shortly.",
            ),
            Self::Busy => (
                "Busy",
                "Nothing was changed; the system is busy. Please try again in a moment.",
            ),
            Self::Full => (
                "Storage full",
                "tokendesk's storage is full: nothing was changed. Pages can still be read; \
                 changes work again once space is freed.",
            ),
            Self::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (
                    "Something went wrong",
                    "The request could not be completed. Please try again in a moment.",
                )
            }
        };
        let mut page = error_page(self.status_code(), title, message);
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            page.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        page
    }
}

/// A complete error page with the given status; a failure of the server's own (5xx) names the
/// request, whose log lines carry the same id.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let request_id = status
        .is_server_error()
        .then(crate::request::current_request_id)
        .flatten();
    let error = ErrorContent {
        title: title.to_owned(),
        message: message.to_owned(),
        request_id,
    };
    let body = ErrorPage { error: &error }
        .render()
        .unwrap_or_else(|_| format!("{title}: {message}"));
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    response.extensions_mut().insert(error);
    response
}
