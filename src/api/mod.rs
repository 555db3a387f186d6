//! The `/public/v1` REST API, authenticated by API keys. Collections answer a bare JSON array
//! with `Content-Range: items <first>-<last>/<total>`; every error is an `{"error_code", "errors"}`
//! body.

pub mod auth;
pub mod body;
pub mod error;
pub mod idempotency;
pub mod leaks;
pub mod openapi;
pub mod policy;
pub mod resources;
pub mod rql;
pub mod tokens;
pub mod verify;
pub mod views;

use crate::domain::query::{Field, Query};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, Resource, ResponseError, web};
use error::ApiError;
use serde::Serialize;

use crate::request::{API_BASE, VERIFY_PATH};

/// The list request in the query string, in the collection's fields `F`, or a 400 saying what
/// is wrong with it.
pub fn list_query<F: Field>(req: &HttpRequest) -> Result<Query<F>, ApiError> {
    paging_query(req)?
        .resolve()
        .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}.")))
}

/// The list request in the query string with its field names as written, for a collection
/// that only pages.
pub fn paging_query(req: &HttpRequest) -> Result<Query, ApiError> {
    rql::parse(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}.")))
}

/// One page of a collection: the items and where they stand in the whole.
pub fn collection<T: Serialize>(items: &[T], offset: u64, total: u64) -> HttpResponse {
    let range = if items.is_empty() {
        format!("items 0-0/{total}")
    } else {
        format!(
            "items {}-{}/{total}",
            offset,
            offset + items.len() as u64 - 1
        )
    };
    // Written into a buffer about the page's size from the start, rather than one grown (and
    // copied) from nothing as the answer is written.
    let mut body = Vec::with_capacity(ITEM_BYTES.saturating_mul(items.len()).clamp(64, 1 << 18));
    if let Err(error) = serde_json::to_writer(&mut body, items) {
        tracing::error!(%error, "a page could not be written as JSON");
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SRV_001",
            "The answer could not be written; try again.",
        )
        .error_response();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_RANGE, range))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "Content-Range"))
        .content_type(header::ContentType::json())
        .body(body)
}

/// About what an item of a page takes in JSON (an agreement ~450 bytes, a token more).
const ITEM_BYTES: usize = 512;

async fn no_such_endpoint() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "NFND_002",
        "There is no such endpoint in this API.",
    ))
}

/// An endpoint's path: a method it does not take is answered 405, with `Allow` naming those it
/// does as the OpenAPI document lists them.
fn endpoint(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let path = req
        .match_pattern()
        .and_then(|pattern| pattern.strip_prefix(API_BASE).map(str::to_owned))
        .unwrap_or_default();
    let allowed = openapi::methods_of(&path).join(", ");
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "REQ_006",
        format!("{path} takes {allowed}, not {}.", req.method()),
    )
    .error_response();
    if let Ok(value) = header::HeaderValue::from_str(&allowed) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Mounts the API under `/public/v1` (each path once, with the handler of each of its
/// methods), and the forward-auth check at `/auth/verify`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, post, put};
    cfg.service(
        // `arrived` (a middleware) sends `/auth/verify/<path>` here too, keeping the path.
        web::resource(VERIFY_PATH)
            .wrap(from_fn(auth::with_rate_limit_headers))
            .to(verify::verify),
    );
    cfg.service(
        web::scope(API_BASE)
            .wrap(from_fn(auth::with_rate_limit_headers))
            .service(endpoint("/openapi.json").route(get().to(openapi::serve)))
            .service(endpoint("/auth/context").route(get().to(resources::context)))
            .service(endpoint("/modules").route(get().to(resources::modules)))
            .service(endpoint("/modules/{id}").route(get().to(resources::module)))
            .service(endpoint("/accounts").route(get().to(resources::accounts)))
            .service(endpoint("/accounts/{id}").route(get().to(resources::account)))
            .service(endpoint("/agreements").route(get().to(resources::agreements)))
            .service(endpoint("/agreements/{id}").route(get().to(resources::agreement)))
            .service(
                endpoint("/auth/tokens")
                    .route(get().to(tokens::list))
                    .route(post().to(tokens::create)),
            )
            .service(endpoint("/auth/tokens/leaks").route(post().to(leaks::report)))
            .service(
                endpoint("/auth/tokens/{id}")
                    .route(get().to(tokens::get))
                    .route(put().to(tokens::update))
                    .route(delete().to(tokens::delete)),
            )
            .service(endpoint("/auth/tokens/{id}/activate").route(post().to(tokens::activate)))
            .service(endpoint("/auth/tokens/{id}/deactivate").route(post().to(tokens::deactivate)))
            .service(
                endpoint("/auth/tokens/{id}/permissions")
                    .route(get().to(tokens::permissions))
                    .route(post().to(tokens::grant))
                    .route(delete().to(tokens::revoke)),
            )
            .service(endpoint("/auth/tokens/{id}/rotate").route(post().to(tokens::rotate)))
            .service(endpoint("/auth/tokens/{id}/renew").route(post().to(tokens::renew)))
            .service(endpoint("/auth/tokens/{id}/usage").route(get().to(tokens::usage)))
            .service(endpoint("/auth/tokens/{id}/approve").route(post().to(policy::approve)))
            .service(endpoint("/auth/tokens/{id}/deny").route(post().to(policy::deny)))
            .service(
                endpoint("/account/policy")
                    .route(get().to(policy::get_policy))
                    .route(put().to(policy::put_policy)),
            )
            .default_service(web::to(no_such_endpoint)),
    );
}
