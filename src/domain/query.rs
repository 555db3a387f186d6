//! A list request in resource terms: which items (a filter tree over named fields), in which
//! order, which page, and a free-text search. The API's query language parses into a
//! `Query<String>`; each resource resolves the names into its own `Field` enum, so a field is
//! spelled once, and folds the filter tree into what it needs (a SQL condition, or a yes/no for
//! an item held in memory).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};
use std::fmt;

/// The most items one page may hold.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    Ilike,
}

impl CompareOp {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            "like" => Self::Like,
            "ilike" => Self::Ilike,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Like => "like",
            Self::Ilike => "ilike",
        }
    }

    /// Whether `candidate` passes `op value`, for values known without a query.
    pub fn matches(self, value: &str, candidate: &str) -> bool {
        match self {
            Self::Eq => candidate == value,
            Self::Ne => candidate != value,
            Self::Gt => candidate > value,
            Self::Ge => candidate >= value,
            Self::Lt => candidate < value,
            Self::Le => candidate <= value,
            Self::Like => like_matches(value, candidate),
            Self::Ilike => like_matches(&value.to_lowercase(), &candidate.to_lowercase()),
        }
    }
}

/// A `like` pattern (`*` is the wildcard) matched in memory.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// `null()`
    Null,
    /// `empty()`
    Empty,
}

impl Value {
    /// The text compared with; `null()` and `empty()` both mean "no value" for fields that
    /// store an empty string for none.
    pub fn text(&self) -> &str {
        match self {
            Self::Text(text) => text,
            Self::Null | Self::Empty => "",
        }
    }
}

/// A field of a resource that list requests may name. Each resource has one enum of them; its
/// names (and the error messages listing them) come from here alone.
pub trait Field: Copy + Eq + fmt::Debug + 'static {
    /// Every field, in the order messages list them.
    const ALL: &'static [Self];

    /// The name clients use, e.g. `events.created.at`.
    fn name(self) -> &'static str;

    /// Other names accepted for it, e.g. `created`.
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }

    fn filterable(self) -> bool {
        true
    }

    fn sortable(self) -> bool {
        true
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name || f.aliases().contains(&name))
    }
}

/// The names of the fields that pass `keep`, for messages: `id, name or status`.
fn names<F: Field>(keep: impl Fn(F) -> bool) -> String {
    let names: Vec<&str> = F::ALL
        .iter()
        .copied()
        .filter(|f| keep(*f))
        .map(F::name)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// What is wrong with a list request, in words for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl QueryError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter<F = String> {
    And(Vec<Filter<F>>),
    Or(Vec<Filter<F>>),
    Not(Box<Filter<F>>),
    Compare {
        op: CompareOp,
        field: F,
        value: Value,
    },
    /// `in(field,(a,b))`, or `out(…)` when `negated`.
    List {
        negated: bool,
        field: F,
        values: Vec<String>,
    },
}

impl<F: PartialEq> Filter<F> {
    /// Whether `field` is tested anywhere in the tree.
    pub fn mentions(&self, field: &F) -> bool {
        match self {
            Self::And(all) | Self::Or(all) => all.iter().any(|f| f.mentions(field)),
            Self::Not(inner) => inner.mentions(field),
            Self::Compare { field: f, .. } | Self::List { field: f, .. } => f == field,
        }
    }
}

impl<F> Filter<F> {
    /// `op(field,value)` with a text value.
    pub fn text(op: CompareOp, field: F, value: impl Into<String>) -> Self {
        Self::Compare {
            op,
            field,
            value: Value::Text(value.into()),
        }
    }
}

/// What a filter tree folds into: a SQL condition, or whether an item in memory passes.
pub trait Fold<F> {
    type Output;

    fn all(&self, items: Vec<Self::Output>) -> Self::Output;
    fn any(&self, items: Vec<Self::Output>) -> Self::Output;
    fn not(&self, inner: Self::Output) -> Self::Output;
    fn compare(&self, field: F, op: CompareOp, value: &Value) -> Result<Self::Output, QueryError>;
}

