//! What the UI and the API share about a request: its body, up to a limit; the address of the
//! client; and its id, which every log line of the request carries, the answer returns in
//! `X-Request-Id`, and an error page shows so that a person can quote it.

use crate::domain::network::client_address;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use std::future::{Ready, ready};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// Where the REST API is mounted: its requests are authenticated by their keys, not by the
/// session cookie the UI's are.
pub const API_BASE: &str = "/public/v1";

/// Where reverse proxies ask whether a request to another service may go through
/// (`api::verify`): authenticated by the key it forwards, like the API.
pub const VERIFY_PATH: &str = "/auth/verify";

/// The largest body either accepts: forms and JSON here are small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// The body whole, refused as soon as it passes `limit`, whatever length it declared.
pub async fn read_limited(payload: &mut Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The address of the client, recorded with every change and counted by the sign-in throttle:
/// the peer's, or behind a trusted proxy the one it forwarded (`TOKENDESK_TRUSTED_PROXIES`).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let trusted = req
        .app_data::<actix_web::web::Data<crate::app::AppState>>()
        .map(|state| state.trusted_proxies.as_slice())
        .unwrap_or_default();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    client_address(req.peer_addr().map(|a| a.ip()), &forwarded, trusted).map(|ip| ip.to_string())
}

/// `client_ip` as a handler argument.
pub struct ClientIp(pub Option<String>);

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(client_ip(req))))
    }
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request this task serves, for error pages rendered far from the request.
    static CURRENT_REQUEST: RequestId;
}

/// The id of the request being served, if this runs while serving one.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST.try_with(|id| id.to_string()).ok()
}

/// When the request arrived, for the access log.
struct Arrived(Instant);

/// Each request's span (`request{id=…}`, entered by every log line it causes) and its line in
/// the access log.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Arrived(Instant::now()));
        match request.extensions().get::<RequestId>() {
            Some(id) => tracing::info_span!("request", id = %id),
            None => tracing::info_span!("request"),
        }
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let request = response.request();
                let ms = request
                    .extensions()
                    .get::<Arrived>()
                    .map_or(0, |arrived| arrived.0.elapsed().as_millis());
                tracing::info!(
                    client = client_ip(request).as_deref().unwrap_or("-"),
                    method = %request.method(),
                    path = request.path(),
                    status = response.status().as_u16(),
                    ms,
                    "served"
                );
            }
            Err(error) => tracing::warn!(%error, "request failed without an answer"),
        }
    }
}

/// Runs the rest of the chain knowing the request's id (so that an error page can show it) and
/// returns the id in `X-Request-Id`, on failures too.
pub async fn with_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(id) = req.extensions().get::<RequestId>().copied() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let header = HeaderValue::from_str(&id.to_string()).ok();
    let tag = |headers: &mut actix_web::http::header::HeaderMap| {
        if let Some(value) = header.clone() {
            headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
    };
    CURRENT_REQUEST
        .scope(id, async move {
            match next.call(req).await {
                Ok(response) => {
                    let mut response = response.map_into_boxed_body();
                    tag(response.headers_mut());
                    Ok(response)
                }
                // Rendered here, where the id is known, rather than by the server afterwards.
                Err(error) => {
                    let mut response = error.error_response();
                    tag(response.headers_mut());
                    Err(InternalError::from_response(error, response).into())
                }
            }
        })
        .await
}

/// Counts every answer for the metrics: its route pattern (not its path, whose ids would make
/// a series each), method, status and time.
pub async fn measured(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let arrived = Instant::now();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::app::AppState>>()
        .map(|state| state.live.metrics.clone());
    let method = req.method().clone();
    let answer = next.call(req).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &answer {
            Ok(response) => (response.request().match_pattern(), response.status()),
            Err(error) => (None, error.as_response_error().status_code()),
        };
        metrics.request(
            route.as_deref(),
            method.as_str(),
            status.as_u16(),
            arrived.elapsed(),
        );
    }
    Ok(answer?.map_into_boxed_body())
}
