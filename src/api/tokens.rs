//! `/auth/tokens`: tokens managed by programs (module Integrations), with the same rules as the UI.

use super::auth::{ApiCaller, ApiRequest};
use super::body::{ApiBody, whole_number};
use super::error::ApiError;
use super::idempotency::{Answer, Idempotency, once};
use super::rql::{Paging, Search};
use super::views::{
    CreatedToken, ExtensionRef, NewKeyIn, NewTokenIn, Permission, PermissionIn, PermissionsIn,
    RenewedToken, TokenChangeIn, TokenOut, UsageDay, instant,
};
use super::{collection, list_query, paging_query};
use crate::app::AppState;
use crate::db::tokens::{Grant, Token};
use crate::db::{self, DbConnection};
use crate::domain::extension::Extension;
use crate::domain::fields::TokenField;
use crate::domain::form::FieldErrors;
use crate::domain::ids::TokenId;
use crate::domain::lifecycle::{AllowedNetworks, RateLimit, parse_expiration};
use crate::domain::module::{Module, ModuleSet};
use crate::domain::secret_box::MasterKey;
use crate::domain::token::StoredStatus;
use crate::domain::token_form::{General, GeneralChange, GeneralInput};
use crate::domain::usage::parse_range;
use crate::services::tokens::{self as token_service, ModuleChange, NewKey, NewToken, TokenEdit};
use crate::services::{ServiceError, approvals};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, NaiveDate, NaiveDateTime};

/// Every endpoint here belongs to the Integrations module.
const INTEGRATIONS: Option<Module> = Some(Module::INTEGRATIONS);

/// The token a path names, as the OpenAPI document lists it; another id answers 404.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The token's id, `SU-ddd-ddd-ddd`.
    #[param(
        pattern = "^SU-[0-9]{3}-[0-9]{3}-[0-9]{3}$",
        example = "SU-160-984-311"
    )]
    pub id: String,
}

pub(super) fn token_id(raw: &str) -> Result<TokenId, ApiError> {
    TokenId::parse(raw).map_err(|_| ApiError::not_found())
}

/// A token of the caller's account with its grants.
fn find_with_grants(
    conn: &mut DbConnection,
    caller: &ApiCaller,
    id: &TokenId,
) -> Result<(Token, Vec<Grant>), ApiError> {
    let token = Token::find(conn, &caller.account().id, id)?;
    let grants = Token::grants_of(conn, id)?;
    Ok((token, grants))
}

/// The token as the API shows it.
fn token_out(
    conn: &mut DbConnection,
    caller: &ApiCaller,
    id: &TokenId,
) -> Result<TokenOut, ApiError> {
    let (token, _) = find_with_grants(conn, caller, id)?;
    view(conn, caller, &token)
}

/// `token` (as a change left it) as the API shows it, with its grants.
pub(super) fn view(
    conn: &mut DbConnection,
    caller: &ApiCaller,
    token: &Token,
) -> Result<TokenOut, ApiError> {
    let grants = Token::grants_of(conn, &token.id)?;
    Ok(TokenOut::new(token, caller.account(), &grants, caller.at))
}

/// The account's tokens, filterable with RQL on id, name, external_id, status, extension.id,
/// extension.name, events.created.at, events.created.by.id, expiration_date,
/// permissions.object.id and policy (`broken`: the tokens that break the account's policy).
#[utoipa::path(
    get, path = "/auth/tokens", tag = "tokens", params(Paging, Search),
    responses((status = 200, body = [TokenOut], headers(("Content-Range" = String)))),
    security(("ApiKey" = []))
)]
pub async fn list(req: HttpRequest, api: ApiRequest) -> Result<HttpResponse, ApiError> {
    let query = list_query::<TokenField>(&req);
    let (_, (offset, items, total)) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let query = query?;
            let found = Token::query(conn, &caller.account().id, &query, caller.at)?;
            let ids: Vec<TokenId> = found.items.iter().map(|t| t.id.clone()).collect();
            let mut grants = Token::grants(conn, &ids)?;
            let now = caller.at;
            let items: Vec<TokenOut> = found
                .items
                .iter()
                .map(|t| {
                    TokenOut::new(
                        t,
                        caller.account(),
                        &grants.remove(&t.id).unwrap_or_default(),
                        now,
                    )
                })
                .collect();
            Ok((query.offset, items, found.total))
        })
        .await?;
    Ok(collection(&items, offset, total))
}

