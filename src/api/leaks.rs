//! `POST /auth/tokens/leaks`: the leaked-keys check of the web page, for programs (a ticket
//! system's hook, a chat bot). Live keys of the caller's account are disabled at once.

use super::auth::{ApiCaller, ApiRequest};
use super::body::ApiBody;
use super::error::ApiError;
use super::idempotency::{Answer, Idempotency, once};
use super::views::{LeakOut, LeaksIn};
use crate::app::AppState;
use crate::db::DbConnection;
use crate::db::leaks::{self, Sighting};
use crate::domain::leaks::{LeakResult, MAX_TEXT_BYTES, REASON, unique_keys};
use crate::domain::module::Module;
use crate::domain::token::{TokenAction, TokenStatus};
use crate::services::tokens::act_on_selection;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;

fn result_of(sighting: &Sighting) -> LeakResult {
    match sighting {
        Sighting::Unknown(_) => LeakResult::NotFound,
        Sighting::Yours {
            secret_matches: false,
            ..
        } => LeakResult::SecretMismatch,
        Sighting::Yours {
            status: TokenStatus::Active,
            ..
        } => LeakResult::Disabled,
        Sighting::Yours { .. } => LeakResult::AlreadyInactive,
    }
}

/// Finds every key in `text` (once each); disables the caller's account's live ones, with the
/// reason "reported as leaked", all of them or none (403 naming one the key may not manage).
#[utoipa::path(
    post, path = "/auth/tokens/leaks", tag = "tokens",
    responses((status = 200, body = [LeakOut])),
    security(("ApiKey" = []))
)]
pub async fn report(
    req: HttpRequest,
    api: ApiRequest,
    state: web::Data<AppState>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let now = api.at();
    let idempotency = Idempotency::of(&req, body.bytes());
    let master_key = state.master_key.clone();
    let input = body.parse_strict::<LeaksIn>().and_then(|input| {
        if input.text.len() > MAX_TEXT_BYTES {
            return Err(ApiError::too_large(MAX_TEXT_BYTES));
        }
        Ok(input)
    });
    let (_, (answer, replayed)) = api
        .run(Some(Module::INTEGRATIONS), move |conn, caller| {
            let idempotency = idempotency?;
            once(conn, caller, &master_key, idempotency.as_ref(), |conn| {
                disable_live(conn, caller, &input?.text, now)
            })
        })
        .await?;
    Ok(answer.response(replayed))
}

/// Disables the caller's account's live keys in `text`, all or none; what became of each key.
fn disable_live(
    conn: &mut DbConnection,
    caller: &ApiCaller,
    text: &str,
    now: NaiveDateTime,
) -> Result<Answer, ApiError> {
    let keys = unique_keys(text);
    let sightings = leaks::sightings(conn, &caller.account().id, &keys, now)?;
    let live: Vec<_> = sightings
        .iter()
        .filter(|s| s.is_live())
        .map(|s| s.id().clone())
        .collect();
    if !live.is_empty() {
        let by = caller.requester();
        if let Err(refusals) =
            act_on_selection(conn, &by, &live, TokenAction::Disable, Some(REASON))?
        {
            let reasons: Vec<String> = refusals.iter().map(ToString::to_string).collect();
            return Err(ApiError::beyond_reach(format!(
                "Nothing was disabled: {}",
                reasons.join("; ")
            )));
        }
    }
    let found: Vec<LeakOut> = sightings
        .iter()
        .map(|s| LeakOut {
            id: s.id().to_string(),
            result: result_of(s).as_str(),
        })
        .collect();
    Answer::new(StatusCode::OK, &found)
}
