//! How tokens are used, recorded in memory: every API request counts against the token its key
//! names (one lock, no query), and the buffer is written in one transaction every few seconds
//! and when the server stops (`UsageFlush`), so API requests do not each write. The requests a
//! token was let in with are also counted per module of the endpoint called, for the
//! least-privilege advice. What is stored, and how, is `db::usage`'s.

use super::spool::{self, Batch};
use super::worker::Job;
use crate::clock::Clock;
use crate::db::module_usage::ModuleDay;
use crate::db::usage::TokenUse;
use crate::db::{self, DbConnection, DbError, DbPool, token_versions};
use crate::domain::ids::TokenId;
use crate::domain::usage::hour_of;
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<TokenId, TokenUse>>,
    /// A batch taken to be written and not known to be: written again, under the same id,
    /// until it is (the database adds a batch once, whatever is sent twice).
    in_flight: Mutex<Option<Arc<Batch>>>,
    /// Held while a batch is written: a flush returns once everything recorded before it is
    /// in the database, even when another flush had taken part of it.
    writing: Mutex<()>,
}

/// One API request made with a token's key.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub at: NaiveDateTime,
    pub client_ip: Option<String>,
    /// The key was the token's and allowed in: this is the token's last use, whatever the
    /// endpoint then answered.
    pub authenticated: bool,
    /// Answered 401 or 403.
    pub refused: bool,
    /// The module of the endpoint called, when it belongs to one.
    pub module: Option<crate::domain::module::Module>,
}

impl UsageBuffer {
    /// Counts one request of the token `token_id`.
    /// A request that did not authenticate is counted apart: anyone who knows the token's id
    /// can make one, so it is never the token's use (requests, module use, last use).
    pub fn record(&self, token_id: &TokenId, used: KeyUse) {
        let mut pending = super::lock(&self.pending);
        // The token's entry is there for every request but its first: no copy of the id then.
        if !pending.contains_key(token_id) {
            pending.insert(token_id.clone(), TokenUse::default());
        }
        let Some(entry) = pending.get_mut(token_id) else {
            return;
        };
        if !used.authenticated {
            *entry.failed.entry(used.at.date()).or_default() += 1;
            return;
        }
        let refusals = i64::from(used.refused);
        let day = entry.days.entry(used.at.date()).or_default();
        *day = (day.0 + 1, day.1 + refusals);
        let hour = entry.hours.entry(hour_of(used.at)).or_default();
        *hour = (hour.0 + 1, hour.1 + refusals);
        // A module is used by the requests let in to it, not by those refused.
        if !used.refused
            && let Some(module) = used.module
        {
            entry
                .modules
                .entry((module, used.at.date()))
                .or_insert(ModuleDay {
                    requests: 0,
                    last_used_at: used.at,
                })
                .add(1, used.at);
        }
        entry.last = Some((used.at, used.client_ip));
    }

    /// Requests recorded and not yet written.
    pub fn pending(&self) -> u64 {
        let in_flight = super::lock(&self.in_flight)
            .as_ref()
            .map_or(0, |batch| batch.requests());
        let pending: u64 = super::lock(&self.pending)
            .values()
            .flat_map(|p| p.days.values())
            .map(|(requests, _)| u64::try_from(*requests).unwrap_or(0))
            .sum();
        in_flight + pending
    }

    /// The batch to write next: the one in flight, or what was recorded since, as a new one.
    fn next_batch(&self) -> Option<Arc<Batch>> {
        let mut in_flight = super::lock(&self.in_flight);
        if in_flight.is_none() {
            let uses = std::mem::take(&mut *super::lock(&self.pending));
            if uses.is_empty() {
                return None;
            }
            *in_flight = Some(Arc::new(Batch {
                id: crate::domain::ids::random_token(),
                uses,
            }));
        }
        in_flight.clone()
    }

    /// Writes what was recorded until now, at `at`: the batch in flight, if a write of it
    /// failed, then the rest. What is recorded meanwhile waits for the next flush: under load
    /// a flush that went on while requests came wrote hundreds of small batches a second (on
    /// PostgreSQL a third of a core, for the usage of one busy key). On failure, what is not
    /// written stays for the next flush (or the spool).
    pub fn flush(&self, conn: &mut DbConnection, at: NaiveDateTime) -> Result<u64, DbError> {
        let _writing = super::lock(&self.writing);
        // While `writing` is held, nothing else takes a batch or clears the one in flight.
        let batches = if super::lock(&self.in_flight).is_some() {
            2
        } else {
            1
        };
        let mut requests = 0;
        for _ in 0..batches {
            let Some(batch) = self.next_batch() else {
                break;
            };
            db::usage::write(conn, &batch.id, &batch.uses, at)?;
            requests += batch.requests();
            let mut in_flight = super::lock(&self.in_flight);
            if in_flight.as_ref().is_some_and(|b| b.id == batch.id) {
                *in_flight = None;
            }
        }
        Ok(requests)
    }

    /// Takes whatever is not written (the batch in flight, if any, and what was recorded since)
    /// into the spool folder `dir`, for the next start; the requests spooled and the files.
    pub fn spool(&self, dir: &Path) -> std::io::Result<(u64, Vec<PathBuf>)> {
        let mut batches: Vec<Arc<Batch>> =
            super::lock(&self.in_flight).take().into_iter().collect();
        let uses = std::mem::take(&mut *super::lock(&self.pending));
        if !uses.is_empty() {
            batches.push(Arc::new(Batch {
                id: crate::domain::ids::random_token(),
                uses,
            }));
        }
        let mut requests = 0;
        let mut files = Vec::new();
        for batch in batches {
            files.push(spool::keep(dir, &batch)?);
            requests += batch.requests();
        }
        Ok((requests, files))
    }
}

/// The job writing the recorded use every few seconds, and what is left of it at the stop; it
/// first writes what a stop left in the spool folder.
pub struct UsageFlush {
    pub pool: DbPool,
    pub buffer: Arc<UsageBuffer>,
    pub clock: Clock,
    pub spool_dir: PathBuf,
    /// Whether the spool was written (or found empty) since the start.
    pub replayed: bool,
}

impl UsageFlush {
    fn flush(&mut self) -> Result<u64, DbError> {
        let mut conn = db::pool::checkout(&self.pool)?;
        if !self.replayed {
            let replayed = spool::replay(&self.spool_dir, &mut conn, self.clock.now())?;
            if replayed.written > 0 {
                tracing::info!(
                    batches = replayed.written,
                    requests = replayed.requests,
                    "wrote the API use a stop had spooled"
                );
            }
            if replayed.already > 0 {
                tracing::info!(
                    batches = replayed.already,
                    "found spooled API use written already; not added again"
                );
            }
            self.replayed = true;
        }
        let requests = self.buffer.flush(&mut conn, self.clock.now())?;
        // The flush adds to the token versions; keep their rows few (see `live::counts`).
        token_versions::merge_crowded(&mut conn)?;
        Ok(requests)
    }
}

impl Job for UsageFlush {
    fn run(&mut self) -> Result<(), DbError> {
        self.flush().map(drop)
    }

    fn finish(&mut self) -> Result<(), DbError> {
        let requests = self.flush()?;
        tracing::info!(requests, "wrote the API use recorded before the stop");
        Ok(())
    }
}
