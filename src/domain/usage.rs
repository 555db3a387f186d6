//! What tokens' use looks like: counts per day, the totals people ask about before touching a
//! key, and the range a usage request may ask for.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Days of counts kept.
pub const USAGE_KEPT: Duration = Duration::days(400);
/// Hours of counts kept, for "the last 24 hours".
pub const HOURLY_KEPT: Duration = Duration::hours(48);
/// Within this, a token counts as in use: disabling or deleting it warns first.
pub const RECENT_USE: Duration = Duration::days(7);
/// Days the details page charts.
pub const CHART_DAYS: i64 = 30;

/// One day's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    pub date: NaiveDate,
    /// Requests the token's key was let in with.
    pub requests: u64,
    /// Of those, the ones refused (401/403: a module it does not hold, a token beyond its reach).
    pub refused: u64,
    /// Requests that named the token and did not authenticate (a wrong, old or disabled key, or
    /// from outside its networks): anyone who knows its id can make them, so they are no use
    /// of the token and never counted as such.
    pub failed_auth: u64,
}

/// A token used within `RECENT_USE`: what the disable and delete confirmations warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentUse {
    pub at: NaiveDateTime,
    pub from: Option<String>,
    /// Requests (accepted or refused) in the last 24 hours.
    pub last_day: u64,
}

/// Whether a token last used at `last_used_at` counts as in use at `now`.
pub fn recently_used(last_used_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    last_used_at.is_some_and(|at| now - at < RECENT_USE)
}

/// The first hour counted in "the last 24 hours": the current hour and the 23 before it.
pub fn last_day_start(now: NaiveDateTime) -> NaiveDateTime {
    hour_of(now) - Duration::hours(23)
}

/// The chart and totals of the details page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummary {
    /// `CHART_DAYS` days up to today, oldest first, with zeros.
    pub days: Vec<DayCount>,
    pub last_day: u64,
    pub last_week: u64,
    pub last_month: u64,
    /// Requests in the same days that named the token and did not authenticate.
    pub failed_month: u64,
}

impl UsageSummary {
    /// From the days with use in the last `CHART_DAYS` days and the last 24 hours' requests.
    pub fn new(counts: &[DayCount], today: NaiveDate, last_day: u64) -> Self {
        let days = every_day(counts, today, CHART_DAYS);
        let since = |back: i64| {
            days.iter()
                .filter(|d| d.date > today - Duration::days(back))
                .map(|d| d.requests)
                .sum()
        };
        Self {
            last_week: since(7),
            last_month: since(CHART_DAYS),
            failed_month: days.iter().map(|d| d.failed_auth).sum(),
            last_day,
            days,
        }
    }

    /// The busiest day's requests (at least 1, to scale a chart by).
    pub fn peak(&self) -> u64 {
        self.days
            .iter()
            .map(|d| d.requests)
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// How long ago, as people say it: "just now", "5 minutes ago", "1 hour ago", "3 days ago".
pub fn ago(then: NaiveDateTime, now: NaiveDateTime) -> String {
    let elapsed = now - then;
    let (count, unit) = if elapsed < Duration::minutes(1) {
        return "just now".to_owned();
    } else if elapsed < Duration::hours(1) {
        (elapsed.num_minutes(), "minute")
    } else if elapsed < Duration::days(1) {
        (elapsed.num_hours(), "hour")
    } else {
        (elapsed.num_days(), "day")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

/// The start of `at`'s hour.
pub fn hour_of(at: NaiveDateTime) -> NaiveDateTime {
    at.date()
        .and_time(NaiveTime::from_hms_opt(at.hour(), 0, 0).unwrap_or_default())
}

/// The `days` days up to `today`, oldest first, with zeros where nothing was counted.
pub fn every_day(counts: &[DayCount], today: NaiveDate, days: i64) -> Vec<DayCount> {
    (0..days)
        .rev()
        .map(|back| today - Duration::days(back))
        .map(|date| {
            counts
                .iter()
                .find(|c| c.date == date)
                .copied()
                .unwrap_or(DayCount {
                    date,
                    requests: 0,
                    refused: 0,
                    failed_auth: 0,
                })
        })
        .collect()
}

/// A usage request's range: `from` and `to` as `YYYY-MM-DD`, by default the last 30 days;
/// `from` after `to`, a bad date or a range over the 400 days kept is refused, saying why.
pub fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), String> {
    let date = |name: &str, value: &str| {
        NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{name}: {value:?} is not a date (YYYY-MM-DD)"))
    };
    let to = match to {
        Some(value) => date("to", value)?,
        None => today,
    };
    let from = match from {
        Some(value) => date("from", value)?,
        None => to - Duration::days(CHART_DAYS - 1),
    };
    if from > to {
        return Err(format!("from: {from} is after to ({to})"));
    }
    if to - from > USAGE_KEPT {
        return Err(format!(
            "from: at most {} days can be asked at once",
            USAGE_KEPT.num_days()
        ));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn days_without_use_are_zeros() {
        let counts = [DayCount {
            date: day("2026-11-28"),
            requests: 5,
            refused: 1,
            failed_auth: 0,
        }];
        let all = every_day(&counts, day("2026-11-29"), 30);
        assert_eq!(all.len(), 30);
        assert_eq!(all[0].date, day("2026-10-31"));
        assert_eq!(all[28].requests, 5);
        assert_eq!(all.iter().map(|d| d.requests).sum::<u64>(), 5);
    }

    #[test]
    fn totals_and_recent_use() {
        let today = day("2026-11-29");
        let counts = [
            DayCount {
                date: today,
                requests: 3,
                refused: 0,
                failed_auth: 0,
            },
            DayCount {
                date: day("2026-11-23"),
                requests: 10,
                refused: 2,
                failed_auth: 0,
            },
            DayCount {
                date: day("2026-11-22"),
                requests: 100,
                refused: 0,
                failed_auth: 0,
            },
        ];
        let summary = UsageSummary::new(&counts, today, 4);
        assert_eq!(summary.days.len(), 30);
        assert_eq!(
            (summary.last_day, summary.last_week, summary.last_month),
            (4, 13, 113)
        );
        assert_eq!(summary.peak(), 100);
        assert_eq!(UsageSummary::new(&[], today, 0).peak(), 1);

        let now = today.and_hms_opt(12, 30, 0).unwrap();
        assert!(recently_used(Some(now - Duration::hours(1)), now));
        assert!(!recently_used(Some(now - Duration::days(8)), now));
        assert!(!recently_used(None, now));
        assert_eq!(last_day_start(now).to_string(), "2026-11-28 13:00:00");
        assert_eq!(ago(now - Duration::seconds(5), now), "just now");
        assert_eq!(ago(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(ago(now - Duration::minutes(90), now), "1 hour ago");
        assert_eq!(ago(now - Duration::days(3), now), "3 days ago");
    }

    #[test]
    fn ranges() {
        let today = day("2026-11-29");
        assert_eq!(
            parse_range(None, None, today),
            Ok((day("2026-10-31"), today))
        );
        assert_eq!(
            parse_range(Some("2026-11-01"), Some("2026-11-02"), today),
            Ok((day("2026-11-01"), day("2026-11-02")))
        );
        assert!(
            parse_range(Some("2026-11-03"), Some("2026-11-02"), today)
                .unwrap_err()
                .contains("after")
        );
        assert!(parse_range(Some("yesterday"), None, today).is_err());
        assert!(parse_range(Some("2020-01-01"), None, today).is_err());
        let at = NaiveDateTime::parse_from_str("2026-11-29 10:42:17", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(hour_of(at).to_string(), "2026-11-29 10:00:00");
    }
}
