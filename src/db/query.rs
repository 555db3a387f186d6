//! What the collections share: RQL values turned into what SQL compares, and the page with its
//! total that every list reads in one statement.

use super::DbError;
use crate::domain::query::QueryError;
use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::BigInt;

/// A page's total as it is known: counted now, or kept from an earlier page (`live::counts`).
#[derive(Debug, Clone, Copy)]
pub struct KnownTotal {
    pub count: u64,
    /// Exactly the number of rows the query selects now: counted just now, or kept while
    /// nothing could change it (no write, and a question the time does not change).
    pub exact: bool,
}

/// Where a page's total comes from, given the way to count it.
pub trait Totals {
    fn total(&self, count: &mut dyn FnMut() -> Result<u64, DbError>)
    -> Result<KnownTotal, DbError>;
}

/// An RQL `like` pattern (`*` is the wildcard) as a SQL LIKE pattern with `\` escapes.
pub fn like_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '*' => pattern.push('%'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            c => pattern.push(c),
        }
    }
    pattern
}

/// `%text%` with every character of `text` literal.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub fn boolean(field: &str, value: &str) -> Result<bool, QueryError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError(format!(
            "{field}: {value:?} is not true or false"
        ))),
    }
}

/// One page of a collection, and how many items match in all.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// `(SELECT count(*) …)`: a count query written as a value beside each row of a page. Diesel's
/// own subselect takes a subquery on the page's own table for a correlated one and refuses it;
/// this one is not correlated, and is prepared once per connection when its query is.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct Total<Q>(pub Q);

impl<Q> Expression for Total<Q> {
    type SqlType = BigInt;
}

impl<Q, DB> QueryFragment<DB> for Total<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        out.push_sql("(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Q, QS> AppearsOnTable<QS> for Total<Q> {}
impl<Q, QS> SelectableExpression<QS> for Total<Q> {}

impl<Q> ValidGrouping<()> for Total<Q> {
    type IsAggregate = is_aggregate::Never;
}

/// `column IN (subquery)`, for a subquery diesel's `eq_any` does not take (a boxed one, on the
/// multi-backend connection).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct InSubquery<C, Q> {
    pub column: C,
    pub subquery: Q,
}

impl<C, Q> Expression for InSubquery<C, Q> {
    type SqlType = diesel::sql_types::Bool;
}

impl<C, Q, DB> QueryFragment<DB> for InSubquery<C, Q>
where
    DB: Backend,
    C: QueryFragment<DB>,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        self.subquery.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl<C: AppearsOnTable<QS>, Q, QS> AppearsOnTable<QS> for InSubquery<C, Q> {}
impl<C: SelectableExpression<QS>, Q, QS> SelectableExpression<QS> for InSubquery<C, Q> {}

impl<C, Q> ValidGrouping<()> for InSubquery<C, Q> {
    type IsAggregate = is_aggregate::Never;
}

