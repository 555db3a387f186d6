//! Resource Query Language, as the platform's API and its clients speak it in the query string:
//! `and(eq(status,active),like(name,*sync*))&ordering(-created)&limit=10&offset=0&search=x`.
//! This module only parses; what a field means is up to each resource.

use crate::domain::query::{CompareOp, Direction, Filter, Query, Value};
use std::fmt;

/// Nesting beyond this is refused: no client needs it, and it bounds the work of a request.
const MAX_DEPTH: usize = 16;
const MAX_TERMS: usize = 200;
const MAX_LIMIT: u32 = crate::domain::query::MAX_LIMIT;
/// The databases count in signed 64 bits: an offset beyond them is refused, not wrapped.
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// `limit` and `offset`, as every collection takes them: what `parse` reads, as the OpenAPI
/// document lists it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page, 0 to 1000 (default 100); 0 answers only the total.
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
}

/// `search`, as the collections searched by text take it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Text anywhere in the collection's search fields (no NUL character).
    #[param(pattern = "^[^\\u0000]*$")]
    pub search: Option<String>,
}

/// What is wrong with a query string, in words for the error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RqlError(pub String);

impl fmt::Display for RqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error<T>(message: impl Into<String>) -> Result<T, RqlError> {
    Err(RqlError(message.into()))
}

/// Percent-decoding of one RQL token (`+` stays a plus: RQL values are not form-encoded).
fn decode(raw: &str) -> Result<String, RqlError> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .or_else(|_| error(format!("{raw:?} is not valid percent-encoded UTF-8")))?;
    // No field holds a NUL, and PostgreSQL refuses it in text.
    if decoded.contains('\0') {
        return error(format!("{raw:?} contains a NUL character"));
    }
    Ok(decoded)
}

/// Form decoding of a `key=value` parameter.
fn decode_form(raw: &str) -> Result<String, RqlError> {
    decode(&raw.replace('+', " "))
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Open,
    Close,
    Comma,
    Word(&'a str),
}

fn tokenize(raw: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start = 0;
    for (i, c) in raw.char_indices() {
        if matches!(c, '(' | ')' | ',') {
            if i > start {
                tokens.push(Token::Word(&raw[start..i]));
            }
            tokens.push(match c {
                '(' => Token::Open,
                ')' => Token::Close,
                _ => Token::Comma,
            });
            start = i + 1;
        }
    }
    if start < raw.len() {
        tokens.push(Token::Word(&raw[start..]));
    }
    tokens
}

/// A call, as written: `name(arg,arg,…)`.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Call(String, Vec<Node>),
    Group(Vec<Node>),
    Word(String),
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    position: usize,
    terms: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn node(&mut self, depth: usize) -> Result<Node, RqlError> {
        if depth > MAX_DEPTH {
            return error(format!(
                "the query is nested deeper than {MAX_DEPTH} levels"
            ));
        }
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return error(format!("the query has more than {MAX_TERMS} terms"));
        }
        match self.peek() {
            Some(Token::Open) => {
                self.next();
                Ok(Node::Group(self.arguments(depth)?))
            }
            Some(Token::Word(word)) => {
                let word = *word;
                self.next();
                if self.peek() == Some(&Token::Open) {
                    self.next();
                    if word.is_empty()
                        || !word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return error(format!(
                            "{:?} is not an operator",
                            decode(word).unwrap_or_default()
                        ));
                    }
                    Ok(Node::Call(word.to_owned(), self.arguments(depth)?))
                } else {
                    Ok(Node::Word(decode(word)?))
                }
            }
            // An empty argument: `eq(name,)` compares with the empty string.
            Some(Token::Comma) | Some(Token::Close) => Ok(Node::Word(String::new())),
            None => error("the query ends too early; a ')' is missing"),
        }
    }

    /// Arguments up to and including the closing parenthesis.
    fn arguments(&mut self, depth: usize) -> Result<Vec<Node>, RqlError> {
        let mut arguments = Vec::new();
        if self.peek() == Some(&Token::Close) {
            self.next();
            return Ok(arguments);
        }
        loop {
            arguments.push(self.node(depth + 1)?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(arguments),
                Some(Token::Word(word)) => {
                    return error(format!(
                        "unexpected {:?}; expected ',' or ')'",
                        decode(word).unwrap_or_default()
                    ));
                }
                Some(Token::Open) => return error("unexpected '('; expected ',' or ')'"),
                None => return error("the query ends too early; a ')' is missing"),
            }
        }
    }
}