/// The extension a create body names, exactly: by `id` (`EXT-002`) or `name` (`zapier`), or by
/// both when they agree.
fn extension_of(body: &NewTokenIn) -> Result<Extension, String> {
    let ExtensionRef { id, name } = &body.extension;
    let by_id = id
        .as_deref()
        .map(|id| Extension::by_id(id).ok_or_else(|| unknown_extension("id", id, Extension::id)))
        .transpose()?;
    let by_name = name
        .as_deref()
        .map(|name| {
            Extension::by_name(name).ok_or_else(|| unknown_extension("name", name, Extension::name))
        })
        .transpose()?;
    match (by_id, by_name) {
        (Some(by_id), Some(by_name)) if by_id != by_name => {
            Err("the id and the name name different extensions".to_owned())
        }
        (Some(extension), _) | (None, Some(extension)) => Ok(extension),
        (None, None) => Err("give its id (EXT-000) or its name (custom)".to_owned()),
    }
}

/// Why `value` names no extension, with the ids or names that do.
fn unknown_extension(what: &str, value: &str, label: fn(Extension) -> &'static str) -> String {
    let mut known: Vec<&str> = Extension::ALL.into_iter().map(label).collect();
    known.sort_unstable();
    format!(
        "unknown extension {what} {value:?}; choose one of {}",
        known.join(", ")
    )
}

/// The modules permissions name, each by its exact id.
fn modules_of(items: &[PermissionIn]) -> Result<ModuleSet, String> {
    items
        .iter()
        .map(|p| Module::find(&p.object.id))
        .collect::<Result<Vec<_>, _>>()
        .map(ModuleSet::of)
        .map_err(|e| e.to_string())
}

/// What a create body asks for, checked field by field with the rules the wizard uses.
fn new_token_of(body: NewTokenIn, now: NaiveDateTime) -> Result<NewTokenRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let general = GeneralInput {
        name: body.name.clone(),
        external_id: body.external_id.clone().unwrap_or_default(),
        description: body.description.clone(),
    }
    .parse()
    .map_err(|e| errors.merge(e))
    .ok();
    let extension = extension_of(&body)
        .map_err(|e| errors.add("extension", e))
        .ok();
    let expires_at = parse_expiration(body.expiration_date.as_deref(), now)
        .map_err(|e| errors.add("expiration_date", e))
        .ok()
        .flatten();
    let allowed_networks = networks_of(body.allowed_networks.as_deref())
        .map_err(|e| errors.add("allowed_networks", e))
        .ok()
        .flatten()
        .unwrap_or_default();
    let rate_limit = body
        .rate_limit
        .as_ref()
        .map(rate_limit_of)
        .transpose()
        .map_err(|e| errors.add("rate_limit", e))
        .ok()
        .flatten()
        .flatten();
    let modules = extension.and_then(|extension| {
        let requested = match &body.permissions {
            None => Ok(extension.default_modules()),
            Some(items) => modules_of(items),
        };
        requested
            .and_then(|modules| extension.modules_for(modules).map_err(|e| e.to_string()))
            .map_err(|e| errors.add("permissions", e))
            .ok()
    });
    // Checked whether or not the policy asks for one: a body says what it says.
    let reason = match body
        .reason
        .as_deref()
        .map(|r| approvals::checked_text(r, "reason"))
    {
        Some(Err(ServiceError::Rule { message, .. })) => {
            errors.add("reason", message);
            None
        }
        Some(Ok(reason)) => Some(reason),
        _ => None,
    };
    match (general, extension, modules) {
        (Some(general), Some(extension), Some(modules)) if errors.is_empty() => {
            Ok(NewTokenRequest {
                general,
                extension,
                modules,
                expires_at,
                allowed_networks,
                rate_limit,
                reason,
            })
        }
        _ => Err(errors),
    }
}

/// A create body that passed every check.
struct NewTokenRequest {
    general: General,
    extension: Extension,
    modules: ModuleSet,
    expires_at: Option<NaiveDateTime>,
    allowed_networks: AllowedNetworks,
    rate_limit: Option<RateLimit>,
    reason: Option<String>,
}

/// A rate limit as sent: an integer from 1 to 100000, or null for none. A JSON number is an
/// integer by its value, as JSON Schema has it (`60.0` is 60); `1.5` and `"60"` are not.
fn rate_limit_of(value: &serde_json::Value) -> Result<Option<RateLimit>, String> {
    let limit = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(n) => whole_number(n).and_then(RateLimit::new),
        _ => None,
    };
    limit.map(Some).ok_or_else(|| {
        "must be an integer from 1 to 100000 (requests per minute), or null for no limit".into()
    })
}

/// The networks as sent, if sent.
fn networks_of(value: Option<&[String]>) -> Result<Option<AllowedNetworks>, String> {
    value.map(AllowedNetworks::parse_all).transpose()
}

