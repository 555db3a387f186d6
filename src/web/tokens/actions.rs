//! The ⋮ menu: disable, enable, rotate the key, and delete, with their confirmations.

use super::confirm::{ConfirmPage, Confirmation, Target};
use super::{LIST_PATH, SelectOption, TokenView, token_id};
use crate::app::AppState;
use crate::db::tokens::Token;
use crate::db::usage;
use crate::domain::ids::TokenId;
use crate::domain::lifecycle::Grace;
use crate::domain::token::TokenAction;
use crate::domain::usage::RecentUse;
use crate::error::AppError;
use crate::services::tokens::{self as token_service, NewKey, Refusal};
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, local_path, page, see_other};
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
}

/// Back to where the action was started (the list page with its filters, or the details page).
fn back(return_to: Option<&str>) -> String {
    local_path(return_to, LIST_PATH).unwrap_or_else(|| LIST_PATH.to_owned())
}

/// What happened to a token the ⋮ menu acted on.
enum Outcome {
    Done(String),
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
    let now = state.clock.now();
    let target = id.clone();
    let outcome = current
        .run(&state, move |conn, by| {
            if action.stops_keys() && !confirmed {
                let token = Token::find(conn, &by.account_id, &id)?;
                let recent = usage::recent_use(conn, [&token], now)?;
                if !recent.is_empty() {
                    return Ok(Outcome::Confirm(Box::new(token), recent));
                }
            }
            Ok(
                match token_service::act_on_selection(
                    conn,
                    by,
                    std::slice::from_ref(&id),
                    action,
                    None,
                )? {
                    Ok(done) => {
                        Outcome::Done(done.into_iter().map(|t| t.name).next().unwrap_or_default())
                    }
                    Err(refusals) => Outcome::Refused(refusals.into_iter().next()),
                },
            )
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
            current.require_manage(&token.created.by)?;
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
            session.set_flash(&format!("Token “{name}” {}.", action.done()));
            // A deleted token's own page is gone; it cannot be the way back.
            let gone = action == TokenAction::Delete
                && return_to.starts_with(&format!("{LIST_PATH}/{target}"));
            Ok(see_other(if gone { LIST_PATH } else { &return_to }))
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
    let now = state.clock.now();
    let (token, recent) = current
        .run(&state, move |conn, by| {
            let token = Token::find(conn, &by.account_id, &id)?;
            let recent = usage::recent_use(conn, [&token], now)?;
            Ok((token, recent))
        })
        .await?;
    current.require_manage(&token.created.by)?;
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
    current.require_manage(&token.created.by)?;
    let details = format!("{LIST_PATH}/{}", token.id);
    Ok(RotatePage {
        layout: Layout::new(&current, &session),
        graces: Grace::ALL
            .into_iter()
            .map(|g| SelectOption::new(g.as_param(), g.label(), g == Grace::Day))
            .collect(),
        return_to: local_path(query.return_to.as_deref(), LIST_PATH).unwrap_or(details),
        token: TokenView::new(&token, state.clock.now(), &current.person()),
    })
}

#[derive(Template)]
#[template(path = "tokens/rotated.html")]
struct RotatedPage {
    layout: Layout,
    token: TokenView,
    key: String,
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    grace: String,
}

/// Gives the token a new key and shows it this once.
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
    let master_key = state.master_key.clone();
    let (token, key) = current
        .run(&state, move |conn, by| {
            let how = NewKey::Rotated {
                grace: grace.duration(),
            };
            token_service::replace_key(conn, by, &id, &master_key, how, None)
        })
        .await?;
    let shown = RotatedPage {
        layout: Layout::new(&current, &session),
        token: TokenView::new(&token, current.at, &current.person()),
        key: key.expose(),
    };
    page(&shown, actix_web::http::StatusCode::OK)
}
