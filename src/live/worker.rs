//! One shape for every job that runs beside the requests: a thread per job, named after it and
//! logging inside a `worker{name=…}` span; a round every period; one stop signal for all of
//! them; a final round where the job needs one (`Job::finish`); and a stop that returns within
//! its deadline whatever the database does: a worker still blocked when the deadline passes is
//! left behind, and the log says so.
//!
//! A round that fails is logged (the first failure of a series as a warning, the recovery as
//! information) and the next round tries again. A round that panics is logged as an error and
//! does not end the worker; the state it left behind is what the next round works with (every
//! lock in `live` takes the same view: see `super::lock`).

use super::metrics::Metrics;
use crate::clock::Clock;
use crate::db::DbError;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Work done every so often beside the requests.
pub trait Job: Send + 'static {
    /// One round of the work.
    fn run(&mut self) -> Result<(), DbError>;

    /// Done once when the worker stops, after its last round: writing what is still buffered,
    /// saying goodbye to the other instances. Nothing by default.
    fn finish(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

/// The one signal that stops every worker, and wakes them from their wait at once.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn signal(&self) {
        *super::lock(&self.stopped) = true;
        self.wake.notify_all();
    }

    /// Waits `period` unless stopped meanwhile; whether it was.
    fn wait(&self, period: Duration) -> bool {
        let stopped = super::lock(&self.stopped);
        let (stopped, _) = self
            .wake
            .wait_timeout_while(stopped, period, |stopped| !*stopped)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *stopped
    }
}

/// A running worker: how to know it has ended.
struct Running {
    name: &'static str,
    ended: Receiver<()>,
}

/// The workers of one server. Dropped without `stop` (a server that never ran), they are told
/// to stop all the same, and not waited for.
#[derive(Default)]
pub struct Workers {
    stop: Arc<Stop>,
    running: Vec<Running>,
    /// Where each round is counted, and when.
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.signal();
    }
}

impl Workers {
    /// Workers whose rounds are counted in `metrics`, at the time `clock` tells.
    pub fn counted_in(metrics: Arc<Metrics>, clock: Clock) -> Self {
        Self {
            stop: Arc::default(),
            running: Vec::new(),
            metrics,
            clock,
        }
    }

    /// Starts `job` on a thread of its own, a round every `period` (the first at once).
    pub fn spawn(&mut self, name: &'static str, period: Duration, mut job: impl Job) {
        let stop = self.stop.clone();
        let (metrics, clock) = (self.metrics.clone(), self.clock.clone());
        // The thread says it ended by dropping its end of the channel, panicking or not.
        let (ended_tx, ended) = sync_channel::<()>(0);
        let span = tracing::info_span!("worker", name);
        let started = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _entered = span.enter();
                let _ended = ended_tx;
                let mut failing = false;
                loop {
                    let failed = round(&mut failing, || job.run());
                    metrics.worker_round(name, failed, clock.now());
                    if stop.wait(period) {
                        break;
                    }
                }
                // Always logged, whatever came before: there is no next round.
                match catch_unwind(AssertUnwindSafe(|| job.finish())) {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "the last round, at the stop, failed"),
                    Err(_) => tracing::error!("the last round, at the stop, panicked"),
                }
            });
        match started {
            Ok(_) => self.running.push(Running { name, ended }),
            Err(error) => tracing::error!(name, %error, "cannot start a worker thread"),
        }
    }

    /// Stops every worker and waits for them, their final rounds included, until `deadline`
    /// has passed; a worker not done by then is left behind, and said so.
    pub fn stop(mut self, deadline: Duration) {
        self.stop.signal();
        let until = Instant::now() + deadline;
        for worker in std::mem::take(&mut self.running) {
            let left = until.saturating_duration_since(Instant::now());
            match worker.ended.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => tracing::warn!(
                    worker = worker.name,
                    seconds = deadline.as_secs(),
                    "the worker did not stop in time (waiting on the database?); left behind"
                ),
            }
        }
    }
}

/// Runs one round, logging its failure (the first of a series), its recovery, or its panic;
/// whether it failed or panicked.
fn round(failing: &mut bool, work: impl FnOnce() -> Result<(), DbError>) -> bool {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(())) => {
            if std::mem::take(failing) {
                tracing::info!("working again");
            }
            false
        }
        Ok(Err(error)) => {
            if !std::mem::replace(failing, true) {
                tracing::warn!(%error, "a round failed; trying again next round");
            }
            true
        }
        Err(_) => {
            tracing::error!("a round panicked; trying again next round");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting {
        rounds: Arc<AtomicU32>,
        finished: Arc<AtomicU32>,
        panic_on: u32,
    }

    impl Job for Counting {
        fn run(&mut self) -> Result<(), DbError> {
            let round = self.rounds.fetch_add(1, Ordering::SeqCst) + 1;
            assert_ne!(round, self.panic_on, "a panic the worker outlives");
            Err(DbError::Busy)
        }

        fn finish(&mut self) -> Result<(), DbError> {
            self.finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn failures_and_panics_do_not_end_a_worker_and_stop_runs_the_final_round() {
        let (rounds, finished) = (Arc::default(), Arc::<AtomicU32>::default());
        let mut workers = Workers::default();
        let job = Counting {
            rounds: Arc::clone(&rounds),
            finished: Arc::clone(&finished),
            panic_on: 2,
        };
        workers.spawn("counting", Duration::from_millis(5), job);
        while rounds.load(Ordering::SeqCst) < 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
        workers.stop(Duration::from_secs(5));
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    struct Stuck;

    impl Job for Stuck {
        fn run(&mut self) -> Result<(), DbError> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        }
    }

    #[test]
    fn a_stuck_worker_is_left_behind_at_the_deadline() {
        let mut workers = Workers::default();
        workers.spawn("stuck", Duration::from_secs(1), Stuck);
        let started = Instant::now();
        workers.stop(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
