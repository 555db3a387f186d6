//! The token fields the API filters and orders on, translated into SQL through diesel.

use super::DbError;
use super::lower;
use super::pool::MultiBackend;
use super::query::{bad, contains_pattern, matches, text_test, text_value, time_test, timestamp};
use super::schema::{token_permissions, tokens};
use crate::domain::extension::Extension;
use crate::domain::module::MODULES;
use crate::domain::query::{CompareOp, Direction, Filter, Value};
use crate::domain::token::StoredStatus;
use chrono::NaiveDateTime;
use diesel::dsl::not;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;

pub type Predicate = Box<dyn BoxableExpression<tokens::table, MultiBackend, SqlType = Bool>>;

pub const FILTERABLE: &str = "id, name, external_id, status, extension.id, extension.name, \
    events.created.at, events.created.by.id, expiration_date, permissions.object.id";

pub fn status_is(status: &str, now: NaiveDateTime) -> Result<Predicate, DbError> {
    let active = StoredStatus::Active.as_str();
    Ok(match status {
        "active" => Box::new(
            tokens::status.eq(active).and(
                tokens::expires_at
                    .is_null()
                    .or(tokens::expires_at.assume_not_null().gt(now)),
            ),
        ),
        "inactive" => Box::new(tokens::status.eq(StoredStatus::Inactive.as_str())),
        "expired" => Box::new(
            tokens::status
                .eq(active)
                .and(tokens::expires_at.is_not_null())
                .and(tokens::expires_at.assume_not_null().le(now)),
        ),
        other => {
            return Err(bad(format!(
                "status: {other:?} is not active, inactive or expired"
            )));
        }
    })
}

fn any_of(predicates: Vec<Predicate>) -> Predicate {
    predicates
        .into_iter()
        .reduce(|a, b| Box::new(a.or(b)))
        .unwrap_or_else(|| Box::new(tokens::id.ne(tokens::id)))
}

fn all_of(predicates: Vec<Predicate>) -> Predicate {
    predicates
        .into_iter()
        .reduce(|a, b| Box::new(a.and(b)))
        .unwrap_or_else(|| Box::new(tokens::id.eq(tokens::id)))
}

/// Tokens holding any of `module_ids` as a permission.
fn holds_any(module_ids: Vec<&'static str>) -> Predicate {
    Box::new(
        tokens::id.eq_any(
            token_permissions::table
                .filter(token_permissions::module_id.eq_any(module_ids))
                .select(token_permissions::token_id),
        ),
    )
}

/// The extension ids whose `id` (or `name`) passes the test.
fn extensions_where(by_name: bool, test: impl Fn(&str) -> bool) -> Vec<&'static str> {
    Extension::ALL
        .into_iter()
        .filter(|e| test(if by_name { e.name() } else { e.id() }))
        .map(Extension::id)
        .collect()
}

fn modules_where(test: impl Fn(&str) -> bool) -> Vec<&'static str> {
    MODULES.iter().map(|m| m.id).filter(|id| test(id)).collect()
}

fn compare(
    field: &str,
    op: CompareOp,
    value: &Value,
    now: NaiveDateTime,
) -> Result<Predicate, DbError> {
    Ok(match field {
        "id" => text_test!(Predicate, tokens::id, op, value),
        "name" => text_test!(Predicate, tokens::name, op, value),
        "external_id" => text_test!(Predicate, tokens::external_id, op, value),
        "events.created.by.id" => text_test!(Predicate, tokens::created_by_id, op, value),
        "status" => match op {
            CompareOp::Eq => status_is(text_value(value), now)?,
            CompareOp::Ne => Box::new(not(status_is(text_value(value), now)?)),
            _ => return Err(bad("status: only eq, ne, in and out apply")),
        },
        "extension.id" | "extension.name" => {
            let ids = extensions_where(field == "extension.name", |c| {
                matches(op, text_value(value), c)
            });
            Box::new(tokens::extension_id.eq_any(ids))
        }
        "permissions.object.id" => match op {
            CompareOp::Ne => Box::new(not(holds_any(vec![known_module(text_value(value))]))),
            _ => holds_any(modules_where(|id| matches(op, text_value(value), id))),
        },
        "events.created.at" => match value {
            Value::Text(text) => time_test!(
                Predicate,
                tokens::created_at,
                op,
                timestamp(field, text)?,
                field
            ),
            _ => return Err(bad(format!("{field}: always has a value"))),
        },
        "expiration_date" => match (op, value) {
            (CompareOp::Eq, Value::Null | Value::Empty) => Box::new(tokens::expires_at.is_null()),
            (CompareOp::Ne, Value::Null | Value::Empty) => {
                Box::new(tokens::expires_at.is_not_null())
            }
            (_, Value::Text(text)) => {
                let compared = time_test!(
                    Predicate,
                    tokens::expires_at.assume_not_null(),
                    op,
                    timestamp(field, text)?,
                    field
                );
                // Never NULL, so that not(...) of it keeps the tokens that do not expire.
                Box::new(tokens::expires_at.is_not_null().and(compared))
            }
            _ => return Err(bad(format!("{field}: only eq and ne compare with null()"))),
        },
        other => {
            return Err(bad(format!(
                "unknown field {other:?}; filterable fields are {FILTERABLE}"
            )));
        }
    })
}