impl<F: Copy> Filter<F> {
    /// The one walk over the tree; `in(f,(a,b))` is `or(eq(f,a),eq(f,b))`.
    pub fn fold<A: Fold<F>>(&self, fold: &A) -> Result<A::Output, QueryError> {
        let each = |items: &[Filter<F>]| -> Result<Vec<A::Output>, QueryError> {
            items.iter().map(|f| f.fold(fold)).collect()
        };
        Ok(match self {
            Self::And(items) => fold.all(each(items)?),
            Self::Or(items) => fold.any(each(items)?),
            Self::Not(inner) => fold.not(inner.fold(fold)?),
            Self::Compare { op, field, value } => fold.compare(*field, *op, value)?,
            Self::List {
                negated,
                field,
                values,
            } => {
                let any = fold.any(
                    values
                        .iter()
                        .map(|v| fold.compare(*field, CompareOp::Eq, &Value::Text(v.clone())))
                        .collect::<Result<_, _>>()?,
                );
                if *negated { fold.not(any) } else { any }
            }
        })
    }
}

impl Filter<String> {
    /// The same filter over `F`'s fields; a name `F` does not filter on is refused.
    pub fn resolve<F: Field>(&self) -> Result<Filter<F>, QueryError> {
        let field = |name: &str| {
            F::parse(name).filter(|f| f.filterable()).ok_or_else(|| {
                QueryError(format!(
                    "unknown field {name:?}; filterable fields are {}",
                    names::<F>(F::filterable)
                ))
            })
        };
        let each = |items: &[Filter<String>]| -> Result<Vec<Filter<F>>, QueryError> {
            items.iter().map(Filter::resolve).collect()
        };
        Ok(match self {
            Self::And(items) => Filter::And(each(items)?),
            Self::Or(items) => Filter::Or(each(items)?),
            Self::Not(inner) => Filter::Not(Box::new(inner.resolve()?)),
            Self::Compare {
                op,
                field: name,
                value,
            } => Filter::Compare {
                op: *op,
                field: field(name)?,
                value: value.clone(),
            },
            Self::List {
                negated,
                field: name,
                values,
            } => Filter::List {
                negated: *negated,
                field: field(name)?,
                values: values.clone(),
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<F = String> {
    pub filter: Option<Filter<F>>,
    pub ordering: Vec<(F, Direction)>,
    pub limit: u32,
    pub offset: u64,
    pub search: Option<String>,
}

impl<F> Default for Query<F> {
    fn default() -> Self {
        Self {
            filter: None,
            ordering: Vec::new(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            search: None,
        }
    }
}

impl Query<String> {
    /// The request in `F`'s fields; unknown fields, and fields that cannot filter or order, are
    /// refused with the names that would do.
    pub fn resolve<F: Field>(&self) -> Result<Query<F>, QueryError> {
        let ordering = self
            .ordering
            .iter()
            .map(|(name, direction)| {
                F::parse(name)
                    .filter(|f| f.sortable())
                    .map(|f| (f, *direction))
                    .ok_or_else(|| {
                        QueryError(format!(
                            "cannot order by {name:?}; order by {}",
                            names::<F>(F::sortable)
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Query {
            filter: self.filter.as_ref().map(Filter::resolve).transpose()?,
            ordering,
            limit: self.limit,
            offset: self.offset,
            search: self.search.clone(),
        })
    }
}

/// An instant given as RFC 3339 (`2026-11-27T10:00:00+00:00`), a naive UTC date-time, or a date,
/// in the years 1–9999 (SQLite keeps instants as text, which only sorts right within them).
pub fn parse_instant(field: &str, value: &str) -> Result<NaiveDateTime, QueryError> {
    let at = any_instant(value).ok_or_else(|| {
        QueryError(format!(
            "{field}: {value:?} is not a date or an RFC 3339 date-time"
        ))
    })?;
    if (1..=9999).contains(&at.year()) {
        Ok(at)
    } else {
        Err(QueryError(format!(
            "{field}: {value:?} is outside the years 1 to 9999"
        )))
    }
}

fn any_instant(value: &str) -> Option<NaiveDateTime> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.naive_utc());
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .into_iter()
    .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Pet {
        Name,
        Born,
        Owner,
    }

    impl Field for Pet {
        const ALL: &'static [Self] = &[Self::Name, Self::Born, Self::Owner];

        fn name(self) -> &'static str {
            match self {
                Self::Name => "name",
                Self::Born => "events.born.at",
                Self::Owner => "owner.id",
            }
        }

        fn aliases(self) -> &'static [&'static str] {
            match self {
                Self::Born => &["born"],
                _ => &[],
            }
        }

        fn sortable(self) -> bool {
            self != Self::Owner
        }

        fn filterable(self) -> bool {
            self != Self::Born
        }
    }

    /// Evaluates a filter for one pet, to test the fold.
    struct Named(&'static str);

    impl Fold<Pet> for Named {
        type Output = bool;
        fn all(&self, items: Vec<bool>) -> bool {
            items.into_iter().all(|b| b)
        }
        fn any(&self, items: Vec<bool>) -> bool {
            items.into_iter().any(|b| b)
        }
        fn not(&self, inner: bool) -> bool {
            !inner
        }
        fn compare(&self, field: Pet, op: CompareOp, value: &Value) -> Result<bool, QueryError> {
            match field {
                Pet::Name => Ok(op.matches(value.text(), self.0)),
                _ => Err(QueryError::new("only names")),
            }
        }
    }

    fn cmp(op: CompareOp, field: &str, value: &str) -> Filter {
        Filter::text(op, field.to_owned(), value)
    }

    #[test]
    fn fields_resolve_by_name_or_alias_and_are_listed_when_unknown() {
        let query = Query {
            filter: Some(cmp(CompareOp::Eq, "name", "Rex")),
            ordering: vec![("born".into(), Direction::Descending)],
            ..Query::default()
        };
        let resolved = query.resolve::<Pet>().unwrap();
        assert_eq!(resolved.ordering, [(Pet::Born, Direction::Descending)]);

        let unknown = Query {
            filter: Some(Filter::Not(Box::new(cmp(CompareOp::Eq, "colour", "x")))),
            ..Query::default()
        };
        assert_eq!(
            unknown.resolve::<Pet>().unwrap_err().to_string(),
            "unknown field \"colour\"; filterable fields are name or owner.id"
        );
        let not_filterable = Query {
            filter: Some(cmp(CompareOp::Eq, "born", "2020-01-01")),
            ..Query::default()
        };
        assert!(not_filterable.resolve::<Pet>().is_err());
        let not_sortable = Query {
            ordering: vec![("owner.id".into(), Direction::Ascending)],
            ..Query::default()
        };
        assert_eq!(
            not_sortable.resolve::<Pet>().unwrap_err().to_string(),
            "cannot order by \"owner.id\"; order by name or events.born.at"
        );
    }

    #[test]
    fn the_fold_walks_every_kind_of_node() {
        let filter = Filter::And(vec![
            Filter::Or(vec![
                cmp(CompareOp::Like, "name", "R*"),
                cmp(CompareOp::Eq, "name", "Fido"),
            ]),
            Filter::Not(Box::new(Filter::List {
                negated: false,
                field: "name".into(),
                values: vec!["Rover".into(), "Rusty".into()],
            })),
        ])
        .resolve::<Pet>()
        .unwrap();
        let passes = |name| filter.fold(&Named(name)).unwrap();
        assert!(passes("Rex"));
        assert!(passes("Fido"));
        assert!(!passes("Rover"));
        assert!(!passes("Spot"));
        let out = Filter::List {
            negated: true,
            field: "name".to_owned(),
            values: vec!["Rex".into()],
        }
        .resolve::<Pet>()
        .unwrap();
        assert!(!out.fold(&Named("Rex")).unwrap());
        assert!(out.fold(&Named("Spot")).unwrap());
        let owner = cmp(CompareOp::Eq, "owner.id", "x")
            .resolve::<Pet>()
            .unwrap();
        assert!(owner.fold(&Named("Rex")).is_err());
    }

    #[test]
    fn like_patterns_in_memory() {
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
        assert!(CompareOp::Ilike.matches("*SYNC*", "Flowgear sync"));
        assert!(!CompareOp::Like.matches("*SYNC*", "Flowgear sync"));
    }

    #[test]
    fn instants() {
        let at = parse_instant("f", "2026-11-27T10:30:00+01:00").unwrap();
        assert_eq!(at.to_string(), "2026-11-27 09:30:00");
        assert_eq!(
            parse_instant("f", "2026-11-27").unwrap().to_string(),
            "2026-11-27 00:00:00"
        );
        assert_eq!(
            parse_instant("f", "2026-11-27T10:30:00.5")
                .unwrap()
                .to_string(),
            "2026-11-27 10:30:00.500"
        );
        assert!(parse_instant("f", "yesterday").is_err());
        assert!(parse_instant("f", "+10000-01-01T00:00:00+00:00").is_err());
        assert!(
            parse_instant("f", "9999-12-31T23:59:59-10:00").is_err(),
            "year 10000 in UTC"
        );
    }
}
