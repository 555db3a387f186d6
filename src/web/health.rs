//! Probes for load balancers and orchestrators.

use crate::app::AppState;
use crate::db::{self, DatabaseUrl};
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;

/// The process is alive, and which build it runs; touches nothing.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "version": crate::VERSION}))
}

/// The database answers. PostgreSQL: as the watch last found it (asked every 250 ms), so the
/// answer comes at once whatever the server does; SQLite: a file, asked now.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = match state.pool.url() {
        DatabaseUrl::Postgres(_) => state.pool.health().is_up(),
        DatabaseUrl::Sqlite(_) => db::run(&state.pool, |conn| {
            conn.batch_execute("SELECT 1").map_err(db::DbError::from)
        })
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "readiness check failed"))
        .is_ok(),
    };
    if ready {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
            .json(serde_json::json!({"status": "unavailable"}))
    }
}

/// What this instance counts of its work, in Prometheus' text format: served only on the
/// metrics address (`TOKENDESK_METRICS_BIND`), never beside the UI and the API.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.live.metrics.render(&state.live, &state.pool);
    HttpResponse::Ok()
        .content_type(crate::live::metrics::CONTENT_TYPE)
        .body(text)
}