/// Parses one `&`-separated part; `terms` counts across the whole query string, so many small
/// parts are bounded like one large one.
fn parse_node(raw: &str, terms: &mut usize) -> Result<Node, RqlError> {
    let mut parser = Parser {
        tokens: tokenize(raw),
        position: 0,
        terms: *terms,
    };
    let node = parser.node(0)?;
    *terms = parser.terms;
    if parser.position < parser.tokens.len() {
        return error(format!(
            "unexpected text after the expression in {:?}",
            decode_form(raw).unwrap_or_default()
        ));
    }
    Ok(node)
}

fn field_name(node: &Node) -> Result<String, RqlError> {
    match node {
        Node::Word(name) if !name.is_empty() => Ok(name.clone()),
        _ => error("a field name is expected as the first argument"),
    }
}

fn filter_of(node: Node) -> Result<Filter, RqlError> {
    let Node::Call(name, args) = node else {
        return error("an operator such as eq(field,value) is expected");
    };
    match name.as_str() {
        "and" | "or" => {
            if args.is_empty() {
                return error(format!("{name}() needs at least one expression"));
            }
            let items = args
                .into_iter()
                .map(filter_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if name == "and" {
                Filter::And(items)
            } else {
                Filter::Or(items)
            })
        }
        "not" => match <[Node; 1]>::try_from(args) {
            Ok([inner]) => Ok(Filter::Not(Box::new(filter_of(inner)?))),
            Err(_) => error("not() takes exactly one expression"),
        },
        "in" | "out" => {
            let mut args = args.into_iter();
            let field = field_name(
                &args
                    .next()
                    .ok_or_else(|| RqlError(format!("{name}() needs a field")))?,
            )?;
            let mut values = Vec::new();
            for arg in args {
                match arg {
                    Node::Word(value) => values.push(value),
                    Node::Group(items) => {
                        for item in items {
                            match item {
                                Node::Word(value) => values.push(value),
                                _ => return error(format!("{name}() takes plain values")),
                            }
                        }
                    }
                    Node::Call(..) => return error(format!("{name}() takes plain values")),
                }
            }
            if values.is_empty() {
                return error(format!("{name}() needs at least one value"));
            }
            Ok(Filter::List {
                negated: name == "out",
                field,
                values,
            })
        }
        other => {
            let Some(op) = CompareOp::from_name(other) else {
                return error(format!("unknown operator {other:?}"));
            };
            let [field, value] = <[Node; 2]>::try_from(args)
                .map_err(|_| RqlError(format!("{other}() takes a field and a value")))?;
            let field = field_name(&field)?;
            let value = match value {
                Node::Word(text) => Value::Text(text),
                Node::Call(call, inner) if call == "null" && inner.is_empty() => Value::Null,
                Node::Call(call, inner) if call == "empty" && inner.is_empty() => Value::Empty,
                _ => return error(format!("{other}() takes a plain value, null() or empty()")),
            };
            Ok(Filter::Compare { op, field, value })
        }
    }
}

