//! `/auth/tokens`: tokens managed by programs (module Integrations), with the same rules as the UI.

use super::auth::ApiCaller;
use super::body::ApiJson;
use super::error::{ApiError, ErrorBody};
use super::views::{
    CreatedToken, NewTokenIn, Permission, PermissionIn, PermissionsIn, TokenChangeIn, TokenOut,
};
use super::{collection, list_query};
use crate::db::tokens::{Grant, NewToken, Token};
use crate::db::{self, DbError};
use crate::domain::extension::Extension;
use crate::domain::ids::TokenId;
use crate::domain::module::{Module, ModuleSet};
use crate::domain::text::{Description, ExternalId, TokenName};
use crate::domain::token::StoredStatus;
use crate::domain::token_form::GeneralInput;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, delete as delete_route, get as get_route, post, put, web,
};

const INTEGRATIONS: &str = "MD-0007";

fn token_id(raw: &str) -> Result<TokenId, ApiError> {
    TokenId::parse(raw).map_err(|_| ApiError::not_found())
}

/// The token of the caller's account with its grants, as the API shows it.
async fn load(state: &AppState, caller: &ApiCaller, id: TokenId) -> Result<TokenOut, ApiError> {
    let account_id = caller.account.id.clone();
    let (token, grants) = db::run(&state.pool, move |conn| {
        let token = Token::find(conn, &account_id, &id)?;
        let grants = Token::grants(conn, std::slice::from_ref(&id))?
            .remove(&id)
            .unwrap_or_default();
        Ok((token, grants))
    })
    .await?;
    Ok(TokenOut::new(&token, &caller.account, &grants, db::now()))
}

/// The account's tokens, filterable with RQL on id, name, external_id, status, extension.id,
/// extension.name, events.created.at, events.created.by.id, expiration_date and
/// permissions.object.id.
#[utoipa::path(
    get, path = "/auth/tokens", tag = "tokens",
    params(("limit" = Option<u32>, Query, description = "Page size, 0–1000 (default 100)"),
           ("offset" = Option<u64>, Query, description = "Items to skip"),
           ("search" = Option<String>, Query, description = "Text in the name, id or external id")),
    responses((status = 200, body = [TokenOut], headers(("Content-Range" = String))), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[get_route("/auth/tokens")]
pub async fn list(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let query = list_query(&req)?;
    let offset = query.offset;
    let account_id = caller.account.id.clone();
    let (found, total, mut grants) = db::run(&state.pool, move |conn| {
        let (found, total) = Token::query(conn, &account_id, &query)?;
        let ids: Vec<TokenId> = found.iter().map(|t| t.id.clone()).collect();
        let grants = Token::grants(conn, &ids)?;
        Ok((found, total, grants))
    })
    .await?;
    let now = db::now();
    let items: Vec<TokenOut> = found
        .iter()
        .map(|t| {
            TokenOut::new(
                t,
                &caller.account,
                &grants.remove(&t.id).unwrap_or_default(),
                now,
            )
        })
        .collect();
    Ok(collection(&items, offset, total))
}

fn extension_of(body: &NewTokenIn) -> Result<Extension, String> {
    let chosen = body
        .extension
        .id
        .as_deref()
        .or(body.extension.name.as_deref());
    let Some(chosen) = chosen else {
        return Err("extension: give its id (EXT-000) or its name (custom)".to_owned());
    };
    let extension = Extension::parse(chosen).map_err(|e| format!("extension: {e}"))?;
    if let (Some(id), Some(name)) = (&body.extension.id, &body.extension.name)
        && (Extension::parse(id).ok() != Some(extension)
            || Extension::parse(name).ok() != Some(extension))
    {
        return Err("extension: the id and the name name different extensions".to_owned());
    }
    Ok(extension)
}

fn modules_of(items: &[PermissionIn]) -> Result<Vec<Module>, String> {
    items
        .iter()
        .map(|p| Module::find(&p.object.id).map_err(|e| format!("permissions: {e}")))
        .collect()
}

/// Creates a token; the answer holds its key (`token`), which is never returned again.
#[utoipa::path(
    post, path = "/auth/tokens", tag = "tokens", request_body = NewTokenIn,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[post("/auth/tokens")]
pub async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    body: ApiJson<NewTokenIn>,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let body = body.0;
    let mut errors = Vec::new();
    let name = TokenName::parse(&body.name)
        .map_err(|e| errors.push(format!("name: {e}")))
        .ok();
    let description = Description::parse(&body.description)
        .map_err(|e| errors.push(format!("description: {e}")))
        .ok();
    let external_id = ExternalId::parse(body.external_id.as_deref().unwrap_or_default())
        .map_err(|e| errors.push(format!("external_id: {e}")))
        .ok();
    let extension = extension_of(&body).map_err(|e| errors.push(e)).ok();
    let modules = modules_of(body.permissions.as_deref().unwrap_or_default())
        .map_err(|e| errors.push(e))
        .ok();
    let now = db::now();
    let expires_at = match body.expiration_date.as_deref() {
        None | Some("") => None,
        Some(value) => match db::query::timestamp("expiration_date", value) {
            Ok(at) if at > now => Some(at),
            Ok(_) => {
                errors.push("expiration_date: must be in the future".to_owned());
                None
            }
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
    };
    let (Some(name), Some(description), Some(external_id), Some(extension), Some(modules)) =
        (name, description, external_id, extension, modules)
    else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let account_id = caller.account.id.clone();
    let actor = caller.actor();
    let client_ip = caller.client_ip.clone();
    let master_key = state.master_key.clone();
    let (token, key, grants) = db::run(&state.pool, move |conn| {
        let (token, key) = NewToken {
            account_id: &account_id,
            name: &name,
            description: &description,
            external_id: &external_id,
            extension,
            modules: &ModuleSet::of(modules),
            status: StoredStatus::Active,
            expires_at,
            client_ip: client_ip.as_deref(),
            creation_key: None,
        }
        .insert(conn, &master_key, &actor)?;
        let grants = Token::grants(conn, std::slice::from_ref(&token.id))?
            .remove(&token.id)
            .unwrap_or_default();
        Ok((token, key, grants))
    })
    .await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        token_fields: TokenOut::new(&token, &caller.account, &grants, now),
        token: key.expose(),
    }))
}

