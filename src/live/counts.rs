//! Totals of an account's tokens, kept in memory while the account's tokens stay as they were.
//!
//! Counting 100 000 tokens takes tens of milliseconds on either backend, and the list and the
//! review need one to four such counts per page. Triggers (migration `token_writes`) add a row
//! for every write to an account's tokens or their permissions, in the writing transaction and
//! whoever writes (any instance, the command line, a statement typed by hand); the sum of the
//! rows' weights is the account's *token version*. A page reads the version first (one small
//! statement), then uses a total counted under the same version, or counts and keeps it.
//!
//! Why a total is never kept under a version that does not include a write it missed: the version
//! is read before the count, so a write committed in between is counted but not in the version —
//! the next page sees a newer version and counts again. Writers only insert rows (no row that two
//! of them would lock in turn), and merging an account's rows into one keeps their sum.
//!
//! Some totals also depend on the time (expiry makes an active token expired; "not used for N
//! days"): a total is kept for at most `MAX_AGE` of the application's clock, and not at all once
//! the clock has gone back.

use crate::db::query::{KnownTotal, Totals};
use crate::db::token_versions::{self, MERGE_AFTER};
use crate::db::{DbConnection, DbError};
use crate::domain::ids::AccountId;
use crate::domain::list_query::Question;
use chrono::{NaiveDateTime, TimeDelta};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a total stays usable while nothing is written, in the application's clock.
pub const MAX_AGE: TimeDelta = TimeDelta::seconds(10);

/// How many totals are kept at most (all are dropped when it is reached).
const CAPACITY: usize = 4_096;

struct Entry {
    version: i64,
    counted_at: NaiveDateTime,
    total: u64,
}

/// The totals this instance counted, per account and question.
#[derive(Default)]
pub struct CountCache {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// One page's view of the cache: the account's version as read at its start.
pub struct Counting<'a> {
    cache: &'a CountCache,
    account_id: String,
    version: i64,
    now: NaiveDateTime,
}

impl CountCache {
    /// Reads the account's token version (merging its rows when there are many); `now` is the
    /// application's clock.
    pub fn begin<'a>(
        &'a self,
        conn: &mut DbConnection,
        account_id: &AccountId,
        now: NaiveDateTime,
    ) -> Result<Counting<'a>, DbError> {
        let (version, rows) = token_versions::version(conn, account_id.as_str())?;
        if rows > MERGE_AFTER {
            token_versions::merge(conn, account_id.as_str())?;
        }
        Ok(Counting {
            cache: self,
            account_id: account_id.as_str().to_owned(),
            version,
            now,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        super::lock(&self.entries)
    }
}

impl Counting<'_> {
    /// The totals of `question`'s pages (a name for a query's filter and search, whatever its
    /// page and order).
    pub fn of<'q>(&'q self, question: &'q Question) -> Asked<'q> {
        Asked {
            counting: self,
            question,
        }
    }

    /// The total `question` names: kept, or counted by `count` and kept. A total kept from
    /// earlier is exact while no write happened, unless time changes it.
    fn total(
        &self,
        question: &Question,
        count: &mut dyn FnMut() -> Result<u64, DbError>,
    ) -> Result<KnownTotal, DbError> {
        let key = (self.account_id.clone(), question.name.clone());
        if let Some(entry) = self.cache.lock().get(&key)
            && entry.version == self.version
            && entry.counted_at <= self.now
            && self.now - entry.counted_at < MAX_AGE
        {
            return Ok(KnownTotal {
                count: entry.total,
                exact: !question.changes_with_time,
            });
        }
        let total = count()?;
        let mut entries = self.cache.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                version: self.version,
                counted_at: self.now,
                total,
            },
        );
        Ok(KnownTotal {
            count: total,
            exact: true,
        })
    }
}

/// One question's totals, as a page reads them.
pub struct Asked<'q> {
    counting: &'q Counting<'q>,
    question: &'q Question,
}

impl Totals for Asked<'_> {
    fn total(
        &self,
        count: &mut dyn FnMut() -> Result<u64, DbError>,
    ) -> Result<KnownTotal, DbError> {
        self.counting.total(self.question, count)
    }
}