fn field_list(args: Vec<Node>, what: &str) -> Result<Vec<String>, RqlError> {
    args.into_iter()
        .map(|arg| match arg {
            Node::Word(name) if !name.is_empty() => Ok(name),
            _ => error(format!("{what}() takes field names")),
        })
        .collect()
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, RqlError> {
    value
        .trim()
        .parse()
        .or_else(|_| error(format!("{name} must be a whole number, not {value:?}")))
}

/// Parses a raw (still percent-encoded) query string.
pub fn parse(raw_query: &str) -> Result<Query, RqlError> {
    let mut query = Query::default();
    let mut filters = Vec::new();
    let mut terms = 0;
    for part in raw_query.split('&').filter(|p| !p.is_empty()) {
        terms += 1;
        if terms > MAX_TERMS {
            return error(format!("the query has more than {MAX_TERMS} terms"));
        }
        let call_start = part.find('(');
        let equals = part.find('=');
        let is_parameter = match (equals, call_start) {
            (Some(e), Some(c)) => e < c,
            (Some(_), None) => true,
            _ => false,
        };
        if is_parameter {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let key = decode_form(key)?;
            let value = decode_form(value)?;
            match key.as_str() {
                "limit" => {
                    let limit: u32 = number("limit", &value)?;
                    if limit > MAX_LIMIT {
                        return error(format!("limit must be at most {MAX_LIMIT}"));
                    }
                    query.limit = limit;
                }
                "offset" => {
                    let offset: u64 = number("offset", &value)?;
                    if offset > MAX_OFFSET {
                        return error(format!("offset must be at most {MAX_OFFSET}"));
                    }
                    query.offset = offset;
                }
                "search" => query.search = Some(value).filter(|v| !v.trim().is_empty()),
                "" => return error("a parameter has no name"),
                _ => filters.push(Filter::text(CompareOp::Eq, key, value)),
            }
            continue;
        }
        match parse_node(part, &mut terms)? {
            Node::Call(name, args) if name == "ordering" => {
                for field in field_list(args, "ordering")? {
                    match field.strip_prefix('-') {
                        Some(name) => query
                            .ordering
                            .push((name.to_owned(), Direction::Descending)),
                        None => {
                            let name = field.strip_prefix('+').unwrap_or(&field).to_owned();
                            query.ordering.push((name, Direction::Ascending));
                        }
                    }
                }
            }
            // Accepted for compatibility; every field is always returned.
            Node::Call(name, args) if name == "select" => {
                field_list(args, "select")?;
            }
            node => filters.push(filter_of(node)?),
        }
    }
    query.filter = match filters.len() {
        0 => None,
        1 => filters.pop(),
        _ => Some(Filter::And(filters)),
    };
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(op: CompareOp, field: &str, value: &str) -> Filter {
        Filter::text(op, field.to_owned(), value)
    }

    #[test]
    fn what_the_platform_client_sends() {
        let q = parse("and(eq(status,active),like(name,*x*))&limit=100&offset=0").unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::And(vec![
                cmp(CompareOp::Eq, "status", "active"),
                cmp(CompareOp::Like, "name", "*x*")
            ]))
        );
        assert_eq!((q.limit, q.offset), (100, 0));

        let q = parse("or(eq(name,a),not(in(status,(a,b))))").unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::Or(vec![
                cmp(CompareOp::Eq, "name", "a"),
                Filter::Not(Box::new(Filter::List {
                    negated: false,
                    field: "status".into(),
                    values: vec!["a".into(), "b".into()]
                })),
            ]))
        );

        let q = parse(
            "eq(expiration_date,null())&ordering(-created,name)&select(id,name)&search=my%20token",
        )
        .unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::Compare {
                op: CompareOp::Eq,
                field: "expiration_date".into(),
                value: Value::Null
            })
        );
        assert_eq!(
            q.ordering,
            vec![
                ("created".into(), Direction::Descending),
                ("name".into(), Direction::Ascending)
            ]
        );
        assert_eq!(q.search.as_deref(), Some("my token"));
    }

    #[test]
    fn values_are_percent_decoded_after_splitting() {
        let q = parse("eq(name,a%2Cb%28c%29%20d+e)").unwrap();
        assert_eq!(q.filter, Some(cmp(CompareOp::Eq, "name", "a,b(c) d+e")));
        let q = parse("eq(name,)").unwrap();
        assert_eq!(q.filter, Some(cmp(CompareOp::Eq, "name", "")));
    }

    #[test]
    fn plain_parameters_are_equality_filters() {
        let q = parse("status=active&name=a+b&out(id,(SU-1,SU-2))").unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::And(vec![
                cmp(CompareOp::Eq, "status", "active"),
                cmp(CompareOp::Eq, "name", "a b"),
                Filter::List {
                    negated: true,
                    field: "id".into(),
                    values: vec!["SU-1".into(), "SU-2".into()]
                },
            ]))
        );
        assert_eq!(parse("").unwrap(), Query::default());
        assert_eq!(parse("limit=0").unwrap().limit, 0);
        assert_eq!(
            parse("offset=9223372036854775807").unwrap().offset,
            9_223_372_036_854_775_807
        );
    }

    #[test]
    fn malformed_queries_are_refused_with_a_reason() {
        let cases = [
            "eq(name,a",
            "eq(name)",
            "eq(name,a,b)",
            "eq(,a)",
            "foo(name,a)",
            "and()",
            "not(eq(a,1),eq(b,2))",
            "in(status)",
            "in(status,())",
            "eq(name,a))",
            "eq(name,a)x",
            "eq(name,(a))",
            "eq(name,gt(a,b))",
            "limit=abc",
            "limit=-1",
            "limit=1001",
            "offset=-5",
            "offset=9223372036854775808",
            "offset=18446744073709551616",
            "=x",
            "eq(name,%FF)",
            "eq(name,a%00b)",
            "search=%00",
            "ordering(eq(a,b))",
            "(a,b)",
            "plainword",
            "e q(name,a)",
        ];
        for raw in cases {
            assert!(parse(raw).is_err(), "{raw:?} should be refused");
        }
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let deep = format!("{}eq(a,b){}", "not(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().0.contains("deeper"));
        let wide = format!("or({})", vec!["eq(a,b)"; 300].join(","));
        assert!(parse(&wide).unwrap_err().0.contains("terms"));
        let many_parts = vec!["id="; 3000].join("&");
        assert!(parse(&many_parts).unwrap_err().0.contains("terms"));
        let many_calls = vec!["eq(a,b)"; 300].join("&");
        assert!(parse(&many_calls).unwrap_err().0.contains("terms"));
        let fine = format!("{}eq(a,b){}", "not(".repeat(10), ")".repeat(10));
        assert!(parse(&fine).is_ok());
    }
}
