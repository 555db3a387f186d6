//! The account's token policy (admins set it, everyone reads it) and each user's notifications.

use super::forms::Fields;
use super::session::TypedSession;
use super::tokens::format_time;
use super::{ALREADY_DONE, CurrentUser, Layout, Section, page, see_other};
use crate::app::AppState;
use crate::db::notifications::{self, Notification};
use crate::domain::form::FieldErrors;
use crate::domain::policy::{self, PolicyInput};
use crate::error::AppError;
use crate::services::{self, Once, Sent};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

const POLICY: &str = "/account/policy";
const NOTIFICATIONS: &str = "/account/notifications";

/// A module box of the approval list.
pub struct ApprovalChoice {
    pub id: &'static str,
    pub name: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "account/policy.html")]
struct PolicyPage {
    layout: Layout,
    form: PolicyInput,
    modules: Vec<ApprovalChoice>,
    errors: FieldErrors,
    max_lifetime_limit: u32,
}

impl PolicyPage {
    fn new(current: &CurrentUser, session: &TypedSession, form: PolicyInput) -> Self {
        let modules = policy::approvable_modules()
            .iter()
            .map(|m| ApprovalChoice {
                id: m.id,
                name: m.name,
                checked: form.approval_modules.iter().any(|id| id == m.id),
            })
            .collect();
        Self {
            layout: Layout::new(current, session).in_section(Section::Policy),
            form,
            modules,
            errors: FieldErrors::default(),
            max_lifetime_limit: policy::MAX_LIFETIME_DAYS,
        }
    }
}

/// The policy form (admins).
#[get("/account/policy")]
pub async fn policy_form(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let shown = PolicyPage::new(&current, &session, PolicyInput::of(&current.account.policy));
    page(&shown, StatusCode::OK)
}

#[post("/account/policy")]
pub async fn set_policy(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let fields = Fields(form.into_inner());
    let checked = |name: &str| fields.get(name).is_some_and(|v| v == "on" || v == "true");
    let typed = PolicyInput {
        max_lifetime_days: fields.text("max_lifetime_days"),
        require_expiry: checked("require_expiry"),
        approval_modules: fields.all("approval_modules"),
        require_allowed_networks: checked("require_allowed_networks"),
        default_rate_limit: fields.text("default_rate_limit"),
        require_2fa: checked("require_2fa"),
    };
    let new = match typed.parse() {
        Ok(new) => new,
        Err(errors) => {
            let mut shown = PolicyPage::new(&current, &session, typed);
            shown.errors = errors;
            return page(&shown, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let form_id = fields.get("form_id").map(str::to_owned);
    let done = current
        .run(&state, move |conn, by| {
            let sent = Sent {
                form_id: form_id.as_deref(),
                result: POLICY,
            };
            services::once(conn, by, &sent, |conn| {
                services::policy::set(conn, by, &new)
            })
        })
        .await?;
    match done {
        Once::Done((_, true)) => session.set_done("The policy was saved. It applies from now on."),
        Once::Done((_, false)) => session.set_flash("Nothing changed."),
        Once::AlreadyDone(_) => session.set_flash(ALREADY_DONE),
    }
    Ok(see_other(POLICY))
}

/// A notification as the page shows it.
pub struct NotificationRow {
    pub message: String,
    pub at: String,
    pub unread: bool,
    pub token_link: Option<String>,
}

impl From<Notification> for NotificationRow {
    fn from(n: Notification) -> Self {
        Self {
            message: n.message,
            at: format_time(n.created_at),
            unread: n.read_at.is_none(),
            token_link: n.token_id.map(|id| format!("/integrations/tokens/{id}")),
        }
    }
}

#[derive(Template)]
#[template(path = "account/notifications.html")]
struct NotificationsPage {
    layout: Layout,
    rows: Vec<NotificationRow>,
}

/// How many notifications the page shows, newest first.
const SHOWN: i64 = 100;

#[get("/account/notifications")]
pub async fn notifications_page(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user_id = current.user.id.clone();
    let rows = current
        .read(&state, move |conn, _| {
            notifications::latest(conn, &user_id, SHOWN)
        })
        .await?;
    let shown = NotificationsPage {
        layout: Layout::new(&current, &session).in_section(Section::Notifications),
        rows: rows.into_iter().map(NotificationRow::from).collect(),
    };
    page(&shown, StatusCode::OK)
}

/// Marks every notification read.
#[post("/account/notifications/read")]
pub async fn mark_read(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user_id = current.user.id.clone();
    let at = current.at;
    let marked = current
        .read(&state, move |conn, _| {
            notifications::mark_read(conn, &user_id, at)
        })
        .await?;
    session.set_done(&match marked {
        0 => "Nothing was unread.".to_owned(),
        1 => "1 notification marked as read.".to_owned(),
        n => format!("{n} notifications marked as read."),
    });
    Ok(see_other(NOTIFICATIONS))
}
