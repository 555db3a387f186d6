//! Signing in and out, with sign-in attempts counted in the database.

use super::csrf;
use super::passkeys::{self as passkey_routes, Refusal};
use super::security::SECURITY_PATH;
use super::session::PendingSignIn;
use super::session::TypedSession;
use super::{local_path, page, see_other};
use crate::app::AppState;
use crate::db;
use crate::db::DbError;
use crate::db::accounts::Account;
use crate::db::users::{Credentials, User};
use crate::domain::ids::{AccountId, UserId, random_token};
use crate::domain::password;
use crate::domain::throttle::{AttemptKey, retry_message};
use crate::domain::two_factor::{PENDING_LIMIT, SecondFactorCode, SignInMethod};
use crate::domain::user::Email;
use crate::error::AppError;
use crate::request::ClientIp;
use crate::services::passkeys::PasskeyError;
use crate::services::two_factor::{self, Factors, Proof};
use crate::services::{ServiceError, guesses, users};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

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
    /// Why passkeys are off here, and what to set, when they are.
    passkey_notice: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Set by signing out: the page says so (nothing is stored for a visitor to carry it).
    signed_out: Option<String>,
    /// Set when the second step of a sign-in waited too long.
    timed_out: Option<String>,
    /// Set when the second step of a sign-in could no longer finish (`ENDED`).
    ended: Option<String>,
}

/// What the sign-in page says after `ENDED`.
const ENDED_NOTICE: &str = "The sign-in was stopped before its second step: the password was \
     changed meanwhile, or the user can no longer sign in. Sign in again.";

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
        notice: if query.timed_out.is_some() {
            Some("The sign-in waited too long for its second step. Sign in again.")
        } else if query.ended.is_some() {
            Some(ENDED_NOTICE)
        } else {
            query.signed_out.is_some().then_some("You have signed out.")
        },
        passkeys: state.passkeys.unavailable().is_none(),
        passkey_notice: state.passkeys.unavailable(),
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
            passkey_notice: state.passkeys.unavailable(),
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
    let by_address = AttemptKey::address(address.clone());
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
                users::sign_in_failed(
                    conn,
                    &credentials.account_id,
                    &credentials.user_id,
                    &format!("{tried}{note}"),
                    ip.as_deref(),
                    now,
                )?;
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
            passkey_notice: state.passkeys.unavailable(),
            accounts: usable
                .iter()
                .map(|c| (c.account_id.to_string(), c.account_name.clone()))
                .collect(),
        };
        return page(&form, StatusCode::OK);
    }
    let credentials = usable.remove(0);
    let standing = {
        let (user_id, account_id) = (credentials.user_id.clone(), credentials.account_id.clone());
        db::run(&state.pool, move |conn| {
            let account = Account::find(conn, &account_id)?;
            two_factor::standing(conn, &user_id, &account)
        })
        .await?
    };
    if standing.has_one {
        // Not signed in yet: the password's guess stays counted until the second factor is
        // right too, so that knowing the password buys no more guesses at the code.
        session.start_pending(&PendingSignIn {
            user_id: credentials.user_id.to_string(),
            email: tried,
            next,
            method: SignInMethod::Password.as_str().to_owned(),
            started_at: now.and_utc().timestamp(),
            password: password::fingerprint(&credentials.password_hash),
        });
        return Ok(see_other(SECOND_STEP));
    }
    let signed_in = SignedIn {
        user_id: credentials.user_id,
        account_id: credentials.account_id,
        name: credentials.name,
        method: SignInMethod::Password,
        email: tried,
        device,
        next: if standing.must_enrol {
            SECURITY_PATH.to_owned()
        } else {
            next
        },
        reply: Reply::Redirect,
    };
    signed_in
        .finish(&req, &session, &state, &address, (by_user, by_address), now)
        .await
}

/// A sign-in proved in full: what `finish` records and starts the session with.
struct SignedIn {
    user_id: UserId,
    account_id: AccountId,
    name: String,
    method: SignInMethod,
    /// The e-mail typed, which the known-device cookie is for.
    email: String,
    /// The known device the request came from, if any.
    device: Option<String>,
    next: String,
    /// How the browser is told to go on to `next`.
    reply: Reply,
}

/// How a sign-in proved in full is answered.
#[derive(Clone, Copy)]
enum Reply {
    /// A form's POST: redirected.
    Redirect,
    /// A script's call (a passkey's ceremony): `{"redirect": next}`, which it follows.
    Json,
}

