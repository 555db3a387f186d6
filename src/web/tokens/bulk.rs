//! The list's selection: Disable, Enable or Delete for every ticked token. The first POST shows
//! the confirmation (every token, with its recent use); the second, with `confirm=yes`, acts on
//! all of them in one transaction, or on none when one may not be touched.

use super::LIST_PATH;
use super::confirm::{ConfirmPage, Confirmation, Target};
use crate::app::AppState;
use crate::db::tokens::Token;
use crate::db::usage;
use crate::domain::ids::TokenId;
use crate::domain::list_query::PAGE_SIZES;
use crate::domain::token::TokenAction;
use crate::domain::usage::RecentUse;
use crate::error::AppError;
use crate::services::tokens::{self as token_service, Refusal};
use crate::services::{self, Once, Sent};
use crate::web::session::TypedSession;
use crate::web::{ALREADY_DONE, CurrentUser, Layout, local_path, see_other};
use actix_web::{HttpResponse, post, web};
use std::collections::HashMap;

/// More than the largest page holds is not a selection made on the list.
pub const MAX_SELECTED: usize = PAGE_SIZES[PAGE_SIZES.len() - 1] as usize;

/// The form as sent: `action`, `ids` (repeated), `confirm`, `return_to`.
pub(super) struct BulkForm {
    action: Option<String>,
    ids: Vec<String>,
    pub(super) confirmed: bool,
    return_to: String,
    /// The confirmation's one-time id: sent twice, it acts once.
    pub(super) form_id: Option<String>,
}

impl BulkForm {
    pub(super) fn parse(fields: Vec<(String, String)>) -> Self {
        let mut form = Self {
            action: None,
            ids: Vec::new(),
            confirmed: false,
            return_to: LIST_PATH.to_owned(),
            form_id: None,
        };
        for (name, value) in fields {
            match name.as_str() {
                "action" => form.action = Some(value),
                "ids" => form.ids.push(value),
                "confirm" => form.confirmed = value == "yes",
                "form_id" => form.form_id = Some(value),
                "return_to" => {
                    form.return_to =
                        local_path(Some(&value), LIST_PATH).unwrap_or_else(|| LIST_PATH.to_owned());
                }
                _ => {}
            }
        }
        form
    }

    /// The selected ids: at most a page's worth, each a valid token id. An id that cannot exist
    /// is refused like one that does not: by name, nothing changed.
    pub(super) fn token_ids(&self) -> Result<Vec<TokenId>, AppError> {
        if self.ids.len() > MAX_SELECTED {
            return Err(AppError::BadRequest(format!(
                "Select at most {MAX_SELECTED} tokens at once."
            )));
        }
        self.ids
            .iter()
            .map(|raw| TokenId::parse(raw.trim()))
            .collect::<Result<_, _>>()
            .map_err(|_| AppError::BadRequest("The selection holds an invalid token id.".into()))
    }
}

/// What a selection came to.
pub(super) enum Outcome {
    /// This many tokens were acted on.
    Done(usize),
    /// The confirmation was sent before, and acted then: where that went.
    AlreadyDone(String),
    /// Not yet: the tokens, their recent use and the refusals the confirmation shows.
    Confirm(Vec<Token>, HashMap<TokenId, RecentUse>, Vec<Refusal>),
}

/// What the confirmation of a selection was sent with.
pub(super) struct Confirmed {
    /// The confirmation's one-time id, if it had one.
    pub form_id: Option<String>,
    /// Where a second sending of it goes.
    pub result: String,
}

/// Confirmed, does `action` to all of `ids` (with `reason` on each event) or to none, once per
/// confirmation; not yet, reads what the confirmation shows.
pub(super) async fn act_or_confirm(
    current: &CurrentUser,
    state: &AppState,
    ids: Vec<TokenId>,
    action: TokenAction,
    reason: Option<&'static str>,
    confirmed: Option<Confirmed>,
) -> Result<Outcome, AppError> {
    let now = current.at;
    current
        .run(state, move |conn, by| {
            if let Some(confirmed) = confirmed {
                let sent = Sent {
                    form_id: confirmed.form_id.as_deref(),
                    result: &confirmed.result,
                };
                let acted = services::once(conn, by, &sent, |conn| {
                    token_service::act_on_selection(conn, by, &ids, action, reason)
                })?;
                return match acted {
                    Once::Done(Ok(done)) => Ok(Outcome::Done(done.len())),
                    Once::AlreadyDone(result) => Ok(Outcome::AlreadyDone(result)),
                    Once::Done(Err(refusals)) => {
                        let (tokens, _) = token_service::check_selection(conn, by, &ids)?;
                        Ok(Outcome::Confirm(tokens, HashMap::new(), refusals))
                    }
                };
            }
            let (tokens, refusals) = token_service::check_selection(conn, by, &ids)?;
            let recent = usage::recent_use(conn, &tokens, now)?;
            Ok(Outcome::Confirm(tokens, recent, refusals))
        })
        .await
}

#[post("/integrations/tokens/bulk")]
pub async fn act_on_selection(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let form = BulkForm::parse(form.into_inner());
    let action = form
        .action
        .as_deref()
        .and_then(TokenAction::parse)
        .ok_or_else(|| AppError::BadRequest("Choose Disable, Enable or Delete.".into()))?;
    if form.ids.is_empty() {
        session.set_flash("Select at least one token first.");
        return Ok(see_other(&form.return_to));
    }
    let ids = form.token_ids()?;
    let now = current.at;
    let confirmed = form.confirmed.then(|| Confirmed {
        form_id: form.form_id.clone(),
        result: form.return_to.clone(),
    });
    let (tokens, recent, refusals) =
        match act_or_confirm(&current, &state, ids, action, None, confirmed).await? {
            Outcome::Done(count) => {
                let what = if count == 1 {
                    "1 token".to_owned()
                } else {
                    format!("{count} tokens")
                };
                session.set_done(&format!("{what} {}.", action.done()));
                return Ok(see_other(&form.return_to));
            }
            Outcome::AlreadyDone(result) => {
                session.set_flash(ALREADY_DONE);
                return Ok(see_other(&result));
            }
            Outcome::Confirm(tokens, recent, refusals) => (tokens, recent, refusals),
        };
    let confirmation = Confirmation {
        action,
        target: Target::Selection,
        tokens: &tokens,
        recent: &recent,
        refusals: &refusals,
        now,
        return_to: form.return_to,
    };
    ConfirmPage::new(
        Layout::new(&current, &session),
        &current.person(),
        confirmation,
    )
    .respond()
}
