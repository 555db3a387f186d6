//! Passkeys in the UI: the section of the Security page listing a user's passkeys, and the
//! JSON routes `static/passkeys.js` calls for each ceremony's two halves. The
//! ceremony's state waits in the session between them, once. Every POST carries the CSRF token
//! (the header, for these JSON calls), as every form does.

use super::session::TypedSession;
use super::tokens::format_time;
use super::{CurrentUser, SECURITY_PATH, local_path, see_other};
use crate::app::AppState;
use crate::db::{self, DbError};
use crate::domain::ids::UserId;
use crate::domain::passkey::PasskeyId;
use crate::domain::throttle::{AttemptKey, retry_message};
use crate::domain::two_factor::SignInMethod;
use crate::error::AppError;
use crate::request::ClientIp;
use crate::services::passkeys::{self as service, Added, PasskeyError, Registration, Removed};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential,
    RegisterPublicKeyCredential,
};

/// Where the passkeys section is: on the Security page.
const PASSKEYS: &str = "/account/security#passkeys";

/// What each ceremony's state is kept in the session under: only its own finish takes it.
const REGISTER: &str = "register";
const CHECK: &str = "check";
const SIGN_IN: &str = "sign-in";

/// A row of the passkeys section.
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

/// What the passkeys section shows: the user's passkeys, and why passkeys cannot be used
/// here, if they cannot (for a page that includes `account/passkeys.html`).
pub struct PasskeySection {
    pub passkeys: Vec<PasskeyRow>,
    pub passkey_notice: Option<String>,
}

impl PasskeySection {
    /// The section for the signed-in user, as the request `req` opened it.
    pub async fn load(
        req: &HttpRequest,
        current: &CurrentUser,
        state: &AppState,
    ) -> Result<Self, AppError> {
        let user_id = current.user.id.clone();
        let stored = current
            .read(state, move |conn, _| service::list(conn, &user_id))
            .await?;
        let rp = &state.passkeys;
        // The page names the address it was opened at; a passkey made elsewhere cannot work.
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        let passkey_notice = rp.unavailable().or_else(|| {
            let expected = rp.public_url().authority();
            host.filter(|host| !host.eq_ignore_ascii_case(&expected))
                .map(|host| {
                    PasskeyError::OriginMismatch {
                        expected: rp.public_url().origin(),
                        got: format!("{}://{host}", rp.public_url().url().scheme()),
                    }
                    .to_string()
                })
        });
        Ok(Self {
            passkeys: stored
                .into_iter()
                .map(|p| PasskeyRow {
                    id: p.id.to_string(),
                    name: p.name,
                    created: format_time(p.created_at),
                    last_used: p
                        .last_used_at
                        .map(format_time)
                        .unwrap_or_else(|| "Never".into()),
                })
                .collect(),
            passkey_notice,
        })
    }
}

/// The browser's page address, as its `Origin` header says.
fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A JSON body, or `Unreadable`.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PasskeyError> {
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::info!(error = %e, "a passkey request could not be read");
        PasskeyError::Unreadable
    })
}

fn refusal_with(status: StatusCode, message: &str, field: Option<&str>) -> HttpResponse {
    let mut answer = json!({ "error": message });
    if let Some(field) = field {
        answer["field"] = json!(field);
    }
    HttpResponse::build(status).json(answer)
}

/// A passkey route's refusal, answered as JSON: `{"error": "…"}` (and `"field"` when a field is
/// to blame), with the status that fits; causes on our side are logged, not shown.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Refusal {
    error: PasskeyError,
    /// When it was refused: a wait is counted from here.
    at: chrono::NaiveDateTime,
}

impl Refusal {
    pub fn new(error: PasskeyError, at: chrono::NaiveDateTime) -> Self {
        Self { error, at }
    }

