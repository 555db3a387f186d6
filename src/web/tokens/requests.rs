//! What members asked an admin to approve: the queue, and approving or denying with a note.

use super::{format_time, token_id};
use crate::app::AppState;
use crate::db::approvals::{ApprovalRequest, Decision, RequestKind};
use crate::error::AppError;
use crate::services::{self, Once, Sent, ServiceError, approvals};
use crate::web::session::TypedSession;
use crate::web::{ALREADY_DONE, CurrentUser, Layout, Section, page, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

const REQUESTS: &str = "/integrations/tokens/requests";

/// A request as the queue shows it.
pub struct RequestRow {
    pub token_id: String,
    pub token_name: String,
    pub what: &'static str,
    pub modules: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: String,
}

impl From<ApprovalRequest> for RequestRow {
    fn from(request: ApprovalRequest) -> Self {
        Self {
            token_id: request.token_id.to_string(),
            token_name: request.token_name,
            what: match request.kind {
                RequestKind::Token => "A new token",
                RequestKind::Permissions => "More permissions",
            },
            modules: request.modules.names(),
            reason: request.reason,
            requested_by: request.requested_by.name,
            requested_at: format_time(request.requested_at),
        }
    }
}

#[derive(Template)]
#[template(path = "tokens/requests.html")]
struct RequestsPage {
    layout: Layout,
    rows: Vec<RequestRow>,
    error: Option<String>,
}

async fn requests_page(
    current: &CurrentUser,
    session: &TypedSession,
    state: &AppState,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let waiting = current.run(state, approvals::queue).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let shown = RequestsPage {
        layout: Layout::new(current, session).in_section(Section::Requests),
        rows: waiting.into_iter().map(RequestRow::from).collect(),
        error,
    };
    page(&shown, status)
}

/// The queue (admins), oldest request first.
#[get("/integrations/tokens/requests")]
pub async fn queue(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    requests_page(&current, &session, &state, None).await
}

/// The decision form: the admin's note, and the form's one-time id.
#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    note: String,
    form_id: Option<String>,
}

async fn decide(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    id: &str,
    form: DecisionForm,
    decision: Decision,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let id = token_id(id)?;
    let DecisionForm { note, form_id } = form;
    let done = {
        let id = id.clone();
        current
            .run(&state, move |conn, by| {
                let sent = Sent {
                    form_id: form_id.as_deref(),
                    result: REQUESTS,
                };
                let decided = services::once(conn, by, &sent, |conn| {
                    approvals::decide(conn, by, &id, decision, &note)
                });
                match decided {
                    Err(
                        ServiceError::Invalid { message, .. } | ServiceError::Rule { message, .. },
                    ) => Ok(Err(message)),
                    Err(ServiceError::Refused(why)) => Ok(Err(why)),
                    other => other.map(Ok),
                }
            })
            .await?
    };
    match done {
        Ok(Once::Done(token)) => {
            session.set_done(&format!(
                "“{}” was {}; its requester is told.",
                token.name,
                decision.as_str()
            ));
            Ok(see_other(REQUESTS))
        }
        Ok(Once::AlreadyDone(result)) => {
            session.set_flash(ALREADY_DONE);
            Ok(see_other(&result))
        }
        Err(why) => requests_page(&current, &session, &state, Some(why)).await,
    }
}

#[post("/integrations/tokens/{id}/approve")]
pub async fn approve(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    decide(
        current,
        session,
        state,
        &path,
        form.into_inner(),
        Decision::Approved,
    )
    .await
}

#[post("/integrations/tokens/{id}/deny")]
pub async fn deny(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    decide(
        current,
        session,
        state,
        &path,
        form.into_inner(),
        Decision::Denied,
    )
    .await
}
