//! The server-rendered UI: handlers by area, and what they share (the signed-in user, the page
//! layout).

pub mod account;
pub mod activity;
pub mod assets;
pub mod auth;
pub mod chrome;
pub mod csrf;
pub mod csv;
pub mod forms;
pub mod health;
pub mod help;
pub mod passkeys;
pub mod policy;
pub mod proof;
pub mod security;
pub mod session;
pub mod sudo;
pub mod tokens;

use crate::app::AppState;
use crate::db::accounts::Account;
use crate::db::users::User;
use crate::db::{self, DbConnection, DbError};
use crate::domain::access::Person;
use crate::domain::access::{Actor, Reach, Requester};
use crate::error::AppError;
use crate::request::client_ip;
use crate::services::ServiceError;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use session::TypedSession;
use std::future::Future;
use std::pin::Pin;

/// The signed-in user and their account. Taking it as an argument is what makes a page require
/// signing in: without a user the request is sent to /login and comes back afterwards.
pub struct CurrentUser {
    pub user: User,
    pub account: Account,
    pub client_ip: Option<String>,
    /// When the request came, by the application's clock: what its changes are stamped with.
    pub at: NaiveDateTime,
    /// What the top bar and the navigation count: unread notifications, and (for admins)
    /// requests waiting for approval.
    pub counts: Counts,
    /// The account's policy wants a second factor this user has not set up: only the Security
    /// page (and help) is open to them.
    pub must_enrol: bool,
}

/// The counts every signed-in page shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub unread: i64,
    pub waiting: i64,
}

impl CurrentUser {
    pub fn person(&self) -> Person {
        self.user.person()
    }

    /// The user as the author of a change in their account, from where they are.
    pub fn requester(&self) -> Requester {
        Requester {
            account_id: self.account.id.clone(),
            actor: self.user.actor(),
            client_ip: self.client_ip.clone(),
            reach: Reach::Person(self.person()),
            at: self.at,
        }
    }

    /// 403, with a page saying why, unless the user may manage a token made by `creator`.
    pub fn require_manage(&self, creator: &Actor) -> Result<(), AppError> {
        self.person()
            .may_manage_token(creator)
            .map_err(AppError::Forbidden)
    }

    /// 403, with a page saying why, unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        self.person().may_administer().map_err(AppError::Forbidden)
    }

    /// Reads what `work` reads for this user, in their account.
    pub async fn read<T, F>(&self, state: &AppState, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection, &Requester) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let by = self.requester();
        Ok(db::run(&state.pool, move |conn| work(conn, &by)).await?)
    }

    /// Runs `work` on the database for this user: in their account, with them as the author of
    /// what it changes.
    pub async fn run<T, F>(&self, state: &AppState, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection, &Requester) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let by = self.requester();
        Ok(db::run_with(&state.pool, move |conn| work(conn, &by)).await?)
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = TypedSession::of(req);
        let next = (req.method() == actix_web::http::Method::GET).then(|| req.uri().to_string());
        let open_before_enrolment = security::open_before_enrolment(req.path());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let client_ip = client_ip(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| AppError::Internal("application state missing".into()))?;
            if session.is_unavailable() {
                return Err(AppError::Unavailable);
            }
            let Some(user_id) = session.user_id() else {
                return Err(AppError::SignInRequired(next));
            };
            match db::run(&state.pool, move |conn| {
                let (user, account) = User::find_with_account(conn, &user_id)?;
                let mut counts = Counts::default();
                let mut must_enrol = false;
                if user.active {
                    counts.unread = db::notifications::unread(conn, &user.id)?;
                    if user.person().is_admin() {
                        counts.waiting = db::approvals::waiting(conn, &account.id)?;
                    }
                    must_enrol =
                        crate::services::two_factor::standing(conn, &user.id, &account)?.must_enrol;
                }
                Ok((user, account, counts, must_enrol))
            })
            .await
            {
                Ok((_, _, _, true)) if !open_before_enrolment => {
                    Err(AppError::EnrolmentRequired(SECURITY_PATH))
                }
                Ok((user, account, counts, must_enrol)) if user.active => Ok(Self {
                    user,
                    account,
                    client_ip,
                    at: state.clock.now(),
                    counts,
                    must_enrol,
                }),
                // The user was removed or deactivated since signing in (their sessions were
                // ended then; this one is too, should it have been missed).
                Ok(_) | Err(db::DbError::NotFound) => {
                    session.sign_out();
                    Err(AppError::SignInRequired(next))
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// Mounts the UI: every page, the health checks and the assets; anything else is the UI's 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(assets::asset)
        .service(auth::home)
        .service(auth::login_form)
        .service(auth::login)
        .service(auth::logout)
        .service(passkeys::sign_in_start)
        .service(passkeys::sign_in_finish)
        .service(passkeys::register_start)
        .service(passkeys::register_finish)
        .service(passkeys::check_start)
        .service(passkeys::check_finish)
        .service(passkeys::remove)
        .service(help::user_guide)
        .service(help::other_doc)
        .service(activity::activity)
        .service(activity::activity_csv)
        .service(account::users)
        .service(account::add_user)
        .service(account::change_role)
        .service(account::activate)
        .service(account::deactivate)
        .service(account::sessions_page)
        .service(account::end_other_sessions)
        .service(account::end_session)
        .service(account::password_form)
        .service(account::change_password)
        .service(account::reset_two_factor)
        .service(auth::second_step_form)
        .service(auth::second_step)
        .service(auth::second_step_passkey_start)
        .service(auth::second_step_passkey_finish)
        .service(security::security_page)
        .service(security::enable_totp)
        .service(security::disable_totp)
        .service(security::regenerate_recovery_codes)
        .service(security::recovery_codes_txt)
        .service(security::recovery_codes_kept)
        .service(policy::policy_form)
        .service(policy::set_policy)
        .service(policy::notifications_page)
        .service(policy::mark_read)
        .service(tokens::list::list)
        .service(tokens::review::review)
        .service(tokens::requests::queue)
        .service(tokens::review::review_csv)
        .service(tokens::leaks::leaks_form)
        .service(tokens::leaks::check_leaks)
        .service(tokens::leaks::disable_leaked)
        // The wizard's fixed paths before `/integrations/tokens/{id}…`, which would take "new".
        .service(tokens::wizard::start)
        .service(tokens::wizard::general_form)
        .service(tokens::wizard::save_general)
        .service(tokens::wizard::extension_form)
        .service(tokens::wizard::save_extension)
        .service(tokens::wizard::permissions_form)
        .service(tokens::wizard::create)
        .service(tokens::wizard::summary)
        .service(tokens::wizard::cancel)
        .service(tokens::details::details)
        .service(tokens::details::reveal)
        .service(tokens::details::permissions)
        .service(tokens::advice::narrow)
        .service(tokens::edit::edit_form)
        .service(tokens::edit::edit)
        .service(tokens::actions::act)
        .service(tokens::actions::confirm_delete)
        .service(tokens::bulk::act_on_selection)
        .service(tokens::actions::confirm_rotate)
        .service(tokens::actions::rotate)
        .service(tokens::actions::rotated_key)
        .service(tokens::requests::approve)
        .service(tokens::requests::deny)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(AppError::NotFound)
        }));
}