    /// Why it was refused.
    pub fn error(&self) -> &PasskeyError {
        &self.error
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match &self.error {
            PasskeyError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PasskeyError::OriginMismatch { .. }
            | PasskeyError::NoCeremony
            | PasskeyError::Unreadable => StatusCode::BAD_REQUEST,
            PasskeyError::Name(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PasskeyError::NoPasskey | PasskeyError::AlreadyRegistered => StatusCode::CONFLICT,
            PasskeyError::Cloned | PasskeyError::NotAccepted => StatusCode::UNAUTHORIZED,
            PasskeyError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            PasskeyError::Storage(DbError::Unavailable(_) | DbError::Busy) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            PasskeyError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match &self.error {
            PasskeyError::Throttled(until) => {
                let wait = (*until - self.at).num_seconds().max(1);
                let mut answer = refusal_with(status, &retry_message(*until, self.at), None);
                answer
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
                answer
            }
            PasskeyError::Storage(DbError::Unavailable(_) | DbError::Busy) => refusal_with(
                status,
                "The database cannot be reached just now. Try again in a moment.",
                None,
            ),
            PasskeyError::Storage(cause) => {
                tracing::error!(error = %cause, "a passkey ceremony failed");
                refusal_with(status, "Something went wrong on our side. Try again.", None)
            }
            PasskeyError::Name(message) => refusal_with(status, message, Some("name")),
            other => refusal_with(status, &other.to_string(), None),
        }
    }
}

/// Runs a ceremony step on the database.
async fn ceremony<T, F>(state: &web::Data<AppState>, work: F) -> Result<T, Refusal>
where
    F: FnOnce(&mut db::DbConnection, &AppState) -> Result<T, PasskeyError> + Send + 'static,
    T: Send + 'static,
{
    let now = state.clock.now();
    let shared = state.clone();
    db::run_with(&state.pool, move |conn| work(conn, &shared))
        .await
        .map_err(|e| Refusal::new(e, now))
}

#[derive(Deserialize)]
pub struct NewPasskeyName {
    #[serde(default)]
    name: String,
}

/// Starts adding a passkey: `{"name": "…"}` → the options for `navigator.credentials.create`.
#[post("/account/security/passkeys/register/start")]
pub async fn register_start(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Refusal> {
    let NewPasskeyName { name } = body(&bytes).map_err(|e| Refusal::new(e, current.at))?;
    let (origin, user) = (origin(&req), current.user.clone());
    let (challenge, registration) = ceremony(&state, move |conn, state| {
        service::start_registration(conn, &state.passkeys, origin.as_deref(), &user, &name)
    })
    .await?;
    session.set_passkey_ceremony(REGISTER, &registration);
    Ok(HttpResponse::Ok().json(challenge))
}

/// Finishes adding a passkey with what `navigator.credentials.create` made.
#[post("/account/security/passkeys/register/finish")]
pub async fn register_finish(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Refusal> {
    let refuse = |e| Refusal::new(e, current.at);
    let answer: RegisterPublicKeyCredential = body(&bytes).map_err(refuse)?;
    let registration = session
        .take_passkey_ceremony::<Registration>(REGISTER)
        .ok_or_else(|| refuse(PasskeyError::NoCeremony))?;
    let (origin, by, user_id) = (origin(&req), current.requester(), current.user.id.clone());
    let Added {
        name,
        recovery_codes,
        ..
    } = ceremony(&state, move |conn, state| {
        service::finish_registration(
            conn,
            &state.passkeys,
            origin.as_deref(),
            &by,
            &user_id,
            &state.master_key,
            &registration,
            &answer,
        )
    })
    .await?;
    let (message, redirect) = match recovery_codes {
        // The first second factor: its recovery codes are shown once, as the app's are.
        Some(codes) => {
            let codes: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
            session.set_recovery_codes(&state.master_key, &codes);
            (
                format!(
                    "The passkey “{name}” was added: signing in with your password now asks \
                     for it too. Keep your recovery codes somewhere safe: each opens your \
                     account once if you lose your passkey."
                ),
                SECURITY_PATH,
            )
        }
        None => (format!("The passkey “{name}” was added."), PASSKEYS),
    };
    session.set_done(&message);
    Ok(HttpResponse::Ok().json(json!({ "message": message, "redirect": redirect })))
}

#[post("/account/security/passkeys/{id}/remove")]
pub async fn remove(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = PasskeyId::parse(&path).ok_or(AppError::NotFound)?;
    let user_id = current.user.id.clone();
    let Removed {
        name,
        second_factor_left,
    } = current
        .read(&state, move |conn, by| {
            service::remove(conn, by, &user_id, id)
        })
        .await?;
    if second_factor_left {
        session.set_done(&format!("The passkey “{name}” was removed."));
        return Ok(see_other(PASSKEYS));
    }
    session.clear_recovery_codes();
    if current.account.policy.require_2fa {
        // The policy wants one: the page says so and offers to set one up again, and nothing
        // else opens until then.
        session.set_flash(&format!(
            "The passkey “{name}” was removed. It was your last second factor, and your \
             account's policy requires one: add a passkey or set up an authenticator app to \
             continue."
        ));
    } else {
        session.set_done(&format!(
            "The passkey “{name}” was removed. It was your last second factor: signing in asks \
             for your password only, and your recovery codes no longer work."
        ));
    }
    Ok(see_other(SECURITY_PATH))
}

/// The first half of checking one of `user_id`'s passkeys: the options for
/// `navigator.credentials.get`, the state kept in the session under `purpose`. For a signed-in
/// user checking a passkey, and for the second step of signing in (the user whose password was
/// right).
pub async fn start_second_factor(
    req: &HttpRequest,
    session: &TypedSession,
    state: &web::Data<AppState>,
    user_id: UserId,
    purpose: &str,
) -> Result<HttpResponse, Refusal> {
    let origin = origin(req);
    let (challenge, authentication) = ceremony(state, move |conn, state| {
        service::start_authentication(conn, &state.passkeys, origin.as_deref(), &user_id)
    })
    .await?;
    session.set_passkey_ceremony(purpose, &authentication);
    Ok(HttpResponse::Ok().json(challenge))
}

/// The second half: `Ok` when the browser's answer (`bytes`) proves one of `user_id`'s
/// passkeys (its counter and last use are kept), else the refusal to answer with.
pub async fn finish_second_factor(
    req: &HttpRequest,
    session: &TypedSession,
    state: &web::Data<AppState>,
    user_id: UserId,
    purpose: &str,
    bytes: &[u8],
) -> Result<(), Refusal> {
    let now = state.clock.now();
    let answer: PublicKeyCredential = body(bytes).map_err(|e| Refusal::new(e, now))?;
    let authentication = session
        .take_passkey_ceremony::<PasskeyAuthentication>(purpose)
        .ok_or_else(|| Refusal::new(PasskeyError::NoCeremony, now))?;
    let origin = origin(req);
    ceremony(state, move |conn, state| {
        service::finish_authentication(
            conn,
            &state.passkeys,
            origin.as_deref(),
            &user_id,
            &authentication,
            &answer,
            now,
        )
    })
    .await
}

/// A signed-in user checks that a passkey of theirs works; the confirmation of a sensitive
/// action (`sudo`) uses it too.
#[post("/account/security/passkeys/check/start")]
pub async fn check_start(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Refusal> {
    start_second_factor(&req, &session, &state, current.user.id.clone(), CHECK).await
}

#[post("/account/security/passkeys/check/finish")]
pub async fn check_finish(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Refusal> {
    let user_id = current.user.id.clone();
    finish_second_factor(&req, &session, &state, user_id, CHECK, &bytes).await?;
    // A passkey of theirs proves it is them, as the password does (sudo mode).
    session.set_authenticated_at(current.at);
    Ok(HttpResponse::Ok().json(json!({
        "message": "Your passkey works: it was accepted.",
        "redirect": PASSKEYS,
    })))
}

/// Starts signing in without a password: the options for `navigator.credentials.get`, which
/// lets the person pick any passkey of this site their device keeps.
#[post("/login/passkey/start")]
pub async fn sign_in_start(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
) -> Result<HttpResponse, Refusal> {
    let now = state.clock.now();
    if session.is_unavailable() {
        return Err(Refusal::new(PasskeyError::Storage(DbError::Busy), now));
    }
    let origin = origin(&req);
    let (challenge, authentication) = ceremony(&state, move |conn, state| {
        service::start_sign_in(
            conn,
            &state.passkeys,
            origin.as_deref(),
            &address_key(address),
            now,
        )
    })
    .await?;
    session.set_passkey_ceremony(SIGN_IN, &authentication);
    Ok(HttpResponse::Ok().json(challenge))
}

fn address_key(address: Option<String>) -> AttemptKey {
    AttemptKey::address(address)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Finishes signing in with the passkey the browser's answer proves: the session is the user's
/// from here on, and the answer says where to go (`next`, as the sign-in form's).
#[post("/login/passkey/finish")]
pub async fn sign_in_finish(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
    query: web::Query<NextQuery>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Refusal> {
    let now = state.clock.now();
    let answer: PublicKeyCredential = body(&bytes).map_err(|e| Refusal::new(e, now))?;
    let authentication = session
        .take_passkey_ceremony::<DiscoverableAuthentication>(SIGN_IN)
        .ok_or_else(|| Refusal::new(PasskeyError::NoCeremony, now))?;
    let origin = origin(&req);
    let ip = address.clone();
    let owner = ceremony(&state, move |conn, state| {
        service::finish_sign_in(
            conn,
            &state.passkeys,
            origin.as_deref(),
            authentication,
            &answer,
            &address_key(ip.clone()),
            ip.as_deref(),
            now,
        )
    })
    .await?;
    session.sign_in(
        &owner.user_id,
        SignInMethod::Passkey,
        now,
        address.as_deref(),
        &req,
    );
    tracing::info!(user = %owner.user_id, "signed in with a passkey");
    let next = local_path(query.next.as_deref(), "/")
        .unwrap_or_else(|| super::tokens::LIST_PATH.to_owned());
    Ok(HttpResponse::Ok().json(json!({ "redirect": next })))
}
