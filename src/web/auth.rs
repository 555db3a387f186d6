//! Signing in and out, with sign-in attempts counted in the database.

use super::csrf;
use super::session::TypedSession;
use super::{local_path, page, see_other};
use crate::app::AppState;
use crate::db;
use crate::db::events::NewEvent;
use crate::db::users::{Credentials, User};
use crate::domain::access::Actor;
use crate::domain::event::EventKind;
use crate::domain::ids::random_token;
use crate::domain::password;
use crate::domain::throttle::{AttemptKey, retry_message};
use crate::domain::user::Email;
use crate::error::AppError;
use crate::request::ClientIp;
use crate::services::guesses;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::tokens::LIST_PATH as HOME;

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    csrf_token: String,
    email: String,
    next: String,
    error: Option<String>,
    /// The accounts (id, name) the e-mail and password open, when they open more than one.
    accounts: Vec<(String, String)>,
    /// What just happened ("You have signed out.").
    notice: Option<&'static str>,
    /// Whether to offer "Sign in with a passkey" (to browsers that can).
    passkeys: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Set by signing out: the page says so (nothing is stored for a visitor to carry it).
    signed_out: Option<String>,
}

#[get("/")]
pub async fn home() -> HttpResponse {
    see_other(HOME)
}

/// The sign-in form. Nothing is stored for a visitor: the form's token travels in a sealed
/// cookie (see `csrf`), so anonymous requests add no session rows.
#[get("/login")]
pub async fn login_form(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    if session.is_unavailable() {
        return Err(AppError::Unavailable);
    }
    let next = local_path(query.next.as_deref(), "/").unwrap_or_else(|| HOME.to_owned());
    if session.user_id().is_some() {
        return Ok(see_other(&next));
    }
    let (csrf_token, cookie) = csrf::form_token(&req, &session, &state);
    let form = LoginPage {
        csrf_token,
        email: String::new(),
        next,
        error: None,
        accounts: Vec::new(),
        notice: query.signed_out.is_some().then_some("You have signed out."),
        passkeys: state.passkeys.unavailable().is_none(),
    };
    let mut response = page(&form, StatusCode::OK)?;
    if let Some(cookie) = cookie {
        let _ = response.add_cookie(&cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    /// The account chosen, when the e-mail and password open several.
    account: Option<String>,
}

/// The cookie a browser gets when its user signs in: with it, the same e-mail's sign-ins from
/// this browser are counted apart from everyone else's, so an attack elsewhere does not lock
/// the owner out.
const KNOWN_DEVICE_COOKIE: &str = "tokendesk_device";
const KNOWN_DEVICE_DAYS: i64 = 30;

/// The device id of a valid known-device cookie for `email`, if the request carries one.
fn known_device(req: &HttpRequest, key: &Key, email: &str, now: NaiveDateTime) -> Option<String> {
    let mut jar = CookieJar::new();
    jar.add_original(req.cookie(KNOWN_DEVICE_COOKIE)?);
    let value = jar
        .private(key)
        .get(KNOWN_DEVICE_COOKIE)?
        .value()
        .to_owned();
    let mut parts = value.splitn(3, '|');
    let (device, issued, for_email) = (parts.next()?, parts.next()?, parts.next()?);
    let issued = chrono::DateTime::from_timestamp(issued.parse().ok()?, 0)?.naive_utc();
    let fresh = now - issued < chrono::Duration::days(KNOWN_DEVICE_DAYS);
    (fresh && for_email == email).then(|| device.to_owned())
}

fn known_device_cookie(
    key: &Key,
    device: &str,
    email: &str,
    now: NaiveDateTime,
    secure: bool,
) -> Option<Cookie<'static>> {
    let value = format!("{device}|{}|{email}", now.and_utc().timestamp());
    let mut cookie = Cookie::new(KNOWN_DEVICE_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_secure(secure);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_max_age(CookieDuration::days(KNOWN_DEVICE_DAYS));
    let mut jar = CookieJar::new();
    jar.private_mut(key).add(cookie);
    jar.get(KNOWN_DEVICE_COOKIE).cloned()
}

/// What the database says about a sign-in before the password is checked.
struct Gate {
    /// Over a limit: no password is checked until then.
    refused_until: Option<NaiveDateTime>,
    credentials: Vec<Credentials>,
}

#[post("/login")]
pub async fn login(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    if session.is_unavailable() {
        return Err(AppError::Unavailable);
    }
    let LoginForm {
        email,
        password: candidate,
        next,
        account,
    } = form.into_inner();
    let next = local_path(next.as_deref(), "/").unwrap_or_else(|| HOME.to_owned());
    let refuse = |message: String, status: StatusCode| {
        let form = LoginPage {
            csrf_token: csrf::form_token(&req, &session, &state).0,
            email: email.trim().to_owned(),
            next: next.clone(),
            error: Some(message),
            accounts: Vec::new(),
            notice: None,
            passkeys: state.passkeys.unavailable().is_none(),
        };
        page(&form, status)
    };
    let now = state.clock.now();
    let tried = email.trim().to_lowercase();
    let device = known_device(&req, &state.cookie_key, &tried, now);
    // Counted before the password is checked, atomically, so that concurrent guesses on any
    // instance cannot get more checks than the limit.
    let by_user = match &device {
        Some(device) => AttemptKey::Device(device.clone()),
        None => AttemptKey::email(&tried),
    };
    let by_address = AttemptKey::Address(address.clone().unwrap_or_else(|| "unknown".into()));
    let gate = {
        let (by_user, by_address, tried) = (by_user.clone(), by_address.clone(), tried.clone());
        db::run(&state.pool, move |conn| {
            let refused_until = guesses::count(conn, &[&by_user, &by_address], now)?;
            let credentials = match (refused_until, Email::parse(&tried)) {
                (None, Ok(email)) => User::credentials(conn, &email)?,
                _ => Vec::new(),
            };
            Ok(Gate {
                refused_until,
                credentials,
            })
        })
        .await?
    };
    if let Some(until) = gate.refused_until {
        let mut page = refuse(retry_message(until, now), StatusCode::TOO_MANY_REQUESTS)?;
        let wait = (until - now).num_seconds().max(1);
        page.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_str(&wait.to_string())
                .unwrap_or(header::HeaderValue::from_static("60")),
        );
        return Ok(page);
    }
    // The e-mail's users, one per account that has it (or only the account chosen). Unknown
    // e-mails are checked against a dummy hash, so timing does not tell which exist.
    let candidates: Vec<Credentials> = gate
        .credentials
        .into_iter()
        .filter(|c| {
            account
                .as_deref()
                .is_none_or(|chosen| c.account_id.as_str() == chosen)
        })
        .collect();
    let hashes: Vec<String> = if candidates.is_empty() {
        vec![password::DUMMY_HASH.to_owned()]
    } else {
        candidates.iter().map(|c| c.password_hash.clone()).collect()
    };
    let verdicts = state
        .passwords
        .run(move || {
            hashes
                .iter()
                .map(|hash| password::verify(hash, &candidate))
                .collect::<Vec<bool>>()
        })
        .await
        .map_err(|e| AppError::internal("verifying a password", e))?;
    let (matched, unmatched): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .zip(verdicts)
        .partition(|(_, matches)| *matches);
    // A deactivated user's right password is answered as a wrong one: the answer must not
    // confirm a password to someone who may not use it.
    let (mut usable, deactivated): (Vec<Credentials>, Vec<Credentials>) = matched
        .into_iter()
        .map(|(credentials, _)| credentials)
        .partition(|c| c.active);
    if usable.is_empty() {
        let failed: Vec<(Credentials, &str)> = unmatched
            .into_iter()
            .map(|(c, _)| (c, ""))
            .chain(deactivated.into_iter().map(|c| (c, " (deactivated)")))
            .collect();
        let ip = address.clone();
        db::run(&state.pool, move |conn| {
            for (credentials, note) in &failed {
                NewEvent {
                    account_id: &credentials.account_id,
                    kind: EventKind::UserSignInFailed,
                    actor: &Actor {
                        id: "-".into(),
                        name: "unknown".into(),
                    },
                    user_id: Some(&credentials.user_id),
                    detail: Some(&format!("{tried}{note}")),
                    client_ip: ip.as_deref(),
                    at: now,
                }
                .record(conn)?;
            }
            Ok(())
        })
        .await?;
        return refuse(
            "The e-mail or password is not correct.".to_owned(),
            StatusCode::UNAUTHORIZED,
        );
    }
    if usable.len() > 1 {
        // The same e-mail and password in several accounts: the person says which.
        let form = LoginPage {
            csrf_token: csrf::form_token(&req, &session, &state).0,
            email: email.trim().to_owned(),
            next: next.clone(),
            error: None,
            notice: None,
            passkeys: state.passkeys.unavailable().is_none(),
            accounts: usable
                .iter()
                .map(|c| (c.account_id.to_string(), c.account_name.clone()))
                .collect(),
        };
        return page(&form, StatusCode::OK);
    }
    let credentials = usable.remove(0);
    let user_id = credentials.user_id.clone();
    {
        let ip = address.clone();
        db::run(&state.pool, move |conn| {
            guesses::proved(conn, &by_user, &by_address)?;
            User::record_sign_in(conn, &credentials, ip.as_deref(), now)
        })
        .await?;
    }
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    session.sign_in(&user_id, address.as_deref(), user_agent);
    tracing::info!(user = %user_id, "signed in");
    let device = device.unwrap_or_else(random_token);
    let secure = state.cookie_secure;
    let mut response = see_other(&next);
    if let Some(cookie) = known_device_cookie(&state.cookie_key, &device, &tried, now, secure) {
        let _ = response.add_cookie(&cookie);
    }
    Ok(response)
}

#[post("/logout")]
pub async fn logout(session: TypedSession) -> HttpResponse {
    session.sign_out();
    see_other(SIGNED_OUT)
}

/// Where signing out leads: the sign-in page, saying so.
const SIGNED_OUT: &str = "/login?signed_out=1";
