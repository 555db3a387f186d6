//! The account's pages: the team (admins), each user's own sessions, and their password.

use super::session::TypedSession;
use super::tokens::{SelectOption, TokenView, format_time};
use super::{ALREADY_DONE, CurrentUser, Layout, Section, page, see_other};
use crate::app::AppState;
use crate::db::tokens::Token;
use crate::db::users::User;
use crate::db::{self, sessions};
use crate::domain::form::FieldErrors;
use crate::domain::ids::UserId;
use crate::domain::password;
use crate::domain::throttle::{AttemptKey, retry_message};
use crate::domain::two_factor::SignInMethod;
use crate::domain::user::{NewPassword, NewUserInput, PasswordChangeInput, Role};
use crate::error::AppError;
use crate::request::ClientIp;
use crate::services::two_factor;
use crate::services::users::{self as team, Handover, NewUser};
use crate::services::{self, Once, Sent, guesses};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

const USERS: &str = "/account/users";
const SESSIONS: &str = "/account/sessions";

/// A row of the Users page.
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub active: bool,
    pub last_sign_in: String,
    pub is_you: bool,
    /// They sign in with a second factor.
    pub two_factor: bool,
}

/// The password of a user just added, shown this once.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AddedUser {
    pub name: String,
    pub email: String,
    pub password: String,
}

const PASSWORD: &str = "/account/password";

/// The password form: what was typed, and the form's one-time id.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(flatten)]
    input: PasswordChangeInput,
    form_id: Option<String>,
}

/// What the user just added is kept in the session for, until the page shows it.
const ADDED: &str = "/account/users#added";

/// The Add user form: what was typed, and the form's one-time id.
#[derive(Deserialize)]
pub struct AddUserForm {
    #[serde(flatten)]
    input: NewUserInput,
    form_id: Option<String>,
}

#[derive(Template)]
#[template(path = "account/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    form: NewUserInput,
    errors: FieldErrors,
    added: Option<AddedUser>,
    refusal: Option<String>,
}

impl UsersPage {
    async fn load(
        current: &CurrentUser,
        session: &TypedSession,
        state: &AppState,
    ) -> Result<Self, AppError> {
        let team = current
            .read(state, |conn, by| {
                let mut team = Vec::new();
                for user in User::list(conn, &by.account_id)? {
                    let has = two_factor::has_second_factor(conn, &user.id)?;
                    team.push((user, has));
                }
                Ok(team)
            })
            .await?;
        Ok(Self {
            layout: Layout::new(current, session).in_section(Section::Users),
            users: team
                .into_iter()
                .map(|(user, two_factor)| UserRow {
                    two_factor,
                    is_you: user.id == current.user.id,
                    id: user.id.to_string(),
                    name: user.name,
                    email: user.email,
                    is_admin: user.role == Role::Admin,
                    active: user.active,
                    last_sign_in: user
                        .last_sign_in_at
                        .map_or_else(|| "Never".to_owned(), format_time),
                })
                .collect(),
            form: NewUserInput {
                role: Role::Member.as_str().to_owned(),
                ..NewUserInput::default()
            },
            errors: FieldErrors::default(),
            added: None,
            refusal: None,
        })
    }

    /// A page that shows a password: like every page, it is sent `Cache-Control: no-store`
    /// (a default header of the server's).
    fn respond(&self, status: StatusCode) -> Result<HttpResponse, AppError> {
        page(self, status)
    }
}

#[get("/account/users")]
pub async fn users(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let mut page = UsersPage::load(&current, &session, &state).await?;
    // The password of the user just added, this once.
    page.added = session
        .take_secret(&state.master_key, ADDED)
        .and_then(|added| serde_json::from_str(&added).ok());
    page.respond(StatusCode::OK)
}

