//! The time as tokendesk sees it. Production reads the system clock; tests move a clock of their
//! own forward to see sessions expire and throttles reset, without sleeping.

use chrono::{Duration, NaiveDateTime, Timelike, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock, shifted by an offset that only tests change.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// The current UTC time at the precision both databases keep (microseconds), so that a
    /// value read back equals the one written.
    pub fn now(&self) -> NaiveDateTime {
        let now = Utc::now().naive_utc()
            + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_micros
            .fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_move_together() {
        let clock = Clock::default();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(Duration::hours(3));
        let after = copy.now();
        assert!(after - before >= Duration::hours(3));
        assert!(after - before < Duration::hours(3) + Duration::seconds(5));
    }
}
