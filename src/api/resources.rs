//! The read-only resources: the caller's context, modules, its account, its agreements.

use super::auth::ApiRequest;
use super::error::ApiError;
use super::rql::{Paging, Search};
use super::views::{AgreementOut, Context, Ref, module_ref};
use super::{collection, list_query};
use crate::db::agreements::Agreement;
use crate::domain::fields::{AgreementField, NamedField};
use crate::domain::ids::{AccountId, AgreementId};
use crate::domain::module::{MODULES, Module};
use crate::domain::query::{CompareOp, Direction, Fold, QueryError, Value};
use actix_web::{HttpRequest, HttpResponse, web};

/// Who is calling: the token's account, and the token as the "user".
#[utoipa::path(
    get, path = "/auth/context", tag = "auth",
    responses((status = 200, body = Context)),
    security(("ApiKey" = []))
)]
pub async fn context(api: ApiRequest) -> Result<HttpResponse, ApiError> {
    let caller = api.caller(None).await?;
    Ok(HttpResponse::Ok().json(Context {
        account: Ref {
            id: caller.account().id.to_string(),
            name: caller.account().name.clone(),
        },
        user: Ref {
            id: caller.token().id.to_string(),
            name: caller.token().name.clone(),
        },
    }))
}

/// An item held in memory, by its id and name: whether it passes a filter.
struct Named<'a> {
    id: &'a str,
    name: &'a str,
}

impl Named<'_> {
    fn get(&self, field: NamedField) -> &str {
        match field {
            NamedField::Id => self.id,
            NamedField::Name => self.name,
        }
    }
}

impl Fold<NamedField> for Named<'_> {
    type Output = bool;

    fn all(&self, items: Vec<bool>) -> bool {
        items.into_iter().all(|passes| passes)
    }

    fn any(&self, items: Vec<bool>) -> bool {
        items.into_iter().any(|passes| passes)
    }

    fn not(&self, inner: bool) -> bool {
        !inner
    }

    fn compare(&self, field: NamedField, op: CompareOp, value: &Value) -> Result<bool, QueryError> {
        Ok(op.matches(value.text(), self.get(field)))
    }
}

/// Filters, searches, orders and pages a small list held in memory.
fn in_memory<T>(
    req: &HttpRequest,
    items: Vec<T>,
    id_and_name: impl Fn(&T) -> (String, String),
) -> Result<(Vec<T>, u64, u64), ApiError> {
    let query = list_query::<NamedField>(req)?;
    let mut kept = Vec::new();
    for item in items {
        let (id, name) = id_and_name(&item);
        let named = Named {
            id: &id,
            name: &name,
        };
        let passes = match &query.filter {
            Some(filter) => filter
                .fold(&named)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            None => true,
        };
        let found = query
            .search
            .as_deref()
            .is_none_or(|s| CompareOp::Ilike.matches(&format!("*{s}*"), &name) || id.contains(s));
        if passes && found {
            kept.push(item);
        }
    }
    for (field, direction) in query.ordering.iter().rev() {
        kept.sort_by(|a, b| {
            let (a, b) = (id_and_name(a), id_and_name(b));
            let order = match field {
                NamedField::Id => a.0.cmp(&b.0),
                NamedField::Name => a.1.to_lowercase().cmp(&b.1.to_lowercase()),
            };
            match direction {
                Direction::Ascending => order,
                Direction::Descending => order.reverse(),
            }
        });
    }
    let total = kept.len() as u64;
    let page = kept
        .into_iter()
        .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
        .take(query.limit as usize)
        .collect();
    Ok((page, query.offset, total))
}

