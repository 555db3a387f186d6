//! The token fields that lists filter and order on, translated into SQL through diesel; the UI's
//! list and the API's collection both come here.

use super::lower;
use super::pool::MultiBackend;
use super::query::{Total, combinators, contains_pattern, order_by, text_test, time_test};
use super::schema::{token_module_usage, token_permissions, tokens};
use crate::domain::extension::Extension;
use crate::domain::fields::TokenField;
use crate::domain::module::{MODULES, Module};
use crate::domain::policy::AccountPolicy;
use crate::domain::query::{CompareOp, Direction, Field, Fold, QueryError, Value};
use crate::domain::token::{StoredStatus, TokenStatus};
use chrono::NaiveDateTime;
use diesel::dsl::not;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;

pub type Predicate = Box<dyn BoxableExpression<tokens::table, MultiBackend, SqlType = Bool>>;
pub type BoxedTokens<'a> = tokens::BoxedQuery<'a, MultiBackend>;

/// Tokens whose status (as shown: expiry makes an active token expired) is `status` at `now`.
fn status_is(status: TokenStatus, now: NaiveDateTime) -> Predicate {
    let active = StoredStatus::Active.as_str();
    let decided = tokens::awaiting_approval.eq(false);
    match status {
        TokenStatus::Active => Box::new(
            tokens::status.eq(active).and(decided).and(
                tokens::expires_at
                    .is_null()
                    .or(tokens::expires_at.assume_not_null().gt(now)),
            ),
        ),
        TokenStatus::Inactive => Box::new(
            tokens::status
                .eq(StoredStatus::Inactive.as_str())
                .and(decided),
        ),
        // Never NULL, so that not(...) of it keeps the tokens that do not expire.
        TokenStatus::Expired => Box::new(
            tokens::status
                .eq(active)
                .and(decided)
                .and(tokens::expires_at.is_not_null())
                .and(tokens::expires_at.assume_not_null().le(now)),
        ),
        TokenStatus::Pending => Box::new(tokens::awaiting_approval.eq(true)),
    }
}

/// How a test on the permissions a token holds is written; the same tokens either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// `id IN (SELECT token_id …)`: the holders first. What PostgreSQL plans well, and what
    /// SQLite counts fastest.
    Holders,
    /// `EXISTS (SELECT … WHERE token_id = tokens.id)`: asked of each token in the page's order,
    /// so that SQLite stops at the page instead of sorting every holder.
    EachToken,
}

/// Tokens holding any of `module_ids` as a permission.
fn holds_any(module_ids: Vec<&'static str>, membership: Membership) -> Predicate {
    match membership {
        Membership::Holders => Box::new(
            tokens::id.eq_any(
                token_permissions::table
                    .filter(token_permissions::module_id.eq_any(module_ids))
                    .select(token_permissions::token_id),
            ),
        ),
        Membership::EachToken => Box::new(diesel::dsl::exists(
            token_permissions::table
                .filter(token_permissions::token_id.eq(tokens::id))
                .filter(token_permissions::module_id.eq_any(module_ids)),
        )),
    }
}

/// Tokens holding a module that they have not used after `at` (or ever): a module held by name,
/// or any module for a holder of All (All reaches every module).
///
/// Each test names the outer token in more than an equality (`tokens.deleted_at IS NULL`, true of
/// every token listed): otherwise PostgreSQL turns the `EXISTS` under the `OR` into a hashed
/// subplan that reads every grant of every token first (200 ms at 100 000 tokens instead of 1).
fn holds_unused_since(at: NaiveDateTime) -> Predicate {
    let named = diesel::dsl::exists(
        token_permissions::table
            .filter(token_permissions::token_id.eq(tokens::id))
            .filter(tokens::deleted_at.is_null())
            .filter(token_permissions::module_id.ne(Module::ALL.id))
            .filter(not(diesel::dsl::exists(
                token_module_usage::table
                    .filter(token_module_usage::token_id.eq(token_permissions::token_id))
                    .filter(token_module_usage::module_id.eq(token_permissions::module_id))
                    .filter(token_module_usage::last_used_at.gt(at)),
            ))),
    );
    let holds_all = diesel::dsl::exists(
        token_permissions::table
            .filter(token_permissions::token_id.eq(tokens::id))
            .filter(tokens::deleted_at.is_null())
            .filter(token_permissions::module_id.eq(Module::ALL.id)),
    );
    // Some module unused: fewer of them used since `at` than there are (one probe per token,
    // rather than one per module).
    let modules: Vec<&'static str> = MODULES
        .iter()
        .filter(|m| !m.is_all())
        .map(|m| m.id)
        .collect();
    let every_module = i64::try_from(modules.len()).unwrap_or(i64::MAX);
    let used_since = Total(
        token_module_usage::table
            .filter(token_module_usage::token_id.eq(tokens::id))
            .filter(token_module_usage::module_id.eq_any(modules))
            .filter(token_module_usage::last_used_at.gt(at))
            .select(diesel::dsl::count(token_module_usage::module_id).aggregate_distinct()),
    );
    let some_module_unused = used_since.lt(every_module);
    Box::new(named.or(holds_all.and(some_module_unused)))
}

