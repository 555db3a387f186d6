//! What the collections share: RQL values turned into what SQL compares, and the count-then-page
//! every list runs.

use super::DbError;
use crate::domain::query::QueryError;

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

/// Counts the matching items, then loads the page (`load(conn, limit, offset)`) unless it is
/// empty: past the end, or with `limit=0`, the answer is no items and the total.
pub fn page<C, T>(
    conn: &mut C,
    limit: u32,
    offset: u64,
    count: impl FnOnce(&mut C) -> Result<i64, DbError>,
    load: impl FnOnce(&mut C, i64, i64) -> Result<Vec<T>, DbError>,
) -> Result<Page<T>, DbError> {
    let total = u64::try_from(count(conn)?).unwrap_or(0);
    if limit == 0 || offset >= total {
        return Ok(Page {
            items: Vec::new(),
            total,
        });
    }
    let items = load(
        conn,
        i64::from(limit),
        i64::try_from(offset).unwrap_or(i64::MAX),
    )?;
    Ok(Page { items, total })
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

    #[test]
    fn pages_stop_at_the_end() {
        let loaded = |_: &mut (), limit, offset| Ok(vec![(limit, offset)]);
        let count = |_: &mut ()| Ok(25);
        let p = page(&mut (), 10, 20, count, loaded).unwrap();
        assert_eq!((p.items, p.total), (vec![(10, 20)], 25));
        let p = page(&mut (), 10, 25, count, loaded).unwrap();
        assert!(p.items.is_empty() && p.total == 25);
        let p = page(&mut (), 0, 0, count, loaded).unwrap();
        assert!(p.items.is_empty() && p.total == 25);
    }
}
