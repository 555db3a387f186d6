//! The least-privilege advice on the Permissions tab: when the token last used each module and how
//! much, the panel naming the modules it holds without using them, and taking that advice
//! (**Remove unused modules**, or for a holder of All, replacing All by the modules it used)
//! after a confirmation.

use super::{LIST_PATH, TokenView, format_time, token_id};
use crate::app::AppState;
use crate::db::module_usage::{self, ModuleUsage};
use crate::db::tokens::Token;
use crate::domain::access::Person;
use crate::domain::least_privilege::{Advice, MIN_AGE_DAYS, Narrowing, UNUSED_DAYS, reached};
use crate::domain::module::{ModuleError, ModuleSet};
use crate::error::AppError;
use crate::services::tokens as token_service;
use crate::services::{self, Once, Sent};
use crate::web::forms::Fields;
use crate::web::session::TypedSession;
use crate::web::{ALREADY_DONE, CurrentUser, Layout, page, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, web};
use askama::Template;
use chrono::NaiveDateTime;

/// One module the token reaches, with its use.
pub struct ModuleUseRow {
    pub id: &'static str,
    pub name: &'static str,
    /// `yyyy-mm-dd hh:mm`, and the same as ISO 8601 for `<time>`; `None` when never used.
    pub last_used: Option<(String, String)>,
    pub last_month: u64,
    pub unused: bool,
}

/// The modules a token holding `held` reaches one by one (every module for All), with its use.
pub fn module_use_rows(
    held: &ModuleSet,
    usage: &ModuleUsage,
    now: NaiveDateTime,
) -> Vec<ModuleUseRow> {
    reached(held)
        .into_iter()
        .map(|module| {
            let last = usage.last_uses.get(&module).copied();
            ModuleUseRow {
                id: module.id,
                name: module.name,
                last_used: last
                    .map(|at| (format_time(at), at.format("%Y-%m-%dT%H:%M:%SZ").to_string())),
                last_month: usage.last_month.get(&module).copied().unwrap_or(0),
                unused: crate::domain::least_privilege::is_unused(last, now),
            }
        })
        .collect()
}

/// The advice panel, when the rule has something to say.
pub struct AdviceView {
    pub holds_all: bool,
    pub unused: Vec<&'static str>,
    pub used: Vec<&'static str>,
    /// The button's label, when the viewer may take the advice and the token may hold the result.
    pub button: Option<String>,
    /// Why the advice cannot be taken here, when it cannot.
    pub blocked: Option<String>,
}

/// What the Permissions tab says about unused modules.
pub struct AdviceSection {
    pub advice: Option<AdviceView>,
    /// Younger than `MIN_AGE_DAYS`: the tab says when the advice starts.
    pub too_early: bool,
    pub unused_days: i64,
    pub min_age_days: i64,
}

/// The button that replaces All by `used` modules, or removes the unused ones.
fn button_label(holds_all: bool, used: usize) -> String {
    match (holds_all, used) {
        (false, _) => "Remove unused modules".to_owned(),
        (true, 1) => "Replace All by the 1 module used".to_owned(),
        (true, n) => format!("Replace All by the {n} modules used"),
    }
}

/// Why a token of its extension cannot hold what the advice leaves.
fn why_not(error: &ModuleError) -> String {
    match error {
        ModuleError::Empty => "It used none of them, and a token must hold at least one module: \
                               disable or delete it if nothing needs it any more."
            .to_owned(),
        ModuleError::Fixed(title) => {
            format!("{title} tokens always hold All modules: this cannot be changed.")
        }
        ModuleError::Unknown(_) => error.to_string(),
    }
}

impl AdviceSection {
    pub fn new(
        token: &Token,
        held: &ModuleSet,
        usage: &ModuleUsage,
        now: NaiveDateTime,
        viewer: &Person,
    ) -> Self {
        let advice = Advice::of(token.created.at, held, &usage.last_uses, now);
        let view = match (&advice, Narrowing::of(&advice, held)) {
            (
                Advice::Overgranted {
                    holds_all,
                    unused,
                    used,
                },
                Some(narrowing),
            ) => {
                let allowed = token
                    .extension
                    .modules_for(narrowing.keep)
                    .map_err(|e| why_not(&e))
                    .and_then(|_| viewer.may_manage_token(&token.owner));
                Some(AdviceView {
                    holds_all: *holds_all,
                    unused: unused.iter().map(|m| m.name).collect(),
                    used: used.iter().map(|m| m.name).collect(),
                    button: allowed
                        .is_ok()
                        .then(|| button_label(*holds_all, used.len())),
                    blocked: allowed.err(),
                })
            }
            _ => None,
        };
        Self {
            advice: view,
            too_early: advice == Advice::TooEarly,
            unused_days: UNUSED_DAYS,
            min_age_days: MIN_AGE_DAYS,
        }
    }
}