/// Creates a token; the answer holds its key (`token`), which is never returned again.
#[utoipa::path(
    post, path = "/auth/tokens", tag = "tokens",
    responses((status = 201, body = CreatedToken)),
    security(("ApiKey" = []))
)]
pub async fn create(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let master_key = state.master_key.clone();
    // Checked before the database is asked; said once the key is known to be good.
    let idempotency = Idempotency::of(&req, body.bytes());
    let request = body
        .parse_strict()
        .and_then(|body| Ok(new_token_of(body, api.at())?));
    let (_, (answer, replayed)) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let idempotency = idempotency?;
            once(conn, caller, &master_key, idempotency.as_ref(), |conn| {
                let request = request?;
                let new = NewToken {
                    general: &request.general,
                    extension: request.extension,
                    modules: &request.modules,
                    status: StoredStatus::Active,
                    expires_at: request.expires_at,
                    allowed_networks: &request.allowed_networks,
                    rate_limit: request.rate_limit,
                    creation_key: None,
                    reason: request.reason.as_deref(),
                };
                let by = caller.requester();
                let (token, key) = token_service::create(conn, &by, &master_key, &new)?;
                let created = CreatedToken {
                    token_fields: view(conn, caller, &token)?,
                    token: key.expose(),
                };
                Answer::new(StatusCode::CREATED, &created)
            })
        })
        .await?;
    Ok(answer.response(replayed))
}

#[utoipa::path(
    get, path = "/auth/tokens/{id}", tag = "tokens", params(TokenPath),
    responses((status = 200, body = TokenOut)),
    security(("ApiKey" = []))
)]
pub async fn get(api: ApiRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = token_id(&id);
    let (_, token) = api
        .run(INTEGRATIONS, move |conn, caller| {
            token_out(conn, caller, &id?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(token))
}

/// Changes name, external_id, description, allowed_networks and rate_limit; fields left out
/// keep their value.
#[utoipa::path(
    put, path = "/auth/tokens/{id}", tag = "tokens", params(TokenPath),
    responses((status = 200, body = TokenOut)),
    security(("ApiKey" = []))
)]
pub async fn update(
    api: ApiRequest,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(&id);
    let change = body
        .parse_strict()
        .and_then(|change| Ok(token_change_of(change)?));
    let (_, token) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let change = change?;
            let edit = TokenEdit {
                name: change.general.name.as_ref(),
                external_id: change.general.external_id.as_ref(),
                description: change.general.description.as_ref(),
                allowed_networks: change.allowed_networks.as_ref(),
                rate_limit: change.rate_limit,
                ..TokenEdit::default()
            };
            let edited = token_service::update(conn, &caller.requester(), &id?, &edit)?;
            view(conn, caller, &edited.token)
        })
        .await?;
    Ok(HttpResponse::Ok().json(token))
}

/// What a PUT body asks to change, checked field by field; what it leaves out stays.
struct TokenChange {
    general: GeneralChange,
    allowed_networks: Option<AllowedNetworks>,
    rate_limit: Option<Option<RateLimit>>,
}

fn token_change_of(body: TokenChangeIn) -> Result<TokenChange, FieldErrors> {
    let mut errors = FieldErrors::default();
    let general = GeneralChange::parse(
        body.name.as_deref(),
        body.external_id.as_deref(),
        body.description.as_deref(),
    )
    .map_err(|e| errors.merge(e))
    .unwrap_or_default();
    let allowed_networks = networks_of(body.allowed_networks.as_deref())
        .map_err(|e| errors.add("allowed_networks", e))
        .ok()
        .flatten();
    let rate_limit = body
        .rate_limit
        .as_ref()
        .map(rate_limit_of)
        .transpose()
        .map_err(|e| errors.add("rate_limit", e))
        .ok()
        .flatten();
    if errors.is_empty() {
        Ok(TokenChange {
            general,
            allowed_networks,
            rate_limit,
        })
    } else {
        Err(errors)
    }
}

