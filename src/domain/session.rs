//! How long a sign-in lasts: two hours without a request end it, and twelve hours end it
//! whatever happens. Both are enforced by the server, on the stored session.

use chrono::{Duration, NaiveDateTime};

pub const IDLE_LIMIT: Duration = Duration::hours(2);
pub const ABSOLUTE_LIMIT: Duration = Duration::hours(12);
/// How stale the stored "last seen" may get before a request writes it again: a page view
/// reads its session, and writes it at most once a minute.
pub const LAST_SEEN_PRECISION: Duration = Duration::minutes(1);

/// When a stored session began and was last used, and whether someone signed in with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub signed_in: bool,
}

impl SessionTimes {
    pub fn is_expired(&self, now: NaiveDateTime) -> bool {
        now - self.last_seen_at > IDLE_LIMIT
            || (self.signed_in && now - self.created_at > ABSOLUTE_LIMIT)
    }

    /// Whether this request should write "last seen".
    pub fn needs_touch(&self, now: NaiveDateTime) -> bool {
        now - self.last_seen_at > LAST_SEEN_PRECISION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_limits() {
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let at = |minutes: i64| start + Duration::minutes(minutes);
        let session = |last_seen: i64, signed_in| SessionTimes {
            created_at: start,
            last_seen_at: at(last_seen),
            signed_in,
        };
        let cases = [
            (session(0, true), at(119), false),
            (session(0, true), at(121), true),
            (session(600, true), at(700), false),
            (session(700, true), at(721), true),
            (session(700, false), at(721), false),
            (session(700, false), at(821), true),
        ];
        for (times, now, expired) in cases {
            assert_eq!(times.is_expired(now), expired, "{times:?} at {now}");
        }
        assert!(!session(0, true).needs_touch(at(1)));
        assert!(session(0, true).needs_touch(at(2)));
    }
}
