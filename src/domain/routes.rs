//! The route table of `/auth/verify` (`TOKENDESK_ROUTES`): which module a path of the service
//! behind a proxy belongs to. One `PREFIX MODULE-ID` per line, `#` starts a comment; the longest
//! prefix that matches wins, and a path no prefix matches belongs to no module (refused).
//!
//! A prefix matches whole segments only (`/orders` matches `/orders` and `/orders/7`, never
//! `/ordersx`), and is compared with the path as the service will read it: percent-decoded,
//! without its query, with `.` and `..` segments resolved and repeated slashes merged — so that
//! `/orders/../admin` or `/orders%2f..%2fadmin` is judged as `/admin`, the path it reaches.

use super::module::Module;
use std::fmt;

/// Routes, longest prefix first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    /// A normalised path (`/` or `/a/b`, no trailing slash).
    prefix: String,
    module: Module,
}

/// Why a route table cannot be read: the line (from 1) and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {cause}")]
pub struct RouteTableError {
    pub line: usize,
    pub cause: String,
}

impl RouteTable {
    pub fn parse(text: &str) -> Result<Self, RouteTableError> {
        let mut routes: Vec<Route> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let error = |cause: String| RouteTableError {
                line: index + 1,
                cause,
            };
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [prefix, module] = fields[..] else {
                return Err(error(format!(
                    "expected `PREFIX MODULE-ID`, got {} fields",
                    fields.len()
                )));
            };
            if !prefix.starts_with('/') {
                return Err(error(format!("the prefix {prefix:?} must start with /")));
            }
            let normalised = normalise(prefix)
                .ok_or_else(|| error(format!("the prefix {prefix:?} is not a plain path")))?;
            let module = Module::find(module).map_err(|e| error(e.to_string()))?;
            if routes.iter().any(|route| route.prefix == normalised) {
                return Err(error(format!("the prefix {prefix:?} is given twice")));
            }
            routes.push(Route {
                prefix: normalised,
                module,
            });
        }
        routes.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
        Ok(Self { routes })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// The module of `path` (normalised by `normalise`), by the longest prefix that matches.
    pub fn module_for(&self, path: &NormalPath) -> Option<Module> {
        let path = path.0.as_str();
        self.routes
            .iter()
            .find(|route| {
                route.prefix == "/"
                    || path == route.prefix
                    || path
                        .strip_prefix(route.prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .map(|route| route.module)
    }
}

/// A path as the service behind the proxy reads it; see the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath(String);

impl NormalPath {
    /// The path of `uri` (a path with its query, as proxies send it); `None` when it cannot be
    /// read (not UTF-8 once decoded, or climbing above the root).
    pub fn of_uri(uri: &str) -> Option<Self> {
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        normalise(path).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NormalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn normalise(path: &str) -> Option<String> {
    // Most paths are already normal: one copy, none of the work below.
    let plain = path.starts_with('/')
        && !path.contains(['%', '\\'])
        && !path.contains("//")
        && path.len() > 1
        && !path.ends_with('/')
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if plain {
        return Some(path.to_owned());
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            segment => segments.push(segment),
        }
    }
    Some(format!("/{}", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
# the shop's services
/                  MD-0001
/orders            MD-0012   # subscriptions
/orders/reports    MD-0011
/catalog/          MD-0010
";

    #[test]
    fn the_longest_whole_segment_prefix_wins() {
        let table = RouteTable::parse(TABLE).unwrap();
        assert_eq!(table.len(), 4);
        let cases = [
            ("/orders", "MD-0012"),
            ("/orders/", "MD-0012"),
            ("/orders/7?expand=lines", "MD-0012"),
            ("/orders/reports/2024", "MD-0011"),
            ("/orders/reportsx", "MD-0012"),
            ("/ordersx", "MD-0001"),
            ("/catalog", "MD-0010"),
            ("/catalog/items", "MD-0010"),
            ("/", "MD-0001"),
            ("/orders/../catalog/1", "MD-0010"),
            ("/orders%2F..%2Fcatalog", "MD-0010"),
            ("//orders//./reports", "MD-0011"),
            ("/%6frders", "MD-0012"),
        ];
        for (uri, module) in cases {
            let path = NormalPath::of_uri(uri).unwrap();
            assert_eq!(table.module_for(&path).map(|m| m.id), Some(module), "{uri}");
        }
    }

    #[test]
    fn without_a_root_route_other_paths_belong_to_nothing() {
        let table = RouteTable::parse("/api/v2 MD-0002\n").unwrap();
        for uri in ["/", "/api", "/api/v20", "/admin", "/api/v2/../../admin"] {
            let path = NormalPath::of_uri(uri).unwrap();
            assert_eq!(table.module_for(&path), None, "{uri}");
        }
        assert!(RouteTable::parse("# nothing yet\n\n").unwrap().is_empty());
    }

    #[test]
    fn paths_that_cannot_be_read() {
        for uri in ["/..", "/a/../..", "/%ff", "/a/%2e%2e/%2E%2E/b"] {
            assert_eq!(NormalPath::of_uri(uri), None, "{uri}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("/a MD-0001\norders MD-0002", 2, "must start with /"),
            ("/a", 1, "got 1 fields"),
            ("/a MD-0001 extra", 1, "fields"),
            ("/a MD-9999", 1, "unknown module"),
            ("/a MD-0001\n\n/a/ MD-0002", 3, "twice"),
            ("/.. MD-0001", 1, "not a plain path"),
        ];
        for (text, line, cause) in cases {
            let error = RouteTable::parse(text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}");
            assert!(error.cause.contains(cause), "{text:?}: {error}");
        }
    }
}
