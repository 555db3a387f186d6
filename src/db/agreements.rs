use super::pool::{MultiBackend, on_backend};
use super::query::{bad, boolean, contains_pattern, text_test, time_test, timestamp};
use super::schema::agreements;
use super::tokens::Stamp;
use super::{DbConnection, DbError, lower, now};
use crate::domain::ids::{AccountId, AgreementId};
use crate::domain::query::{CompareOp, Direction, Filter, Query, Value};
use crate::domain::token::Actor;
use chrono::NaiveDateTime;
use diesel::dsl::not;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agreements)]
struct AgreementRow {
    id: String,
    account_id: String,
    agreement_type: String,
    title: String,
    name: String,
    description: String,
    active: bool,
    created_at: NaiveDateTime,
    created_by_id: String,
    created_by_name: String,
    updated_at: NaiveDateTime,
    updated_by_id: String,
    updated_by_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub id: AgreementId,
    pub account_id: AccountId,
    pub agreement_type: String,
    pub title: String,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub created: Stamp,
    pub updated: Stamp,
}

impl From<AgreementRow> for Agreement {
    fn from(row: AgreementRow) -> Self {
        Self {
            id: AgreementId::from_trusted(row.id),
            account_id: AccountId::from_trusted(row.account_id),
            agreement_type: row.agreement_type,
            title: row.title,
            name: row.name,
            description: row.description,
            active: row.active,
            created: Stamp::new(row.created_at, row.created_by_id, row.created_by_name),
            updated: Stamp::new(row.updated_at, row.updated_by_id, row.updated_by_name),
        }
    }
}

type Predicate = Box<dyn BoxableExpression<agreements::table, MultiBackend, SqlType = Bool>>;

const FILTERABLE: &str =
    "id, type, title, name, description, active, events.created.at, events.updated.at";

fn compare(field: &str, op: CompareOp, value: &Value) -> Result<Predicate, DbError> {
    Ok(match field {
        "id" => text_test!(Predicate, agreements::id, op, value),
        "type" => text_test!(Predicate, agreements::agreement_type, op, value),
        "title" => text_test!(Predicate, agreements::title, op, value),
        "name" => text_test!(Predicate, agreements::name, op, value),
        "description" => text_test!(Predicate, agreements::description, op, value),
        "active" => {
            let wanted = boolean(field, super::query::text_value(value))?;
            match op {
                CompareOp::Eq => Box::new(agreements::active.eq(wanted)),
                CompareOp::Ne => Box::new(agreements::active.ne(wanted)),
                _ => return Err(bad("active: only eq and ne apply")),
            }
        }
        "events.created.at" | "events.updated.at" => {
            let Value::Text(text) = value else {
                return Err(bad(format!("{field}: always has a value")));
            };
            let at = timestamp(field, text)?;
            if field == "events.created.at" {
                time_test!(Predicate, agreements::created_at, op, at, field)
            } else {
                time_test!(Predicate, agreements::updated_at, op, at, field)
            }
        }
        other => {
            return Err(bad(format!(
                "unknown field {other:?}; filterable fields are {FILTERABLE}"
            )));
        }
    })
}

fn predicate(filter: &Filter) -> Result<Predicate, DbError> {
    Ok(match filter {
        Filter::And(items) => items
            .iter()
            .map(predicate)
            .reduce(|a, b| Ok(Box::new(a?.and(b?))))
            .unwrap_or_else(|| Ok(Box::new(agreements::id.eq(agreements::id))))?,
        Filter::Or(items) => items
            .iter()
            .map(predicate)
            .reduce(|a, b| Ok(Box::new(a?.or(b?))))
            .unwrap_or_else(|| Ok(Box::new(agreements::id.ne(agreements::id))))?,
        Filter::Not(inner) => Box::new(not(predicate(inner)?)),
        Filter::Compare { op, field, value } => compare(field, *op, value)?,
        Filter::List {
            negated,
            field,
            values,
        } => {
            let any = values
                .iter()
                .map(|v| compare(field, CompareOp::Eq, &Value::Text(v.clone())))
                .reduce(|a, b| Ok(Box::new(a?.or(b?))))
                .unwrap_or_else(|| Ok(Box::new(agreements::id.ne(agreements::id))))?;
            if *negated { Box::new(not(any)) } else { any }
        }
    })
}

fn search(text: &str) -> Predicate {
    let pattern = contains_pattern(text);
    Box::new(
        lower(agreements::title)
            .like(pattern.clone())
            .escape('\\')
            .or(lower(agreements::name).like(pattern.clone()).escape('\\'))
            .or(lower(agreements::id).like(pattern).escape('\\')),
    )
}