/// Deletes the token: its key stops working at once.
#[utoipa::path(
    delete, path = "/auth/tokens/{id}", tag = "tokens", params(TokenPath),
    responses((status = 204, description = "Deleted")),
    security(("ApiKey" = []))
)]
pub async fn delete(api: ApiRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = token_id(&id);
    api.run(INTEGRATIONS, move |conn, caller| {
        Ok(token_service::delete(conn, &caller.requester(), &id?)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_status(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: &str,
    body: ApiBody,
    status: StoredStatus,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(id);
    let idempotency = Idempotency::of(&req, body.bytes());
    let master_key = state.master_key.clone();
    let (_, (answer, replayed)) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let idempotency = idempotency?;
            once(conn, caller, &master_key, idempotency.as_ref(), |conn| {
                let by = caller.requester();
                let token = token_service::set_status(conn, &by, &id?, status, None)?;
                Answer::new(StatusCode::OK, &view(conn, caller, &token)?)
            })
        })
        .await?;
    Ok(answer.response(replayed))
}

#[utoipa::path(
    post, path = "/auth/tokens/{id}/activate", tag = "tokens", params(TokenPath),
    responses((status = 200, body = TokenOut)),
    security(("ApiKey" = []))
)]
pub async fn activate(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    set_status(req, api, state, &id, body, StoredStatus::Active).await
}

#[utoipa::path(
    post, path = "/auth/tokens/{id}/deactivate", tag = "tokens", params(TokenPath),
    responses((status = 200, body = TokenOut)),
    security(("ApiKey" = []))
)]
pub async fn deactivate(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    set_status(req, api, state, &id, body, StoredStatus::Inactive).await
}

#[utoipa::path(
    get, path = "/auth/tokens/{id}/permissions", tag = "tokens", params(TokenPath, Paging),
    responses((status = 200, body = [Permission], headers(("Content-Range" = String)))),
    security(("ApiKey" = []))
)]
pub async fn permissions(
    req: HttpRequest,
    api: ApiRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(&id);
    let query = paging_query(&req);
    let (_, (offset, items, total)) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let query = query?;
            if query.filter.is_some() || !query.ordering.is_empty() {
                return Err(ApiError::bad_request(
                    "Permissions are listed whole; use limit and offset only.",
                ));
            }
            let (_, grants) = find_with_grants(conn, caller, &id?)?;
            let items: Vec<Permission> = grants
                .iter()
                .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
                .take(query.limit as usize)
                .map(Permission::from)
                .collect();
            Ok((query.offset, items, grants.len() as u64))
        })
        .await?;
    Ok(collection(&items, offset, total))
}

/// Adds to or removes from the token's modules, and answers the permissions it then holds.
async fn change_permissions(
    api: ApiRequest,
    master_key: MasterKey,
    id: &str,
    body: ApiBody,
    adding: bool,
    idempotency: Result<Option<Idempotency>, ApiError>,
) -> Result<(Answer, bool), ApiError> {
    let id = token_id(id);
    let changed = body.parse::<PermissionsIn>().and_then(|body| {
        let items = body.into_vec();
        let mut reasons = Vec::new();
        for given in items.iter().filter_map(|item| item.reason.as_deref()) {
            let checked = approvals::checked_text(given, "reason").map_err(|e| match e {
                ServiceError::Rule { message, .. } => ApiError::invalid_field("reason", message),
                other => other.into(),
            })?;
            reasons.push(checked);
        }
        let reason = reasons.into_iter().find(|r| !r.is_empty());
        let changed = modules_of(&items).map_err(|e| ApiError::invalid_field("permissions", e))?;
        if changed.is_empty() {
            return Err(ApiError::invalid_field(
                "permissions",
                "list at least one {\"object\": {\"id\": \"MD-…\"}}",
            ));
        }
        Ok((changed, reason))
    });
    let (_, answered) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let idempotency = idempotency?;
            once(conn, caller, &master_key, idempotency.as_ref(), |conn| {
                let (changed, reason) = changed?;
                let id = id?;
                let change = if adding {
                    ModuleChange::Grant(&changed)
                } else {
                    ModuleChange::Revoke(&changed)
                };
                let edit = TokenEdit {
                    modules: Some(change),
                    reason: reason.as_deref(),
                    ..TokenEdit::default()
                };
                let edited = token_service::update(conn, &caller.requester(), &id, &edit)?;
                let held: Vec<Permission> = Token::grants_of(conn, &id)?
                    .iter()
                    .map(Permission::from)
                    .collect();
                // Waiting for an admin: accepted, and nothing held changed yet.
                let status = if edited.awaiting_approval {
                    StatusCode::ACCEPTED
                } else if adding {
                    StatusCode::CREATED
                } else {
                    StatusCode::NO_CONTENT
                };
                Answer::new(status, &held)
            })
        })
        .await?;
    Ok(answered)
}

#[utoipa::path(
    post, path = "/auth/tokens/{id}/permissions", tag = "tokens", params(TokenPath),
    responses((status = 201, body = [Permission])),
    security(("ApiKey" = []))
)]
pub async fn grant(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let idempotency = Idempotency::of(&req, body.bytes());
    let master_key = state.master_key.clone();
    let (answer, replayed) =
        change_permissions(api, master_key, &id, body, true, idempotency).await?;
    Ok(answer.response(replayed))
}