/// A page read with its total in one statement: `load(conn, limit, offset)` returns the rows
/// with the number of matching rows beside each, as `Total` (`(SELECT count(*) …)`), a subquery the
/// database runs once (an index-only count) while the page itself stops at its `LIMIT`.
/// (`COUNT(*) OVER ()` would do it in one statement too, but reads every matching row before the
/// limit: at 100 000 tokens it costs more than the two statements it replaces.) Only a page that
/// comes back empty says nothing of the total (past the end, or `limit=0`); then, and only then,
/// `count` asks for it.
pub fn counted_page<C, T>(
    conn: &mut C,
    limit: u32,
    offset: u64,
    load: impl FnOnce(&mut C, i64, i64) -> Result<Vec<(T, i64)>, DbError>,
    count: impl FnOnce(&mut C) -> Result<i64, DbError>,
) -> Result<Page<T>, DbError> {
    let rows = if limit == 0 {
        Vec::new()
    } else {
        load(
            conn,
            i64::from(limit),
            i64::try_from(offset).unwrap_or(i64::MAX),
        )?
    };
    let total = match rows.first() {
        Some((_, total)) => *total,
        None if offset == 0 && limit > 0 => 0,
        None => count(conn)?,
    };
    Ok(Page {
        items: rows.into_iter().map(|(item, _)| item).collect(),
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// A test on a text column: comparisons, `like` (case-sensitive), `ilike`.
macro_rules! text_test {
    ($predicate:ty, $column:expr, $op:expr, $value:expr) => {{
        let value = $value.text().to_owned();
        let predicate: $predicate = match $op {
            $crate::domain::query::CompareOp::Eq => Box::new($column.eq(value)),
            $crate::domain::query::CompareOp::Ne => Box::new($column.ne(value)),
            $crate::domain::query::CompareOp::Gt => Box::new($column.gt(value)),
            $crate::domain::query::CompareOp::Ge => Box::new($column.ge(value)),
            $crate::domain::query::CompareOp::Lt => Box::new($column.lt(value)),
            $crate::domain::query::CompareOp::Le => Box::new($column.le(value)),
            $crate::domain::query::CompareOp::Like => Box::new(
                $column
                    .like($crate::db::query::like_pattern(&value))
                    .escape('\\'),
            ),
            $crate::domain::query::CompareOp::Ilike => Box::new(
                $crate::db::lower($column)
                    .like($crate::db::query::like_pattern(&value.to_lowercase()))
                    .escape('\\'),
            ),
        };
        predicate
    }};
}

/// A comparison of a timestamp column with the instant `$value` names.
macro_rules! time_test {
    ($predicate:ty, $column:expr, $op:expr, $value:expr, $field:expr) => {{
        let $crate::domain::query::Value::Text(text) = $value else {
            return Err($crate::domain::query::QueryError(format!(
                "{}: always has a value",
                $field
            )));
        };
        let at = $crate::domain::query::parse_instant($field, text)?;
        let predicate: $predicate = match $op {
            $crate::domain::query::CompareOp::Eq => Box::new($column.eq(at)),
            $crate::domain::query::CompareOp::Ne => Box::new($column.ne(at)),
            $crate::domain::query::CompareOp::Gt => Box::new($column.gt(at)),
            $crate::domain::query::CompareOp::Ge => Box::new($column.ge(at)),
            $crate::domain::query::CompareOp::Lt => Box::new($column.lt(at)),
            $crate::domain::query::CompareOp::Le => Box::new($column.le(at)),
            $crate::domain::query::CompareOp::Like | $crate::domain::query::CompareOp::Ilike => {
                return Err($crate::domain::query::QueryError(format!(
                    "{}: like and ilike apply to text fields only",
                    $field
                )));
            }
        };
        predicate
    }};
}

/// `ORDER BY` a column in a direction.
macro_rules! order_by {
    ($select:expr, $column:expr, $direction:expr) => {
        match $direction {
            $crate::domain::query::Direction::Ascending => $select.then_order_by($column.asc()),
            $crate::domain::query::Direction::Descending => $select.then_order_by($column.desc()),
        }
    };
}

/// `AND` of conditions (true when there are none) and `OR` (false when there are none), for a
/// table's boxed predicates.
macro_rules! combinators {
    ($predicate:ty, $id:expr) => {
        fn all(&self, items: Vec<$predicate>) -> $predicate {
            items
                .into_iter()
                .reduce(|a, b| Box::new(a.and(b)))
                .unwrap_or_else(|| Box::new($id.eq($id)))
        }

        fn any(&self, items: Vec<$predicate>) -> $predicate {
            items
                .into_iter()
                .reduce(|a, b| Box::new(a.or(b)))
                .unwrap_or_else(|| Box::new($id.ne($id)))
        }

        fn not(&self, inner: $predicate) -> $predicate {
            Box::new(diesel::dsl::not(inner))
        }
    };
}

pub(crate) use combinators;
pub(crate) use order_by;
pub(crate) use text_test;
pub(crate) use time_test;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(like_pattern("*sync_50%*"), "%sync\\_50\\%%");
    }

    #[test]
    fn search_text_is_literal() {
        assert_eq!(contains_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("Plain"), "%plain%");
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("f", "true"), Ok(true));
        assert!(boolean("f", "yes").is_err());
    }

    /// 25 items: the total comes with the rows, and is asked for only when no row brings it.
    #[test]
    fn pages_bring_their_total() {
        let counted = std::cell::Cell::new(0);
        let load = |_: &mut (), limit: i64, offset: i64| {
            Ok((offset..(offset + limit).min(25))
                .map(|i| (i, 25))
                .collect())
        };
        let count = |_: &mut ()| {
            counted.set(counted.get() + 1);
            Ok(25)
        };
        let p = counted_page(&mut (), 10, 20, load, count).unwrap();
        assert_eq!(
            (p.items, p.total, counted.get()),
            (vec![20, 21, 22, 23, 24], 25, 0)
        );
        let p = counted_page(&mut (), 10, 25, load, count).unwrap();
        assert!(p.items.is_empty() && p.total == 25 && counted.get() == 1);
        let p = counted_page(&mut (), 0, 0, load, count).unwrap();
        assert!(p.items.is_empty() && p.total == 25 && counted.get() == 2);
        let none = |_: &mut (), _, _| Ok(Vec::<(i64, i64)>::new());
        let p = counted_page(&mut (), 10, 0, none, count).unwrap();
        assert!(p.items.is_empty() && p.total == 0 && counted.get() == 2);
    }
}
