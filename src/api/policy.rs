//! `/account/policy` (module Account) and the approval of what members asked for
//! (`/auth/tokens/{id}/approve|deny`, module Integrations): the same rules as the UI's.

use super::auth::ApiRequest;
use super::body::{ApiBody, whole_number};
use super::error::ApiError;
use super::tokens::{TokenPath, token_id, view};
use super::views::{DecisionIn, PolicyIn, PolicyOut, TokenOut};
use crate::db::approvals::Decision;
use crate::domain::module::Module;
use crate::domain::policy::PolicyInput;
use crate::services::{approvals, policy};
use actix_web::{HttpResponse, web};

/// A number field as the form takes it: digits, or empty for none; anything else is kept as
/// written so that the check names it.
fn number_text(value: Option<serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        // 90 and 90.0 are the same integer to JSON Schema.
        Some(serde_json::Value::Number(n)) => {
            whole_number(&n).map_or_else(|| n.to_string(), |whole| whole.to_string())
        }
        Some(other) => format!("{other}"),
    }
}

/// The account's token policy.
#[utoipa::path(
    get, path = "/account/policy", tag = "account",
    responses((status = 200, body = PolicyOut)),
    security(("ApiKey" = []))
)]
pub async fn get_policy(api: ApiRequest) -> Result<HttpResponse, ApiError> {
    let (caller, ()) = api.run(Some(Module::ACCOUNT), |_, _| Ok(())).await?;
    Ok(HttpResponse::Ok().json(PolicyOut::from(&caller.account().policy)))
}

/// Changes the account's policy (an admin's key): the fields sent replace the current ones,
/// those left out stay. Tokens that break the new rules are refused with `AUTH_009` from the
/// next request on.
#[utoipa::path(
    put, path = "/account/policy", tag = "account",
    responses((status = 200, body = PolicyOut)),
    security(("ApiKey" = []))
)]
pub async fn put_policy(api: ApiRequest, body: ApiBody) -> Result<HttpResponse, ApiError> {
    let sent = body.parse_strict::<PolicyIn>();
    let (_, changed) = api
        .run(Some(Module::ACCOUNT), move |conn, caller| {
            let sent = sent?;
            let by = caller.requester();
            let mut input = PolicyInput::of(&caller.account().policy);
            if let Some(days) = sent.max_lifetime_days {
                input.max_lifetime_days = number_text(days);
            }
            if let Some(require) = sent.require_expiry {
                input.require_expiry = require;
            }
            if let Some(modules) = sent.approval_modules {
                input.approval_modules = modules;
            }
            if let Some(require) = sent.require_allowed_networks {
                input.require_allowed_networks = require;
            }
            if let Some(limit) = sent.default_rate_limit {
                input.default_rate_limit = number_text(limit);
            }
            if let Some(require) = sent.require_2fa {
                input.require_2fa = require;
            }
            let new = input.parse()?;
            policy::set(conn, &by, &new)?;
            Ok(new)
        })
        .await?;
    Ok(HttpResponse::Ok().json(PolicyOut::from(&changed)))
}

async fn decide(
    api: ApiRequest,
    id: &str,
    body: ApiBody,
    decision: Decision,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(id);
    let sent = if body.is_empty() {
        Ok(DecisionIn::default())
    } else {
        body.parse_strict::<DecisionIn>()
    };
    let (_, token) = api
        .run(Some(Module::INTEGRATIONS), move |conn, caller| {
            let (id, sent) = (id?, sent?);
            let by = caller.requester();
            let note = sent.note.unwrap_or_default();
            let token = approvals::decide(conn, &by, &id, decision, &note)?;
            view(conn, caller, &token)
        })
        .await?;
    Ok(HttpResponse::Ok().json(token))
}

/// Approves what waits for the token (an admin's key): a new token's key works from the next
/// request on; asked-for permissions are granted. The requester is told.
#[utoipa::path(
    post, path = "/auth/tokens/{id}/approve", tag = "tokens", params(TokenPath),
    responses((status = 200, body = TokenOut)),
    security(("ApiKey" = []))
)]
pub async fn approve(
    api: ApiRequest,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    decide(api, &id, body, Decision::Approved).await
}

/// Denies what waits for the token (an admin's key): a new token is disabled; a change is not
/// made. The requester is told.
#[utoipa::path(
    post, path = "/auth/tokens/{id}/deny", tag = "tokens", params(TokenPath),
    responses((status = 200, body = TokenOut)),
    security(("ApiKey" = []))
)]
pub async fn deny(
    api: ApiRequest,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    decide(api, &id, body, Decision::Denied).await
}
