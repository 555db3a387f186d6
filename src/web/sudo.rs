//! "Sudo mode": sensitive actions (reveal a key, rotate it, delete a token, change a role, reset
//! someone's second factor, change the policy, make new recovery codes) ask for the password or
//! a second-factor code again when the user last proved who they are more than ten minutes ago.
//!
//! How it goes, without JavaScript and without keeping anything aside: the action's POST is
//! answered with a confirmation page whose form carries the original form's fields as hidden
//! inputs and posts them back to the same action, with the password or code added. Right, the
//! action goes ahead at once (what the user meant to do is done, once: the original form's
//! one-time id travels with it); wrong, the page again with a message, the guess counted in
//! the sign-in throttle. A script's call (the reveal button) gets 401 `{"confirm": true}` and
//! sends the no-JavaScript form instead, which leads to the page. A user with a passkey may
//! use it instead ("Use a passkey"): its check (`passkeys::check_finish`) marks the session
//! as just proved, and the script then sends the form as it was.

use super::proof::prove;
use super::session::TypedSession;
use super::{CurrentUser, Layout, page};
use crate::app::AppState;
use crate::domain::form::FieldErrors;
use crate::domain::two_factor;
use crate::error::AppError;
use crate::request::{BodyError, MAX_BODY_BYTES, read_limited};
use crate::services::two_factor as factors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpResponse, ResponseError, web};
use askama::Template;

/// The fields the confirmation adds to the original form.
pub const PASSWORD_FIELD: &str = "sudo_password";
pub const CODE_FIELD: &str = "sudo_code";

/// Whether a POST to `path` with `fields` is a sensitive action.
fn is_sensitive(path: &str, fields: &[(String, String)]) -> bool {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "integrations", "tokens", "bulk"] => fields
            .iter()
            .any(|(name, value)| name == "action" && value == "delete"),
        ["", "integrations", "tokens", _, action] => {
            matches!(*action, "reveal" | "rotate" | "delete")
        }
        // A user added as an admin is a role given.
        ["", "account", "users"] => fields
            .iter()
            .any(|(name, value)| name == "role" && value == "admin"),
        ["", "account", "users", _, action] => {
            matches!(*action, "role" | "reset-2fa" | "activate")
        }
        ["", "account", "policy"] => true,
        // A second factor added, or codes made: whoever adds one could sign in with it.
        ["", "account", "security", "totp" | "recovery-codes"] => true,
        ["", "account", "security", "passkeys", "register", _] => true,
        ["", "account", "security", "passkeys", _, "remove"] => true,
        _ => false,
    }
}

/// Where Cancel leads from the confirmation of a POST to `path`.
fn cancel_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "integrations", "tokens", id, _] if *id != "bulk" => {
            format!("/integrations/tokens/{id}")
        }
        ["", "account", "users", ..] => "/account/users".to_owned(),
        ["", "account", "policy"] => "/account/policy".to_owned(),
        ["", "account", "security", ..] => super::security::SECURITY_PATH.to_owned(),
        _ => super::tokens::LIST_PATH.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "account/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    /// Where the form posts: the original action.
    action: String,
    /// The original form's fields, sent along again.
    fields: Vec<(String, String)>,
    cancel: String,
    /// An authenticator app: its code is asked for (a recovery code goes in the same field).
    totp: bool,
    /// Any second factor: a recovery code is accepted.
    has_second_factor: bool,
    /// A passkey that works here: "Use a passkey" is offered.
    passkey: bool,
    errors: FieldErrors,
}