/// The known module id equal to `id`, or a value no module has.
fn known_module(id: &str) -> &'static str {
    MODULES
        .iter()
        .map(|m| m.id)
        .find(|m| *m == id)
        .unwrap_or("")
}

fn list(
    field: &str,
    negated: bool,
    values: &[String],
    now: NaiveDateTime,
) -> Result<Predicate, DbError> {
    let positive: Predicate = match field {
        "id" => Box::new(tokens::id.eq_any(values.to_vec())),
        "name" => Box::new(tokens::name.eq_any(values.to_vec())),
        "external_id" => Box::new(tokens::external_id.eq_any(values.to_vec())),
        "events.created.by.id" => Box::new(tokens::created_by_id.eq_any(values.to_vec())),
        "status" => any_of(
            values
                .iter()
                .map(|v| status_is(v, now))
                .collect::<Result<_, _>>()?,
        ),
        "extension.id" | "extension.name" => {
            let ids =
                extensions_where(field == "extension.name", |c| values.iter().any(|v| v == c));
            Box::new(tokens::extension_id.eq_any(ids))
        }
        "permissions.object.id" => holds_any(modules_where(|id| values.iter().any(|v| v == id))),
        "events.created.at" => {
            let instants = values
                .iter()
                .map(|v| timestamp(field, v))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(tokens::created_at.eq_any(instants))
        }
        "expiration_date" => {
            let instants = values
                .iter()
                .map(|v| timestamp(field, v))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(
                tokens::expires_at
                    .is_not_null()
                    .and(tokens::expires_at.assume_not_null().eq_any(instants)),
            )
        }
        other => {
            return Err(bad(format!(
                "unknown field {other:?}; filterable fields are {FILTERABLE}"
            )));
        }
    };
    Ok(if negated {
        Box::new(not(positive))
    } else {
        positive
    })
}

/// The filter as a SQL condition on `tokens`; `now` decides which tokens are expired.
pub fn predicate(filter: &Filter, now: NaiveDateTime) -> Result<Predicate, DbError> {
    Ok(match filter {
        Filter::And(items) => all_of(
            items
                .iter()
                .map(|f| predicate(f, now))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(items) => any_of(
            items
                .iter()
                .map(|f| predicate(f, now))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Not(inner) => Box::new(not(predicate(inner, now)?)),
        Filter::Compare { op, field, value } => compare(field, *op, value, now)?,
        Filter::List {
            negated,
            field,
            values,
        } => list(field, *negated, values, now)?,
    })
}

/// Free-text search over name, id and external id, ignoring case; shared with the UI's list.
pub fn search(text: &str) -> Predicate {
    let pattern = contains_pattern(text);
    Box::new(
        lower(tokens::name)
            .like(pattern.clone())
            .escape('\\')
            .or(lower(tokens::id).like(pattern.clone()).escape('\\'))
            .or(lower(tokens::external_id).like(pattern).escape('\\')),
    )
}

/// `ordering(...)` fields, with the id last so pages never overlap.
pub fn order(
    mut select: tokens::BoxedQuery<'static, MultiBackend>,
    ordering: &[(String, Direction)],
) -> Result<tokens::BoxedQuery<'static, MultiBackend>, DbError> {
    macro_rules! by {
        ($column:expr, $direction:expr) => {
            match $direction {
                Direction::Ascending => select.then_order_by($column.asc()),
                Direction::Descending => select.then_order_by($column.desc()),
            }
        };
    }
    for (field, direction) in ordering {
        select = match field.as_str() {
            "id" => by!(tokens::id, direction),
            "name" => by!(tokens::name, direction),
            "external_id" => by!(tokens::external_id, direction),
            "status" => by!(tokens::status, direction),
            "extension.id" => by!(tokens::extension_id, direction),
            "created" | "events.created.at" => by!(tokens::created_at, direction),
            "updated" | "events.updated.at" => by!(tokens::updated_at, direction),
            "expiration_date" => by!(tokens::expires_at, direction),
            other => {
                return Err(bad(format!(
                    "cannot order by {other:?}; order by id, name, external_id, status, extension.id, \
                     created, updated or expiration_date"
                )));
            }
        };
    }
    Ok(select.then_order_by(tokens::id.asc()))
}
