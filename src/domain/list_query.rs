//! The Tokens list's query string: page, page size, filters, search and sort. People edit URLs
//! by hand, so anything unrecognised falls back to the default instead of failing the page.

use super::extension::Extension;
use super::fields::TokenField;
use super::form::FieldErrors;
use super::least_privilege;
use super::lifecycle::EXPIRING_SOON_DAYS;
use super::module::Module;
use super::query::{CompareOp, Direction, Filter, Query, Value};
use super::token::TokenStatus;
use chrono::{Duration, NaiveDateTime};

pub const PAGE_SIZES: [u32; 4] = [10, 25, 50, 100];
/// The longest `stale` the review takes: about ten years.
const MAX_STALE_DAYS: u32 = 3650;

/// An instant as a filter value (what `parse_instant` reads back).
fn instant(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}
const MAX_SEARCH_CHARS: usize = 128;
/// `policy=broken`: the tokens that break the account's policy.
pub const BROKEN: &str = "broken";

/// The list's status filter: the statuses, and the active tokens about to expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Is(TokenStatus),
    /// Active, and expiring within `EXPIRING_SOON_DAYS`.
    Expiring,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 5] = [
        Self::Is(TokenStatus::Active),
        Self::Expiring,
        Self::Is(TokenStatus::Inactive),
        Self::Is(TokenStatus::Expired),
        Self::Is(TokenStatus::Pending),
    ];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_param() == value)
    }

    pub fn as_param(self) -> &'static str {
        match self {
            Self::Is(status) => status.as_str(),
            Self::Expiring => "expiring",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Is(status) => status.label(),
            Self::Expiring => "Expiring soon",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenSort {
    #[default]
    NewestFirst,
    OldestFirst,
    NameAscending,
    NameDescending,
}

impl TokenSort {
    pub const ALL: [TokenSort; 4] = [
        Self::NewestFirst,
        Self::OldestFirst,
        Self::NameAscending,
        Self::NameDescending,
    ];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_param() == value)
    }

    pub fn as_param(self) -> &'static str {
        match self {
            Self::NewestFirst => "-created",
            Self::OldestFirst => "created",
            Self::NameAscending => "name",
            Self::NameDescending => "-name",
        }
    }

    /// The same order as the API's `ordering(...)` writes it.
    pub fn ordering(self) -> (TokenField, Direction) {
        match self {
            Self::NewestFirst => (TokenField::CreatedAt, Direction::Descending),
            Self::OldestFirst => (TokenField::CreatedAt, Direction::Ascending),
            Self::NameAscending => (TokenField::Name, Direction::Ascending),
            Self::NameDescending => (TokenField::Name, Direction::Descending),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NewestFirst => "Newest first",
            Self::OldestFirst => "Oldest first",
            Self::NameAscending => "Name A–Z",
            Self::NameDescending => "Name Z–A",
        }
    }
}

/// The raw parameters as they arrive; every one optional and untrusted.
#[derive(Debug, Clone, Default)]
pub struct RawListQuery<'a> {
    pub page: Option<&'a str>,
    pub per_page: Option<&'a str>,
    pub status: Option<&'a str>,
    pub extension: Option<&'a str>,
    pub q: Option<&'a str>,
    pub sort: Option<&'a str>,
    pub module: Option<&'a str>,
    pub stale: Option<&'a str>,
    pub overgranted: Option<&'a str>,
    pub policy: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenListQuery {
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
    pub status: Option<StatusFilter>,
    pub extension: Option<Extension>,
    /// Matched against name, id and external id; never empty when present.
    pub search: Option<String>,
    pub sort: TokenSort,
    /// Tokens that reach this module (holding it, or All).
    pub module: Option<Module>,
    /// Active tokens not used for this many days (never used, and made before that).
    pub stale_days: Option<u32>,
    /// Only the tokens holding modules they do not use (`domain::least_privilege`).
    pub overgranted: bool,
    /// Only the tokens that break the account's policy (`policy=broken`).
    pub breaks_policy: bool,
}

impl Default for TokenListQuery {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: PAGE_SIZES[0],
            status: None,
            extension: None,
            search: None,
            sort: TokenSort::default(),
            module: None,
            stale_days: None,
            overgranted: false,
            breaks_policy: false,
        }
    }
}