impl SignedIn {
    /// Forgets the user's failed guesses, records the sign-in, starts the signed-in session
    /// and gives the browser its known-device cookie; then on to `next`.
    async fn finish(
        self,
        req: &HttpRequest,
        session: &TypedSession,
        state: &AppState,
        address: &Option<String>,
        (by_user, by_address): (AttemptKey, AttemptKey),
        now: NaiveDateTime,
    ) -> Result<HttpResponse, AppError> {
        {
            let ip = address.clone();
            let (user_id, account_id, name) = (
                self.user_id.clone(),
                self.account_id.clone(),
                self.name.clone(),
            );
            let method = self.method.as_str();
            db::run(&state.pool, move |conn| {
                guesses::proved(conn, &by_user, &by_address)?;
                User::record_sign_in(
                    conn,
                    &account_id,
                    &user_id,
                    &name,
                    method,
                    ip.as_deref(),
                    now,
                )
            })
            .await?;
        }
        session.sign_in(&self.user_id, self.method, now, address.as_deref(), req);
        tracing::info!(user = %self.user_id, method = self.method.as_str(), "signed in");
        let device = self.device.unwrap_or_else(random_token);
        let mut response = match self.reply {
            Reply::Redirect => see_other(&self.next),
            Reply::Json => HttpResponse::Ok().json(json!({ "redirect": self.next })),
        };
        if let Some(cookie) = known_device_cookie(
            &state.cookie_key,
            &device,
            &self.email,
            now,
            state.cookie_secure,
        ) {
            let _ = response.add_cookie(&cookie);
        }
        Ok(response)
    }
}

/// The second step of signing in: a code from the authenticator app, a recovery code, or a
/// passkey.
const SECOND_STEP: &str = "/login/2fa";
/// What a passkey's check in the second step is kept under in the session.
const SECOND_STEP_PASSKEY: &str = "second-step";
/// Where a second step that waited too long leads.
const TIMED_OUT: &str = "/login?timed_out=1";
/// Where a second step leads that can no longer finish: the password was changed or reset
/// while it waited, or the user was removed or deactivated.
const ENDED: &str = "/login?ended=1";

#[derive(Template)]
#[template(path = "auth/second_step.html")]
struct SecondStepPage {
    csrf_token: String,
    error: Option<String>,
    /// The user has an authenticator app: its code is asked for.
    totp: bool,
    /// The user has a passkey, and passkeys work here: "Use a passkey" is offered.
    passkey: bool,
    /// Why the user's passkey cannot be used here, when it cannot.
    passkey_notice: Option<String>,
}

impl SecondStepPage {
    /// The page for the pending sign-in of `user_id`: what it offers follows the user's factors.
    async fn load(
        session: &TypedSession,
        state: &AppState,
        user_id: UserId,
        error: Option<String>,
    ) -> Result<Self, AppError> {
        let Factors {
            totp_enabled_at,
            has_passkey,
            ..
        } = db::run(&state.pool, move |conn| two_factor::factors(conn, &user_id)).await?;
        let unavailable = state.passkeys.unavailable();
        Ok(Self {
            csrf_token: session.csrf_token(),
            error,
            totp: totp_enabled_at.is_some(),
            passkey: has_passkey && unavailable.is_none(),
            passkey_notice: unavailable.filter(|_| has_passkey),
        })
    }
}

/// The sign-in waiting for its second factor and its user, as long as it may still finish: it
/// has not waited too long, the user is still there and active, and the password is still the
/// one that was proved. Otherwise it is dropped, and `Err` says where to go instead.
async fn still_waiting(
    session: &TypedSession,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<Result<(PendingSignIn, User), &'static str>, AppError> {
    let pending = match waiting_sign_in(session, now) {
        Ok(pending) => pending,
        Err(elsewhere) => return Ok(Err(elsewhere)),
    };
    let user = match UserId::parse(&pending.user_id) {
        Ok(user_id) => {
            let proved = pending.password.clone();
            db::run(&state.pool, move |conn| {
                let user = match User::find_with_account(conn, &user_id) {
                    Ok((user, _)) => user,
                    Err(DbError::NotFound) => return Ok(None),
                    Err(other) => return Err(other),
                };
                let current = match User::password_hash(conn, &user_id) {
                    Ok(hash) => password::fingerprint(&hash),
                    Err(DbError::NotFound) => return Ok(None),
                    Err(other) => return Err(other),
                };
                Ok((user.active && current == proved).then_some(user))
            })
            .await?
        }
        Err(_) => None,
    };
    Ok(match user {
        Some(user) => Ok((pending, user)),
        None => {
            session.clear_pending();
            Err(ENDED)
        }
    })
}