/// Adds a user with a generated password, then shows it once on the Users page it leads to: a
/// reload or a resubmitted form adds no one more.
#[post("/account/users")]
pub async fn add_user(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<AddUserForm>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let AddUserForm {
        input: typed,
        form_id,
    } = form.into_inner();
    let (name, email, role) = match typed.parse() {
        Ok(parsed) => parsed,
        Err(errors) => {
            let mut page = UsersPage::load(&current, &session, &state).await?;
            page.form = typed;
            page.errors = errors;
            return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let generated = NewPassword::generate();
    let hash = state
        .passwords
        .hash(generated.expose().to_owned())
        .await
        .map_err(|e| AppError::internal("hashing a password", e))?;
    let added = {
        let (name, email) = (name.clone(), email.clone());
        current
            .run(&state, move |conn, by| {
                let new = NewUser {
                    email: &email,
                    name: &name,
                    role,
                    password_hash: &hash,
                };
                let sent = Sent {
                    form_id: form_id.as_deref(),
                    result: USERS,
                };
                services::once(conn, by, &sent, |conn| team::add(conn, by, &new))
            })
            .await
    };
    match added {
        Ok(Once::Done(user)) => {
            let added = AddedUser {
                name: user.name,
                email: user.email,
                password: generated.expose().to_owned(),
            };
            let added = serde_json::to_string(&added)
                .map_err(|e| AppError::internal("keeping the new password", e))?;
            session.set_secret(&state.master_key, ADDED, &added);
            Ok(see_other(USERS))
        }
        Ok(Once::AlreadyDone(result)) => {
            session.set_flash(ALREADY_DONE);
            Ok(see_other(&result))
        }
        Err(AppError::Conflict(_)) => {
            let mut page = UsersPage::load(&current, &session, &state).await?;
            page.form = typed;
            page.errors
                .add("email", "A user with this e-mail exists already");
            page.respond(StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e),
    }
}

fn user_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw).map_err(|_| AppError::NotFound)
}

/// After a change to the team: back to the page with what happened, or with why it was refused
/// (the last active admin stays one).
async fn after_team_change(
    current: &CurrentUser,
    session: &TypedSession,
    state: &AppState,
    done: Result<User, AppError>,
    verb: &str,
) -> Result<HttpResponse, AppError> {
    match done {
        Ok(user) => {
            session.set_done(&format!("{} {verb}.", user.name));
            Ok(see_other(USERS))
        }
        Err(AppError::Refused(why)) => {
            let mut page = UsersPage::load(current, session, state).await?;
            page.refusal = Some(why);
            page.respond(StatusCode::CONFLICT)
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

#[post("/account/users/{id}/role")]
pub async fn change_role(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let id = user_id(&path)?;
    let role = Role::parse(&form.role).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let done = current
        .run(&state, move |conn, by| team::set_role(conn, by, &id, role))
        .await;
    let verb = format!(
        "is now {}",
        if role == Role::Admin {
            "an admin"
        } else {
            "a member"
        }
    );
    after_team_change(&current, &session, &state, done, &verb).await
}

/// Activates a user again.
#[post("/account/users/{id}/activate")]
pub async fn activate(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let id = user_id(&path)?;
    let done = current
        .run(&state, move |conn, by| team::activate(conn, by, &id))
        .await;
    after_team_change(&current, &session, &state, done, "was activated").await
}

#[derive(Template)]
#[template(path = "account/deactivate.html")]
struct DeactivatePage {
    layout: Layout,
    user_id: String,
    user_name: String,
    tokens: Vec<TokenView>,
    /// The users their tokens may be handed to.
    heirs: Vec<SelectOption>,
    /// `keep`, `disable` or `transfer`.
    choice: String,
    error: Option<String>,
}

/// The deactivation form as sent: confirmed or not, and what becomes of the user's tokens.
#[derive(Deserialize)]
pub struct DeactivateForm {
    confirm: Option<String>,
    tokens: Option<String>,
    to: Option<String>,
    form_id: Option<String>,
}

/// Deactivating asks first: the user's live tokens, and whether to keep, disable or hand them
/// to another user (`tokens`, `to`); confirmed (`confirm=yes`), it is done, once.
#[post("/account/users/{id}/deactivate")]
pub async fn deactivate(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Option<web::Form<DeactivateForm>>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let id = user_id(&path)?;
    let form = form.map(web::Form::into_inner);
    let confirmed = form.as_ref().and_then(|f| f.confirm.as_deref()) == Some("yes");
    let choice = form
        .as_ref()
        .and_then(|f| f.tokens.clone())
        .unwrap_or_else(|| "disable".to_owned());
    let to = form.as_ref().and_then(|f| f.to.clone());
    let handover = match choice.as_str() {
        "keep" => Some(Handover::Keep),
        "disable" => Some(Handover::Disable),
        "transfer" => to
            .as_deref()
            .and_then(|to| UserId::parse(to).ok())
            .map(Handover::Transfer),
        _ => None,
    };
    if confirmed && let Some(handover) = handover {
        let form_id = form.and_then(|f| f.form_id);
        let done = current
            .run(&state, move |conn, by| {
                let sent = Sent {
                    form_id: form_id.as_deref(),
                    result: USERS,
                };
                services::once(conn, by, &sent, |conn| {
                    team::deactivate(conn, by, &id, &handover)
                })
            })
            .await;
        return match done {
            Ok(Once::AlreadyDone(result)) => {
                session.set_flash(ALREADY_DONE);
                Ok(see_other(&result))
            }
            Ok(Once::Done(user)) => {
                after_team_change(
                    &current,
                    &session,
                    &state,
                    Ok(user),
                    "was deactivated and signed out everywhere",
                )
                .await
            }
            Err(e) => after_team_change(&current, &session, &state, Err(e), "").await,
        };
    }
    let error = confirmed.then(|| "Choose what becomes of their tokens, and to whom.".to_owned());
    let lookup = id.clone();
    let (user, tokens, team) = current
        .read(&state, move |conn, by| {
            let user = User::find(conn, &by.account_id, &lookup)?;
            let tokens = Token::owned_by(conn, &by.account_id, &lookup)?;
            let team = User::list(conn, &by.account_id)?;
            Ok((user, tokens, team))
        })
        .await?;
    let viewer = current.person();
    let shown = DeactivatePage {
        layout: Layout::new(&current, &session).in_section(Section::Users),
        user_id: user.id.to_string(),
        user_name: user.name,
        tokens: tokens
            .iter()
            .map(|t| TokenView::new(t, current.at, &viewer))
            .collect(),
        heirs: team
            .iter()
            .filter(|heir| heir.active && heir.id != id)
            .map(|heir| {
                let label = format!("{} ({})", heir.name, heir.email);
                let chosen = to.as_deref() == Some(heir.id.as_str());
                SelectOption::new(heir.id.as_str(), label, chosen)
            })
            .collect(),
        choice,
        error,
    };
    let status = if shown.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(&shown, status)
}

#[derive(Template)]
#[template(path = "account/reset_2fa.html")]
struct ResetTwoFactorPage {
    layout: Layout,
    user_id: String,
    user_name: String,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    confirm: Option<String>,
}

/// An admin removes a user's second factors (a lost phone): asked first, then done, and the
/// user's sessions end; they sign in with their password and set one up again.
#[post("/account/users/{id}/reset-2fa")]
pub async fn reset_two_factor(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Option<web::Form<ConfirmForm>>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let id = user_id(&path)?;
    let confirmed = form.and_then(|f| f.into_inner().confirm).as_deref() == Some("yes");
    if confirmed {
        let done = current
            .run(&state, move |conn, by| two_factor::reset(conn, by, &id))
            .await;
        return after_team_change(
            &current,
            &session,
            &state,
            done,
            "has no second factor now, and was signed out everywhere",
        )
        .await;
    }
    let user = current
        .read(&state, move |conn, by| {
            User::find(conn, &by.account_id, &id)
        })
        .await?;
    let shown = ResetTwoFactorPage {
        layout: Layout::new(&current, &session).in_section(Section::Users),
        user_id: user.id.to_string(),
        user_name: user.name,
    };
    page(&shown, StatusCode::OK)
}

/// A row of the Sessions page.
pub struct SessionRow {
    pub id: String,
    pub browser: String,
    pub client_ip: String,
    pub started: String,
    pub last_seen: String,
    /// How it signed in ("Password and authenticator code").
    pub method: &'static str,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionRow>,
}

/// "Firefox on Linux" from a User-Agent, or the start of it.
fn browser_of(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent else {
        return "Unknown browser".to_owned();
    };
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/"]
        .into_iter()
        .find(|marker| agent.contains(marker))
        .map(|marker| match marker {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            _ => "Safari",
        });
    let system = [
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        _ => agent.chars().take(60).collect(),
    }
}

#[get("/account/sessions")]
pub async fn sessions_page(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let now = current.at;
    let user_id = current.user.id.clone();
    let open = current
        .read(&state, move |conn, _| {
            sessions::open_for(conn, &user_id, now)
        })
        .await?;
    let this = session.row();
    let page = SessionsPage {
        layout: Layout::new(&current, &session).in_section(Section::Sessions),
        sessions: open
            .into_iter()
            .map(|s| SessionRow {
                current: this.as_deref() == Some(s.id_hash.as_str()),
                browser: browser_of(s.user_agent.as_deref()),
                client_ip: s.client_ip.unwrap_or_else(|| "unknown".into()),
                started: format_time(s.started),
                last_seen: format_time(s.last_seen),
                method: s
                    .sign_in_method
                    .as_deref()
                    .and_then(SignInMethod::parse)
                    .map_or("Unknown", SignInMethod::label),
                id: s.id_hash,
            })
            .collect(),
    };
    super::page(&page, StatusCode::OK)
}

#[post("/account/sessions/{id}/end")]
pub async fn end_session(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let row = path.into_inner();
    if session.row().as_deref() == Some(row.as_str()) {
        return Err(AppError::BadRequest(
            "This is the session you are using; sign out to end it.".into(),
        ));
    }
    let user_id = current.user.id.clone();
    current
        .read(&state, move |conn, _| sessions::end(conn, &user_id, &row))
        .await?;
    session.set_done("The session was ended; that browser is signed out.");
    Ok(see_other(SESSIONS))
}

#[post("/account/sessions/end-others")]
pub async fn end_other_sessions(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user_id = current.user.id.clone();
    let keep = session.row();
    let ended = current
        .read(&state, move |conn, _| {
            db::users::end_sessions(conn, &user_id, keep.as_deref())
        })
        .await?;
    session.set_done(&format!(
        "Signed out everywhere else ({ended} session{}).",
        if ended == 1 { "" } else { "s" }
    ));
    Ok(see_other(SESSIONS))
}

/// A field of the Password form.
pub struct PasswordField {
    pub name: &'static str,
    pub label: &'static str,
    pub autocomplete: &'static str,
    pub hint: &'static str,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    layout: Layout,
    fields: Vec<PasswordField>,
}

impl PasswordPage {
    fn new(current: &CurrentUser, session: &TypedSession, errors: &FieldErrors) -> Self {
        let field = |name, label, autocomplete, hint| PasswordField {
            name,
            label,
            autocomplete,
            hint,
            error: errors.get(name).map(str::to_owned),
        };
        Self {
            layout: Layout::new(current, session).in_section(Section::Password),
            fields: vec![
                field(
                    "current_password",
                    "Current password",
                    "current-password",
                    "",
                ),
                field(
                    "new_password",
                    "New password",
                    "new-password",
                    "At least 12 characters.",
                ),
                field(
                    "confirm_password",
                    "New password again",
                    "new-password",
                    "The same, to be sure of it.",
                ),
            ],
        }
    }
}

#[get("/account/password")]
pub async fn password_form(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    page(
        &PasswordPage::new(&current, &session, &FieldErrors::default()),
        StatusCode::OK,
    )
}

/// Checks the current password, sets the new one and ends the user's other sessions.
#[post("/account/password")]
pub async fn change_password(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    ClientIp(address): ClientIp,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let PasswordForm { input, form_id } = form.into_inner();
    // Sent again after it acted: the current password has changed, and nothing is to be done.
    if let Some(form_id) = form_id.clone() {
        let sent = current
            .run(&state, move |conn, by| {
                services::sent_before(conn, by, &form_id)
            })
            .await?;
        if let Some(result) = sent {
            session.set_flash(ALREADY_DONE);
            return Ok(see_other(&result));
        }
    }
    let new = match input.parse() {
        Ok(new) => new,
        Err(errors) => {
            return page(
                &PasswordPage::new(&current, &session, &errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    // A guess at the current password counts as a sign-in attempt: a session left open does
    // not let anyone try passwords faster than the sign-in page does.
    let by_user = AttemptKey::email(&current.user.email);
    let by_address = AttemptKey::address(address);
    let (keys, now, user_id) = (
        (by_user.clone(), by_address.clone()),
        current.at,
        current.user.id.clone(),
    );
    let (refused_until, stored) = current
        .read(&state, move |conn, _| {
            let refused_until = guesses::count(conn, &[&keys.0, &keys.1], now)?;
            let hash = User::password_hash(conn, &user_id)?;
            Ok((refused_until, hash))
        })
        .await?;
    if let Some(until) = refused_until {
        let errors = FieldErrors::one("current_password", retry_message(until, now));
        let mut page = page(
            &PasswordPage::new(&current, &session, &errors),
            StatusCode::TOO_MANY_REQUESTS,
        )?;
        let wait = (until - now).num_seconds().max(1);
        page.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return Ok(page);
    }
    let candidate = input.current_password.clone();
    let plain = new.expose().to_owned();
    let hash = state
        .passwords
        .run(move || password::verify(&stored, &candidate).then(|| password::hash(&plain)))
        .await
        .map_err(|e| AppError::internal("checking a password", e))?;
    let Some(hash) = hash else {
        let errors = FieldErrors::one("current_password", "The current password is not correct");
        return page(
            &PasswordPage::new(&current, &session, &errors),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let (user_id, keep) = (current.user.id.clone(), session.row());
    let changed = current
        .run(&state, move |conn, by| {
            guesses::proved(conn, &by_user, &by_address)?;
            let sent = Sent {
                form_id: form_id.as_deref(),
                result: PASSWORD,
            };
            services::once(conn, by, &sent, |conn| {
                team::set_password(conn, by, &user_id, &hash, keep.as_deref())
            })
        })
        .await?;
    match changed {
        Once::Done(()) => {
            session.set_done("Your password was changed; your other sessions were signed out.")
        }
        Once::AlreadyDone(_) => session.set_flash(ALREADY_DONE),
    }
    Ok(see_other(PASSWORD))
}

#[cfg(test)]
mod tests {
    use super::browser_of;

    #[test]
    fn browsers_are_named() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(browser_of(Some(firefox)), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(browser_of(Some(chrome)), "Chrome on Windows");
        assert_eq!(browser_of(Some("curl/8.0")), "curl/8.0");
        assert_eq!(browser_of(None), "Unknown browser");
    }
}
