//! The ⋮ menu: disable, enable, rotate the key, and delete, with their confirmations.

use super::confirm::{ConfirmPage, Confirmation, Target};
use super::{LIST_PATH, SelectOption, TokenView, format_time, token_id};
use crate::app::AppState;
use crate::db::tokens::Token;
use crate::db::usage;
use crate::domain::ids::TokenId;
use crate::domain::lifecycle::Grace;
use crate::domain::policy::Breach;
use crate::domain::token::TokenAction;
use crate::domain::usage::RecentUse;
use crate::error::AppError;
use crate::services::tokens::{self as token_service, NewKey, Refusal};
use crate::services::{self, Once, Sent};
use crate::web::session::TypedSession;
use crate::web::{ALREADY_DONE, CurrentUser, Layout, local_path, see_other};
use actix_web::{HttpResponse, Responder, get, post, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use std::collections::HashMap;

/// The body is optional: script calls may send only the `X-CSRF-Token` header.
#[derive(Deserialize)]
pub struct ActionForm {
    return_to: Option<String>,
    /// `yes` once the user has seen the confirmation.
    confirm: Option<String>,
    /// The confirmation's one-time id: sent twice, it acts once.
    form_id: Option<String>,
}

/// Back to where the action was started (the list page with its filters, or the details page).
fn back(return_to: Option<&str>) -> String {
    local_path(return_to, LIST_PATH).unwrap_or_else(|| LIST_PATH.to_owned())
}

/// What happened to a token the ⋮ menu acted on.
enum Outcome {
    Done(String),
    /// The confirmation was sent before, and acted then: where that went.
    AlreadyDone(String),
    /// In use: the user must see the warning first.
    Confirm(Box<Token>, HashMap<TokenId, RecentUse>),
    Refused(Option<Refusal>),
}

/// Disable, enable or delete one token. Disabling or deleting a token used in the last seven
/// days shows the confirmation with its use first (unless this is the confirmation); one unused
/// is acted on at once.
#[post("/integrations/tokens/{id}/{action:disable|enable|delete}")]
pub async fn act(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: Option<web::Form<ActionForm>>,
) -> Result<HttpResponse, AppError> {
    let (raw_id, action) = path.into_inner();
    let id = token_id(&raw_id)?;
    let action = TokenAction::parse(&action).ok_or(AppError::NotFound)?;
    let form = form.map(web::Form::into_inner);
    let return_to = back(form.as_ref().and_then(|f| f.return_to.as_deref()));
    let confirmed = form.as_ref().and_then(|f| f.confirm.as_deref()) == Some("yes");
    let form_id = form.and_then(|f| f.form_id);
    let now = current.at;
    let target = id.clone();
    // A deleted token's own page is gone; it cannot be the way back.
    let gone = action == TokenAction::Delete && return_to.starts_with(&format!("{LIST_PATH}/{id}"));
    let result = if gone { LIST_PATH } else { &return_to }.to_owned();
    let outcome = current
        .run(&state, move |conn, by| {
            if action.stops_keys() && !confirmed {
                let token = Token::find(conn, &by.account_id, &id)?;
                let recent = usage::recent_use(conn, [&token], now)?;
                if !recent.is_empty() {
                    return Ok(Outcome::Confirm(Box::new(token), recent));
                }
            }
            let sent = Sent {
                form_id: form_id.as_deref(),
                result: &result,
            };
            let acted = services::once(conn, by, &sent, |conn| {
                let ids = std::slice::from_ref(&id);
                token_service::act_on_selection(conn, by, ids, action, None)
            })?;
            Ok(match acted {
                Once::Done(Ok(done)) => {
                    Outcome::Done(done.into_iter().map(|t| t.name).next().unwrap_or_default())
                }
                Once::Done(Err(refusals)) => Outcome::Refused(refusals.into_iter().next()),
                Once::AlreadyDone(result) => Outcome::AlreadyDone(result),
            })
        })
        .await?;
    match outcome {
        Outcome::Refused(refusal) => Err(match refusal {
            Some(Refusal {
                name: Some(_),
                reason,
                ..
            }) => AppError::Forbidden(reason),
            _ => AppError::NotFound,
        }),
        Outcome::Confirm(token, recent) => {
            current.require_manage(&token.owner)?;
            let confirmation = Confirmation {
                action,
                target: Target::One(target),
                tokens: std::slice::from_ref(token.as_ref()),
                recent: &recent,
                refusals: &[],
                now,
                return_to,
            };
            ConfirmPage::new(
                Layout::new(&current, &session),
                &current.person(),
                confirmation,
            )
            .respond()
        }
        Outcome::Done(name) => {
            session.set_done(&format!("Token “{name}” {}.", action.done()));
            Ok(see_other(if gone { LIST_PATH } else { &return_to }))
        }
        Outcome::AlreadyDone(result) => {
            session.set_flash(ALREADY_DONE);
            Ok(see_other(&result))
        }
    }
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    return_to: Option<String>,
}

/// Without JavaScript (or for a token in use), Delete in the ⋮ menu leads here to confirm.
#[get("/integrations/tokens/{id}/delete")]
pub async fn confirm_delete(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let now = current.at;
    let (token, recent) = current
        .run(&state, move |conn, by| {
            let token = Token::find(conn, &by.account_id, &id)?;
            let recent = usage::recent_use(conn, [&token], now)?;
            Ok((token, recent))
        })
        .await?;
    current.require_manage(&token.owner)?;
    let confirmation = Confirmation {
        action: TokenAction::Delete,
        target: Target::One(token.id.clone()),
        tokens: std::slice::from_ref(&token),
        recent: &recent,
        refusals: &[],
        now,
        return_to: back(query.return_to.as_deref()),
    };
    ConfirmPage::new(
        Layout::new(&current, &session),
        &current.person(),
        confirmation,
    )
    .respond()
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/rotate.html")]
struct RotatePage {
    layout: Layout,
    token: TokenView,
    graces: Vec<SelectOption>,
    return_to: String,
    /// When the token expired, if it has: a new key would not work either.
    expired_on: Option<String>,
    /// The rule of the account's policy its expiry breaks, if it does: a new key would be
    /// refused too.
    breaks_policy: Option<String>,
}

/// Rotate key: asks how long the current key keeps working.
#[get("/integrations/tokens/{id}/rotate")]
pub async fn confirm_rotate(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReturnQuery>,
) -> Result<impl Responder, AppError> {
    let id = token_id(&path)?;
    let token = current
        .read(&state, move |conn, by| {
            Token::find(conn, &by.account_id, &id)
        })
        .await?;
    current.require_manage(&token.owner)?;
    let details = format!("{LIST_PATH}/{}", token.id);
    Ok(RotatePage {
        layout: Layout::new(&current, &session),
        graces: Grace::ALL
            .into_iter()
            .map(|g| SelectOption::new(g.as_param(), g.label(), g == Grace::Day))
            .collect(),
        return_to: local_path(query.return_to.as_deref(), LIST_PATH).unwrap_or(details),
        expired_on: token
            .expires_at
            .filter(|at| *at <= current.at)
            .map(format_time),
        breaks_policy: current
            .account
            .policy
            .breach(token.key_terms())
            .filter(|breach| *breach != Breach::NoNetworks)
            .map(Breach::describe),
        token: TokenView::new(&token, current.at, &current.person()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/rotated.html")]
struct RotatedPage {
    layout: Layout,
    token: TokenView,
    /// The new key, on the page the rotation leads to only: shown this once.
    key: Option<String>,
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    grace: String,
    form_id: Option<String>,
}

/// What the new key of token `id` is kept in the session for.
fn rotated(id: &TokenId) -> String {
    format!("{LIST_PATH}/{id}/rotated")
}

/// Gives the token a new key, then shows it once on the page it leads to: a reload or a
/// resubmitted form rotates nothing more (the form's one-time id), and lands there again.
#[post("/integrations/tokens/{id}/rotate")]
pub async fn rotate(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<RotateForm>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let grace = Grace::parse(&form.grace).ok_or_else(|| {
        AppError::BadRequest("Choose how long the current key keeps working.".into())
    })?;
    let shown = rotated(&id);
    let (master_key, result, form_id) = (
        state.master_key.clone(),
        shown.clone(),
        form.into_inner().form_id,
    );
    let outcome = current
        .run(&state, move |conn, by| {
            let sent = Sent {
                form_id: form_id.as_deref(),
                result: &result,
            };
            services::once(conn, by, &sent, |conn| {
                let how = NewKey::Rotated {
                    grace: grace.duration(),
                };
                token_service::replace_key(conn, by, &id, &master_key, how, None)
            })
        })
        .await?;
    match outcome {
        Once::Done(replaced) => {
            session.set_secret(&state.master_key, &shown, &replaced.key.expose());
            if let Some(until) = replaced.ended_grace {
                session.set_flash(&format!(
                    "The key replaced before would have worked until {}; it stopped now.",
                    format_time(until)
                ));
            }
            Ok(see_other(&shown))
        }
        Once::AlreadyDone(result) => {
            session.set_flash(ALREADY_DONE);
            Ok(see_other(&result))
        }
    }
}

/// The page a rotation leads to: the new key, this once.
#[get("/integrations/tokens/{id}/rotated")]
pub async fn rotated_key(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<impl Responder, AppError> {
    let id = token_id(&path)?;
    let key = session.take_secret(&state.master_key, &rotated(&id));
    let token = current
        .read(&state, move |conn, by| {
            Token::find(conn, &by.account_id, &id)
        })
        .await?;
    Ok(RotatedPage {
        layout: Layout::new(&current, &session),
        token: TokenView::new(&token, current.at, &current.person()),
        key,
    })
}
