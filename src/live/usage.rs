//! How tokens are used, recorded in memory: every API request counts against the token its key
//! names (one lock, no query), and the buffer is written in one transaction every few seconds
//! and when the server stops (`UsageFlush`), so API requests do not each write. The requests a
//! token was let in with are also counted per module of the endpoint called, for the
//! least-privilege advice. What is stored, and how, is `db::usage`'s.

use super::worker::Job;
use crate::db::module_usage::ModuleDay;
use crate::db::usage::TokenUse;
use crate::db::{self, DbConnection, DbError, DbPool, token_versions};
use crate::domain::ids::TokenId;
use crate::domain::usage::hour_of;
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<TokenId, TokenUse>>,
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
    pub fn record(&self, token_id: &TokenId, used: KeyUse) {
        let mut pending = super::lock(&self.pending);
        let entry = pending.entry(token_id.clone()).or_default();
        let refusals = i64::from(used.refused);
        let day = entry.days.entry(used.at.date()).or_default();
        *day = (day.0 + 1, day.1 + refusals);
        let hour = entry.hours.entry(hour_of(used.at)).or_default();
        *hour = (hour.0 + 1, hour.1 + refusals);
        // A module is used by the requests let in to it, not by those refused.
        if used.authenticated
            && !used.refused
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
        if used.authenticated {
            entry.last = Some((used.at, used.client_ip));
        }
    }

    /// Requests recorded and not yet written.
    pub fn pending(&self) -> u64 {
        super::lock(&self.pending)
            .values()
            .flat_map(|p| p.days.values())
            .map(|(requests, _)| u64::try_from(*requests).unwrap_or(0))
            .sum()
    }

    /// Writes what was recorded since the last flush; on failure it is kept for the next one.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<usize, DbError> {
        let _writing = super::lock(&self.writing);
        let batch = std::mem::take(&mut *super::lock(&self.pending));
        if batch.is_empty() {
            return Ok(0);
        }
        let written = db::usage::write(conn, &batch);
        if written.is_err() {
            let mut pending = super::lock(&self.pending);
            for (token_id, done) in batch {
                let entry = pending.entry(token_id).or_default();
                for (day, (requests, refused)) in done.days {
                    let kept = entry.days.entry(day).or_default();
                    *kept = (kept.0 + requests, kept.1 + refused);
                }
                for (hour, (requests, refused)) in done.hours {
                    let kept = entry.hours.entry(hour).or_default();
                    *kept = (kept.0 + requests, kept.1 + refused);
                }
                for (key, day) in done.modules {
                    entry
                        .modules
                        .entry(key)
                        .or_insert(ModuleDay {
                            requests: 0,
                            last_used_at: day.last_used_at,
                        })
                        .add(day.requests, day.last_used_at);
                }
                if entry.last.is_none() {
                    entry.last = done.last;
                }
            }
        }
        written
    }
}

/// The job writing the recorded use every few seconds, and what is left of it at the stop.
pub struct UsageFlush {
    pub pool: DbPool,
    pub buffer: Arc<UsageBuffer>,
}

impl UsageFlush {
    fn flush(&self) -> Result<u64, DbError> {
        let requests = self.buffer.pending();
        let mut conn = db::pool::checkout(&self.pool)?;
        self.buffer.flush(&mut conn)?;
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