#[derive(Template)]
#[template(path = "tokens/narrow.html")]
struct NarrowPage {
    layout: Layout,
    token: TokenView,
    heading: &'static str,
    holds_all: bool,
    removed: Vec<&'static str>,
    kept: Vec<&'static str>,
    /// Sent back with the confirmation: the change confirmed, exactly.
    remove_ids: Vec<&'static str>,
    keep_ids: Vec<&'static str>,
    button: String,
    unused_days: i64,
    return_to: String,
}

fn ids(set: &ModuleSet) -> Vec<&'static str> {
    set.iter().map(|m| m.id).collect()
}

fn names(set: &ModuleSet) -> Vec<&'static str> {
    set.iter().filter(|m| !m.is_all()).map(|m| m.name).collect()
}

/// **Remove unused modules** (or replace All): first the confirmation of exactly what changes,
/// then, with `confirm=yes` and that change sent back, the change itself, unless the token's
/// permissions or use have changed meanwhile. Only those who may manage the token get either.
#[post("/integrations/tokens/{id}/permissions/narrow")]
pub async fn narrow(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let fields = Fields(form.into_inner());
    let now = current.at;
    let tab = format!("{LIST_PATH}/{id}/permissions");
    if fields.get("confirm") != Some("yes") {
        let lookup = id.clone();
        let (token, held, usage) = current
            .run(&state, move |conn, by| {
                let (token, held) = Token::find_with_permissions(conn, &by.account_id, &lookup)?;
                let usage = module_usage::of_token(conn, &lookup, now)?;
                Ok((token, held, usage))
            })
            .await?;
        current.require_manage(&token.owner)?;
        let advice = Advice::of(token.created.at, &held, &usage.last_uses, now);
        let Some(narrowing) = Narrowing::of(&advice, &held) else {
            session.set_flash(&format!(
                "“{}” holds no module it has not used: nothing to remove.",
                token.name
            ));
            return Ok(see_other(&tab));
        };
        token
            .extension
            .modules_for(narrowing.keep.clone())
            .map_err(|e| AppError::Refused(why_not(&e)))?;
        let holds_all = held.has_all();
        let shown = NarrowPage {
            layout: Layout::new(&current, &session),
            heading: if holds_all {
                "Replace All modules?"
            } else {
                "Remove unused modules?"
            },
            holds_all,
            removed: names(&narrowing.remove),
            kept: names(&narrowing.keep),
            remove_ids: ids(&narrowing.remove),
            keep_ids: ids(&narrowing.keep),
            button: button_label(holds_all, narrowing.keep.iter().count()),
            unused_days: UNUSED_DAYS,
            return_to: tab,
            token: TokenView::new(&token, now, &current.person()),
        };
        return page(&shown, StatusCode::OK);
    }
    let parse = |name: &str| {
        ModuleSet::parse(fields.all(name).iter().map(String::as_str))
            .map_err(|e| AppError::BadRequest(e.to_string()))
    };
    let expected = Narrowing {
        keep: parse("keep")?,
        remove: parse("remove")?,
    };
    let removed = expected.remove.clone();
    let lookup = id.clone();
    let (form_id, result) = (fields.get("form_id").map(str::to_owned), tab.clone());
    let done = current
        .run(&state, move |conn, by| {
            let sent = Sent {
                form_id: form_id.as_deref(),
                result: &result,
            };
            services::once(conn, by, &sent, |conn| {
                token_service::narrow(conn, by, &lookup, &expected)
            })
        })
        .await;
    match done {
        Ok(Once::AlreadyDone(result)) => {
            session.set_flash(ALREADY_DONE);
            Ok(see_other(&result))
        }
        Ok(Once::Done(token)) => {
            let message = if removed.has_all() {
                format!(
                    "“{}” now holds only the modules it used instead of All.",
                    token.name
                )
            } else {
                let n = removed.iter().count();
                let modules = if n == 1 { "module" } else { "modules" };
                format!("Removed {n} unused {modules} from “{}”.", token.name)
            };
            session.set_done(&message);
            Ok(see_other(&tab))
        }
        // The advice changed under the person's eyes: back to it, saying so.
        Err(AppError::Refused(why)) => {
            session.set_flash(&why);
            Ok(see_other(&tab))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_button_says_what_it_does() {
        assert_eq!(button_label(false, 0), "Remove unused modules");
        assert_eq!(button_label(true, 1), "Replace All by the 1 module used");
        assert_eq!(button_label(true, 3), "Replace All by the 3 modules used");
    }
}
