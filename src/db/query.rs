//! What the list queries of the API share: turning a resource-level filter value into what SQL
//! compares, and evaluating a test in memory for fields with a handful of known values.

use super::DbError;
use crate::domain::query::{CompareOp, Value};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

pub fn bad(message: impl Into<String>) -> DbError {
    DbError::BadQuery(message.into())
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

/// A `like` pattern matched in memory, for fields whose values are known without a query.
fn like_matches(pattern: &str, candidate: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == candidate;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !candidate.starts_with(first) || !candidate[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &candidate[first.len()..candidate.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The text a comparison is made with; `null()` and `empty()` both mean "no value" for fields
/// that store an empty string for none.
pub fn text_value(value: &Value) -> &str {
    match value {
        Value::Text(text) => text,
        Value::Null | Value::Empty => "",
    }
}

/// Whether `candidate` passes `op value`, for fields evaluated in memory.
pub fn matches(op: CompareOp, value: &str, candidate: &str) -> bool {
    match op {
        CompareOp::Eq => candidate == value,
        CompareOp::Ne => candidate != value,
        CompareOp::Gt => candidate > value,
        CompareOp::Ge => candidate >= value,
        CompareOp::Lt => candidate < value,
        CompareOp::Le => candidate <= value,
        CompareOp::Like => like_matches(value, candidate),
        CompareOp::Ilike => like_matches(&value.to_lowercase(), &candidate.to_lowercase()),
    }
}

/// An instant given as RFC 3339 (`2026-11-27T10:00:00+00:00`), a naive UTC date-time, or a date,
/// in the years 1–9999 (SQLite keeps instants as text, which only sorts right within them).
pub fn timestamp(field: &str, value: &str) -> Result<NaiveDateTime, DbError> {
    let at = any_timestamp(field, value)?;
    if (1..=9999).contains(&at.year()) {
        Ok(at)
    } else {
        Err(bad(format!(
            "{field}: {value:?} is outside the years 1 to 9999"
        )))
    }
}

fn any_timestamp(field: &str, value: &str) -> Result<NaiveDateTime, DbError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.naive_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(at);
        }
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default())
        .map_err(|_| {
            bad(format!(
                "{field}: {value:?} is not a date or an RFC 3339 date-time"
            ))
        })
}

pub fn boolean(field: &str, value: &str) -> Result<bool, DbError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(format!("{field}: {value:?} is not true or false"))),
    }
}

/// A test on a text column: comparisons, `like` (case-sensitive), `ilike`.
macro_rules! text_test {
    ($predicate:ty, $column:expr, $op:expr, $value:expr) => {{
        let value = $crate::db::query::text_value($value).to_owned();
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

/// A comparison of a timestamp column with an instant.
macro_rules! time_test {
    ($predicate:ty, $column:expr, $op:expr, $at:expr, $field:expr) => {{
        let at: chrono::NaiveDateTime = $at;
        let predicate: $predicate = match $op {
            $crate::domain::query::CompareOp::Eq => Box::new($column.eq(at)),
            $crate::domain::query::CompareOp::Ne => Box::new($column.ne(at)),
            $crate::domain::query::CompareOp::Gt => Box::new($column.gt(at)),
            $crate::domain::query::CompareOp::Ge => Box::new($column.ge(at)),
            $crate::domain::query::CompareOp::Lt => Box::new($column.lt(at)),
            $crate::domain::query::CompareOp::Le => Box::new($column.le(at)),
            $crate::domain::query::CompareOp::Like | $crate::domain::query::CompareOp::Ilike => {
                return Err($crate::db::query::bad(format!(
                    "{}: like and ilike apply to text fields only",
                    $field
                )));
            }
        };
        predicate
    }};
}

pub(crate) use text_test;
pub(crate) use time_test;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(like_pattern("*sync_50%*"), "%sync\\_50\\%%");
        for (pattern, candidate, expected) in [
            ("*sync*", "flowgear sync job", true),
            ("sync*", "sync job", true),
            ("sync*", "a sync", false),
            ("*job", "sync job", true),
            ("a*b*c", "a-x-b-y-c", true),
            ("a*b*c", "a-x-c-y-b", false),
            ("exact", "exact", true),
            ("*", "", true),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(
                like_matches(pattern, candidate),
                expected,
                "{pattern} ~ {candidate}"
            );
        }
        assert!(matches(CompareOp::Ilike, "*SYNC*", "Flowgear sync"));
        assert!(!matches(CompareOp::Like, "*SYNC*", "Flowgear sync"));
    }

    #[test]
    fn search_text_is_literal() {
        assert_eq!(contains_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("Plain"), "%plain%");
    }

    #[test]
    fn timestamps() {
        let at = timestamp("f", "2026-11-27T10:30:00+01:00").unwrap();
        assert_eq!(at.to_string(), "2026-11-27 09:30:00");
        assert_eq!(
            timestamp("f", "2026-11-27").unwrap().to_string(),
            "2026-11-27 00:00:00"
        );
        assert_eq!(
            timestamp("f", "2026-11-27T10:30:00.5").unwrap().to_string(),
            "2026-11-27 10:30:00.500"
        );
        assert!(timestamp("f", "yesterday").is_err());
        assert!(timestamp("f", "+10000-01-01T00:00:00+00:00").is_err());
        assert!(
            timestamp("f", "9999-12-31T23:59:59-10:00").is_err(),
            "year 10000 in UTC"
        );
        assert!(boolean("f", "yes").is_err());
    }
}
