//! The Tokens pages: the list, a token's details, and the actions of the ⋮ menu.

pub mod actions;
pub mod advice;
pub mod bulk;
pub mod confirm;
pub mod details;
pub mod edit;
pub mod leaks;
pub mod list;
pub mod requests;
pub mod review;
pub mod usage;
pub mod wizard;

use crate::db::approvals::{ApprovalRequest, RequestKind};
use crate::db::tokens::Token;
use crate::domain::access::Person;
use crate::domain::api_key::ApiKey;
use crate::domain::ids::TokenId;
use crate::domain::lifecycle::{EXPIRING_SOON_DAYS, RateLimit};
use crate::domain::policy::{AccountPolicy, Breach};
use crate::domain::token::TokenStatus;
use crate::domain::usage::{ago, recently_used};
use crate::error::AppError;
use chrono::{NaiveDate, NaiveDateTime};

/// The Tokens list: the home page, and where actions return to by default.
pub const LIST_PATH: &str = "/integrations/tokens";

/// How the UI writes a moment: `2021-05-18 04:28` (UTC). Year first, as dates are typed (the
/// expiry's `YYYY-MM-DD`), so that no reader takes 07/03 for 3 July.
pub fn format_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// How the UI writes a day: `2021-05-18`, the way it is typed.
pub fn format_day(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A token as the pages show it.
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub external_id: String,
    pub extension_id: &'static str,
    pub extension_name: &'static str,
    pub extension_title: &'static str,
    pub extension_explanation: &'static str,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub is_disabled: bool,
    pub masked_key: String,
    pub created_at: String,
    pub created_by: String,
    /// Who it acts for, when that is not who made it (a token handed over, or made by a key).
    pub owner: Option<String>,
    pub updated_at: String,
    pub updated_by: String,
    pub expires_at: Option<String>,
    pub last_used: Option<String>,
    /// When it was last used, as people say it ("2 hours ago"), for the list.
    pub last_used_ago: Option<String>,
    /// Whether the viewer may edit, disable, enable, delete it and reveal its key: the pages
    /// offer only what the viewer may do.
    pub manageable: bool,
    /// Days left, for an active token that expires within two weeks.
    pub expires_in_days: Option<i64>,
    /// Until when the key replaced by the last rotation still works.
    pub previous_key_until: Option<String>,
    /// The networks the key may be used from; empty means anywhere.
    pub allowed_networks: Vec<String>,
    /// "60 requests per minute", or "No limit".
    pub rate_limit: String,
    /// Used in the last seven days: disabling or deleting it passes through a confirmation
    /// that says so.
    pub recently_used: bool,
    /// The rule of the account's policy it breaks ("lifetime over 90 days"): its key is
    /// refused until it is renewed or edited within the policy.
    pub breaks_policy: Option<String>,
    /// What waits for an admin's approval, or what an admin decided last.
    pub approval_note: Option<String>,
}

impl TokenView {
    pub fn new(token: &Token, now: NaiveDateTime, viewer: &Person) -> Self {
        let status = token.status(now);
        Self {
            id: token.id.to_string(),
            name: token.name.clone(),
            description: token.description.clone(),
            external_id: token.external_id.clone(),
            extension_id: token.extension.id(),
            extension_name: token.extension.name(),
            extension_title: token.extension.title(),
            extension_explanation: token.extension.explanation(),
            status_label: status.label(),
            status_class: status.as_str(),
            is_disabled: token.stored_status == crate::domain::token::StoredStatus::Inactive,
            masked_key: ApiKey::masked(&token.id),
            created_at: format_time(token.created.at),
            created_by: token.created.by.name.clone(),
            owner: (token.owner.id != token.created.by.id).then(|| token.owner.name.clone()),
            updated_at: format_time(token.updated.at),
            updated_by: token.updated.by.name.clone(),
            expires_at: token.expires_at.map(format_time),
            last_used: token.last_used_at.map(|at| match &token.last_used_ip {
                Some(ip) => format!("{} from {ip}", format_time(at)),
                None => format_time(at),
            }),
            last_used_ago: token.last_used_at.map(|at| ago(at, now)),
            manageable: viewer.may_manage_token(&token.owner).is_ok(),
            expires_in_days: token
                .expires_at
                .filter(|_| status == TokenStatus::Active)
                // Whole days, rounded up: a key that works for five more days says five.
                .map(|at| ((at - now).num_seconds() + 86_399).div_euclid(86_400))
                .filter(|days| *days < EXPIRING_SOON_DAYS),
            previous_key_until: token
                .previous_key_until
                .filter(|until| *until > now)
                .map(format_time),
            allowed_networks: token
                .allowed_networks
                .iter()
                .map(ToString::to_string)
                .collect(),
            rate_limit: match token.rate_limit.map(RateLimit::get) {
                Some(1) => "1 request per minute".to_owned(),
                Some(limit) => format!("{limit} requests per minute"),
                None => "No limit".to_owned(),
            },
            recently_used: recently_used(token.last_used_at, now),
            breaks_policy: None,
            approval_note: None,
        }
    }

    /// With what waits for approval (`open`), else the last decision (`decided`).
    pub fn with_approval(
        mut self,
        open: Option<&ApprovalRequest>,
        decided: Option<&ApprovalRequest>,
    ) -> Self {
        let modules = |r: &ApprovalRequest| r.modules.names();
        self.approval_note = match (open, decided) {
            (Some(open), _) if open.kind == RequestKind::Permissions => Some(format!(
                "{} asked for {} on {}; this waits for an admin's approval, and the permissions \
                 below stay as they are until then.",
                open.requested_by.name,
                modules(open),
                format_time(open.requested_at)
            )),
            (Some(_), _) => None,
            (None, Some(decided)) => decided.decision.as_ref().map(|(decision, by, at, note)| {
                let mut line = format!(
                    "{} {} the request for {} on {}",
                    by.name,
                    decision.as_str(),
                    modules(decided),
                    format_time(*at)
                );
                if note.is_empty() {
                    line.push('.');
                } else {
                    line.push_str(&format!(": “{note}”"));
                }
                line
            }),
            (None, None) => None,
        };
        self
    }

    /// Marked with the rule of `policy` it breaks, if any.
    pub fn judged(mut self, token: &Token, policy: &AccountPolicy) -> Self {
        self.breaks_policy = policy.breach(token.key_terms()).map(Breach::describe);
        self
    }
}

/// A token id from the path; anything malformed cannot exist, so it is a 404 like an unknown id.
pub fn token_id(raw: &str) -> Result<TokenId, AppError> {
    TokenId::parse(raw).map_err(|_| AppError::NotFound)
}

/// One entry of a `<select>`.
pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl SelectOption {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
            selected,
        }
    }
}