impl RawListQuery<'_> {
    /// The filters given and not understood, each with what it takes. The page still shows
    /// what the others select (as `TokenListQuery::parse` reads them), and says these.
    pub fn problems(&self) -> FieldErrors {
        fn given(value: Option<&str>) -> Option<&str> {
            value.map(str::trim).filter(|v| !v.is_empty())
        }
        let mut errors = FieldErrors::default();
        if let Some(page) = given(self.page)
            && page.parse::<u32>().ok().is_none_or(|p| p < 1)
        {
            errors.add("page", "Page: a page is a whole number from 1.");
        }
        if let Some(per_page) = given(self.per_page)
            && !per_page
                .parse::<u32>()
                .is_ok_and(|n| PAGE_SIZES.contains(&n))
        {
            errors.add("per_page", "Per page: choose 10, 25, 50 or 100.");
        }
        if let Some(status) = given(self.status)
            && StatusFilter::parse(status).is_none()
        {
            errors.add("status", "Status: choose one of the list.");
        }
        if let Some(extension) = given(self.extension)
            && Extension::parse(extension).is_err()
        {
            errors.add("extension", "Extension: choose one of the list.");
        }
        if let Some(sort) = given(self.sort)
            && TokenSort::parse(sort).is_none()
        {
            errors.add("sort", "Sort: choose one of the list.");
        }
        if let Some(module) = given(self.module)
            && Module::find(module).is_err()
        {
            errors.add("module", "Module: choose one of the list.");
        }
        if let Some(stale) = given(self.stale)
            && !stale
                .parse::<u32>()
                .is_ok_and(|days| (1..=MAX_STALE_DAYS).contains(&days))
        {
            errors.add(
                "stale",
                format!("Unused for: a whole number of days from 1 to {MAX_STALE_DAYS}."),
            );
        }
        if let Some(overgranted) = given(self.overgranted)
            && overgranted != "1"
        {
            errors.add(
                "overgranted",
                "Unused grants: tick the box, or leave it out.",
            );
        }
        if let Some(policy) = given(self.policy)
            && policy != BROKEN
        {
            errors.add("policy", "Policy: choose one of the list.");
        }
        errors
    }
}

impl TokenListQuery {
    pub fn parse(raw: &RawListQuery<'_>) -> Self {
        let page = raw
            .page
            .and_then(|p| p.trim().parse::<u32>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1);
        let per_page = raw
            .per_page
            .and_then(|p| p.trim().parse::<u32>().ok())
            .filter(|p| PAGE_SIZES.contains(p))
            .unwrap_or(PAGE_SIZES[0]);
        let search = raw
            .q
            .map(|q| {
                q.trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_SEARCH_CHARS)
                    .collect::<String>()
            })
            .filter(|q| !q.is_empty());
        Self {
            page,
            per_page,
            status: raw.status.and_then(StatusFilter::parse),
            extension: raw.extension.and_then(|e| Extension::parse(e).ok()),
            search,
            sort: raw.sort.and_then(TokenSort::parse).unwrap_or_default(),
            module: raw.module.and_then(|m| Module::find(m.trim()).ok()),
            stale_days: raw
                .stale
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|days| (1..=MAX_STALE_DAYS).contains(days)),
            overgranted: raw.overgranted.is_some_and(|o| o.trim() == "1"),
            breaks_policy: raw.policy.is_some_and(|p| p.trim() == BROKEN),
        }
    }

    /// The same query on another page, as query-string pairs (defaults left out).
    pub fn pairs_for_page(&self, page: u32) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if page != 1 {
            pairs.push(("page", page.to_string()));
        }
        if self.per_page != PAGE_SIZES[0] {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        if let Some(status) = self.status {
            pairs.push(("status", status.as_param().to_owned()));
        }
        if let Some(extension) = self.extension {
            pairs.push(("extension", extension.name().to_owned()));
        }
        if let Some(search) = &self.search {
            pairs.push(("q", search.clone()));
        }
        if self.sort != TokenSort::default() {
            pairs.push(("sort", self.sort.as_param().to_owned()));
        }
        if let Some(module) = self.module {
            pairs.push(("module", module.id.to_owned()));
        }
        if let Some(days) = self.stale_days {
            pairs.push(("stale", days.to_string()));
        }
        if self.overgranted {
            pairs.push(("overgranted", "1".to_owned()));
        }
        if self.breaks_policy {
            pairs.push(("policy", BROKEN.to_owned()));
        }
        pairs
    }

    /// What the query selects (its filters and search, not its page or order), in words that
    /// stay the same as time passes: a name under which its total may be kept; and whether time
    /// alone changes which tokens it selects.
    pub fn question(&self) -> Question {
        Question {
            name: format!(
                "tokens status={:?} extension={:?} module={:?} stale={:?} overgranted={} policy={} q={:?}",
                self.status.map(StatusFilter::as_param),
                self.extension.map(|e| e.id()),
                self.module.map(|m| m.id),
                self.stale_days,
                self.overgranted,
                self.breaks_policy,
                self.search,
            ),
            // Tokens come of age, and modules fall out of use, as time passes; and which
            // tokens break the policy changes with the policy, which is not a token write.
            changes_with_time: self.stale_days.is_some()
                || self.overgranted
                || self.breaks_policy
                || matches!(
                    self.status,
                    Some(
                        StatusFilter::Expiring
                            | StatusFilter::Is(TokenStatus::Active | TokenStatus::Expired)
                    )
                ),
        }
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// The list's request as the API would write it, so both are answered by one query;
    /// `now` says which tokens expire soon.
    pub fn to_query(&self, now: NaiveDateTime) -> Query<TokenField> {
        let mut filters = Vec::new();
        match self.status {
            Some(StatusFilter::Is(status)) => filters.push(Filter::text(
                CompareOp::Eq,
                TokenField::Status,
                status.as_str(),
            )),
            Some(StatusFilter::Expiring) => {
                let soon = now + Duration::days(EXPIRING_SOON_DAYS);
                filters.push(Filter::text(CompareOp::Eq, TokenField::Status, "active"));
                filters.push(Filter::text(
                    CompareOp::Le,
                    TokenField::ExpirationDate,
                    instant(soon),
                ));
            }
            None => {}
        }
        if let Some(extension) = self.extension {
            filters.push(Filter::text(
                CompareOp::Eq,
                TokenField::ExtensionId,
                extension.id(),
            ));
        }
        if let Some(module) = self.module {
            // "All" reaches every module.
            filters.push(Filter::List {
                negated: false,
                field: TokenField::Permission,
                values: vec![module.id.to_owned(), Module::ALL.id.to_owned()],
            });
        }
        if let Some(days) = self.stale_days {
            let cutoff = instant(now - Duration::days(i64::from(days)));
            filters.push(Filter::text(CompareOp::Eq, TokenField::Status, "active"));
            filters.push(Filter::Or(vec![
                Filter::text(CompareOp::Le, TokenField::LastUsedAt, cutoff.clone()),
                Filter::And(vec![
                    Filter::Compare {
                        op: CompareOp::Eq,
                        field: TokenField::LastUsedAt,
                        value: Value::Null,
                    },
                    Filter::text(CompareOp::Le, TokenField::CreatedAt, cutoff),
                ]),
            ]));
        }
        if self.overgranted {
            filters.push(Filter::text(
                CompareOp::Le,
                TokenField::CreatedAt,
                instant(least_privilege::judged_if_created_by(now)),
            ));
            filters.push(Filter::text(
                CompareOp::Le,
                TokenField::HeldModuleLastUsedAt,
                instant(least_privilege::unused_if_last_used_by(now)),
            ));
        }
        if self.breaks_policy {
            filters.push(Filter::text(CompareOp::Eq, TokenField::Policy, BROKEN));
        }
        Query {
            filter: (!filters.is_empty()).then_some(Filter::And(filters)),
            ordering: vec![self.sort.ordering()],
            limit: self.per_page,
            offset: self.offset(),
            search: self.search.clone(),
        }
    }

    pub fn is_filtered(&self) -> bool {
        self.status.is_some()
            || self.extension.is_some()
            || self.search.is_some()
            || self.module.is_some()
            || self.stale_days.is_some()
            || self.overgranted
            || self.breaks_policy
    }
}

