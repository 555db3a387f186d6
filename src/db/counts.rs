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

use super::pool::write_transaction;
use super::schema::token_writes;
use super::{DbConnection, DbError};
use crate::domain::ids::AccountId;
use crate::domain::list_query::Question;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a total stays usable while nothing is written, in the application's clock.
pub const MAX_AGE: TimeDelta = TimeDelta::seconds(10);

/// How many totals are kept at most (all are dropped when it is reached).
const CAPACITY: usize = 4_096;

/// Past this many rows, an account's rows are merged into one.
const MERGE_AFTER: i64 = 64;

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

/// A total, and whether it was counted just now (rather than kept from an earlier page).
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    pub total: u64,
    pub fresh: bool,
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
        let (version, rows) = version(conn, account_id.as_str())?;
        if rows > MERGE_AFTER {
            merge(conn, account_id.as_str())?;
        }
        Ok(Counting {
            cache: self,
            account_id: account_id.as_str().to_owned(),
            version,
            now,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Counting<'_> {
    /// The total `question` names: kept, or counted by `count` and kept.
    pub fn total(
        &self,
        question: &Question,
        count: impl FnOnce() -> Result<u64, DbError>,
    ) -> Result<Counted, DbError> {
        let key = (self.account_id.clone(), question.name.clone());
        if let Some(entry) = self.cache.lock().get(&key)
            && entry.version == self.version
            && entry.counted_at <= self.now
            && self.now - entry.counted_at < MAX_AGE
        {
            return Ok(Counted {
                total: entry.total,
                fresh: false,
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
        Ok(Counted { total, fresh: true })
    }
}

/// Merges the rows of every account that has many: writes (the usage flush among them) add rows
/// whether or not anyone opens the account's lists. Run beside the requests; how many accounts
/// were merged.
pub fn merge_crowded(conn: &mut DbConnection) -> Result<usize, DbError> {
    let crowded: Vec<String> = token_writes::table
        .group_by(token_writes::account_id)
        .having(diesel::dsl::count_star().gt(MERGE_AFTER))
        .select(token_writes::account_id)
        .load(conn)?;
    for account_id in &crowded {
        merge(conn, account_id)?;
    }
    Ok(crowded.len())
}

/// The account's token version and how many rows make it.
fn version(conn: &mut DbConnection, account_id: &str) -> Result<(i64, i64), DbError> {
    Ok(token_writes::table
        .filter(token_writes::account_id.eq(account_id))
        .select((
            sql::<BigInt>("CAST(COALESCE(SUM(weight), 0) AS BIGINT)"),
            sql::<BigInt>("COUNT(*)"),
        ))
        .get_result(conn)?)
}

/// The account's rows replaced by one holding their sum, atomically: readers see the same version
/// before and after, and a row committed meanwhile is either merged with its weight or left.
fn merge(conn: &mut DbConnection, account_id: &str) -> Result<(), DbError> {
    use diesel::sql_types::Text;
    match conn {
        // One statement: it sums exactly the rows it deletes.
        DbConnection::Postgres(_) => {
            diesel::sql_query(
                "WITH merged AS (DELETE FROM token_writes WHERE account_id = $1 RETURNING weight) \
                 INSERT INTO token_writes (account_id, weight) \
                 SELECT $1, SUM(weight) FROM merged HAVING COUNT(*) > 0",
            )
            .bind::<Text, _>(account_id)
            .execute(conn)?;
            Ok(())
        }
        // One writer at a time: nothing commits between the three statements.
        DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
            let (weight, rows) = version(conn, account_id)?;
            if rows > 1 {
                diesel::delete(token_writes::table.filter(token_writes::account_id.eq(account_id)))
                    .execute(conn)?;
                diesel::insert_into(token_writes::table)
                    .values((
                        token_writes::account_id.eq(account_id),
                        token_writes::weight.eq(weight),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        }),
    }
}
