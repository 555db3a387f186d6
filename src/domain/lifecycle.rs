//! A key's life: when it expires, how long an old key keeps working after a rotation, the
//! networks it may be used from, and how many requests a minute it may make.

use super::form::FieldErrors;
use super::network::{BadNetwork, Network};
use super::query::parse_instant;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use std::net::IpAddr;

/// The expiry choices of the forms, in the order they are offered.
pub const EXPIRY_CHOICES: [(&str, &str); 5] = [
    ("never", "Never"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("date", "On a date"),
];

/// Tokens expiring within this many days are flagged in the list.
pub const EXPIRING_SOON_DAYS: i64 = 14;

/// The expiry fields as typed: `expires` (one of `EXPIRY_CHOICES`) and `expires_on`
/// (`YYYY-MM-DD`, with `expires=date`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExpiryInput {
    pub expires: String,
    pub expires_on: String,
}

impl Default for ExpiryInput {
    fn default() -> Self {
        Self {
            expires: "never".into(),
            expires_on: String::new(),
        }
    }
}

/// The last moment of a day, when a key set to expire on that date stops working.
pub fn end_of(date: NaiveDate) -> NaiveDateTime {
    date.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default())
}

/// An expiry as the API takes it: none (`null`, `""`, left out), a date, which means the end of
/// that day in UTC (23:59:59: the key works through the date, as the forms' dates do), or an
/// RFC 3339 date-time, which means that instant; in the future either way.
pub fn parse_expiration(
    value: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, String> {
    let value = match value.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(value) => value,
    };
    let at = match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) => end_of(date),
        Err(_) => parse_instant("expiration_date", value).map_err(|e| e.to_string())?,
    };
    if at > now {
        Ok(Some(at))
    } else {
        Err("must be in the future".into())
    }
}

impl ExpiryInput {
    /// The form showing an existing expiry: as a date, or never.
    pub fn of(expires_at: Option<NaiveDateTime>) -> Self {
        match expires_at {
            Some(at) => Self {
                expires: "date".into(),
                expires_on: at.date().format("%Y-%m-%d").to_string(),
            },
            None => Self::default(),
        }
    }

    /// When the key stops working, `None` for never. A date must be in the future, unless it
    /// is the one the token already has (`current`), which an edit may keep.
    pub fn parse(
        &self,
        now: NaiveDateTime,
        current: Option<NaiveDateTime>,
    ) -> Result<Option<NaiveDateTime>, FieldErrors> {
        let days = |n: i64| Ok(Some(now + Duration::days(n)));
        match self.expires.trim() {
            "" | "never" => Ok(None),
            "30" => days(30),
            "90" => days(90),
            "365" => days(365),
            "date" => {
                let typed = self.expires_on.trim();
                let date = NaiveDate::parse_from_str(typed, "%Y-%m-%d")
                    .map_err(|_| FieldErrors::one("expires_on", "Give the date as YYYY-MM-DD"))?;
                if let Some(current) = current.filter(|c| c.date() == date) {
                    return Ok(Some(current));
                }
                let at = end_of(date);
                if at <= now {
                    Err(FieldErrors::one(
                        "expires_on",
                        "Choose a date in the future",
                    ))
                } else if date.year() > 9999 {
                    Err(FieldErrors::one(
                        "expires_on",
                        "Choose a date before the year 10000",
                    ))
                } else {
                    Ok(Some(at))
                }
            }
            _ => Err(FieldErrors::one(
                "expires",
                "Choose never, 30, 90 or 365 days, or a date",
            )),
        }
    }
}

/// How long the old key keeps working after a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    None,
    Hour,
    Day,
    Week,
}

impl Grace {
    pub const ALL: [Grace; 4] = [Self::None, Self::Hour, Self::Day, Self::Week];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_param() == value.trim())
    }

    pub fn as_param(self) -> &'static str {
        match self {
            Self::None => "0",
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::None => "Stops at once",
            Self::Hour => "Keeps working for 1 hour",
            Self::Day => "Keeps working for 24 hours",
            Self::Week => "Keeps working for 7 days",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Self::None => Duration::zero(),
            Self::Hour => Duration::hours(1),
            Self::Day => Duration::hours(24),
            Self::Week => Duration::days(7),
        }
    }
}