/// What a total counts: a name for the query's filters and search (the same whatever its page,
/// its order, or the time), and whether the passing of time alone may change it (expiry, "not
/// used for N days").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub changes_with_time: bool,
}

/// Where a page of `total` items starts and ends, for the "1-10 of N" footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageWindow {
    pub page: u32,
    pub last_page: u32,
    pub first_item: u64,
    pub last_item: u64,
    pub total: u64,
}

impl PageWindow {
    /// A page past the end shows the last page rather than an empty one.
    pub fn clamp(page: u32, per_page: u32, total: u64) -> Self {
        let last_page =
            u32::try_from(total.div_ceil(u64::from(per_page)).max(1)).unwrap_or(u32::MAX);
        let page = page.clamp(1, last_page);
        let first = u64::from(page - 1) * u64::from(per_page);
        let last_item = (first + u64::from(per_page)).min(total);
        Self {
            page,
            last_page,
            first_item: if total == 0 { 0 } else { first + 1 },
            last_item,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> TokenListQuery {
        let get = |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        TokenListQuery::parse(&RawListQuery {
            page: get("page"),
            per_page: get("per_page"),
            status: get("status"),
            extension: get("extension"),
            q: get("q"),
            sort: get("sort"),
            module: get("module"),
            stale: get("stale"),
            overgranted: get("overgranted"),
            policy: get("policy"),
        })
    }

    #[test]
    fn defaults() {
        assert_eq!(parse(&[]), TokenListQuery::default());
    }

    #[test]
    fn recognised_values() {
        let q = parse(&[
            ("page", "3"),
            ("per_page", "25"),
            ("status", "inactive"),
            ("extension", "zapier"),
            ("q", "  tutorial "),
            ("sort", "name"),
        ]);
        assert_eq!(q.page, 3);
        assert_eq!(q.per_page, 25);
        assert_eq!(q.status, Some(StatusFilter::Is(TokenStatus::Inactive)));
        assert_eq!(q.extension, Some(Extension::Zapier));
        assert_eq!(q.search.as_deref(), Some("tutorial"));
        assert_eq!(q.sort, TokenSort::NameAscending);
        assert_eq!(q.offset(), 50);
        assert!(q.is_filtered());
    }

    #[test]
    fn garbage_falls_back_to_defaults() {
        let cases: &[&[(&str, &str)]] = &[
            &[("page", "0")],
            &[("page", "-1")],
            &[("page", "abc")],
            &[("page", "99999999999999999999")],
            &[("per_page", "7")],
            &[("per_page", "1000000")],
            &[("status", "deleted")],
            &[("extension", "EXT-999")],
            &[("sort", "drop table")],
            &[("q", "   ")],
        ];
        for pairs in cases {
            assert_eq!(parse(pairs), TokenListQuery::default(), "{pairs:?}");
        }
    }

    #[test]
    fn search_is_bounded_and_loses_control_characters() {
        let q = parse(&[("q", &"x".repeat(500))]);
        assert_eq!(q.search.unwrap().len(), 128);
        assert_eq!(parse(&[("q", "a\u{0}b")]).search.as_deref(), Some("ab"));
    }

    #[test]
    fn the_list_asks_what_the_api_would() {
        let q = parse(&[
            ("page", "2"),
            ("status", "active"),
            ("extension", "zapier"),
            ("sort", "-name"),
        ])
        .to_query(chrono::DateTime::UNIX_EPOCH.naive_utc());
        assert_eq!((q.limit, q.offset), (10, 10));
        assert_eq!(q.ordering, [(TokenField::Name, Direction::Descending)]);
        let Some(Filter::And(filters)) = q.filter else {
            panic!("status and extension filter");
        };
        assert_eq!(filters.len(), 2);
        let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
        assert_eq!(TokenListQuery::default().to_query(epoch).filter, None);
        let expiring = parse(&[("status", "expiring")]).to_query(epoch);
        let Some(Filter::And(filters)) = expiring.filter else {
            panic!("active and expiring soon");
        };
        assert_eq!(filters.len(), 2);
    }

    #[test]
    fn pairs_round_trip() {
        let q = parse(&[("per_page", "50"), ("q", "x&y"), ("sort", "-name")]);
        assert_eq!(
            q.pairs_for_page(2),
            vec![
                ("page", "2".into()),
                ("per_page", "50".into()),
                ("q", "x&y".into()),
                ("sort", "-name".into())
            ]
        );
        assert!(TokenListQuery::default().pairs_for_page(1).is_empty());
    }

    #[test]
    fn overgranted_asks_the_least_privilege_rule() {
        for (value, expected) in [("1", true), (" 1 ", true), ("0", false), ("yes", false)] {
            assert_eq!(
                parse(&[("overgranted", value)]).overgranted,
                expected,
                "{value}"
            );
        }
        let q = parse(&[("overgranted", "1"), ("status", "active")]);
        assert!(q.is_filtered());
        assert_eq!(
            q.pairs_for_page(2),
            vec![
                ("page", "2".into()),
                ("status", "active".into()),
                ("overgranted", "1".into())
            ]
        );
        let question = q.question();
        assert!(question.changes_with_time);
        assert_ne!(
            question.name,
            parse(&[("status", "active")]).question().name
        );

        let now = chrono::DateTime::UNIX_EPOCH.naive_utc() + Duration::days(1000);
        let Some(Filter::And(filters)) = parse(&[("overgranted", "1")]).to_query(now).filter else {
            panic!("old enough, and holding a module not used since");
        };
        assert_eq!(
            filters,
            [
                Filter::text(
                    CompareOp::Le,
                    TokenField::CreatedAt,
                    instant(now - Duration::days(30))
                ),
                Filter::text(
                    CompareOp::Le,
                    TokenField::HeldModuleLastUsedAt,
                    instant(now - Duration::days(90))
                ),
            ]
        );
    }

    #[test]
    fn page_windows() {
        let cases = [
            ((1, 10, 25), (1, 3, 1, 10)),
            ((3, 10, 25), (3, 3, 21, 25)),
            ((9, 10, 25), (3, 3, 21, 25)),
            ((1, 10, 0), (1, 1, 0, 0)),
            ((1, 25, 25), (1, 1, 1, 25)),
            ((2, 10, 10), (1, 1, 1, 10)),
        ];
        for ((page, per_page, total), (p, last, first, last_item)) in cases {
            let w = PageWindow::clamp(page, per_page, total);
            assert_eq!(
                (w.page, w.last_page, w.first_item, w.last_item),
                (p, last, first, last_item)
            );
        }
    }
}
