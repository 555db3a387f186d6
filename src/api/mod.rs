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
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
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
    HttpResponse::Ok()
        .insert_header((header::CONTENT_RANGE, range))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "Content-Range"))
        .json(items)
}

async fn no_such_endpoint() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "NFND_002",
        "There is no such endpoint in this API.",
    ))
}

/// Mounts the API under `/public/v1`, and the forward-auth check at `/auth/verify`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource([VERIFY_PATH.to_owned(), format!("{VERIFY_PATH}/{{path:.*}}")])
            .wrap(from_fn(auth::with_rate_limit_headers))
            .to(verify::verify),
    );
    cfg.service(
        web::scope(API_BASE)
            .wrap(from_fn(auth::with_rate_limit_headers))
            .service(openapi::document)
            .service(resources::context)
            .service(resources::modules)
            .service(resources::module)
            .service(resources::accounts)
            .service(resources::account)
            .service(resources::agreements)
            .service(resources::agreement)
            .service(leaks::report)
            .service(tokens::list)
            .service(tokens::create)
            .service(tokens::get)
            .service(tokens::update)
            .service(tokens::delete)
            .service(tokens::activate)
            .service(tokens::deactivate)
            .service(tokens::permissions)
            .service(tokens::grant)
            .service(tokens::revoke)
            .service(tokens::rotate)
            .service(tokens::renew)
            .service(tokens::usage)
            .service(policy::approve)
            .service(policy::deny)
            .service(policy::get_policy)
            .service(policy::put_policy)
            .default_service(web::to(no_such_endpoint)),
    );
}
