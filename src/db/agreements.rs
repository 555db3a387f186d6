use super::pool::{MultiBackend, on_backend};
use super::query::{
    Page, Total, boolean, combinators, contains_pattern, counted_page, order_by, text_test,
    time_test,
};
use super::schema::agreements;
use super::tokens::Stamp;
use super::{DbConnection, DbError, lower};
use crate::domain::access::Actor;
use crate::domain::fields::AgreementField;
use crate::domain::ids::{AccountId, AgreementId};
use crate::domain::query::{CompareOp, Direction, Field, Fold, Query, QueryError, Value};
use chrono::NaiveDateTime;
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
type BoxedAgreements<'a> = agreements::BoxedQuery<'a, MultiBackend>;

/// The filter tree of an agreement query as a SQL condition.
struct AgreementConditions;

impl Fold<AgreementField> for AgreementConditions {
    type Output = Predicate;

    combinators!(Predicate, agreements::id);

    fn compare(
        &self,
        field: AgreementField,
        op: CompareOp,
        value: &Value,
    ) -> Result<Predicate, QueryError> {
        let name = field.name();
        Ok(match field {
            AgreementField::Id => text_test!(Predicate, agreements::id, op, value),
            AgreementField::Type => text_test!(Predicate, agreements::agreement_type, op, value),
            AgreementField::Title => text_test!(Predicate, agreements::title, op, value),
            AgreementField::Name => text_test!(Predicate, agreements::name, op, value),
            AgreementField::Description => {
                text_test!(Predicate, agreements::description, op, value)
            }
            AgreementField::Active => {
                let wanted = boolean(name, value.text())?;
                match op {
                    CompareOp::Eq => Box::new(agreements::active.eq(wanted)),
                    CompareOp::Ne => Box::new(agreements::active.ne(wanted)),
                    _ => return Err(QueryError::new("active: only eq and ne apply")),
                }
            }
            AgreementField::CreatedAt => {
                time_test!(Predicate, agreements::created_at, op, value, name)
            }
            AgreementField::UpdatedAt => {
                time_test!(Predicate, agreements::updated_at, op, value, name)
            }
        })
    }
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

/// The ordering, names and titles ignoring case, with the id last so that pages never overlap.
fn order<'a>(
    mut select: BoxedAgreements<'a>,
    ordering: &[(AgreementField, Direction)],
) -> BoxedAgreements<'a> {
    for (field, direction) in ordering {
        select = match field {
            AgreementField::Id => order_by!(select, agreements::id, direction),
            AgreementField::Type => order_by!(select, agreements::agreement_type, direction),
            AgreementField::Title => order_by!(select, lower(agreements::title), direction),
            AgreementField::Name => order_by!(select, lower(agreements::name), direction),
            AgreementField::Active => order_by!(select, agreements::active, direction),
            AgreementField::CreatedAt => order_by!(select, agreements::created_at, direction),
            AgreementField::UpdatedAt => order_by!(select, agreements::updated_at, direction),
            // Not sortable: `Query::resolve` refuses it before it gets here.
            AgreementField::Description => select,
        };
    }
    let last = ordering
        .first()
        .map_or(Direction::Ascending, |(_, direction)| *direction);
    order_by!(select, agreements::id, last)
}

impl Agreement {
    /// The account's agreements matching `query`, with the total before paging.
    pub fn query(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query<AgreementField>,
    ) -> Result<Page<Agreement>, DbError> {
        let rows = if query.filter.is_none() && query.search.is_none() && query.ordering.is_empty()
        {
            Self::plain_page(conn, account_id, query.limit, query.offset)?
        } else {
            let matching = || -> Result<BoxedAgreements<'_>, DbError> {
                let mut select = agreements::table
                    .filter(agreements::account_id.eq(account_id.as_str()))
                    .into_boxed();
                if let Some(filter) = &query.filter {
                    select = select.filter(filter.fold(&AgreementConditions)?);
                }
                if let Some(text) = &query.search {
                    select = select.filter(search(text));
                }
                Ok(select)
            };
            counted_page(
                conn,
                query.limit,
                query.offset,
                |conn, limit, offset| {
                    let total = Total(matching()?.count());
                    Ok(order(matching()?, &query.ordering)
                        .limit(limit)
                        .offset(offset)
                        .select((AgreementRow::as_select(), total))
                        .load::<(AgreementRow, i64)>(conn)?)
                },
                |conn| Ok(matching()?.count().get_result(conn)?),
            )?
        };
        Ok(Page {
            items: rows.items.into_iter().map(Agreement::from).collect(),
            total: rows.total,
        })
    }

    /// A plain page, in id order: the most common request, with fixed statements that are
    /// prepared once per connection (a filtered query is built anew each time). The first page
    /// has a statement of its own, without OFFSET: an OFFSET parameter makes PostgreSQL's one
    /// plan for all executions look dearer than a plan for offset 0, so it planned every
    /// execution anew; without it PostgreSQL settles on one plan after five (`bench/api.sh`
    /// shows both statements' rates).
    fn plain_page(
        conn: &mut DbConnection,
        account_id: &AccountId,
        limit: u32,
        offset: u64,
    ) -> Result<Page<AgreementRow>, DbError> {
        let mine = agreements::account_id.eq(account_id.as_str());
        counted_page(
            conn,
            limit,
            offset,
            |conn, limit, offset| {
                let total = Total(agreements::table.filter(mine).count());
                let page = agreements::table
                    .filter(mine)
                    .order(agreements::id.asc())
                    .limit(limit);
                Ok(if offset == 0 {
                    on_backend!(conn, |c| page
                        .select((AgreementRow::as_select(), total))
                        .load::<(AgreementRow, i64)>(c))?
                } else {
                    on_backend!(conn, |c| page
                        .offset(offset)
                        .select((AgreementRow::as_select(), total))
                        .load::<(AgreementRow, i64)>(c))?
                })
            },
            |conn| {
                Ok(on_backend!(conn, |c| agreements::table
                    .filter(mine)
                    .count()
                    .get_result::<i64>(c))?)
            },
        )
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
    pub fn insert(
        &self,
        conn: &mut DbConnection,
        actor: &Actor,
        at: NaiveDateTime,
    ) -> Result<AgreementId, DbError> {
        let id = AgreementId::generate();
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
