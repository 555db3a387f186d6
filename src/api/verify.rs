//! `/auth/verify`: a reverse proxy in front of another service asks here, on each request it
//! receives, whether the request's key may go through (nginx `auth_request`, Traefik
//! `forwardAuth`, Envoy `ext_authz`). The key comes from `Authorization`; the path it is for
//! from `X-Original-URI` (nginx), `X-Forwarded-Uri` (Traefik) or this request's own path after
//! `/auth/verify` (Envoy's `path_prefix`), and its module from the route table
//! (`TOKENDESK_ROUTES`). A key is checked as the API checks it — cache, networks, rate limit,
//! use — and a key the cache admits is answered without any database work.
//!
//! 2xx tells the proxy to go on and carries `X-Tokendesk-Account`, `-Token` and `-Module` for
//! the service; a refusal is the API's answer (status, `{"error_code","errors"}`, `Retry-After`,
//! `RateLimit-*`) with its body also in `X-Tokendesk-Error`, since nginx cannot pass on the body
//! of its sub-request.

use super::auth::ApiRequest;
use super::error::ApiError;
use crate::app::AppState;
use crate::domain::module::Module;
use crate::domain::routes::{NormalPath, RouteTable};
use crate::request::VERIFY_PATH;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};

/// Where nginx puts the original request's path (with its query) and method.
const NGINX_URI: &str = "x-original-uri";
const NGINX_METHOD: &str = "x-original-method";
/// Where Traefik puts them.
const TRAEFIK_URI: &str = "x-forwarded-uri";
const TRAEFIK_METHOD: &str = "x-forwarded-method";

pub const ACCOUNT_HEADER: &str = "x-tokendesk-account";
pub const TOKEN_HEADER: &str = "x-tokendesk-token";
pub const MODULE_HEADER: &str = "x-tokendesk-module";
/// A refusal's body, for proxies that answer the client themselves.
pub const ERROR_HEADER: &str = "x-tokendesk-error";

/// The path after `/auth/verify` as it arrived, before the server's path normalisation (which
/// would turn Envoy's `/auth/verify/` for `/` into `/auth/verify`, a request for no path).
#[derive(Clone)]
struct PathAfterVerify(String);

/// Before anything else sees a forward-auth request: its path is kept as it came, and the
/// client's cookies, which proxies pass along, are dropped — they are not for this service, and
/// loading a session for them would cost a database trip on every check. The request goes on
/// as one for `/auth/verify` itself: one fixed route, which the router matches without a
/// pattern to search (a route with a tail was a regular expression run on every request).
pub async fn arrived(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(rest) = req.path().strip_prefix(VERIFY_PATH)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        if !rest.is_empty() {
            let rest = rest.to_owned();
            req.extensions_mut().insert(PathAfterVerify(rest));
            let own = actix_web::http::Uri::from_static(VERIFY_PATH);
            req.match_info_mut().get_mut().update(&own);
            req.head_mut().uri = own;
        }
        req.headers_mut().remove(header::COOKIE);
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Any method, any path under `/auth/verify`.
pub async fn verify(req: HttpRequest, api: ApiRequest, state: web::Data<AppState>) -> HttpResponse {
    let route = original_path(&req).and_then(|path| module_of(&state.routes, &path));
    tracing::debug!(
        method = original_method(&req),
        module = route.as_ref().map_or("-", |module| module.id),
        "forward-auth check"
    );
    let answer = api.check(route).await.map_err(|refusal| {
        // nginx turns a 400 of its sub-request into a 500; a request that says too much about
        // its key is a request without a usable key.
        if refusal.status() == StatusCode::BAD_REQUEST {
            ApiError::unauthorized("AUTH_001", "Send one Authorization header, not several.")
        } else {
            refusal
        }
    });
    match answer {
        Ok((caller, module)) => {
            // Ids are ASCII by construction: the checks below never refuse them.
            let mut response = HttpResponse::Ok().finish();
            let headers = response.headers_mut();
            for (name, value) in [
                (ACCOUNT_HEADER, caller.account().id.as_str()),
                (TOKEN_HEADER, caller.token().id.as_str()),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
            headers.insert(
                HeaderName::from_static(MODULE_HEADER),
                HeaderValue::from_static(module.id),
            );
            response
        }
        Err(refusal) => refused(&refusal),
    }
}

/// The API's answer to `refusal`, its body repeated in `X-Tokendesk-Error` (escaped to ASCII,
/// as a header must be).
fn refused(refusal: &ApiError) -> HttpResponse {
    let mut response = refusal.error_response();
    let body = serde_json::to_string(&refusal.body()).unwrap_or_default();
    let ascii: String = body
        .chars()
        .flat_map(|c| -> Vec<char> {
            if c.is_ascii() && !c.is_ascii_control() {
                vec![c]
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .flat_map(|unit| format!("\\u{unit:04x}").chars().collect::<Vec<_>>())
                    .collect()
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&ascii) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(ERROR_HEADER), value);
    }
    response
}

fn no_module(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "AUTH_006",
        format!("No route of this service gives {what} a module: it is not open to API keys."),
    )
}

/// The path the proxy asks about. Every place that names one must name the same path: a client
/// that adds a header of another proxy's cannot choose its module.
fn original_path(req: &HttpRequest) -> Result<NormalPath, ApiError> {
    let extensions = req.extensions();
    let own = extensions
        .get::<PathAfterVerify>()
        .map(|path| path.0.as_str())
        .filter(|path| !path.is_empty());
    let named = [NGINX_URI, TRAEFIK_URI]
        .into_iter()
        .flat_map(|name| req.headers().get_all(name))
        .map(|value| value.to_str());
    let mut paths = own.into_iter().map(Ok).chain(named).map(|uri| {
        uri.ok()
            .and_then(NormalPath::of_uri)
            .ok_or_else(|| no_module("a path that cannot be read"))
    });
    let first = paths.next().unwrap_or_else(|| {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "AUTH_006",
            "The request does not say which path it is for: send X-Original-URI (nginx), \
             X-Forwarded-Uri (Traefik), or ask /auth/verify/<path> (Envoy).",
        ))
    })?;
    for path in paths {
        if path? != first {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "AUTH_006",
                "The request names two different paths.",
            ));
        }
    }
    Ok(first)
}

fn module_of(routes: &RouteTable, path: &NormalPath) -> Result<Module, ApiError> {
    routes
        .module_for(path)
        .ok_or_else(|| no_module(&format!("the path {path}")))
}

/// The original request's method, for the log: it does not change the answer.
fn original_method(req: &HttpRequest) -> String {
    [NGINX_METHOD, TRAEFIK_METHOD]
        .into_iter()
        .find_map(|name| req.headers().get(name)?.to_str().ok())
        .map_or_else(|| req.method().to_string(), str::to_owned)
}
