//! Per-key rate limits: at most `rate_limit` requests of a key per UTC minute (a fixed window of
//! the application's clock), decided in memory — no database statement on the request path.
//!
//! One instance alone is exact: it counts every request it lets through. Several instances on one
//! database share each key's budget through it: every 250 ms each writes how many requests of
//! each limited key it let through this minute (`rate_counts`, one row per key, minute and
//! instance, the count itself rather than an increment, so a write can be repeated), reads the
//! others' counts, and says it is alive (`rate_instances`). Until the next exchange an instance
//! may let through only its share of what is left: with `n` instances alive, half of what is left
//! split in `n` (the remainder of the split going to one instance, a different one each minute). Each instance's view
//! of the others is at most an exchange or two old, and what they did meanwhile was itself bounded
//! by their shares, so together they overshoot a limit of 60 by a request or two (at most 20%);
//! the price is that a key used through one instance of several reaches its limit over a few
//! seconds rather than at once. A window first seen mid-minute gets a tenth of the split until
//! the next exchange, since others may already have spent the budget.

use super::worker::Job;
use crate::clock::Clock;
use crate::db::{self, DbConnection, DbError, DbPool, rate_counts};
use chrono::NaiveDateTime;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often instances exchange their counts.
pub const EXCHANGE_EVERY: Duration = Duration::from_millis(250);

/// An instance not heard of for this many seconds no longer shares the budgets.
const ALIVE_FOR_SECONDS: u32 = 3;

/// What a limited key's answer says of its budget: the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the next minute, when the budget is whole again.
    pub reset: u32,
}

/// Whether a request of a limited key may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed(RateState),
    /// Over the limit: 429, with `Retry-After: retry_after` seconds.
    Refused {
        state: RateState,
        retry_after: u32,
    },
}

/// One key's minute, as this instance sees it.
#[derive(Debug, Clone)]
struct Window {
    minute: i64,
    limit: u32,
    /// Requests let through here this minute.
    admitted: u32,
    /// Requests let through by the other instances, as last read.
    others: u32,
    /// `admitted` may grow up to this until the next exchange.
    allowed_until: u32,
    /// What the last exchange wrote of `admitted`.
    written: u32,
}

/// Who shares the budgets, as the last exchange found.
#[derive(Debug, Clone, Copy)]
struct Sharing {
    instances: u32,
    /// This instance's place among them (by id).
    rank: u32,
}

impl Sharing {
    const ALONE: Self = Self {
        instances: 1,
        rank: 0,
    };

    /// How many more requests this instance may let through of `left` in `minute`, until the next
    /// exchange. The remainder of a split goes to one instance, the same for all of them: the
    /// minute says whose turn it is.
    fn share(self, minute: i64, left: u32, fresh: bool) -> u32 {
        let n = self.instances.max(1);
        if n == 1 {
            return left;
        }
        let mut handed = left.div_ceil(2);
        if fresh {
            handed = handed.div_ceil(10);
        }
        let remainder = handed % n;
        let turn = u32::try_from(minute.rem_euclid(i64::from(n))).unwrap_or(0);
        handed / n + if self.rank == turn { remainder } else { 0 }
    }
}

impl Window {
    /// A minute not seen here yet: others may have spent some of it already, so until the next
    /// exchange this instance takes a tenth of its usual share.
    fn new(minute: i64, limit: u32, sharing: Sharing) -> Self {
        Self {
            minute,
            limit,
            admitted: 0,
            others: 0,
            allowed_until: sharing.share(minute, limit, true),
            written: 0,
        }
    }

    fn used(&self) -> u32 {
        self.admitted.saturating_add(self.others)
    }

    fn reshare(&mut self, sharing: Sharing) {
        let left = self.limit.saturating_sub(self.used());
        self.allowed_until = self
            .admitted
            .saturating_add(sharing.share(self.minute, left, false));
    }
}

struct State {
    windows: HashMap<String, Window>,
    sharing: Sharing,
}

/// The limits this instance keeps, and its name among the instances.
pub struct RateLimiter {
    state: Mutex<State>,
    instance: String,
}

impl Default for RateLimiter {
    fn default() -> Self {
        let mut rng = rand::thread_rng();
        Self {
            state: Mutex::new(State {
                windows: HashMap::new(),
                sharing: Sharing::ALONE,
            }),
            instance: format!("{:016x}", rng.r#gen::<u64>()),
        }
    }
}

/// The minute `at` falls in (minutes since the epoch), and the seconds left in it.
pub fn minute_of(at: NaiveDateTime) -> (i64, u32) {
    let seconds = at.and_utc().timestamp();
    let reset = 60 - u32::try_from(seconds.rem_euclid(60)).unwrap_or(0);
    (seconds.div_euclid(60), reset)
}

impl RateLimiter {
    fn lock(&self) -> MutexGuard<'_, State> {
        super::lock(&self.state)
    }

    /// How many instances share the budgets, as the last exchange found (this one included).
    pub fn instances(&self) -> u32 {
        self.lock().sharing.instances
    }