/// The Security page: second factors (the app, recovery codes, passkeys).
pub const SECURITY_PATH: &str = "/account/security";

/// The line a page shows when a form that acted is sent again.
pub const ALREADY_DONE: &str = "This was already done; nothing was done twice.";

/// What base.html needs on every signed-in page.
pub struct Layout {
    pub account_name: String,
    pub user_name: String,
    pub csrf_token: String,
    pub flash: Option<session::Flash>,
    /// Admins see the team's pages in the navigation.
    pub is_admin: bool,
    /// The page's place in the navigation, to mark it current.
    pub section: Section,
    pub counts: Counts,
}

/// The parts of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Tokens,
    Review,
    Leaks,
    Activity,
    Users,
    Sessions,
    Password,
    Security,
    Requests,
    Policy,
    Notifications,
    Help,
}

impl Layout {
    pub fn new(current: &CurrentUser, session: &TypedSession) -> Self {
        Self {
            flash: session.take_flash(),
            ..Self::keeping_flash(current, session)
        }
    }

    /// The layout of a page that leaves the flash for the next one (an error page).
    pub fn keeping_flash(current: &CurrentUser, session: &TypedSession) -> Self {
        Self {
            account_name: current.account.name.clone(),
            user_name: current.user.name.clone(),
            csrf_token: session.csrf_token(),
            flash: None,
            is_admin: current.person().is_admin(),
            section: Section::default(),
            counts: current.counts,
        }
    }

    /// A fresh one-time id for a form that acts (hidden field `form_id`): sent twice, it acts
    /// once (`services::once`).
    pub fn form_id(&self) -> String {
        crate::domain::ids::random_token()
    }

    /// The layout of a page in another part of the navigation.
    pub fn in_section(mut self, section: Section) -> Self {
        self.section = section;
        self
    }
}

/// A rendered page with the given status; a template that fails to render is an internal error.
pub fn page(
    template: &impl askama::Template,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let body = template
        .render()
        .map_err(|e| AppError::internal("rendering a page", e))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `path` with `pairs` as its query string, or `path` alone when there are none.
pub fn url_with(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

/// 303 See Other: after a POST, the browser follows with a GET.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A place inside the app to go back to; anything else (another host, `//evil`) is ignored.
pub fn local_path(candidate: Option<&str>, prefix: &str) -> Option<String> {
    candidate
        .filter(|p| {
            p.starts_with(prefix)
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control)
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        let cases = [
            (
                Some("/integrations/tokens?page=2"),
                Some("/integrations/tokens?page=2"),
            ),
            (Some("//evil.example/"), None),
            (Some("https://evil.example/"), None),
            (Some("/\\evil.example"), None),
            (Some("/integrations/tokens\r\nSet-Cookie: x"), None),
            (None, None),
        ];
        for (candidate, expected) in cases {
            assert_eq!(
                local_path(candidate, "/").as_deref(),
                expected,
                "{candidate:?}"
            );
        }
        assert_eq!(local_path(Some("/login"), "/integrations/"), None);
    }
}
