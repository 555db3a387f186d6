//! Builds the HTTP server (its middleware, with the UI's and the API's route tables) and starts
//! the jobs beside it.

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::DbPool;
use crate::domain::passkey::PublicUrl;
use crate::error::{AppError, error_page};
use crate::live::worker::Workers;
use crate::live::{Live, jobs};
use crate::request::{API_BASE, MAX_BODY_BYTES, RequestSpan, VERIFY_PATH};
use crate::services::passkeys::RelyingParty;
use crate::web;
use crate::web::session::DbSessionStore;
use actix_session::SessionMiddleware;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, NormalizePath, from_fn};
use actix_web::{App, HttpServer, web as aweb};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

/// Enough to keep the pool's connections busy across the default two workers.
const BLOCKING_THREADS_PER_WORKER: usize = 4;

pub const SESSION_COOKIE: &str = "tokendesk_session";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// What every answer carries (a handler's may say otherwise: the assets are cached).
const HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// What a form answered with a page instead of a redirect (a value to correct, a refusal, an
/// error page) is sent with: the browser keeps it for its history, so that Back over it shows it
/// again instead of asking to send the form once more ("Confirm Form Resubmission"); private,
/// and revalidated on any other visit. Every other answer keeps `no-store`.
const KEPT_FOR_BACK: &str = "private, no-cache";

/// How long a graceful stop waits for the requests under way.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// How long the stop waits for the jobs beside the requests (their final rounds included): a
/// job still waiting on the database then is left behind, so that the process ends whatever
/// the database does.
const WORKERS_STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The server and the work beside it.
pub struct Service {
    server: Server,
    /// `/metrics` on an address of its own, when configured, and that address.
    metrics: Option<(Server, SocketAddr)>,
    workers: Workers,
    state: aweb::Data<AppState>,
    spool_dir: PathBuf,
}

impl Service {
    /// What the handlers reach: the pool, the clock, what is kept in memory.
    pub fn state(&self) -> aweb::Data<AppState> {
        self.state.clone()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, address)| *address)
    }

    /// What stops the server: `stop(true)` stops accepting, lets the requests under way finish
    /// (for up to 30 s) and then ends `run_until_stopped`.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then stops the jobs (writing what is buffered) and closes the
    /// database connections. API use the last flush could not write (the database away, or too
    /// slow to answer within the jobs' deadline) goes to the spool folder for the next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| server);
        let metrics_stop = metrics.as_ref().map(Server::handle);
        // The metrics go on while requests finish, and stop with the server.
        let main = async move {
            let served = self.server.await;
            if let Some(metrics) = metrics_stop {
                metrics.stop(true).await;
            }
            served
        };
        let (served, _) = futures_util::future::join(main, async move {
            if let Some(metrics) = metrics {
                let _ = metrics.await;
            }
        })
        .await;
        let (workers, state, spool_dir) = (self.workers, self.state, self.spool_dir);
        // Waiting for threads blocks; not on the async threads.
        let _ = actix_web::rt::task::spawn_blocking(move || {
            workers.stop(WORKERS_STOP_DEADLINE);
            match state.live.usage.spool(&spool_dir) {
                Ok((0, _)) => {}
                Ok((requests, files)) => tracing::warn!(
                    requests,
                    files = ?files,
                    "the API use recorded before the stop could not be written; spooled for the next start"
                ),
                Err(error) => tracing::error!(
                    %error,
                    folder = %spool_dir.display(),
                    requests = state.live.usage.pending(),
                    "the API use recorded before the stop could be neither written nor spooled: it is lost"
                ),
            }
            drop(state);
        })
        .await;
        tracing::info!("stopped");
        served
    }
}

/// A failure no handler answered (a middleware's: the session store's, say) is answered as any
/// other: the UI's error page or the API's error body, with the headers every answer carries
/// (its id is added outside), never an empty 500.
async fn failures_answered(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let api = req.path().starts_with(API_BASE) || req.path().starts_with(VERIFY_PATH);
    match next.call(req).await {
        Ok(response) => Ok(response.map_into_boxed_body()),
        Err(error) => {
            let status = error.as_response_error().status_code();
            let mut response = if api {
                tracing::error!(%error, "an API request failed outside its handler");
                let code = if status.is_server_error() {
                    "SRV_001"
                } else {
                    "REQ_001"
                };
                ApiError::new(
                    status,
                    code,
                    "The request could not be completed; try again.",
                )
                .error_response()
            } else if status.is_server_error() {
                AppError::internal("outside the handler", &error).error_response()
            } else {
                error_page(
                    status,
                    "Request refused",
                    "The request could not be completed.",
                )
            };
            add_headers(response.headers_mut());
            Err(actix_web::error::InternalError::from_response(error, response).into())
        }
    }
}

