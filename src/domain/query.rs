//! A list request in resource terms: which items (a filter tree over named fields), in which
//! order, which page, and a free-text search. The API's query language parses into this; each
//! resource's storage decides what its field names mean.

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// `null()`
    Null,
    /// `empty()`
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        op: CompareOp,
        field: String,
        value: Value,
    },
    /// `in(field,(a,b))`, or `out(…)` when `negated`.
    List {
        negated: bool,
        field: String,
        values: Vec<String>,
    },
}

impl Filter {
    /// Every field the filter names, so a resource can refuse the ones it does not know.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Self::And(items) | Self::Or(items) => items.iter().flat_map(Filter::fields).collect(),
            Self::Not(inner) => inner.fields(),
            Self::Compare { field, .. } | Self::List { field, .. } => vec![field.as_str()],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub filter: Option<Filter>,
    pub ordering: Vec<(String, Direction)>,
    pub limit: u32,
    pub offset: u64,
    pub search: Option<String>,
}

impl Default for Query {
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
