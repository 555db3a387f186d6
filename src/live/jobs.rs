//! Every job that runs beside the requests, declared here with its period (each on a worker of
//! the one shape, `worker`): asking PostgreSQL whether it is still there, writing the recorded
//! API use, hearing of key changes made elsewhere, exchanging rate-limit counts with the other
//! instances, and deleting what is no longer kept.

use super::Live;
use super::keys::KeyWatch;
use super::rates::{EXCHANGE_EVERY, RateExchange, minute_of};
use super::usage::UsageFlush;
use super::worker::{Job, Workers};
use crate::clock::Clock;
use crate::db::{
    self, DatabaseUrl, DbError, DbPool, key_changes, rate_counts, sessions, sign_in_attempts,
};
use std::time::Duration;

/// How often PostgreSQL is asked whether it is there, so that a restart is noticed (and every
/// pooled connection checked before its next use) even when no request is running.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How often the recorded API use is written.
const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// How often what is no longer kept is deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Where the jobs work.
pub struct Setting<'a> {
    pub pool: &'a DbPool,
    pub url: &'a DatabaseUrl,
    pub timeout: Duration,
    pub live: &'a Live,
    pub clock: &'a Clock,
}

/// Starts every job.
pub fn start(setting: Setting<'_>) -> Workers {
    let Setting {
        pool,
        url,
        timeout,
        live,
        clock,
    } = setting;
    let mut workers = Workers::default();
    // A file cannot go away as a server can; there is nothing to watch.
    if let DatabaseUrl::Postgres(_) = url {
        workers.spawn("database watch", WATCH_EVERY, DatabaseWatch(pool.clone()));
    }
    let flush = UsageFlush {
        pool: pool.clone(),
        buffer: live.usage.clone(),
    };
    workers.spawn("usage flush", FLUSH_EVERY, flush);
    let watch = KeyWatch::new(url, timeout, live.keys.clone());
    workers.spawn("key watch", KeyWatch::period(url), watch);
    let exchange = RateExchange {
        pool: pool.clone(),
        limiter: live.rates.clone(),
        clock: clock.clone(),
    };
    workers.spawn("rate exchange", EXCHANGE_EVERY, exchange);
    let prune = Prune {
        pool: pool.clone(),
        clock: clock.clone(),
    };
    workers.spawn("prune", PRUNE_EVERY, prune);
    workers
}

/// Asks the database whether it is there: a failure marks every pooled connection for a check
/// before its next use (`db::pool::ping`).
struct DatabaseWatch(DbPool);

impl Job for DatabaseWatch {
    fn run(&mut self) -> Result<(), DbError> {
        db::pool::ping(&self.0)
    }
}

/// Deletes, in one place, everything kept for a while: expired sessions, old sign-in attempts,
/// usage past its days, key changes every instance has read, and rate-limit counts of minutes
/// past.
struct Prune {
    pool: DbPool,
    clock: Clock,
}

impl Job for Prune {
    fn run(&mut self) -> Result<(), DbError> {
        let now = self.clock.now();
        let (minute, _) = minute_of(now);
        let mut conn = db::pool::checkout(&self.pool)?;
        let sessions = sessions::prune(&mut conn, now)?;
        let rows = sign_in_attempts::prune(&mut conn, now)?
            + db::usage::prune(&mut conn, now)?
            + key_changes::prune(&mut conn)?
            + rate_counts::prune(&mut conn, minute - 2)?;
        if sessions + rows > 0 {
            tracing::info!(
                sessions,
                rows,
                "deleted expired sessions and rows past keeping"
            );
        }
        Ok(())
    }
}
