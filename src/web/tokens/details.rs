//! A token's details: the General tab (with reveal and copy of the key), the Permissions tab,
//! and the history.

use super::advice::{AdviceSection, ModuleUseRow, module_use_rows};
use super::usage::UsageView;
use super::{TokenView, format_time, token_id};
use crate::app::AppState;
use crate::db::{approvals, events, module_usage, tokens::Token, usage};
use crate::domain::module::{MODULES, ModuleSet};
use crate::error::AppError;
use crate::services::tokens as token_service;
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, page};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

pub struct EventView {
    pub label: &'static str,
    pub actor: String,
    pub at: String,
    pub client_ip: String,
}

#[derive(Template)]
#[template(path = "tokens/details.html")]
struct DetailsPage {
    layout: Layout,
    token: TokenView,
    events: Vec<EventView>,
    usage: UsageView,
    return_to: String,
    /// The key in clear, only on the page answering a no-JavaScript reveal.
    revealed_key: Option<String>,
}

impl DetailsPage {
    async fn load(
        current: &CurrentUser,
        session: &TypedSession,
        state: &AppState,
        id: crate::domain::ids::TokenId,
        revealed_key: Option<String>,
    ) -> Result<Self, AppError> {
        let now = current.at;
        let (token, history, summary, (open, decided)) = current
            .run(state, move |conn, by| {
                let token = Token::find(conn, &by.account_id, &id)?;
                let history = events::recent(conn, &id, 10)?;
                let summary = usage::summary(conn, &id, now)?;
                let open = approvals::open_for(conn, &by.account_id, &id)?;
                let decided = approvals::last_decided(conn, &by.account_id, &id)?;
                Ok((token, history, summary, (open, decided)))
            })
            .await?;
        Ok(Self {
            layout: Layout::new(current, session),
            return_to: format!("/integrations/tokens/{}", token.id),
            token: TokenView::new(&token, now, &current.person())
                .judged(&token, &current.account.policy)
                .with_approval(open.as_ref(), decided.as_ref()),
            usage: UsageView::new(&summary),
            events: history
                .into_iter()
                .map(|e| EventView {
                    label: e.kind.label(),
                    actor: e.actor_name,
                    at: format_time(e.occurred_at),
                    client_ip: crate::web::activity::source(e.client_ip),
                })
                .collect(),
            revealed_key,
        })
    }

    /// The key may be on this page: like every page, it is sent `Cache-Control: no-store` (a
    /// default header of the server's).
    fn respond(self) -> Result<HttpResponse, AppError> {
        page(&self, StatusCode::OK)
    }
}

#[get("/integrations/tokens/{id}")]
pub async fn details(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    DetailsPage::load(&current, &session, &state, id, None)
        .await?
        .respond()
}

/// Decrypts the key for the signed-in user and records that they saw it. Script calls (with the
/// `X-CSRF-Token` header or asking for JSON) get `{"key": …}`; the no-JavaScript form gets the
/// details page with the key shown. Neither may be cached.
#[post("/integrations/tokens/{id}/reveal")]
pub async fn reveal(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let master_key = state.master_key.clone();
    let lookup = id.clone();
    let key = current
        .run(&state, move |conn, by| {
            token_service::reveal(conn, by, &lookup, &master_key)
        })
        .await?;
    let wants_json = req.headers().contains_key(crate::web::csrf::HEADER)
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "key": key.expose() })));
    }
    DetailsPage::load(&current, &session, &state, id, Some(key.expose()))
        .await?
        .respond()
}

pub struct PermissionRow {
    pub name: &'static str,
    pub enabled: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/permissions.html")]
struct PermissionsTab {
    layout: Layout,
    token: TokenView,
    rows: Vec<PermissionRow>,
    filter: String,
    return_to: String,
    /// The modules it reaches, with when it last used each and how much.
    module_use: Vec<ModuleUseRow>,
    least_privilege: AdviceSection,
}

#[derive(Deserialize)]
pub struct PermissionsQuery {
    q: Option<String>,
}

/// Every module with Enabled or Disabled, "All" first; `q` narrows the rows by module name.
pub fn permission_rows(granted: &ModuleSet, filter: &str) -> Vec<PermissionRow> {
    let filter = filter.trim().to_lowercase();
    MODULES
        .iter()
        .filter(|m| filter.is_empty() || m.name.to_lowercase().contains(&filter))
        .map(|m| PermissionRow {
            name: m.name,
            enabled: granted.grants(*m),
        })
        .collect()
}

#[get("/integrations/tokens/{id}/permissions")]
pub async fn permissions(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PermissionsQuery>,
) -> Result<impl Responder, AppError> {
    let id = token_id(&path)?;
    let now = current.at;
    let (token, granted, used) = current
        .run(&state, move |conn, by| {
            let (token, granted) = Token::find_with_permissions(conn, &by.account_id, &id)?;
            let used = module_usage::of_token(conn, &id, now)?;
            Ok((token, granted, used))
        })
        .await?;
    let viewer = current.person();
    let filter: String = query
        .q
        .as_deref()
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    Ok(PermissionsTab {
        layout: Layout::new(&current, &session),
        return_to: format!("/integrations/tokens/{}/permissions", token.id),
        module_use: module_use_rows(&granted, &used, now),
        least_privilege: AdviceSection::new(&token, &granted, &used, now, &viewer),
        token: TokenView::new(&token, now, &viewer).judged(&token, &current.account.policy),
        rows: permission_rows(&granted, &filter),
        filter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_cover_every_module_all_first() {
        let granted = ModuleSet::parse(["MD-0002"]).unwrap();
        let rows = permission_rows(&granted, "");
        assert_eq!(rows.len(), MODULES.len());
        assert_eq!(rows[0].name, "All");
        assert!(!rows[0].enabled);
        assert_eq!(
            rows.iter()
                .filter(|r| r.enabled)
                .map(|r| r.name)
                .collect::<Vec<_>>(),
            ["Agreements"]
        );
        assert!(
            permission_rows(&ModuleSet::all(), "")
                .iter()
                .all(|r| r.enabled)
        );
        let filtered: Vec<_> = permission_rows(&granted, " AGREE ")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(filtered, ["Agreements"]);
    }
}