/// The platform's modules, which permissions refer to.
#[utoipa::path(
    get, path = "/modules", tag = "modules", params(Paging, Search),
    responses((status = 200, body = [Ref], headers(("Content-Range" = String)))),
    security(("ApiKey" = []))
)]
pub async fn modules(req: HttpRequest, api: ApiRequest) -> Result<HttpResponse, ApiError> {
    api.caller(None).await?;
    let (page, offset, total) = in_memory(&req, MODULES.to_vec(), |m: &Module| {
        (m.id.to_owned(), m.name.to_owned())
    })?;
    let items: Vec<Ref> = page.into_iter().map(module_ref).collect();
    Ok(collection(&items, offset, total))
}

#[utoipa::path(
    get, path = "/modules/{id}", tag = "modules",
    params(("id" = String, Path, pattern = "^MD-[0-9]{4}$", description = "MD-0002")),
    responses((status = 200, body = Ref)),
    security(("ApiKey" = []))
)]
pub async fn module(api: ApiRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    api.caller(None).await?;
    let module = Module::find(&id).map_err(|_| ApiError::not_found())?;
    Ok(HttpResponse::Ok().json(module_ref(module)))
}

/// The caller's own account (module Account).
#[utoipa::path(
    get, path = "/accounts", tag = "accounts", params(Paging, Search),
    responses((status = 200, body = [Ref], headers(("Content-Range" = String)))),
    security(("ApiKey" = []))
)]
pub async fn accounts(req: HttpRequest, api: ApiRequest) -> Result<HttpResponse, ApiError> {
    let caller = api.caller(Some(Module::ACCOUNT)).await?;
    let (page, offset, total) = in_memory(&req, vec![caller.account().clone()], |a| {
        (a.id.to_string(), a.name.clone())
    })?;
    let items: Vec<Ref> = page
        .into_iter()
        .map(|a| Ref {
            id: a.id.to_string(),
            name: a.name,
        })
        .collect();
    Ok(collection(&items, offset, total))
}

#[utoipa::path(
    get, path = "/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, pattern = "^VA-[0-9]{3}-[0-9]{3}$", description = "VA-123-456")),
    responses((status = 200, body = Ref)),
    security(("ApiKey" = []))
)]
pub async fn account(api: ApiRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let caller = api.caller(Some(Module::ACCOUNT)).await?;
    match AccountId::parse(&id) {
        Ok(id) if id == caller.account().id => Ok(HttpResponse::Ok().json(Ref {
            id: id.to_string(),
            name: caller.account().name.clone(),
        })),
        _ => Err(ApiError::not_found()),
    }
}

/// The account's agreements (module Agreements), filterable with RQL.
#[utoipa::path(
    get, path = "/agreements", tag = "agreements", params(Paging, Search),
    responses((status = 200, body = [AgreementOut], headers(("Content-Range" = String)))),
    security(("ApiKey" = []))
)]
pub async fn agreements(req: HttpRequest, api: ApiRequest) -> Result<HttpResponse, ApiError> {
    let query = list_query::<AgreementField>(&req);
    let (caller, (offset, found)) = api
        .read(Some(Module::AGREEMENTS), move |conn, caller| {
            let query = query?;
            let found = Agreement::query(conn, &caller.account().id, &query)?;
            Ok((query.offset, found))
        })
        .await?;
    let items: Vec<AgreementOut> = found
        .items
        .iter()
        .map(|a| AgreementOut::new(a, caller.account()))
        .collect();
    Ok(collection(&items, offset, found.total))
}

#[utoipa::path(
    get, path = "/agreements/{id}", tag = "agreements",
    params(("id" = String, Path, pattern = "^AGP-[0-9]{3}-[0-9]{3}-[0-9]{3}$", description = "AGP-123-456-789")),
    responses((status = 200, body = AgreementOut)),
    security(("ApiKey" = []))
)]
pub async fn agreement(api: ApiRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = AgreementId::parse(&id);
    let (caller, found) = api
        .read(Some(Module::AGREEMENTS), move |conn, caller| {
            let id = id.map_err(|_| ApiError::not_found())?;
            Ok(Agreement::find(conn, &caller.account().id, &id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AgreementOut::new(&found, caller.account())))
}
