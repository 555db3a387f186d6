//! Every job that runs beside the requests, declared here with its period (each on a worker of
//! the one shape, `worker`): asking PostgreSQL whether it is still there, writing the recorded
//! API use, hearing of key changes made elsewhere, exchanging rate-limit counts with the other
//! instances, and deleting what is no longer kept.

use super::Live;
use super::keys::KeyWatch;
use super::mail::{MAIL_EVERY, MailDigests};
use super::rates::{EXCHANGE_EVERY, RateExchange, minute_of};
use super::usage::UsageFlush;
use super::worker::{Job, Workers};
use crate::clock::Clock;
use crate::config::MailSettings;
use crate::db::{
    self, DatabaseUrl, DbError, DbPool, idempotency, key_changes, rate_counts, sessions,
    sign_in_attempts, submitted_forms,
};
use std::path::Path;
use std::time::Duration;

/// How often PostgreSQL is asked whether it is there, so that an outage is noticed (and answered
/// at once, `db::pool::Health`) and a restart too (every pooled connection checked before its
/// next use), even when no request is running. Often enough for a frozen server to be told from
/// a slow one within `FROZEN_AFTER`.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// How often the silence of a frozen server is looked for: its own question is stuck.
const SILENCE_EVERY: Duration = Duration::from_millis(100);
/// How often the recorded API use is written.
const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// How often keys about to expire are looked for (at least once a minute).
const REMIND_EVERY: Duration = Duration::from_secs(30);
/// How often what is no longer kept is deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Where the jobs work.
pub struct Setting<'a> {
    pub pool: &'a DbPool,
    pub url: &'a DatabaseUrl,
    pub timeout: Duration,
    pub live: &'a Live,
    pub clock: &'a Clock,
    /// Where API use a stop could not write waits.
    pub spool_dir: &'a Path,
    /// Where notifications are mailed, when they are.
    pub mail: Option<&'a MailSettings>,
}

/// Starts every job.
pub fn start(setting: Setting<'_>) -> Workers {
    let Setting {
        pool,
        url,
        timeout,
        live,
        clock,
        spool_dir,
        mail,
    } = setting;
    let mut workers = Workers::counted_in(live.metrics.clone(), clock.clone());
    // A file cannot go away as a server can; there is nothing to watch.
    if let DatabaseUrl::Postgres(_) = url {
        workers.spawn("database watch", WATCH_EVERY, DatabaseWatch(pool.clone()));
        workers.spawn("database silence", SILENCE_EVERY, Silence(pool.clone()));
    }
    let flush = UsageFlush {
        pool: pool.clone(),
        buffer: live.usage.clone(),
        clock: clock.clone(),
        spool_dir: spool_dir.to_owned(),
        replayed: false,
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
    let reminders = Reminders {
        pool: pool.clone(),
        clock: clock.clone(),
    };
    workers.spawn("reminders", REMIND_EVERY, reminders);
    if let Some(settings) = mail {
        match MailDigests::new(pool.clone(), clock.clone(), settings) {
            Ok(digests) => workers.spawn("mail", MAIL_EVERY, digests),
            Err(why) => tracing::error!(error = %why, "notifications will not be mailed"),
        }
    }
    workers
}

/// Makes the expiry reminders due (`services::reminders`).
struct Reminders {
    pool: DbPool,
    clock: Clock,
}

impl Job for Reminders {
    fn run(&mut self) -> Result<(), DbError> {
        let mut conn = db::pool::checkout(&self.pool)?;
        let added = crate::services::reminders::remind(&mut conn, self.clock.now())?;
        if added > 0 {
            tracing::info!(added, "expiry reminders made");
        }
        Ok(())
    }
}

/// Asks the database whether it is there: a failure marks every pooled connection for a check
/// before its next use (`db::pool::ping`).
struct DatabaseWatch(DbPool);

impl Job for DatabaseWatch {
    fn run(&mut self) -> Result<(), DbError> {
        db::pool::ping(&self.0)
    }
}

/// Takes a database that has answered nothing for a while for gone, though the watch's own
/// question has not failed (it is stuck on a frozen server).
struct Silence(DbPool);

impl Job for Silence {
    fn run(&mut self) -> Result<(), DbError> {
        self.0.health().note_silence();
        Ok(())
    }
}

/// Deletes, in one place, everything kept for a while: expired sessions, old sign-in attempts,
/// usage past its days, key changes every instance has read, rate-limit counts of minutes past,
/// and the one-time ids of forms and API requests past their day.
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
            + rate_counts::prune(&mut conn, minute - 2)?
            + submitted_forms::prune(&mut conn, now)?
            + idempotency::prune(&mut conn, now)?
            + db::notifications::prune(&mut conn, now)?;
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
