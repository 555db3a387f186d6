//! The ⋮ menu: disable, enable, and delete with its confirmation.

use super::{LIST_PATH, TokenView, token_id};
use crate::db::{self, tokens::Token};
use crate::domain::token::StoredStatus;
use crate::error::AppError;
use crate::startup::AppState;
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, local_path, see_other};
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
        token: TokenView::new(&token, db::now(), &current.person()),
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
