//! Probes for load balancers and orchestrators.

use crate::app::AppState;
use crate::db;
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;

/// The process is alive; touches nothing.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match db::run(&state.pool, |conn| {
        conn.batch_execute("SELECT 1").map_err(db::DbError::from)
    })
    .await
    {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
                .json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
