//! The confirmation before disabling, enabling or deleting tokens, one (from the ⋮ menu or the
//! details page) or several (from the list's selection): every token with what it is doing now,
//! so nobody stops a key a program still uses without being told.

use super::usage::WarningView;
use super::{LIST_PATH, TokenView};
use crate::db::tokens::Token;
use crate::domain::access::Person;
use crate::domain::ids::TokenId;
use crate::domain::token::TokenAction;
use crate::domain::usage::RecentUse;
use crate::error::AppError;
use crate::services::tokens::Refusal;
use crate::web::{Layout, page};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::NaiveDateTime;
use std::collections::HashMap;

/// A token on the page, with its warning when it was used in the last seven days.
pub struct ConfirmRow {
    pub token: TokenView,
    pub warning: Option<WarningView>,
}

/// Where the confirmation is sent.
pub enum Target {
    /// The token's own action: `/integrations/tokens/{id}/{action}`.
    One(TokenId),
    /// The list's selection: `/integrations/tokens/bulk` with the ids again.
    Selection,
    /// The live keys a check of pasted text found: `/integrations/tokens/leaks/disable` with
    /// the check's id. What the requester may disable is, the rest is named for an admin.
    Leaked { check: String },
}

#[derive(Template)]
#[template(path = "tokens/confirm.html")]
pub struct ConfirmPage {
    layout: Layout,
    heading: String,
    lead: &'static str,
    rows: Vec<ConfirmRow>,
    /// One token from its menu or page: asked about by name, in a sentence.
    single: bool,
    in_use: usize,
    refusals: Vec<String>,
    verb: &'static str,
    action_url: String,
    /// For a selection: the action and the ids, sent again with the confirmation.
    bulk_action: Option<&'static str>,
    ids: Vec<String>,
    /// For leaked keys: the check whose keys are disabled.
    check: Option<String>,
    /// The confirmation acts on what it may and names the rest (`refusals`) for an admin.
    partial: bool,
    /// The action done, for a sentence: "disabled".
    done: &'static str,
    button: String,
    danger: bool,
    return_to: String,
    status: StatusCode,
}

pub struct Confirmation<'a> {
    pub action: TokenAction,
    pub target: Target,
    pub tokens: &'a [Token],
    pub recent: &'a HashMap<TokenId, RecentUse>,
    pub refusals: &'a [Refusal],
    pub now: NaiveDateTime,
    pub return_to: String,
}

fn count(n: usize) -> String {
    if n == 1 {
        "token".to_owned()
    } else {
        format!("{n} tokens")
    }
}

impl ConfirmPage {
    pub fn new(layout: Layout, viewer: &Person, confirmation: Confirmation<'_>) -> Self {
        let Confirmation {
            action,
            target,
            tokens,
            recent,
            refusals,
            now,
            return_to,
        } = confirmation;
        let selected = tokens.len() + refusals.len();
        let rows: Vec<ConfirmRow> = tokens
            .iter()
            .map(|token| ConfirmRow {
                token: TokenView::new(token, now, viewer),
                warning: recent
                    .get(&token.id)
                    .filter(|_| action.stops_keys())
                    .map(|used| WarningView::new(used, now)),
            })
            .collect();
        let single = matches!(target, Target::One(_));
        let (action_url, bulk_action, ids, check) = match target {
            Target::One(id) => (
                format!("{LIST_PATH}/{id}/{}", action.as_param()),
                None,
                Vec::new(),
                None,
            ),
            Target::Selection => (
                format!("{LIST_PATH}/bulk"),
                Some(action.as_param()),
                tokens.iter().map(|t| t.id.to_string()).collect(),
                None,
            ),
            Target::Leaked { check } => (
                format!("{LIST_PATH}/leaks/disable"),
                None,
                Vec::new(),
                Some(check),
            ),
        };
        let partial = check.is_some() && !tokens.is_empty();
        let lead = match (action, single) {
            (TokenAction::Disable, true) => {
                "Programs that use its key will be refused from their next request on, until it is enabled again."
            }
            (TokenAction::Disable, false) => {
                "Programs that use these keys will be refused from their next request on, until the tokens are enabled again."
            }
            (TokenAction::Enable, true) => {
                "Its key will work again from the next request on (an expired token stays expired)."
            }
            (TokenAction::Enable, false) => {
                "Their keys will work again from the next request on (an expired token stays expired)."
            }
            (TokenAction::Delete, true) => {
                "Programs that use its key will be refused from their next request on. This cannot be undone."
            }
            (TokenAction::Delete, false) => {
                "Programs that use these keys will be refused from their next request on. This cannot be undone."
            }
        };
        let status = if refusals.is_empty() || partial {
            StatusCode::OK
        } else if tokens.is_empty() && refusals.iter().all(|r| r.name.is_none()) {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        Self {
            status,
            layout,
            heading: format!(
                "{} {}?",
                action.label(),
                count(if partial { tokens.len() } else { selected })
            ),
            lead,
            in_use: rows.iter().filter(|r| r.warning.is_some()).count(),
            single: single && rows.len() == 1,
            rows,
            refusals: refusals.iter().map(ToString::to_string).collect(),
            verb: action.as_param(),
            action_url,
            bulk_action,
            ids,
            check,
            partial,
            done: action.done(),
            button: if tokens.len() == 1 && single {
                action.label().to_owned()
            } else {
                format!("{} {}", action.label(), count(tokens.len()))
            },
            danger: action.stops_keys(),
            return_to,
        }
    }

    /// 200 to confirm; 403 when a token may not be touched (404 when none exists).
    pub fn respond(&self) -> Result<HttpResponse, AppError> {
        page(self, self.status)
    }
}
