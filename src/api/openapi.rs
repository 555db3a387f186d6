//! The OpenAPI 3.1 document of `/public/v1`. utoipa writes it from the handlers' attributes
//! (paths, parameters, what each operation answers when it succeeds) and the views (the
//! objects answered); what those cannot say is added once here, from the rules the API applies:
//! the request bodies (`bodies`), and the answers and headers every operation shares
//! (`answers`). The document is built once, and the API's route table answers a method a path
//! does not take with the methods the document lists for it. `tests/schemathesis` checks the
//! document against a served instance.

mod answers;
mod bodies;

use super::error::ErrorBody;
use super::views;
use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

struct ApiKeyHeader;

impl utoipa::Modify for ApiKeyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "ApiKey <token id>:<secret>, e.g. ApiKey SU-160-984-311:f45bee7e79b10ff6eff67902ccb4f3d46724ceb8",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "tokendesk public API", description = "API tokens and what they may reach."),
    servers((url = "/public/v1")),
    paths(
        serve,
        super::resources::context,
        super::resources::modules,
        super::resources::module,
        super::resources::accounts,
        super::resources::account,
        super::resources::agreements,
        super::resources::agreement,
        super::tokens::list,
        super::tokens::create,
        super::tokens::get,
        super::tokens::update,
        super::tokens::delete,
        super::tokens::activate,
        super::tokens::deactivate,
        super::tokens::permissions,
        super::tokens::grant,
        super::tokens::revoke,
        super::tokens::rotate,
        super::tokens::renew,
        super::tokens::usage,
        super::leaks::report,
        super::policy::get_policy,
        super::policy::put_policy,
        super::policy::approve,
        super::policy::deny,
    ),
    components(schemas(
        ErrorBody,
        views::Ref,
        views::Event,
        views::Events,
        views::GrantEvents,
        views::Permission,
        views::TokenOut,
        views::CreatedToken,
        views::RenewedToken,
        views::UsageDay,
        views::LeakOut,
        views::AgreementOut,
        views::Context,
        views::PolicyOut,
    )),
    modifiers(&ApiKeyHeader)
)]
struct ApiDoc;

/// The document, as served.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document is JSON");
        bodies::add(&mut document);
        answers::add(&mut document);
        document
    })
}

/// The HTTP methods the document lists for `path` (as the route table writes it, from the API's
/// base: `/auth/tokens/{id}`), as an `Allow` header says them.
pub fn methods_of(path: &str) -> Vec<String> {
    document()["paths"][path]
        .as_object()
        .map(|item| {
            item.keys()
                .filter(|key| answers::METHODS.contains(&key.as_str()))
                .map(|method| method.to_ascii_uppercase())
                .collect()
        })
        .unwrap_or_default()
}

/// This document; no key needed.
#[utoipa::path(
    get, path = "/openapi.json", tag = "openapi", operation_id = "openapi", security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> HttpResponse {
    static BODY: OnceLock<String> = OnceLock::new();
    let body = BODY.get_or_init(|| document().to_string());
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body.as_str())
}