async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The middleware: lets a sensitive POST through when the user proved who they are in the
/// last ten minutes, or proves it now with the fields the confirmation page added; otherwise
/// answers with that page.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The path as the router reads it (escapes decoded): `/%72eveal` is `reveal` to it, so it
    // must be to this check too.
    let path = req.match_info().as_str().to_owned();
    if req.method() != Method::POST
        || !is_sensitive(
            &path,
            &[
                ("action".into(), "delete".into()),
                ("role".into(), "admin".into()),
            ],
        )
    {
        return pass(req, next).await;
    }
    let session = TypedSession::of(req.request());
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return pass(req, next).await;
    };
    if session.user_id().is_none()
        || two_factor::is_recent(session.authenticated_at(), state.clock.now())
    {
        return pass(req, next).await;
    }
    let mut payload = req.take_payload();
    let body = match read_limited(&mut payload, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge | BodyError::Unreadable) => {
            let refused = AppError::BadRequest("The form could not be read.".into());
            return Ok(req.into_response(refused.error_response()));
        }
    };
    let mut fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !is_sensitive(&path, &fields) {
        req.set_payload(body.into());
        return pass(req, next).await;
    }
    // Anyone not signed in, or not allowed, is answered by the action itself.
    let current = match CurrentUser::extract(req.request()).await {
        Ok(current) => current,
        Err(_) => {
            req.set_payload(body.into());
            return pass(req, next).await;
        }
    };
    let asks_json = req.headers().contains_key(super::csrf::HEADER)
        && !fields.iter().any(|(name, _)| name == super::csrf::FIELD);
    if asks_json {
        // A passkey is added by script alone: there is no form to send again.
        let error = if path.starts_with("/account/security/passkeys/register/") {
            "Confirm it is you first: you proved who you are more than 10 minutes ago. Sign out \
             and sign in again, then add the passkey."
        } else {
            "Confirm it is you: send the form without JavaScript to see the page."
        };
        let answer = HttpResponse::Unauthorized().json(serde_json::json!({
            "confirm": true,
            "error": error,
        }));
        return Ok(req.into_response(answer));
    }
    let take = |fields: &mut Vec<(String, String)>, name: &str| {
        let value = fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone());
        fields.retain(|(field, _)| field != name);
        value
    };
    let typed_password = take(&mut fields, PASSWORD_FIELD);
    let typed_code = take(&mut fields, CODE_FIELD);
    let mut errors = FieldErrors::default();
    let mut status = StatusCode::OK;
    let mut refusal = None;
    if typed_password.is_some() || typed_code.is_some() {
        let proved = prove(
            &state,
            &current,
            typed_password.as_deref().unwrap_or_default(),
            typed_code.as_deref().unwrap_or_default(),
            (PASSWORD_FIELD, CODE_FIELD),
        )
        .await;
        match proved {
            Ok(Ok(())) => {
                session.set_authenticated_at(current.at);
                let body = serde_urlencoded::to_string(&fields).unwrap_or_default();
                req.set_payload(actix_web::web::Bytes::from(body).into());
                return pass(req, next).await;
            }
            Ok(Err(refused)) => {
                errors = refused.errors.clone();
                status = refused.status;
                refusal = Some(refused);
            }
            Err(e) => return Ok(req.into_response(e.error_response())),
        }
    }
    let user_id = current.user.id.clone();
    let factors = match current
        .read(&state, move |conn, _| factors::factors(conn, &user_id))
        .await
    {
        Ok(factors) => factors,
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    let action = match req.query_string() {
        "" => req.path().to_owned(),
        query => format!("{}?{query}", req.path()),
    };
    let shown = ConfirmPage {
        layout: Layout::new(&current, &session),
        cancel: cancel_path(req.path()),
        action,
        fields,
        totp: factors.totp_enabled_at.is_some(),
        has_second_factor: factors.totp_enabled_at.is_some() || factors.has_passkey,
        passkey: factors.has_passkey && state.passkeys.unavailable().is_none(),
        errors,
    };
    let mut response = match page(&shown, status) {
        Ok(response) => response,
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    if let Some(refusal) = refusal {
        refusal.mark(&mut response);
    }
    Ok(req.into_response(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_actions_are_named() {
        let none: Vec<(String, String)> = Vec::new();
        let delete = vec![("action".to_owned(), "delete".to_owned())];
        let disable = vec![("action".to_owned(), "disable".to_owned())];
        for path in [
            "/integrations/tokens/SU-100-200-300/reveal",
            "/integrations/tokens/SU-100-200-300/rotate",
            "/integrations/tokens/SU-100-200-300/delete",
            "/account/users/UR-100-200-300/role",
            "/account/users/UR-100-200-300/reset-2fa",
            "/account/policy",
            "/account/security/recovery-codes",
            "/account/security/passkeys/12/remove",
            "/account/users/UR-100-200-300/activate",
            "/account/security/totp",
            "/account/security/passkeys/register/start",
            "/account/security/passkeys/register/finish",
        ] {
            assert!(is_sensitive(path, &none), "{path}");
        }
        for path in [
            "/integrations/tokens/SU-100-200-300/disable",
            "/integrations/tokens/SU-100-200-300/edit",
            "/account/users/UR-100-200-300/deactivate",
            "/account/password",
            "/account/security/totp/remove",
            "/account/users",
        ] {
            assert!(!is_sensitive(path, &none), "{path}");
        }
        let admin = vec![("role".to_owned(), "admin".to_owned())];
        let member = vec![("role".to_owned(), "member".to_owned())];
        assert!(is_sensitive("/account/users", &admin));
        assert!(!is_sensitive("/account/users", &member));
        assert!(is_sensitive("/integrations/tokens/bulk", &delete));
        assert!(!is_sensitive("/integrations/tokens/bulk", &disable));
        assert_eq!(
            cancel_path("/integrations/tokens/SU-100-200-300/rotate"),
            "/integrations/tokens/SU-100-200-300"
        );
        assert_eq!(
            cancel_path("/integrations/tokens/bulk"),
            "/integrations/tokens"
        );
    }
}
