//! Signing in and out.

use super::session::TypedSession;
use super::{local_path, page, see_other};
use crate::db::{self, users::User};
use crate::domain::password;
use crate::domain::user::Email;
use crate::error::AppError;
use crate::request::ClientIp;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::tokens::LIST_PATH as HOME;

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    csrf_token: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[get("/")]
pub async fn home() -> HttpResponse {
    see_other(HOME)
}

#[get("/login")]
pub async fn login_form(
    session: TypedSession,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = local_path(query.next.as_deref(), "/").unwrap_or_else(|| HOME.to_owned());
    if session.user_id().is_some() {
        return Ok(see_other(&next));
    }
    let form = LoginPage {
        csrf_token: session.csrf_token(),
        email: String::new(),
        next,
        error: None,
    };
    page(&form, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[post("/login")]
pub async fn login(
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm {
        email,
        password: candidate,
        next,
    } = form.into_inner();
    let next = local_path(next.as_deref(), "/").unwrap_or_else(|| HOME.to_owned());
    let refuse = |message: String, status: StatusCode| {
        let form = LoginPage {
            csrf_token: session.csrf_token(),
            email: email.trim().to_owned(),
            next: next.clone(),
            error: Some(message),
        };
        page(&form, status)
    };
    if let Err(wait) = state.sign_in_throttle.check(&email, address.as_deref()) {
        let minutes = wait.as_secs().div_ceil(60);
        return refuse(
            format!(
                "Too many failed sign-ins. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let credentials = match Email::parse(&email) {
        Ok(parsed) => db::run(&state.pool, move |conn| User::credentials(conn, &parsed)).await?,
        Err(_) => None,
    };
    // Unknown e-mails are checked against a dummy hash, so timing does not tell which exist.
    let (user_id, stored_hash) = match credentials {
        Some(c) => (Some(c.user_id), c.password_hash),
        None => (None, password::DUMMY_HASH.to_owned()),
    };
    let _turn = state
        .password_checks
        .acquire()
        .await
        .map_err(|e| AppError::internal("waiting to check a password", e))?;
    let matches = web::block(move || password::verify(&stored_hash, &candidate))
        .await
        .map_err(|e| AppError::internal("verifying a password", e))?;
    match user_id {
        Some(user_id) if matches => {
            state.sign_in_throttle.succeeded(&email);
            session.sign_in(&user_id);
            tracing::info!(user = %user_id, "signed in");
            Ok(see_other(&next))
        }
        _ => {
            state.sign_in_throttle.failed(&email, address.as_deref());
            refuse(
                "The e-mail or password is not correct.".to_owned(),
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

#[post("/logout")]
pub async fn logout(session: TypedSession) -> HttpResponse {
    session.sign_out();
    see_other("/login")
}
