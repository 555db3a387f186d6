//! The ⋮ menu: disable, enable, rotate the key, and delete with its confirmation.

use super::{LIST_PATH, SelectOption, TokenView, token_id};

use crate::db::tokens::{KeyChange, NewKey, Token};
use crate::domain::lifecycle::Grace;
use crate::domain::token::StoredStatus;
use crate::error::AppError;
use crate::startup::AppState;
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, local_path, page, see_other};
use actix_web::{HttpResponse, Responder, get, post, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

/// The body is optional: script calls may send only the `X-CSRF-Token` header.
#[derive(Deserialize)]
pub struct ActionForm {
    return_to: Option<String>,
}

/// Back to where the action was started (the list page with its filters, or the details page).
fn back(return_to: Option<&str>) -> String {
    local_path(return_to, LIST_PATH).unwrap_or_else(|| LIST_PATH.to_owned())
}

/// `disable` or `enable`, as the path says.
#[post("/integrations/tokens/{id}/{action:disable|enable}")]
pub async fn set_status(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: Option<web::Form<ActionForm>>,
) -> Result<HttpResponse, AppError> {
    let (raw_id, action) = path.into_inner();
    let id = token_id(&raw_id)?;
    let (status, verb) = if action == "enable" {
        (StoredStatus::Active, "enabled")
    } else {
        (StoredStatus::Inactive, "disabled")
    };
    let token = current
        .run(&state, move |conn, by| {
            Token::set_status(conn, by, &id, status)
        })
        .await?;
    session.set_flash(&format!("Token “{}” {verb}.", token.name));
    Ok(see_other(&back(
        form.as_ref().and_then(|f| f.return_to.as_deref()),
    )))
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/delete.html")]
struct ConfirmDeletePage {
    layout: Layout,
    token: TokenView,
    return_to: String,
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    return_to: Option<String>,
}

/// Without JavaScript, Delete in the ⋮ menu leads here to confirm.
#[get("/integrations/tokens/{id}/delete")]
pub async fn confirm_delete(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReturnQuery>,
) -> Result<impl Responder, AppError> {
    let id = token_id(&path)?;
    let token = current
        .run(&state, move |conn, by| {
            Token::find(conn, &by.account_id, &id)
        })
        .await?;
    current.require_manage(&token.created.by)?;
    Ok(ConfirmDeletePage {
        layout: Layout::new(&current, &session),
        token: TokenView::new(&token, state.clock.now(), &current.person()),
        return_to: back(query.return_to.as_deref()),
    })
}

#[post("/integrations/tokens/{id}/delete")]
pub async fn delete(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Option<web::Form<ActionForm>>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let name = current
        .run(&state, move |conn, by| {
            let token = Token::find(conn, &by.account_id, &id)?;
            Token::delete(conn, by, &id)?;
            Ok(token.name)
        })
        .await?;
    session.set_flash(&format!("Token “{name}” deleted."));
    // The deleted token's own page is gone; its details page cannot be the way back.
    let target = back(form.as_ref().and_then(|f| f.return_to.as_deref()));
    let target = if target.starts_with(&format!("{LIST_PATH}/")) {
        LIST_PATH.to_owned()
    } else {
        target
    };
    Ok(see_other(&target))
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
        .run(&state, move |conn, by| {
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
    let now = state.clock.now();
    let (token, key) = current
        .run(&state, move |conn, by| {
            let new_key = NewKey {
                kind: KeyChange::Rotated,
                previous_until: Some(now + grace.duration()),
                expires_at: None,
            };
            Token::replace_key(conn, by, &id, &master_key, new_key)
        })
        .await?;
    let shown = RotatedPage {
        layout: Layout::new(&current, &session),
        token: TokenView::new(&token, now, &current.person()),
        key: key.expose(),
    };
    let mut response = page(&shown, actix_web::http::StatusCode::OK)?;
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
