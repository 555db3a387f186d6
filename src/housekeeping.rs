//! Work done beside the requests, on a thread of its own: writing the recorded API use (last
//! use, counts) in batches; asking the database every second whether it is still there, so that a restart of
//! PostgreSQL is noticed (and every pooled connection checked before its next use) even when no
//! request is running; and deleting expired sessions and sign-in counts. Stopping it writes
//! what is still buffered.

use crate::clock::Clock;
use crate::db::usage::{self, UsageBuffer};
use crate::db::{self, DatabaseUrl, DbError, DbPool, counts, sessions, sign_in_attempts};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread wakes: the database is asked each time, recorded use written every
/// `FLUSH_EVERY` wake-ups.
const TICK: Duration = Duration::from_secs(1);
const FLUSH_EVERY: u32 = 2;
const PRUNE_EVERY: u32 = 300;

/// The running thread; `stop` ends it.
pub struct Housekeeping {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    pool: DbPool,
    usage_buffer: Arc<UsageBuffer>,
}

impl Housekeeping {
    pub fn start(
        pool: DbPool,
        database: &DatabaseUrl,
        usage_buffer: Arc<UsageBuffer>,
        clock: Clock,
    ) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        // A file cannot go away as a server can; there is nothing to watch.
        let watch_database = matches!(database, DatabaseUrl::Postgres(_));
        let thread = {
            let (stop, pool, usage_buffer) = (stop.clone(), pool.clone(), usage_buffer.clone());
            std::thread::Builder::new()
                .name("housekeeping".into())
                .spawn(move || {
                    let mut ticks = 0u32;
                    while !wait_for_stop(&stop, TICK) {
                        ticks = ticks.wrapping_add(1);
                        if watch_database && let Err(e) = db::pool::ping(&pool) {
                            tracing::warn!(error = %e, "the database does not answer");
                        }
                        if ticks.is_multiple_of(FLUSH_EVERY) {
                            flush(&pool, &usage_buffer);
                        }
                        if ticks.is_multiple_of(PRUNE_EVERY) {
                            prune(&pool, &clock);
                        }
                    }
                })
                .expect("a thread can be started at start-up")
        };
        Self {
            stop,
            thread: Some(thread),
            pool,
            usage_buffer,
        }
    }

    /// Ends the thread and writes what is still buffered.
    pub fn stop(mut self) {
        {
            let (stopped, wake) = &*self.stop;
            if let Ok(mut stopped) = stopped.lock() {
                *stopped = true;
            }
            wake.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let requests = self.usage_buffer.pending();
        flush(&self.pool, &self.usage_buffer);
        tracing::info!(requests, "wrote the API use recorded before the stop");
    }
}

/// Sleeps for `tick` unless told to stop; whether it was.
fn wait_for_stop(stop: &(Mutex<bool>, Condvar), tick: Duration) -> bool {
    let (stopped, wake) = stop;
    let Ok(guard) = stopped.lock() else {
        return true;
    };
    match wake.wait_timeout_while(guard, tick, |stopped| !*stopped) {
        Ok((stopped, _)) => *stopped,
        Err(_) => true,
    }
}

fn prune(pool: &DbPool, clock: &Clock) {
    let now = clock.now();
    let pruned = db::pool::checkout(pool).and_then(|mut conn| {
        Ok((
            sessions::prune(&mut conn, now)?,
            sign_in_attempts::prune(&mut conn, now)? + usage::prune(&mut conn, now)?,
        ))
    });
    match pruned {
        Ok((sessions, counts)) if sessions + counts > 0 => {
            tracing::info!(
                sessions,
                counts,
                "deleted expired sessions and sign-in counts"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not delete expired sessions"),
    }
}

fn flush(pool: &DbPool, usage_buffer: &UsageBuffer) {
    let written = db::pool::checkout(pool).and_then(|mut conn| {
        let written = usage_buffer.flush(&mut conn)?;
        // The flush adds to the token versions; keep their rows few (see `db::counts`).
        counts::merge_crowded(&mut conn)?;
        Ok(written)
    });
    if let Err(e) = written {
        let e: DbError = e;
        tracing::warn!(error = %e, "could not record how tokens were used; kept for the next try");
    }
}
