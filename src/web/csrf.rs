//! Every POST outside the token-authenticated API must carry the session's CSRF token, in the
//! `X-CSRF-Token` header or the `csrf_token` form field. Checked here, once, before any handler
//! runs, so a forged request changes nothing.
//!
//! A visitor who is not signed in has no session, and nothing is stored for them: the sign-in
//! form's token travels in a cookie of its own, sealed with the cookie key, and the form sends
//! it back (a double submit that only this server can have issued).

use super::session::TypedSession;
use crate::app::AppState;
use crate::domain::ids::random_token;
use crate::error::error_page;
use crate::request::{API_BASE, BodyError, MAX_BODY_BYTES, VERIFY_PATH, read_limited};
use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::{HttpMessage, ResponseError};
use subtle::ConstantTimeEq;

pub const HEADER: &str = "X-CSRF-Token";
pub const FIELD: &str = "csrf_token";

/// The cookie that carries a visitor's token before they sign in.
pub const VISITOR_COOKIE: &str = "tokendesk_csrf";

/// The token in a valid visitor cookie, if the request carries one.
fn visitor_token(req: &HttpRequest, key: &Key) -> Option<String> {
    let mut jar = CookieJar::new();
    jar.add_original(req.cookie(VISITOR_COOKIE)?);
    let token = jar.private(key).get(VISITOR_COOKIE)?.value().to_owned();
    Some(token)
}

/// The token a form on a page for visitors (sign-in) carries: the session's when it has one,
/// else the visitor cookie's; and the cookie to set when the request had none.
pub fn form_token(
    req: &HttpRequest,
    session: &TypedSession,
    state: &AppState,
) -> (String, Option<Cookie<'static>>) {
    if let Some(token) = session.existing_csrf_token() {
        return (token, None);
    }
    if let Some(token) = visitor_token(req, &state.cookie_key) {
        return (token, None);
    }
    let token = random_token();
    let mut cookie = Cookie::new(VISITOR_COOKIE, token.clone());
    cookie.set_http_only(true);
    cookie.set_secure(state.cookie_secure);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    let mut jar = CookieJar::new();
    jar.private_mut(&state.cookie_key).add(cookie);
    (token, jar.get(VISITOR_COOKIE).cloned())
}

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
    // The API and the forward-auth check authenticate every request by its key, not by a cookie
    // a browser sends along.
    if req.method() != Method::POST
        || req.path().starts_with(API_BASE)
        || req.path().starts_with(VERIFY_PATH)
    {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let session = TypedSession::of(req.request());
    if session.is_unavailable() {
        return Ok(req.into_response(crate::error::AppError::Unavailable.error_response()));
    }
    let expected = session.existing_csrf_token().or_else(|| {
        let state = req.app_data::<web::Data<AppState>>()?;
        visitor_token(req.request(), &state.cookie_key)
    });
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