/// Tokens that break `policy` (as `AccountPolicy::breach` judges a token, in SQL).
fn breaks(policy: &AccountPolicy) -> Predicate {
    let mut broken: Predicate = Box::new(tokens::id.ne(tokens::id));
    if let Some(days) = policy.max_lifetime_days {
        // The same edge as `breach`: a lifetime over `days` and the rest of a day.
        let longest = (i64::from(days) + 1) * 86_400;
        broken = Box::new(
            broken
                .or(tokens::lifetime_seconds.is_null())
                .or(tokens::lifetime_seconds.assume_not_null().gt(longest)),
        );
    } else if policy.require_expiry {
        broken = Box::new(broken.or(tokens::expires_at.is_null()));
    }
    if policy.require_allowed_networks {
        broken = Box::new(broken.or(tokens::allowed_networks.eq("")));
    }
    broken
}

/// The filter tree of a token query as a SQL condition; `now` decides which tokens are expired,
/// `policy` which break the account's policy.
pub struct TokenConditions<'p> {
    pub now: NaiveDateTime,
    pub membership: Membership,
    pub policy: &'p AccountPolicy,
}

impl Fold<TokenField> for TokenConditions<'_> {
    type Output = Predicate;

    combinators!(Predicate, tokens::id);

    fn compare(
        &self,
        field: TokenField,
        op: CompareOp,
        value: &Value,
    ) -> Result<Predicate, QueryError> {
        let name = field.name();
        Ok(match field {
            TokenField::Id => text_test!(Predicate, tokens::id, op, value),
            TokenField::Name => text_test!(Predicate, tokens::name, op, value),
            TokenField::ExternalId => text_test!(Predicate, tokens::external_id, op, value),
            TokenField::CreatedBy => text_test!(Predicate, tokens::created_by_id, op, value),
            TokenField::Status => {
                let status = TokenStatus::parse(value.text()).ok_or_else(|| {
                    QueryError(format!(
                        "status: {:?} is not active, inactive, expired or pending",
                        value.text()
                    ))
                })?;
                match op {
                    CompareOp::Eq => status_is(status, self.now),
                    CompareOp::Ne => Box::new(not(status_is(status, self.now))),
                    _ => return Err(QueryError::new("status: only eq, ne, in and out apply")),
                }
            }
            // A handful of known values: the test runs here, the database compares ids.
            TokenField::ExtensionId | TokenField::ExtensionName => {
                let ids: Vec<&str> = Extension::ALL
                    .into_iter()
                    .filter(|e| {
                        let candidate = if field == TokenField::ExtensionName {
                            e.name()
                        } else {
                            e.id()
                        };
                        op.matches(value.text(), candidate)
                    })
                    .map(Extension::id)
                    .collect();
                Box::new(tokens::extension_id.eq_any(ids))
            }
            TokenField::Permission => match op {
                // Holding none of it, rather than holding some other module.
                CompareOp::Ne => Box::new(not(holds_any(
                    modules_where(CompareOp::Eq, value),
                    self.membership,
                ))),
                _ => holds_any(modules_where(op, value), self.membership),
            },
            TokenField::CreatedAt => {
                time_test!(Predicate, tokens::created_at, op, value, name)
            }
            TokenField::UpdatedAt => {
                time_test!(Predicate, tokens::updated_at, op, value, name)
            }
            TokenField::LastUsedAt => match (op, value) {
                (CompareOp::Eq, Value::Null | Value::Empty) => {
                    Box::new(tokens::last_used_at.is_null())
                }
                (_, Value::Text(_)) => {
                    let compared = time_test!(
                        Predicate,
                        tokens::last_used_at.assume_not_null(),
                        op,
                        value,
                        name
                    );
                    Box::new(tokens::last_used_at.is_not_null().and(compared))
                }
                _ => return Err(QueryError(format!("{name}: only eq compares with null()"))),
            },
            TokenField::Policy => {
                let broken = match value.text() {
                    "broken" => true,
                    "kept" => false,
                    other => {
                        return Err(QueryError(format!(
                            "policy: {other:?} is not broken or kept"
                        )));
                    }
                };
                match (op, broken) {
                    (CompareOp::Eq, true) | (CompareOp::Ne, false) => breaks(self.policy),
                    (CompareOp::Eq, false) | (CompareOp::Ne, true) => {
                        Box::new(not(breaks(self.policy)))
                    }
                    _ => return Err(QueryError::new("policy: only eq and ne apply")),
                }
            }
            TokenField::HeldModuleLastUsedAt => {
                let Value::Text(text) = value else {
                    return Err(QueryError(format!("{name}: compare with a date-time")));
                };
                let at = crate::domain::query::parse_instant(name, text)?;
                // A last use at or before `at`, or none.
                if op != CompareOp::Le {
                    return Err(QueryError(format!("{name}: only le applies")));
                }
                holds_unused_since(at)
            }
            TokenField::ExpirationDate => match (op, value) {
                (CompareOp::Eq, Value::Null | Value::Empty) => {
                    Box::new(tokens::expires_at.is_null())
                }
                (CompareOp::Ne, Value::Null | Value::Empty) => {
                    Box::new(tokens::expires_at.is_not_null())
                }
                (_, Value::Text(_)) => {
                    let compared = time_test!(
                        Predicate,
                        tokens::expires_at.assume_not_null(),
                        op,
                        value,
                        name
                    );
                    // Never NULL, so that not(...) of it keeps the tokens that do not expire.
                    Box::new(tokens::expires_at.is_not_null().and(compared))
                }
                _ => {
                    return Err(QueryError(format!(
                        "{name}: only eq and ne compare with null()"
                    )));
                }
            },
        })
    }
}

