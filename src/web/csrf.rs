//! Every POST outside the token-authenticated API must carry the session's CSRF token, in the
//! `X-CSRF-Token` header or the `csrf_token` form field. Checked here, once, before any handler
//! runs, so a forged request changes nothing.

use super::session::TypedSession;
use crate::error::error_page;
use crate::request::{API_BASE, BodyError, MAX_BODY_BYTES, read_limited};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use subtle::ConstantTimeEq;

pub const HEADER: &str = "X-CSRF-Token";
pub const FIELD: &str = "csrf_token";

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn refuse(req: ServiceRequest, status: StatusCode, message: &str) -> ServiceResponse<BoxBody> {
    let response = error_page(status, "Request refused", message);
    req.into_response(response)
}

pub async fn protect(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The API authenticates every request by its key, not by a cookie a browser sends along.
    if req.method() != Method::POST || req.path().starts_with(API_BASE) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let session = TypedSession::of(req.request());
    if session.is_unavailable() {
        return Ok(req.into_response(crate::error::AppError::Unavailable.error_response()));
    }
    let expected = session.existing_csrf_token();
    let Some(expected) = expected else {
        return Ok(refuse(
            req,
            StatusCode::FORBIDDEN,
            "This form has expired. Go back, reload the page and try again.",
        ));
    };
    let from_header = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let valid = match from_header {
        Some(token) => same(&token, &expected),
        None => {
            let mut payload = req.take_payload();
            // Pasted text to check for leaked keys may be a megabyte; every other form is small.
            let limit = if req.path() == crate::web::tokens::leaks::LEAKS_PATH {
                crate::web::tokens::leaks::LEAKS_BODY_BYTES
            } else {
                MAX_BODY_BYTES
            };
            let body = match read_limited(&mut payload, limit).await {
                Ok(body) => body,
                Err(BodyError::TooLarge) => {
                    return Ok(refuse(
                        req,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The form is too large.",
                    ));
                }
                Err(BodyError::Unreadable) => {
                    return Ok(refuse(
                        req,
                        StatusCode::BAD_REQUEST,
                        "The form could not be read.",
                    ));
                }
            };
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            let valid = is_form
                && serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                    .ok()
                    .and_then(|fields| fields.into_iter().find(|(k, _)| k == FIELD))
                    .is_some_and(|(_, token)| same(&token, &expected));
            req.set_payload(body.into());
            valid
        }
    };
    if !valid {
        return Ok(refuse(
            req,
            StatusCode::FORBIDDEN,
            "This form has expired. Go back, reload the page and try again.",
        ));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