#[utoipa::path(
    get, path = "/auth/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 200, body = TokenOut), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[get_route("/auth/tokens/{id}")]
pub async fn get(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let id = token_id(&id)?;
    Ok(HttpResponse::Ok().json(load(&state, &caller, id).await?))
}

/// Changes name, external_id and description; fields left out keep their value.
#[utoipa::path(
    put, path = "/auth/tokens/{id}", tag = "tokens", request_body = TokenChangeIn,
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 200, body = TokenOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[put("/auth/tokens/{id}")]
pub async fn update(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<TokenChangeIn>,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let id = token_id(&id)?;
    let change = body.0;
    let account_id = caller.account.id.clone();
    let actor = caller.actor();
    let client_ip = caller.client_ip.clone();
    let lookup = id.clone();
    db::run(&state.pool, move |conn| {
        let current = Token::find(conn, &account_id, &lookup)?;
        let input = GeneralInput {
            name: change.name.unwrap_or(current.name),
            external_id: change.external_id.unwrap_or(current.external_id),
            description: change.description.unwrap_or(current.description),
        };
        let general = input.parse().map_err(|errors| {
            DbError::BadQuery(
                ["name", "external_id", "description"]
                    .into_iter()
                    .filter_map(|f| errors.get(f).map(|m| format!("{f}: {m}")))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Token::update(
            conn,
            &account_id,
            &lookup,
            Some(&general),
            None,
            &actor,
            client_ip.as_deref(),
        )
    })
    .await
    .map_err(|e| match e {
        DbError::BadQuery(message) => {
            ApiError::validation(message.split("; ").map(str::to_owned).collect())
        }
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(load(&state, &caller, id).await?))
}

/// Deletes the token: its key stops working at once.
#[utoipa::path(
    delete, path = "/auth/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[delete_route("/auth/tokens/{id}")]
pub async fn delete(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let id = token_id(&id)?;
    let account_id = caller.account.id.clone();
    let actor = caller.actor();
    let client_ip = caller.client_ip.clone();
    db::run(&state.pool, move |conn| {
        Token::delete(conn, &account_id, &id, &actor, client_ip.as_deref())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_status(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: &str,
    status: StoredStatus,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let id = token_id(id)?;
    let account_id = caller.account.id.clone();
    let actor = caller.actor();
    let client_ip = caller.client_ip.clone();
    let lookup = id.clone();
    db::run(&state.pool, move |conn| {
        Token::set_status(
            conn,
            &account_id,
            &lookup,
            status,
            &actor,
            client_ip.as_deref(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(load(&state, &caller, id).await?))
}

#[utoipa::path(
    post, path = "/auth/tokens/{id}/activate", tag = "tokens",
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 200, body = TokenOut), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[post("/auth/tokens/{id}/activate")]
pub async fn activate(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(caller, state, &id, StoredStatus::Active).await
}

#[utoipa::path(
    post, path = "/auth/tokens/{id}/deactivate", tag = "tokens",
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 200, body = TokenOut), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[post("/auth/tokens/{id}/deactivate")]
pub async fn deactivate(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(caller, state, &id, StoredStatus::Inactive).await
}

/// The token's grants, after checking it belongs to the caller's account.
async fn grants_of(
    state: &AppState,
    caller: &ApiCaller,
    id: &TokenId,
) -> Result<(Token, Vec<Grant>), ApiError> {
    let account_id = caller.account.id.clone();
    let id = id.clone();
    Ok(db::run(&state.pool, move |conn| {
        let token = Token::find(conn, &account_id, &id)?;
        let grants = Token::grants(conn, std::slice::from_ref(&id))?
            .remove(&id)
            .unwrap_or_default();
        Ok((token, grants))
    })
    .await?)
}

#[utoipa::path(
    get, path = "/auth/tokens/{id}/permissions", tag = "tokens",
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 200, body = [Permission], headers(("Content-Range" = String))), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[get_route("/auth/tokens/{id}/permissions")]
pub async fn permissions(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(INTEGRATIONS)?;
    let id = token_id(&id)?;
    let query = list_query(&req)?;
    if query.filter.is_some() || !query.ordering.is_empty() {
        return Err(ApiError::bad_request(
            "Permissions are listed whole; use limit and offset only.",
        ));
    }
    let (_, grants) = grants_of(&state, &caller, &id).await?;
    let total = grants.len() as u64;
    let items: Vec<Permission> = grants
        .iter()
        .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
        .take(query.limit as usize)
        .map(Permission::from)
        .collect();
    Ok(collection(&items, query.offset, total))
}

/// Adds to or removes from the token's modules, and answers the permissions it then holds.
async fn change_permissions(
    caller: &ApiCaller,
    state: &AppState,
    id: &str,
    body: Vec<PermissionIn>,
    adding: bool,
) -> Result<Vec<Permission>, ApiError> {
    caller.require(INTEGRATIONS)?;
    let id = token_id(id)?;
    let changed = modules_of(&body).map_err(|e| ApiError::validation(vec![e]))?;
    if changed.is_empty() {
        return Err(ApiError::validation(vec![
            "permissions: list at least one {\"object\": {\"id\": \"MD-…\"}}".into(),
        ]));
    }
    let (token, grants) = grants_of(state, caller, &id).await?;
    if token.extension.has_fixed_permissions() {
        return Err(ApiError::validation(vec![format!(
            "permissions: {} tokens always reach all modules",
            token.extension.title()
        )]));
    }
    let current = grants.iter().map(|g| g.module);
    let modules = if adding {
        ModuleSet::of(current.chain(changed))
    } else {
        ModuleSet::of(current.filter(|m| !changed.contains(m)))
    };
    let account_id = caller.account.id.clone();
    let actor = caller.actor();
    let client_ip = caller.client_ip.clone();
    let lookup = id.clone();
    db::run(&state.pool, move |conn| {
        Token::update(
            conn,
            &account_id,
            &lookup,
            None,
            Some(&modules),
            &actor,
            client_ip.as_deref(),
        )
    })
    .await?;
    let (_, grants) = grants_of(state, caller, &id).await?;
    Ok(grants.iter().map(Permission::from).collect())
}

#[utoipa::path(
    post, path = "/auth/tokens/{id}/permissions", tag = "tokens", request_body = PermissionsIn,
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 201, body = [Permission]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[post("/auth/tokens/{id}/permissions")]
pub async fn grant(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<PermissionsIn>,
) -> Result<HttpResponse, ApiError> {
    let held = change_permissions(&caller, &state, &id, body.0.into_vec(), true).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(held))
}

#[utoipa::path(
    delete, path = "/auth/tokens/{id}/permissions", tag = "tokens", request_body = PermissionsIn,
    params(("id" = String, Path, description = "SU-160-984-311")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("ApiKey" = []))
)]
#[delete_route("/auth/tokens/{id}/permissions")]
pub async fn revoke(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<PermissionsIn>,
) -> Result<HttpResponse, ApiError> {
    change_permissions(&caller, &state, &id, body.0.into_vec(), false).await?;
    Ok(HttpResponse::NoContent().finish())
}