/// `HEADERS` on every answer that has not set them itself, but a forward-auth check that lets
/// a request through: that answer goes to the proxy alone, never to a browser (nginx keeps
/// nothing of it but the `X-Tokendesk-*` headers; Traefik and Envoy copy only the headers they
/// are told to), and it is on the path of every request the proxy receives; it keeps only
/// `Cache-Control: no-store`, which a proxy with a cache heeds (a cached check would let any
/// key, or none, through). A refusal keeps them all: Traefik hands it to the client as it is.
async fn for_browsers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header::HeaderValue;
    let mut response = next.call(req).await?;
    let for_proxy = response.status().is_success() && response.request().path() == VERIFY_PATH;
    let headers = response.headers_mut();
    if for_proxy {
        headers.insert(
            actix_web::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    } else {
        add_headers(headers);
    }
    Ok(response)
}

/// `HEADERS`, each unless the answer has set it itself.
fn add_headers(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    for (name, value) in HEADERS {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// See `KEPT_FOR_BACK`: a form's answer that refused it, as a page (the API's are not pages).
async fn refusals_kept_for_back(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
    let form = req.method() == actix_web::http::Method::POST && !req.path().starts_with(API_BASE);
    let mut response = next.call(req).await?;
    let page = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if form
        && page
        && response.status().is_client_error()
        && !response.headers().contains_key(CACHE_CONTROL)
    {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(KEPT_FOR_BACK));
    }
    Ok(response)
}

/// Starts serving on `listener` (signals are the caller's to handle: see `Service::handle`),
/// telling the time by `clock`.
pub fn run(
    listener: TcpListener,
    pool: DbPool,
    config: &Config,
    clock: Clock,
) -> std::io::Result<Service> {
    let live = Live::new(&pool);
    let key = Key::from(&config.session_key);
    let store = DbSessionStore::new(pool.clone(), clock.clone());
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => PublicUrl::of_address(listener.local_addr()?),
    };
    let state = aweb::Data::new(AppState {
        pool,
        clock,
        master_key: config.master_key.clone(),
        live,
        passwords: Default::default(),
        trusted_proxies: config.trusted_proxies.clone(),
        routes: config.routes.clone(),
        cookie_key: key.clone(),
        cookie_secure: config.cookie_secure,
        passkeys: RelyingParty::new(public_url),
    });
    let app_state = state.clone();
    let cookie_secure = config.cookie_secure;
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store.clone(), key.clone())
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_secure(cookie_secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .build();
        App::new()
            .app_data(app_state.clone())
            .app_data(
                aweb::FormConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|e, _| {
                        AppError::BadRequest(format!("The form could not be read: {e}")).into()
                    }),
            )
            .app_data(aweb::QueryConfig::default().error_handler(|e, _| {
                AppError::BadRequest(format!("The address could not be read: {e}")).into()
            }))
            .app_data(aweb::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
            .wrap(from_fn(web::sudo::guard))
            .wrap(from_fn(web::csrf::protect))
            .wrap(from_fn(web::chrome::error_pages_in_frame))
            .wrap(sessions)
            .wrap(from_fn(failures_answered))
            .wrap(from_fn(refusals_kept_for_back))
            .wrap(from_fn(for_browsers))
            .wrap(from_fn(crate::request::with_request_id))
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(NormalizePath::trim())
            .wrap(from_fn(crate::api::verify::arrived))
            .wrap(from_fn(crate::request::measured))
            .configure(crate::api::configure)
            .configure(web::configure)
    })
    // Database work runs on each worker's blocking threads; more of them than pooled connections
    // only queue on the pool's lock.
    .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .disable_signals()
    .listen(listener)?
    .run();
    let metrics = match &config.metrics_bind {
        Some(bind) => Some(metrics_server(bind, state.clone())?),
        None => None,
    };
    // Once the server listens: a server that cannot listen leaves no job behind.
    let workers = jobs::start(jobs::Setting {
        pool: &state.pool,
        url: &config.database,
        timeout: config.database_timeout,
        live: &state.live,
        clock: &state.clock,
        spool_dir: &config.spool_dir,
        mail: config.mail.as_ref(),
    });
    Ok(Service {
        server,
        metrics,
        workers,
        state,
        spool_dir: config.spool_dir.clone(),
    })
}

/// `GET /metrics` alone, on `bind`: an address operators keep from the public, apart from the
/// UI's and the API's.
fn metrics_server(
    bind: &str,
    state: aweb::Data<AppState>,
) -> std::io::Result<(Server, SocketAddr)> {
    let listener = TcpListener::bind(bind).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("TOKENDESK_METRICS_BIND: cannot listen on {bind}: {e}"),
        )
    })?;
    let address = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", aweb::get().to(web::health::metrics))
    })
    .workers(1)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((server, address))
}