/// The ids of the modules that pass `op value`.
fn modules_where(op: CompareOp, value: &Value) -> Vec<&'static str> {
    MODULES
        .iter()
        .map(|m| m.id)
        .filter(|id| op.matches(value.text(), id))
        .collect()
}

/// Where a search finds its candidates before the exact test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIndex {
    /// PostgreSQL: trigram indexes on the very expressions the test compares; nothing to add.
    OnTheTest,
    /// SQLite: the `token_search` FTS5 table, asked for the tokens holding the text's trigrams.
    Fts5,
}

/// Free-text search over name, id and external id, ignoring case: `lower(column) LIKE '%text%'`,
/// with the text literal. On SQLite the tokens to test are first narrowed by the trigram index:
/// every token that passes the test holds the text's trigrams (case folded), so the narrowing
/// never loses one, and what is found is what the test alone finds.
pub fn search(text: &str, index: SearchIndex) -> Predicate {
    let pattern = contains_pattern(text);
    let test = lower(tokens::name)
        .like(pattern.clone())
        .escape('\\')
        .or(lower(tokens::id).like(pattern.clone()).escape('\\'))
        .or(lower(tokens::external_id).like(pattern).escape('\\'));
    match fts_phrase(text) {
        Some(phrase) if index == SearchIndex::Fts5 => Box::new(
            diesel::dsl::sql::<Bool>(
                "tokens.id IN (SELECT token_search.id FROM token_search WHERE token_search MATCH ",
            )
            .bind::<diesel::sql_types::Text, _>(phrase)
            .sql(")")
            .and(test),
        ),
        _ => Box::new(test),
    }
}

/// The FTS5 query for a substring: the lowered text as one quoted phrase. A trigram index knows
/// nothing shorter than three characters; such a search tests every token, as before.
fn fts_phrase(text: &str) -> Option<String> {
    let text = text.to_lowercase();
    if text.chars().count() < 3 || text.contains('\0') {
        return None;
    }
    Some(format!("\"{}\"", text.replace('"', "\"\"")))
}

/// The ordering, names ignoring case, with the id last so that pages never overlap.
pub fn order<'a>(
    mut select: BoxedTokens<'a>,
    ordering: &[(TokenField, Direction)],
) -> BoxedTokens<'a> {
    for (field, direction) in ordering {
        select = match field {
            TokenField::Id => order_by!(select, tokens::id, direction),
            TokenField::Name => order_by!(select, lower(tokens::name), direction),
            TokenField::ExternalId => order_by!(select, tokens::external_id, direction),
            TokenField::Status => order_by!(select, tokens::status, direction),
            TokenField::ExtensionId => order_by!(select, tokens::extension_id, direction),
            TokenField::CreatedAt => order_by!(select, tokens::created_at, direction),
            TokenField::UpdatedAt => order_by!(select, tokens::updated_at, direction),
            TokenField::ExpirationDate => order_by!(select, tokens::expires_at, direction),
            // Not sortable: `Query::resolve` refuses them before they get here.
            TokenField::ExtensionName
            | TokenField::CreatedBy
            | TokenField::Permission
            | TokenField::LastUsedAt
            | TokenField::HeldModuleLastUsedAt
            | TokenField::Policy => select,
        };
    }
    let last = ordering
        .first()
        .map_or(Direction::Ascending, |(_, direction)| *direction);
    order_by!(select, tokens::id, last)
}
