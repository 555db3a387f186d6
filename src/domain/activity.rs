//! The activity log's query string: which events, from when to when, which page. As on the
//! list, anything unrecognised is left out of the query, and `problems` says what it was.

use super::event::EventKind;
use super::form::FieldErrors;
use super::ids::TokenId;
use super::list_query::PAGE_SIZES;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// The raw parameters as they arrive.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RawActivityQuery {
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub token: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityQuery {
    pub kind: Option<EventKind>,
    /// A user's or a token's id, as events name who did them.
    pub actor: Option<String>,
    pub token: Option<TokenId>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl Default for ActivityQuery {
    fn default() -> Self {
        Self {
            kind: None,
            actor: None,
            token: None,
            from: None,
            to: None,
            page: 1,
            per_page: PAGE_SIZES[1],
        }
    }
}

fn date(value: Option<&str>) -> Option<NaiveDate> {
    value.and_then(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok())
}

impl ActivityQuery {
    pub fn parse(raw: &RawActivityQuery) -> Self {
        let defaults = Self::default();
        Self {
            kind: raw.kind.as_deref().and_then(EventKind::parse),
            actor: raw
                .actor
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty() && a.len() <= 64 && !a.chars().any(char::is_control))
                .map(str::to_owned),
            token: raw
                .token
                .as_deref()
                .and_then(|t| TokenId::parse(t.trim()).ok()),
            from: date(raw.from.as_deref()),
            // A last day before the first would select nothing: it is left out, and said.
            to: date(raw.to.as_deref())
                .filter(|to| date(raw.from.as_deref()).is_none_or(|from| from <= *to)),
            page: raw
                .page
                .as_deref()
                .and_then(|p| p.trim().parse().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(defaults.page),
            per_page: raw
                .per_page
                .as_deref()
                .and_then(|p| p.trim().parse().ok())
                .filter(|p| PAGE_SIZES.contains(p))
                .unwrap_or(defaults.per_page),
        }
    }

    /// From the start of `from` (UTC), inclusive.
    pub fn since(&self) -> Option<NaiveDateTime> {
        self.from.map(|d| d.and_time(NaiveTime::MIN))
    }

    /// Before the day after `to`: the whole of `to` counts.
    pub fn until(&self) -> Option<NaiveDateTime> {
        self.to
            .and_then(|d| d.succ_opt())
            .map(|d| d.and_time(NaiveTime::MIN))
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// The same query on another page, as query-string pairs (defaults left out).
    pub fn pairs_for_page(&self, page: u32) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(kind) = self.kind {
            pairs.push(("kind", kind.as_str().to_owned()));
        }
        if let Some(actor) = &self.actor {
            pairs.push(("actor", actor.clone()));
        }
        if let Some(token) = &self.token {
            pairs.push(("token", token.to_string()));
        }
        if let Some(from) = self.from {
            pairs.push(("from", from.to_string()));
        }
        if let Some(to) = self.to {
            pairs.push(("to", to.to_string()));
        }
        if page != 1 {
            pairs.push(("page", page.to_string()));
        }
        if self.per_page != Self::default().per_page {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        pairs
    }

    /// The filters given and not understood, field by field, in words for the page.
    pub fn problems(raw: &RawActivityQuery) -> FieldErrors {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let mut errors = FieldErrors::default();
        if given(&raw.kind).is_some_and(|kind| EventKind::parse(kind).is_none()) {
            errors.add("kind", "Kind: choose one of the list.");
        }
        if given(&raw.actor).is_some_and(|a| a.len() > 64 || a.chars().any(char::is_control)) {
            errors.add("actor", "By: a user's or a token's id (UR-… or SU-…).");
        }
        if given(&raw.token).is_some_and(|t| TokenId::parse(t).is_err()) {
            errors.add("token", "Token id: a token's id, such as SU-160-984-311.");
        }
        for (field, label, value) in [("from", "From", &raw.from), ("to", "To", &raw.to)] {
            if given(value).is_some() && date(value.as_deref()).is_none() {
                errors.add(field, format!("{label}: a date, written YYYY-MM-DD."));
            }
        }
        if let (Some(from), Some(to)) = (date(raw.from.as_deref()), date(raw.to.as_deref()))
            && to < from
        {
            errors.add("to", format!("To: {to} is before From ({from})."));
        }
        if given(&raw.page).is_some_and(|p| p.parse::<u32>().ok().is_none_or(|p| p < 1)) {
            errors.add("page", "Page: a whole number from 1.");
        }
        if given(&raw.per_page)
            .is_some_and(|p| !p.parse::<u32>().is_ok_and(|n| PAGE_SIZES.contains(&n)))
        {
            errors.add("per_page", "Per page: choose 10, 25, 50 or 100.");
        }
        errors
    }

    pub fn is_filtered(&self) -> bool {
        self.kind.is_some()
            || self.actor.is_some()
            || self.token.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let raw = RawActivityQuery {
            kind: Some("token.rotated".into()),
            actor: Some(" UR-100-200-300 ".into()),
            token: Some("SU-160-984-311".into()),
            from: Some("2026-11-01".into()),
            to: Some("2026-11-30".into()),
            page: Some("3".into()),
            per_page: Some("50".into()),
        };
        let q = ActivityQuery::parse(&raw);
        assert_eq!(q.kind, Some(EventKind::TokenRotated));
        assert_eq!(q.actor.as_deref(), Some("UR-100-200-300"));
        assert_eq!(q.offset(), 100);
        assert_eq!(
            q.until().unwrap().to_string(),
            "2026-12-01 00:00:00",
            "the whole last day"
        );
        assert_eq!(q.pairs_for_page(1).len(), 6);
        let junk = RawActivityQuery {
            kind: Some("token.exploded".into()),
            token: Some("nope".into()),
            from: Some("yesterday".into()),
            page: Some("0".into()),
            per_page: Some("7".into()),
            ..RawActivityQuery::default()
        };
        assert_eq!(ActivityQuery::parse(&junk), ActivityQuery::default());
        let said: Vec<&str> = ActivityQuery::problems(&junk)
            .iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(said, ["from", "kind", "page", "per_page", "token"]);
        let backwards = RawActivityQuery {
            from: Some("2026-12-08".into()),
            to: Some("2026-12-01".into()),
            ..RawActivityQuery::default()
        };
        let q = ActivityQuery::parse(&backwards);
        assert_eq!(
            (q.from.is_some(), q.to),
            (true, None),
            "the last day is left out"
        );
        assert_eq!(
            ActivityQuery::problems(&backwards).get("to"),
            Some("To: 2026-12-01 is before From (2026-12-08).")
        );
        assert!(ActivityQuery::problems(&raw).is_empty());
    }
}
