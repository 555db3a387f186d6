//! The OpenAPI 3 document of `/public/v1`, generated from the handlers and views.

use super::error::ErrorBody;
use super::views;
use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct ApiKeyHeader;

impl Modify for ApiKeyHeader {
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
        views::LeaksIn,
        views::LeakOut,
        views::NewKeyIn,
        views::AgreementOut,
        views::Context,
        views::ExtensionRef,
        views::ObjectId,
        views::PermissionIn,
        views::PermissionsIn,
        views::NewTokenIn,
        views::TokenChangeIn,
        views::PolicyOut,
        views::PolicyIn,
        views::DecisionIn,
    )),
    modifiers(&ApiKeyHeader)
)]
pub struct ApiDoc;

/// The document itself; no key needed.
#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
