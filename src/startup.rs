//! Builds the HTTP server: middleware and the one route table.

use crate::clock::Clock;
use crate::config::Config;
use crate::db::DbPool;
use crate::db::keys::KeyWatch;
use crate::db::rates::{RateExchange, RateLimiter};
use crate::db::usage::UsageBuffer;
use crate::domain::network::Network;
use crate::domain::secret_box::MasterKey;
use crate::error::AppError;
use crate::housekeeping::Housekeeping;
use crate::request::{MAX_BODY_BYTES, RequestSpan};
use crate::web;
use crate::web::session::DbSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{DefaultHeaders, NormalizePath, from_fn};
use actix_web::{App, HttpServer, web as aweb};
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;

/// What every handler, of the UI and of the API, can reach.
pub struct AppState {
    pub pool: DbPool,
    pub master_key: MasterKey,
    /// API use waiting to be written; see `db::usage`.
    pub usage: Arc<UsageBuffer>,
    /// Per-key rate limits; see `db::rates`.
    pub rates: Arc<RateLimiter>,
    /// Password checks at once: each takes ~20 MiB and a core for a while, and they share the
    /// blocking threads with database work, which they must not crowd out.
    pub password_checks: tokio::sync::Semaphore,
    pub clock: Clock,
    pub trusted_proxies: Vec<Network>,
    /// Signs the known-device cookie (the session key's).
    pub cookie_key: Key,
    pub cookie_secure: bool,
}

/// One per core of the machine this is sized for.
const PASSWORD_CHECKS_AT_ONCE: usize = 2;

/// Enough to keep the pool's connections busy across the default two workers.
const BLOCKING_THREADS_PER_WORKER: usize = 4;

pub const SESSION_COOKIE: &str = "tokendesk_session";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// How long a graceful stop waits for the requests under way.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// The server and the work beside it.
pub struct Service {
    server: Server,
    housekeeping: Housekeeping,
    key_watch: KeyWatch,
    rate_exchange: RateExchange,
    pool: DbPool,
    usage: Arc<UsageBuffer>,
}

impl Service {
    /// The API use recorded and not yet written (written every few seconds and at the stop).
    pub fn usage(&self) -> Arc<UsageBuffer> {
        self.usage.clone()
    }

    /// What stops the server: `stop(true)` stops accepting, lets the requests under way finish
    /// (for up to 30 s) and then ends `run_until_stopped`.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then writes every buffer and closes the database connections.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let (housekeeping, key_watch, pool) = (self.housekeeping, self.key_watch, self.pool);
        let rate_exchange = self.rate_exchange;
        // Joining a thread and writing to the database block; not on the async threads.
        let _ = actix_web::rt::task::spawn_blocking(move || {
            rate_exchange.stop();
            key_watch.stop();
            housekeeping.stop();
            drop(pool);
        })
        .await;
        tracing::info!("stopped");
        served
    }
}

/// Starts serving on `listener` (signals are the caller's to handle: see `Service::handle`),
/// telling the time by `clock`.
pub fn run(
    listener: TcpListener,
    pool: DbPool,
    config: &Config,
    clock: Clock,
) -> std::io::Result<Service> {
    let usage = Arc::new(UsageBuffer::default());
    let housekeeping =
        Housekeeping::start(pool.clone(), &config.database, usage.clone(), clock.clone());
    let key_watch = KeyWatch::start(
        &config.database,
        config.database_timeout,
        pool.keys().clone(),
    );
    let rates = Arc::new(RateLimiter::default());
    let rate_exchange = RateExchange::start(pool.clone(), rates.clone(), clock.clone());
    let pool_for_stop = pool.clone();
    let usage_for_service = usage.clone();
    let key = Key::from(&config.session_key);
    let store = DbSessionStore::new(pool.clone(), clock.clone());
    let state = aweb::Data::new(AppState {
        pool,
        master_key: config.master_key.clone(),
        usage,
        rates,
        password_checks: tokio::sync::Semaphore::new(PASSWORD_CHECKS_AT_ONCE),
        clock,
        trusted_proxies: config.trusted_proxies.clone(),
        cookie_key: key.clone(),
        cookie_secure: config.cookie_secure,
    });
    let cookie_secure = config.cookie_secure;
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store.clone(), key.clone())
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_secure(cookie_secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .build();
        App::new()
            .app_data(state.clone())
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
            .wrap(from_fn(web::csrf::protect))
            .wrap(sessions)
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add(("Cache-Control", "no-store")),
            )
            .wrap(from_fn(crate::request::with_request_id))
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(NormalizePath::trim())
            .configure(crate::api::configure)
            .service(web::health::healthz)
            .service(web::health::readyz)
            .service(web::assets::asset)
            .service(web::auth::home)
            .service(web::auth::login_form)
            .service(web::auth::login)
            .service(web::auth::logout)
            .service(web::activity::activity)
            .service(web::activity::activity_csv)
            .service(web::account::users)
            .service(web::account::add_user)
            .service(web::account::change_role)
            .service(web::account::set_active)
            .service(web::account::sessions_page)
            .service(web::account::end_other_sessions)
            .service(web::account::end_session)
            .service(web::account::password_form)
            .service(web::account::change_password)
            .service(web::tokens::list::list)
            .service(web::tokens::review::review)
            .service(web::tokens::review::review_csv)
            .service(web::tokens::leaks::leaks_form)
            .service(web::tokens::leaks::check_leaks)
            .service(web::tokens::leaks::disable_leaked)
            // The wizard's fixed paths before `/integrations/tokens/{id}…`, which would take "new".
            .service(web::tokens::wizard::start)
            .service(web::tokens::wizard::general_form)
            .service(web::tokens::wizard::save_general)
            .service(web::tokens::wizard::extension_form)
            .service(web::tokens::wizard::save_extension)
            .service(web::tokens::wizard::permissions_form)
            .service(web::tokens::wizard::create)
            .service(web::tokens::wizard::summary)
            .service(web::tokens::wizard::cancel)
            .service(web::tokens::details::details)
            .service(web::tokens::details::reveal)
            .service(web::tokens::details::permissions)
            .service(web::tokens::advice::narrow)
            .service(web::tokens::edit::edit_form)
            .service(web::tokens::edit::edit)
            .service(web::tokens::actions::act)
            .service(web::tokens::actions::confirm_delete)
            .service(web::tokens::bulk::act_on_selection)
            .service(web::tokens::actions::confirm_rotate)
            .service(web::tokens::actions::rotate)
            .default_service(aweb::to(|| async {
                Err::<actix_web::HttpResponse, _>(AppError::NotFound)
            }))
    })
    // Database work runs on each worker's blocking threads; more of them than pooled connections
    // only queue on the pool's lock.
    .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(Service {
        server,
        housekeeping,
        key_watch,
        rate_exchange,
        pool: pool_for_stop,
        usage: usage_for_service,
    })
}