/// The sign-in waiting for its second factor, unless it waited too long (then it is dropped).
/// Otherwise where to go instead.
fn waiting_sign_in(
    session: &TypedSession,
    now: NaiveDateTime,
) -> Result<PendingSignIn, &'static str> {
    let Some(pending) = session.pending() else {
        return Err("/login");
    };
    match pending.started() {
        Some(started) if now - started <= PENDING_LIMIT && started <= now => Ok(pending),
        _ => {
            session.clear_pending();
            Err(TIMED_OUT)
        }
    }
}

#[get("/login/2fa")]
pub async fn second_step_form(
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if session.is_unavailable() {
        return Err(AppError::Unavailable);
    }
    if session.user_id().is_some() {
        return Ok(see_other(HOME));
    }
    let user = match still_waiting(&session, &state, state.clock.now()).await? {
        Ok((_, user)) => user,
        Err(elsewhere) => return Ok(see_other(elsewhere)),
    };
    let form = SecondStepPage::load(&session, &state, user.id, None).await?;
    page(&form, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SecondStepForm {
    #[serde(default)]
    code: String,
}

#[post("/login/2fa")]
pub async fn second_step(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
    form: web::Form<SecondStepForm>,
) -> Result<HttpResponse, AppError> {
    if session.is_unavailable() {
        return Err(AppError::Unavailable);
    }
    let now = state.clock.now();
    let (pending, user) = match still_waiting(&session, &state, now).await? {
        Ok(waiting) => waiting,
        Err(elsewhere) => return Ok(see_other(elsewhere)),
    };
    let user_id = user.id.clone();
    let refuse = async |message: String, status: StatusCode| {
        let form = SecondStepPage::load(&session, &state, user_id.clone(), Some(message)).await?;
        page(&form, status)
    };
    let code = match SecondFactorCode::parse(&form.code) {
        Ok(code) => code,
        Err(message) => {
            return refuse(message.to_owned(), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let (device, by_user, by_address) = second_step_keys(&req, &state, &pending, &address, now);
    let checked = {
        let (by_user, by_address, ip) = (by_user.clone(), by_address.clone(), address.clone());
        let master_key = state.master_key.clone();
        let tried = pending.email.clone();
        db::run_with(&state.pool, move |conn| -> Result<_, ServiceError> {
            let refused_until = guesses::count(conn, &[&by_user, &by_address], now)?;
            if refused_until.is_some() {
                return Ok((user, refused_until, None));
            }
            let mut by = user.offline(now);
            by.client_ip = ip.clone();
            let proof = two_factor::check_code(conn, &by, &user.id, &master_key, &code)?;
            if proof.is_none() {
                users::sign_in_failed(
                    conn,
                    &user.account_id,
                    &user.id,
                    &format!("{tried} (second factor)"),
                    ip.as_deref(),
                    now,
                )?;
            }
            Ok((user, None, proof))
        })
        .await
        .map_err(AppError::from)?
    };
    let (user, refused_until, proof) = checked;
    if let Some(until) = refused_until {
        let mut page = refuse(retry_message(until, now), StatusCode::TOO_MANY_REQUESTS).await?;
        let wait = (until - now).num_seconds().max(1);
        page.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return Ok(page);
    }
    let Some(proof) = proof else {
        return refuse(
            "This code is not right, or was used already.".to_owned(),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    };
    let signed_in = SignedIn {
        user_id: user.id,
        account_id: user.account_id,
        name: user.name,
        method: proof.sign_in_method(),
        email: pending.email,
        device,
        next: pending.next,
        reply: Reply::Redirect,
    };
    let response = signed_in
        .finish(&req, &session, &state, &address, (by_user, by_address), now)
        .await?;
    if let Proof::RecoveryCode { left } = proof {
        session.set_flash(&format!(
            "You signed in with a recovery code; {left} of them left. Make new ones on the Security page if you are running out."
        ));
    }
    Ok(response)
}

/// The keys a second step's tries count under in the sign-in throttle, as the password's did:
/// the known device (or the e-mail typed) and the address; and the known device, if any.
fn second_step_keys(
    req: &HttpRequest,
    state: &AppState,
    pending: &PendingSignIn,
    address: &Option<String>,
    now: NaiveDateTime,
) -> (Option<String>, AttemptKey, AttemptKey) {
    let device = known_device(req, &state.cookie_key, &pending.email, now);
    let by_user = match &device {
        Some(device) => AttemptKey::Device(device.clone()),
        None => AttemptKey::email(&pending.email),
    };
    let by_address = AttemptKey::address(address.clone());
    (device, by_user, by_address)
}

/// A pending sign-in that is gone (it waited too long, could no longer finish, or there was
/// none), answered to a script: it is to sign in again, from `elsewhere`.
fn sign_in_again(elsewhere: &str) -> HttpResponse {
    let (error, redirect) = if elsewhere == ENDED {
        (ENDED_NOTICE, ENDED)
    } else {
        (
            "The sign-in waited too long for its second step. Sign in again.",
            TIMED_OUT,
        )
    };
    HttpResponse::Unauthorized().json(json!({ "error": error, "redirect": redirect }))
}

/// Starts the second step with a passkey: the options for `navigator.credentials.get`, for the
/// passkeys of the user whose password was right. Counted as a try in the sign-in throttle
/// (as a code is), before anything is checked; a right passkey gives it back.
#[post("/login/2fa/passkey/start")]
pub async fn second_step_passkey_start(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
) -> Result<HttpResponse, actix_web::Error> {
    let now = state.clock.now();
    if session.is_unavailable() {
        return Err(AppError::Unavailable.into());
    }
    let (pending, user) = match still_waiting(&session, &state, now).await? {
        Ok(waiting) => waiting,
        Err(elsewhere) => return Ok(sign_in_again(elsewhere)),
    };
    let user_id = user.id;
    let (_, by_user, by_address) = second_step_keys(&req, &state, &pending, &address, now);
    let refused_until = db::run(&state.pool, move |conn| {
        guesses::count(conn, &[&by_user, &by_address], now)
    })
    .await
    .map_err(AppError::from)?;
    if let Some(until) = refused_until {
        return Err(Refusal::new(PasskeyError::Throttled(until), now).into());
    }
    Ok(
        passkey_routes::start_second_factor(&req, &session, &state, user_id, SECOND_STEP_PASSKEY)
            .await?,
    )
}

/// Finishes the second step with a passkey: signed in (`password+passkey`) when the browser's
/// answer proves one of the user's passkeys; `{"redirect": next}` tells the script where to go.
/// A passkey not accepted is a failed sign-in, as a wrong code is.
#[post("/login/2fa/passkey/finish")]
pub async fn second_step_passkey_finish(
    req: HttpRequest,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
    bytes: web::Bytes,
) -> Result<HttpResponse, actix_web::Error> {
    let now = state.clock.now();
    if session.is_unavailable() {
        return Err(AppError::Unavailable.into());
    }
    let (pending, user) = match still_waiting(&session, &state, now).await? {
        Ok(waiting) => waiting,
        Err(elsewhere) => return Ok(sign_in_again(elsewhere)),
    };
    let user_id = user.id.clone();
    let checked = passkey_routes::finish_second_factor(
        &req,
        &session,
        &state,
        user_id,
        SECOND_STEP_PASSKEY,
        &bytes,
    )
    .await;
    if let Err(refusal) = checked {
        if matches!(
            refusal.error(),
            PasskeyError::NotAccepted | PasskeyError::Cloned
        ) {
            let (account_id, user_id, ip) =
                (user.account_id.clone(), user.id.clone(), address.clone());
            let detail = format!("{} (passkey)", pending.email);
            db::run(&state.pool, move |conn| {
                users::sign_in_failed(conn, &account_id, &user_id, &detail, ip.as_deref(), now)
            })
            .await
            .map_err(AppError::from)?;
        }
        return Err(refusal.into());
    }
    let (device, by_user, by_address) = second_step_keys(&req, &state, &pending, &address, now);
    let signed_in = SignedIn {
        user_id: user.id,
        account_id: user.account_id,
        name: user.name,
        method: SignInMethod::PasswordPasskey,
        email: pending.email,
        device,
        next: pending.next,
        reply: Reply::Json,
    };
    Ok(signed_in
        .finish(&req, &session, &state, &address, (by_user, by_address), now)
        .await?)
}

#[post("/logout")]
pub async fn logout(session: TypedSession) -> HttpResponse {
    session.sign_out();
    see_other(SIGNED_OUT)
}

/// Where signing out leads: the sign-in page, saying so.
const SIGNED_OUT: &str = "/login?signed_out=1";