    /// Counts one request of the key `token_id`, limited to `limit` a minute, at `now`.
    pub fn check(&self, token_id: &str, limit: u32, now: NaiveDateTime) -> Verdict {
        let (minute, reset) = minute_of(now);
        let mut state = self.lock();
        let sharing = state.sharing;
        let window = state
            .windows
            .entry(token_id.to_owned())
            .or_insert_with(|| Window::new(minute, limit, sharing));
        if window.minute != minute {
            *window = Window::new(minute, limit, sharing);
        } else if window.limit != limit {
            window.limit = limit;
            window.reshare(sharing);
        }
        // Retry-After and RateLimit-Reset say the same: when this key may be let in here again
        // (the next minute; or, when only this instance's share is spent, the next exchange).
        let refused = |retry_after| Verdict::Refused {
            state: RateState {
                limit,
                remaining: 0,
                reset: retry_after,
            },
            retry_after,
        };
        if window.used() >= limit {
            return refused(reset);
        }
        if window.admitted >= window.allowed_until {
            // The budget is not spent, this instance's share of it is: back at the next exchange.
            return refused(1);
        }
        window.admitted += 1;
        Verdict::Allowed(RateState {
            limit,
            remaining: limit.saturating_sub(window.used()),
            reset,
        })
    }

    /// One exchange with the other instances through the database: this instance's counts out,
    /// theirs in, and who is alive, at `now`.
    pub fn exchange(&self, conn: &mut DbConnection, now: NaiveDateTime) -> Result<(), DbError> {
        let alive = rate_counts::alive(conn, &self.instance, ALIVE_FOR_SECONDS)?;
        let (current, _) = minute_of(now);
        let windows: Vec<(String, Window)> = {
            let mut state = self.lock();
            state.windows.retain(|_, w| w.minute >= current - 1);
            state
                .windows
                .iter()
                .map(|(id, w)| (id.clone(), w.clone()))
                .collect()
        };
        for (token_id, window) in windows.iter().filter(|(_, w)| w.admitted > w.written) {
            rate_counts::write(
                conn,
                token_id,
                window.minute,
                &self.instance,
                window.admitted,
            )?;
        }
        let mut others: HashMap<(String, i64), u32> = HashMap::new();
        let ids: Vec<&str> = windows.iter().map(|(id, _)| id.as_str()).collect();
        if !ids.is_empty() {
            for (token_id, minute, requests) in
                rate_counts::others(conn, &self.instance, &ids, current - 1)?
            {
                *others.entry((token_id, minute)).or_default() += requests;
            }
        }
        let instances = u32::try_from(alive.len()).unwrap_or(u32::MAX).max(1);
        let rank = alive
            .iter()
            .position(|i| *i == self.instance)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0);
        let sharing = Sharing { instances, rank };
        let mut state = self.lock();
        state.sharing = sharing;
        for (token_id, sent) in &windows {
            if let Some(window) = state.windows.get_mut(token_id)
                && window.minute == sent.minute
            {
                window.written = window.written.max(sent.admitted);
                window.others = others
                    .get(&(token_id.clone(), window.minute))
                    .copied()
                    .unwrap_or(0);
                window.reshare(sharing);
            }
        }
        Ok(())
    }
}

/// The job exchanging counts with the other instances every `EXCHANGE_EVERY`; at the stop it
/// takes this instance out of the sharing.
pub struct RateExchange {
    pub pool: DbPool,
    pub limiter: Arc<RateLimiter>,
    pub clock: Clock,
}

impl Job for RateExchange {
    fn run(&mut self) -> Result<(), DbError> {
        let mut conn = db::pool::checkout(&self.pool)?;
        self.limiter.exchange(&mut conn, self.clock.now())
    }

    fn finish(&mut self) -> Result<(), DbError> {
        let mut conn = db::pool::checkout(&self.pool)?;
        rate_counts::leave(&mut conn, &self.limiter.instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeDelta};

    fn at(second: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 29)
            .unwrap()
            .and_hms_opt(10, 0, second)
            .unwrap()
    }

    #[test]
    fn alone_it_is_exact_and_counts_down() {
        let limiter = RateLimiter::default();
        for n in 1..=60 {
            match limiter.check("SU-1", 60, at(5)) {
                Verdict::Allowed(state) => {
                    assert_eq!(state.remaining, 60 - n);
                    assert_eq!(state.reset, 55);
                }
                refused => panic!("request {n}: {refused:?}"),
            }
        }
        assert_eq!(
            limiter.check("SU-1", 60, at(59)),
            Verdict::Refused {
                state: RateState {
                    limit: 60,
                    remaining: 0,
                    reset: 1
                },
                retry_after: 1
            }
        );
        // Another key has its own budget; the next minute is whole again.
        assert!(matches!(
            limiter.check("SU-2", 60, at(59)),
            Verdict::Allowed(_)
        ));
        let next = at(59) + TimeDelta::seconds(1);
        assert!(matches!(
            limiter.check("SU-1", 60, next),
            Verdict::Allowed(RateState {
                remaining: 59,
                reset: 60,
                ..
            })
        ));
    }

    #[test]
    fn shares_split_what_is_left() {
        let two = |rank| Sharing { instances: 2, rank };
        // Half of 60 left, split in two.
        assert_eq!(two(0).share(7, 60, false), 15);
        assert_eq!(two(1).share(7, 60, false), 15);
        // The last request goes to one of them only, the same one whoever asks, in turn.
        for minute in 0..4 {
            assert_eq!(
                two(0).share(minute, 1, false) + two(1).share(minute, 1, false),
                1
            );
        }
        assert_eq!(two(0).share(0, 1, false), 1);
        assert_eq!(two(1).share(1, 1, false), 1);
        assert_eq!(Sharing::ALONE.share(0, 7, true), 7);
        // A fresh window: a tenth of that, between them.
        assert_eq!(two(0).share(0, 60, true) + two(1).share(0, 60, true), 3);
    }
}