impl Agreement {
    /// The account's agreements as the API lists them, with the total before paging.
    pub fn query(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query,
    ) -> Result<(Vec<Agreement>, u64), DbError> {
        let select = || -> Result<agreements::BoxedQuery<'static, MultiBackend>, DbError> {
            let mut select = agreements::table
                .filter(agreements::account_id.eq(account_id.as_str().to_owned()))
                .into_boxed();
            if let Some(filter) = &query.filter {
                select = select.filter(predicate(filter)?);
            }
            if let Some(text) = &query.search {
                select = select.filter(search(text));
            }
            Ok(select)
        };
        if query.filter.is_none() && query.search.is_none() && query.ordering.is_empty() {
            return Self::page(conn, account_id, query.limit, query.offset);
        }
        let total = u64::try_from(select()?.count().get_result::<i64>(conn)?).unwrap_or(0);
        if query.limit == 0 || query.offset >= total {
            return Ok((Vec::new(), total));
        }
        let mut ordered = select()?;
        for (field, direction) in &query.ordering {
            macro_rules! by {
                ($column:expr) => {
                    match direction {
                        Direction::Ascending => ordered.then_order_by($column.asc()),
                        Direction::Descending => ordered.then_order_by($column.desc()),
                    }
                };
            }
            ordered = match field.as_str() {
                "id" => by!(agreements::id),
                "type" => by!(agreements::agreement_type),
                "title" => by!(agreements::title),
                "name" => by!(agreements::name),
                "active" => by!(agreements::active),
                "created" | "events.created.at" => by!(agreements::created_at),
                "updated" | "events.updated.at" => by!(agreements::updated_at),
                other => {
                    return Err(bad(format!(
                        "cannot order by {other:?}; order by id, type, title, name, active, created or updated"
                    )));
                }
            };
        }
        let rows = ordered
            .then_order_by(agreements::id.asc())
            .limit(i64::from(query.limit))
            .offset(i64::try_from(query.offset).unwrap_or(i64::MAX))
            .select(AgreementRow::as_select())
            .load::<AgreementRow>(conn)?;
        Ok((rows.into_iter().map(Agreement::from).collect(), total))
    }

    /// A plain page, in id order: the most common request, with fixed statements that are
    /// prepared once per connection (a filtered query is built anew each time).
    fn page(
        conn: &mut DbConnection,
        account_id: &AccountId,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Agreement>, u64), DbError> {
        let mine = agreements::account_id.eq(account_id.as_str());
        let total = on_backend!(conn, |c| agreements::table
            .filter(mine)
            .count()
            .get_result::<i64>(c))?;
        let total = u64::try_from(total).unwrap_or(0);
        if limit == 0 || offset >= total {
            return Ok((Vec::new(), total));
        }
        let rows = on_backend!(conn, |c| agreements::table
            .filter(mine)
            .order(agreements::id.asc())
            .limit(i64::from(limit))
            .offset(i64::try_from(offset).unwrap_or(i64::MAX))
            .select(AgreementRow::as_select())
            .load::<AgreementRow>(c))?;
        Ok((rows.into_iter().map(Agreement::from).collect(), total))
    }

    pub fn find(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &AgreementId,
    ) -> Result<Agreement, DbError> {
        Ok(agreements::table
            .filter(agreements::id.eq(id.as_str()))
            .filter(agreements::account_id.eq(account_id.as_str()))
            .select(AgreementRow::as_select())
            .first::<AgreementRow>(conn)?
            .into())
    }
}

/// An agreement as the seed writes it; the API reads them.
pub struct NewAgreement<'a> {
    pub account_id: &'a AccountId,
    pub agreement_type: &'a str,
    pub title: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub active: bool,
}

impl NewAgreement<'_> {
    pub fn insert(&self, conn: &mut DbConnection, actor: &Actor) -> Result<AgreementId, DbError> {
        let id = AgreementId::generate();
        let at = now();
        diesel::insert_into(agreements::table)
            .values((
                agreements::id.eq(id.as_str()),
                agreements::account_id.eq(self.account_id.as_str()),
                agreements::agreement_type.eq(self.agreement_type),
                agreements::title.eq(self.title),
                agreements::name.eq(self.name),
                agreements::description.eq(self.description),
                agreements::active.eq(self.active),
                agreements::created_at.eq(at),
                agreements::created_by_id.eq(&actor.id),
                agreements::created_by_name.eq(&actor.name),
                agreements::updated_at.eq(at),
                agreements::updated_by_id.eq(&actor.id),
                agreements::updated_by_name.eq(&actor.name),
            ))
            .execute(conn)?;
        Ok(id)
    }
}

pub fn count_for_account(conn: &mut DbConnection, account_id: &AccountId) -> Result<i64, DbError> {
    Ok(agreements::table
        .filter(agreements::account_id.eq(account_id.as_str()))
        .count()
        .get_result(conn)?)
}
