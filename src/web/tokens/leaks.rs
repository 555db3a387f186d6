//! Leaked keys: text pasted from a ticket, a chat or a log is searched for keys (by their
//! checksum, `domain::leaks`), and each is told apart as the account sees it: unknown (which is
//! also how another account's key is shown), or the account's own, live or not. The live ones
//! can then be disabled, after a confirmation, each with an event saying why.

use super::LIST_PATH;
use super::bulk::{BulkForm, Confirmed};
use super::confirm::{ConfirmPage, Confirmation, Target};
use crate::app::AppState;
use crate::db::leaks::{self, Sighting};
use crate::db::tokens::Token;
use crate::db::usage;
use crate::domain::ids::{TokenId, random_token};
use crate::domain::leaks::{MAX_TEXT_BYTES, REASON, unique_keys};
use crate::domain::token::TokenAction;
use crate::domain::usage::RecentUse;
use crate::error::AppError;
use crate::request::{BodyError, read_limited};
use crate::services::tokens::{self as token_service, Refusal};
use crate::services::{self, Once, Sent};
use crate::web::session::TypedSession;
use crate::web::{ALREADY_DONE, CurrentUser, Layout, Section, page, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use std::collections::HashMap;

pub const LEAKS_PATH: &str = "/integrations/tokens/leaks";

/// The most a leaks form may weigh: the text's megabyte, URL-encoded (up to three bytes for one),
/// and the rest of the form. A heavier one is refused before it is read whole.
pub const LEAKS_BODY_BYTES: usize = 3 * MAX_TEXT_BYTES + 64 * 1024;

/// One key found, as the page shows it: never its secret.
struct Row {
    id: String,
    /// The account's token: its name and status, and a link to it.
    name: Option<String>,
    status_label: &'static str,
    status_class: &'static str,
    verdict: &'static str,
    live: bool,
}

impl Row {
    fn new(sighting: &Sighting) -> Self {
        match sighting {
            Sighting::Unknown(id) => Self {
                id: id.to_string(),
                name: None,
                status_label: "",
                status_class: "",
                verdict: "Unknown",
                live: false,
            },
            Sighting::Yours {
                token,
                secret_matches,
                status,
            } => Self {
                id: token.id.to_string(),
                name: Some(token.name.clone()),
                status_label: status.label(),
                status_class: status.as_str(),
                verdict: match (secret_matches, sighting.is_live()) {
                    (true, true) => "Live: this key works",
                    (true, false) => "Its key, but the token does not accept requests",
                    (false, _) => "Not its key (a wrong or replaced secret)",
                },
                live: sighting.is_live(),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "tokens/leaks.html")]
struct LeaksPage {
    layout: Layout,
    text: String,
    error: Option<String>,
    /// `None` before anything was checked.
    rows: Option<Vec<Row>>,
    live_ids: Vec<String>,
    /// The id the disable form names: the live keys found are kept under it in the session.
    check: String,
    max_megabytes: usize,
}

impl LeaksPage {
    fn new(layout: Layout) -> Self {
        Self {
            layout: layout.in_section(Section::Leaks),
            text: String::new(),
            error: None,
            rows: None,
            live_ids: Vec::new(),
            check: String::new(),
            max_megabytes: MAX_TEXT_BYTES / 1_048_576,
        }
    }
}

#[get("/integrations/tokens/leaks")]
pub async fn leaks_form(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    page(
        &LeaksPage::new(Layout::new(&current, &session)),
        StatusCode::OK,
    )
}

#[post("/integrations/tokens/leaks")]
pub async fn check_leaks(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let mut payload = payload.into_inner();
    let mut view = LeaksPage::new(Layout::new(&current, &session));
    let too_large = format!(
        "The text is larger than {} MiB; paste less at a time. Nothing was checked.",
        view.max_megabytes
    );
    let body = match read_limited(&mut payload, LEAKS_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            view.error = Some(too_large);
            return page(&view, StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(BodyError::Unreadable) => {
            return Err(AppError::BadRequest("The form could not be read.".into()));
        }
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}")))?;
    let text = fields
        .into_iter()
        .find(|(name, _)| name == "text")
        .map(|(_, text)| text)
        .unwrap_or_default();
    if text.len() > MAX_TEXT_BYTES {
        view.error = Some(too_large);
        view.text = text;
        return page(&view, StatusCode::PAYLOAD_TOO_LARGE);
    }
    if text.trim().is_empty() {
        view.error = Some("Paste the text to check.".into());
        return page(&view, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let keys = unique_keys(&text);
    let now = current.at;
    let sightings = current
        .read(&state, move |conn, by| {
            leaks::sightings(conn, &by.account_id, &keys, now)
        })
        .await?;
    view.live_ids = sightings
        .iter()
        .filter(|s| s.is_live())
        .map(|s| s.id().to_string())
        .collect();
    if !view.live_ids.is_empty() {
        view.check = random_token();
        session.set_leak_check(&view.check, &view.live_ids);
    }
    view.rows = Some(sightings.iter().map(Row::new).collect());
    view.text = text;
    page(&view, StatusCode::OK)
}

/// What a disable of leaked keys came to.
enum Disabled {
    /// The keys disabled, and those left for someone who may.
    Done(usize, Vec<Refusal>),
    AlreadyDone(String),
    Confirm(Vec<Token>, HashMap<TokenId, RecentUse>, Vec<Refusal>),
}

/// Disable the live keys a check found (the check the form names, kept in the session: no other
/// token can be disabled "as leaked" through this form). The first POST shows the confirmation;
/// the second (`confirm=yes`) disables, in one transaction, those the user may, and names the
/// rest for an admin.
#[post("/integrations/tokens/leaks/disable")]
pub async fn disable_leaked(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = form.into_inner();
    let check = fields
        .iter()
        .find(|(name, _)| name == "check")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let form = BulkForm::parse(fields);
    let Some(found) = session.leak_check(&check) else {
        return Err(AppError::Conflict(
            "These results are no longer current (a newer check was made, or you signed in \
             again): check the text again. Nothing was changed."
                .into(),
        ));
    };
    let ids: Vec<TokenId> = found
        .iter()
        .filter_map(|id| TokenId::parse(id).ok())
        .collect();
    if ids.is_empty() {
        return Err(AppError::BadRequest(
            "The check found no live key to disable.".into(),
        ));
    }
    let confirmed = form.confirmed.then(|| Confirmed {
        form_id: form.form_id.clone(),
        result: LIST_PATH.to_owned(),
    });
    let now = current.at;
    let action = TokenAction::Disable;
    let outcome = current
        .run(&state, move |conn, by| {
            if let Some(confirmed) = confirmed {
                let sent = Sent {
                    form_id: confirmed.form_id.as_deref(),
                    result: &confirmed.result,
                };
                let acted = services::once(conn, by, &sent, |conn| {
                    token_service::act_on_what_is_allowed(conn, by, &ids, action, Some(REASON))
                })?;
                return Ok(match acted {
                    Once::Done((done, refusals)) => Disabled::Done(done.len(), refusals),
                    Once::AlreadyDone(result) => Disabled::AlreadyDone(result),
                });
            }
            let (tokens, refusals) = token_service::check_selection(conn, by, &ids)?;
            let recent = usage::recent_use(conn, &tokens, now)?;
            Ok(Disabled::Confirm(tokens, recent, refusals))
        })
        .await?;
    let (tokens, recent, refusals) = match outcome {
        Disabled::Done(count, refusals) => {
            let mut message = match count {
                0 => "No key was disabled.".to_owned(),
                1 => "1 leaked key disabled.".to_owned(),
                n => format!("{n} leaked keys disabled."),
            };
            if !refusals.is_empty() {
                let named: Vec<String> = refusals.iter().map(ToString::to_string).collect();
                message.push_str(&format!(
                    " Still live, for someone who may disable {}, such as an admin: {}.",
                    if refusals.len() == 1 { "it" } else { "them" },
                    named.join("; ")
                ));
            }
            if count == 0 {
                session.set_flash(&message);
            } else {
                session.set_done(&message);
            }
            return Ok(see_other(LIST_PATH));
        }
        Disabled::AlreadyDone(result) => {
            session.set_flash(ALREADY_DONE);
            return Ok(see_other(&result));
        }
        Disabled::Confirm(tokens, recent, refusals) => (tokens, recent, refusals),
    };
    let confirmation = Confirmation {
        action,
        target: Target::Leaked { check },
        tokens: &tokens,
        recent: &recent,
        refusals: &refusals,
        now,
        return_to: LEAKS_PATH.to_owned(),
    };
    ConfirmPage::new(
        Layout::new(&current, &session),
        &current.person(),
        confirmation,
    )
    .respond()
}