#[utoipa::path(
    delete, path = "/auth/tokens/{id}/permissions", tag = "tokens", params(TokenPath),
    responses((status = 204, description = "Revoked")),
    security(("ApiKey" = []))
)]
pub async fn revoke(
    api: ApiRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let master_key = state.master_key.clone();
    change_permissions(api, master_key, &id, body, false, Ok(None)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The token's API requests per UTC day from `from` to `to` (`YYYY-MM-DD`, both included; by
/// default the last 30 days), one item per day with use, oldest first.
#[utoipa::path(
    get, path = "/auth/tokens/{id}/usage", tag = "tokens",
    params(
        TokenPath,
        ("from" = Option<String>, Query, format = Date,
         description = "First day, YYYY-MM-DD (default 29 days before `to`); at most 400 days before `to`"),
        ("to" = Option<String>, Query, format = Date,
         description = "Last day, YYYY-MM-DD (default today, UTC); not before `from`"),
    ),
    responses((status = 200, body = [UsageDay])),
    security(("ApiKey" = []))
)]
pub async fn usage(
    req: HttpRequest,
    api: ApiRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(&id);
    let range = usage_range(req.query_string(), api.at().date());
    let (_, days) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let (from, to) = range?;
            let token = Token::find(conn, &caller.account().id, &id?)?;
            Ok(db::usage::days(conn, &token.id, from, to)?)
        })
        .await?;
    let days: Vec<UsageDay> = days.into_iter().map(UsageDay::from).collect();
    Ok(HttpResponse::Ok().json(days))
}

fn usage_range(query: &str, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}.")))?
        .into_inner();
    let (mut from, mut to) = (None, None);
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "from" => &mut from,
            "to" => &mut to,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid query: unknown parameter {name:?}; use from and to (YYYY-MM-DD)."
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::bad_request(format!(
                "Invalid query: {name} is given twice."
            )));
        }
    }
    parse_range(from.as_deref(), to.as_deref(), today)
        .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}.")))
}

/// Gives the token a new key, as rotate and renew do; answers it with the key this once.
async fn new_key(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: &str,
    body: ApiBody,
    how: NewKey,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(id);
    let idempotency = Idempotency::of(&req, body.bytes());
    let master_key = state.master_key.clone();
    let now = api.at();
    let expires_at = if body.is_empty() {
        Ok(NewKeyIn::default())
    } else {
        body.parse_strict::<NewKeyIn>()
    }
    .and_then(|body| {
        body.expiration_date
            .map(|value| parse_expiration(value.as_deref(), now))
            .transpose()
            .map_err(|e| ApiError::invalid_field("expiration_date", e))
    });
    let (_, (answer, replayed)) = api
        .run(INTEGRATIONS, move |conn, caller| {
            let idempotency = idempotency?;
            once(conn, caller, &master_key, idempotency.as_ref(), |conn| {
                let (expires_at, id) = (expires_at?, id?);
                let by = caller.requester();
                let replaced =
                    token_service::replace_key(conn, &by, &id, &master_key, how, expires_at)?;
                let renewed = RenewedToken {
                    token_fields: view(conn, caller, &replaced.token)?,
                    token: replaced.key.expose(),
                    renewed_expiration_date: replaced.token.previous_key_until.map(instant),
                    ended_previous_grace: replaced.ended_grace.map(instant),
                };
                Answer::new(StatusCode::OK, &renewed)
            })
        })
        .await?;
    Ok(answer.response(replayed))
}

/// A new key; the old one stops at once. The body may set the token's expiry.
#[utoipa::path(
    post, path = "/auth/tokens/{id}/rotate", tag = "tokens", params(TokenPath),
    responses((status = 200, body = RenewedToken)),
    security(("ApiKey" = []))
)]
pub async fn rotate(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    new_key(
        req,
        api,
        state,
        &id,
        body,
        NewKey::Rotated {
            grace: Duration::zero(),
        },
    )
    .await
}

/// A new key; the old one keeps working until its former expiry, or for 24 hours where it had
/// none (`renewed_expiration_date`). The body may set the token's expiry.
#[utoipa::path(
    post, path = "/auth/tokens/{id}/renew", tag = "tokens", params(TokenPath),
    responses((status = 200, body = RenewedToken)),
    security(("ApiKey" = []))
)]
pub async fn renew(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    new_key(req, api, state, &id, body, NewKey::Renewed).await
}
