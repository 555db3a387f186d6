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

use super::pool::on_backend;
use super::schema::{rate_counts, rate_instances};
use super::{DbConnection, DbError, DbPool};
use crate::clock::Clock;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::upsert::excluded;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often instances exchange their counts.
pub const EXCHANGE_EVERY: Duration = Duration::from_millis(250);

/// An instance not heard of for this long no longer shares the budgets.
const ALIVE_FOR: TimeDelta = TimeDelta::seconds(3);

/// Old counts and instances are deleted every this many exchanges (~10 s).
const PRUNE_EVERY: u32 = 40;

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

fn minute_of(at: NaiveDateTime) -> (i64, u32) {
    let seconds = at.and_utc().timestamp();
    let reset = 60 - u32::try_from(seconds.rem_euclid(60)).unwrap_or(0);
    (seconds.div_euclid(60), reset)
}

impl RateLimiter {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
        let refused = |retry_after| Verdict::Refused {
            state: RateState {
                limit,
                remaining: 0,
                reset,
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
    /// theirs in, and who is alive.
    pub fn exchange(&self, conn: &mut DbConnection, now: NaiveDateTime) -> Result<(), DbError> {
        let seen_at = super::now();
        let alive_row = (
            rate_instances::instance.eq(&self.instance),
            rate_instances::seen_at.eq(seen_at),
        );
        on_backend!(&mut *conn, |c| diesel::insert_into(rate_instances::table)
            .values(alive_row)
            .on_conflict(rate_instances::instance)
            .do_update()
            .set(rate_instances::seen_at.eq(excluded(rate_instances::seen_at)))
            .execute(c))?;
        let alive: Vec<String> = rate_instances::table
            .filter(rate_instances::seen_at.ge(seen_at - ALIVE_FOR))
            .select(rate_instances::instance)
            .order(rate_instances::instance)
            .load(conn)?;
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
            let row = (
                rate_counts::token_id.eq(token_id),
                rate_counts::minute.eq(window.minute),
                rate_counts::instance.eq(&self.instance),
                rate_counts::requests.eq(i32::try_from(window.admitted).unwrap_or(i32::MAX)),
            );
            on_backend!(&mut *conn, |c| diesel::insert_into(rate_counts::table)
                .values(row)
                .on_conflict((
                    rate_counts::token_id,
                    rate_counts::minute,
                    rate_counts::instance,
                ))
                .do_update()
                .set(rate_counts::requests.eq(excluded(rate_counts::requests)))
                .execute(c))?;
        }
        let mut others: HashMap<(String, i64), u32> = HashMap::new();
        let ids: Vec<&str> = windows.iter().map(|(id, _)| id.as_str()).collect();
        if !ids.is_empty() {
            let rows: Vec<(String, i64, i32)> = rate_counts::table
                .filter(rate_counts::minute.ge(current - 1))
                .filter(rate_counts::instance.ne(&self.instance))
                .filter(rate_counts::token_id.eq_any(&ids))
                .select((
                    rate_counts::token_id,
                    rate_counts::minute,
                    rate_counts::requests,
                ))
                .load(conn)?;
            for (token_id, minute, requests) in rows {
                *others.entry((token_id, minute)).or_default() +=
                    u32::try_from(requests).unwrap_or(0);
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

    /// Deletes the counts of minutes past and instances long gone.
    fn prune(&self, conn: &mut DbConnection, now: NaiveDateTime) -> Result<(), DbError> {
        let (current, _) = minute_of(now);
        diesel::delete(rate_counts::table.filter(rate_counts::minute.lt(current - 2)))
            .execute(conn)?;
        diesel::delete(
            rate_instances::table
                .filter(rate_instances::seen_at.lt(super::now() - TimeDelta::hours(1))),
        )
        .execute(conn)?;
        Ok(())
    }

    /// Says this instance is gone, so that the others take its share at once.
    fn leave(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::delete(rate_instances::table.find(&self.instance)).execute(conn)?;
        Ok(())
    }
}

/// The thread exchanging counts every `EXCHANGE_EVERY`; `stop` ends it.
pub struct RateExchange {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    limiter: Arc<RateLimiter>,
    pool: DbPool,
}

impl RateExchange {
    pub fn start(pool: DbPool, limiter: Arc<RateLimiter>, clock: Clock) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let (stop, pool, limiter) = (stop.clone(), pool.clone(), limiter.clone());
            std::thread::Builder::new()
                .name("rate exchange".into())
                .spawn(move || {
                    let mut rounds = 0u32;
                    loop {
                        let exchanged = super::pool::checkout(&pool).and_then(|mut conn| {
                            limiter.exchange(&mut conn, clock.now())?;
                            if rounds.is_multiple_of(PRUNE_EVERY) {
                                limiter.prune(&mut conn, clock.now())?;
                            }
                            Ok(())
                        });
                        if let Err(e) = exchanged {
                            tracing::warn!(error = %e, "could not exchange rate-limit counts");
                        }
                        rounds = rounds.wrapping_add(1);
                        let (stopped, wake) = &*stop;
                        let guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
                        let (guard, _) = wake
                            .wait_timeout_while(guard, EXCHANGE_EVERY, |stopped| !*stopped)
                            .unwrap_or_else(PoisonError::into_inner);
                        if *guard {
                            break;
                        }
                    }
                })
                .expect("a thread can be started at start-up")
        };
        Self {
            stop,
            thread: Some(thread),
            limiter,
            pool,
        }
    }

    /// Ends the thread and takes this instance out of the sharing.
    pub fn stop(mut self) {
        {
            let (stopped, wake) = &*self.stop;
            *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
            wake.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let left =
            super::pool::checkout(&self.pool).and_then(|mut conn| self.limiter.leave(&mut conn));
        if let Err(e) = left {
            tracing::warn!(error = %e, "could not say this instance is leaving the rate limits");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

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