/// How long a renewed key's predecessor keeps working when it had no expiry of its own.
pub const RENEWAL_GRACE: Duration = Duration::hours(24);

/// The most networks one key may be limited to.
pub const MAX_NETWORKS: usize = 32;

/// The networks a key may be used from; empty means anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<Network>);

impl AllowedNetworks {
    /// From the edit page's text: one per line (commas also separate); the error names the
    /// line that is wrong.
    pub fn parse_lines(text: &str) -> Result<Self, FieldErrors> {
        let entries: Vec<&str> = text
            .lines()
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        Self::parse_all(&entries).map_err(|e| FieldErrors::one("allowed_networks", e))
    }

    /// From a list (the API's); the error says which entry is wrong.
    pub fn parse_all<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        if entries.len() > MAX_NETWORKS {
            return Err(format!(
                "At most {MAX_NETWORKS} networks (got {})",
                entries.len()
            ));
        }
        let mut networks = Vec::new();
        for (n, entry) in entries.iter().enumerate() {
            let network = Network::parse(entry.as_ref())
                .map_err(|BadNetwork(bad)| format!("Line {}: {bad:?} is not an IP address or a CIDR block (like 203.0.113.0/24 or 2001:db8::/32)", n + 1))?;
            if !networks.contains(&network) {
                networks.push(network);
            }
        }
        Ok(Self(networks))
    }

    /// As stored: the canonical forms, comma-separated.
    pub fn stored(&self) -> String {
        self.0
            .iter()
            .map(Network::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What `stored` wrote; an entry that does not parse is an error, never dropped (that
    /// would widen what the key may reach).
    pub fn from_stored(value: &str) -> Result<Self, String> {
        value
            .split(',')
            .filter(|entry| !entry.is_empty())
            .map(|entry| Network::parse(entry).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request from `address` may use the key; one from an unknown address may not
    /// where a list is set.
    pub fn admits(&self, address: Option<IpAddr>) -> bool {
        self.0.is_empty() || address.is_some_and(|ip| self.0.iter().any(|n| n.contains(ip)))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Network> {
        self.0.iter()
    }

    /// One per line, for the edit page.
    pub fn lines(&self) -> String {
        self.0
            .iter()
            .map(Network::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The highest rate limit a key may be given, in requests per minute.
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// At most this many requests per UTC minute, from 1 to `MAX_RATE_LIMIT`; a token without one
/// has no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(u32);

impl RateLimit {
    /// A number of requests per minute, if it is one a key may be limited to.
    pub fn new(requests: u64) -> Option<Self> {
        u32::try_from(requests)
            .ok()
            .filter(|n| (1..=MAX_RATE_LIMIT).contains(n))
            .map(Self)
    }

    /// From a form's text: digits only (no sign, point or separator); empty means no limit.
    pub fn parse_text(text: &str) -> Result<Option<Self>, FieldErrors> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let digits = text.bytes().all(|b| b.is_ascii_digit());
        // Too many digits for a u64 is far out of range all the same.
        let requests = if digits { text.parse().ok() } else { None };
        match requests.map(Self::new) {
            Some(Some(limit)) => Ok(Some(limit)),
            _ => Err(FieldErrors::one(
                "rate_limit",
                "Rate limit must be a whole number from 1 to 100 000, or empty for no limit",
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The forms' text for a token's limit: the number, or empty for none.
    pub fn text(limit: Option<Self>) -> String {
        limit.map(|n| n.0.to_string()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn a_date_means_the_end_of_that_day_whichever_way_it_comes() {
        let now = at("2026-11-29 10:00:00");
        let form = ExpiryInput {
            expires: "date".into(),
            expires_on: "2030-01-01".into(),
        };
        let end_of_day = Some(at("2030-01-01 23:59:59"));
        assert_eq!(form.parse(now, None), Ok(end_of_day));
        assert_eq!(parse_expiration(Some("2030-01-01"), now), Ok(end_of_day));
        assert_eq!(
            parse_expiration(Some("2030-01-01T12:00:00Z"), now),
            Ok(Some(at("2030-01-01 12:00:00"))),
            "a date-time is that instant"
        );
        assert_eq!(parse_expiration(None, now), Ok(None));
        assert_eq!(parse_expiration(Some(" "), now), Ok(None));
        assert!(parse_expiration(Some("2026-11-28"), now).is_err());
        assert!(
            parse_expiration(Some("2026-11-29"), now).is_ok(),
            "today still has hours left"
        );
    }

    #[test]
    fn expiry_choices() {
        let now = at("2026-11-29 10:00:00");
        let input = |expires: &str, on: &str| ExpiryInput {
            expires: expires.into(),
            expires_on: on.into(),
        };
        assert_eq!(input("never", "").parse(now, None), Ok(None));
        assert_eq!(
            input("30", "").parse(now, None),
            Ok(Some(at("2026-12-29 10:00:00")))
        );
        assert_eq!(
            input("date", "2027-01-31").parse(now, None),
            Ok(Some(at("2027-01-31 23:59:59")))
        );
        for (expires, on, field) in [
            ("date", "2026-11-28", "expires_on"),
            ("date", "31/01/2027", "expires_on"),
            ("date", "", "expires_on"),
            ("forever", "", "expires"),
        ] {
            let errors = input(expires, on).parse(now, None).unwrap_err();
            assert!(errors.get(field).is_some(), "{expires} {on}");
        }
        let current = Some(at("2026-11-01 12:00:00"));
        assert_eq!(
            ExpiryInput::of(current).parse(now, current),
            Ok(current),
            "an edit keeps a past date it did not change"
        );
        assert_eq!(ExpiryInput::of(None).parse(now, None), Ok(None));
    }

    #[test]
    fn graces() {
        for grace in Grace::ALL {
            assert_eq!(Grace::parse(grace.as_param()), Some(grace));
        }
        assert_eq!(Grace::parse("2h"), None);
        assert_eq!(Grace::Week.duration(), Duration::days(7));
    }

    #[test]
    fn network_lists() {
        let list = AllowedNetworks::parse_lines("10.0.0.0/8\n\n ::1/128 , 10.0.0.0/8\n").unwrap();
        assert_eq!(list.stored(), "10.0.0.0/8,::1");
        assert_eq!(
            AllowedNetworks::from_stored(&list.stored()),
            Ok(list.clone())
        );
        assert!(list.admits(Some("10.2.3.4".parse().unwrap())));
        assert!(list.admits(Some("::1".parse().unwrap())));
        assert!(!list.admits(Some("127.0.0.1".parse().unwrap())));
        assert!(!list.admits(None));
        assert!(AllowedNetworks::default().admits(None));

        let errors = AllowedNetworks::parse_lines("10.0.0.0/8\n300.1.2.3/8").unwrap_err();
        assert!(
            errors
                .get("allowed_networks")
                .unwrap()
                .starts_with("Line 2: \"300.1.2.3/8\"")
        );
        let many: Vec<String> = (0..33).map(|n| format!("10.0.{n}.0/24")).collect();
        assert!(
            AllowedNetworks::parse_all(&many)
                .unwrap_err()
                .contains("At most 32")
        );
    }

    #[test]
    fn rate_limits() {
        for (typed, limit) in [
            ("", None),
            ("  ", None),
            ("60", Some(60)),
            (" 1 ", Some(1)),
            ("100000", Some(100_000)),
            ("007", Some(7)),
        ] {
            assert_eq!(
                RateLimit::parse_text(typed).map(|l| l.map(RateLimit::get)),
                Ok(limit),
                "{typed:?}"
            );
        }
        for typed in [
            "0",
            "100001",
            "abc",
            "1.5",
            "-5",
            "+5",
            "1e3",
            "1 000",
            "60 rpm",
            "99999999999999999999999",
        ] {
            let errors = RateLimit::parse_text(typed).unwrap_err();
            assert_eq!(
                errors.get("rate_limit"),
                Some("Rate limit must be a whole number from 1 to 100 000, or empty for no limit"),
                "{typed:?}"
            );
        }
        assert_eq!(RateLimit::new(0), None);
        assert_eq!(RateLimit::new(u64::from(u32::MAX) + 61), None);
        assert_eq!(RateLimit::new(100_000).map(RateLimit::get), Some(100_000));
        assert_eq!(RateLimit::text(RateLimit::new(60)), "60");
        assert_eq!(RateLimit::text(None), "");
    }
}
