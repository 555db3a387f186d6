//! How tokens are used, as stored: when and from where last, and how many requests (and
//! refusals) per UTC day, and per hour for the last two days, and per module (`module_usage`).
//! What is recorded in memory and written in batches is `live::usage`'s.

use super::module_usage::{self, ModuleDay};
use super::pool::write_transaction;
use super::schema::{token_usage, token_usage_hourly, tokens, usage_batches};
use super::tokens::Token;
use super::{DbConnection, DbError};
use crate::domain::ids::TokenId;
use crate::domain::module::Module;
use crate::domain::usage::{
    CHART_DAYS, DayCount, HOURLY_KEPT, RecentUse, USAGE_KEPT, UsageSummary, last_day_start,
    recently_used,
};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::{HashMap, HashSet};

/// How long a written batch's id is remembered.
const BATCH_IDS_KEPT: Duration = Duration::days(30);

/// What one token did in a batch: its last use (when, from where), requests and refusals per
/// day and per hour, and requests per module and day; and apart from all that, the requests
/// per day that named it and did not authenticate.
#[derive(Debug, Default)]
pub struct TokenUse {
    pub last: Option<(NaiveDateTime, Option<String>)>,
    pub days: HashMap<NaiveDate, (i64, i64)>,
    pub hours: HashMap<NaiveDateTime, (i64, i64)>,
    pub modules: HashMap<(Module, NaiveDate), ModuleDay>,
    pub failed: HashMap<NaiveDate, i64>,
}

/// Adds the batch `batch_id` to what is stored, in one transaction, at `at`, unless it was
/// added before (a batch written again after a stop that could not tell): whether it was added
/// now. Tokens deleted meanwhile are left out (a missing one would fail the batch again and
/// again).
pub fn write(
    conn: &mut DbConnection,
    batch_id: &str,
    batch: &HashMap<TokenId, TokenUse>,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    // The write lock first (SQLite): a transaction that reads, then writes, fails at once with
    // "database is busy" when another writer committed in between.
    write_transaction(conn, |conn| {
        let first = (
            usage_batches::id.eq(batch_id),
            usage_batches::written_at.eq(at),
        );
        let added =
            super::pool::on_backend!(&mut *conn, |c| diesel::insert_into(usage_batches::table)
                .values(first)
                .on_conflict_do_nothing()
                .execute(c))?;
        if added == 0 {
            return Ok(false);
        }
        write_batch(conn, batch)?;
        Ok(true)
    })
}

fn write_batch(
    conn: &mut DbConnection,
    batch: &HashMap<TokenId, TokenUse>,
) -> Result<usize, DbError> {
    let ids: Vec<&str> = batch.keys().map(TokenId::as_str).collect();
    let live: HashSet<String> = tokens::table
        .filter(tokens::id.eq_any(&ids))
        .select(tokens::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    // In the order of their ids, as every change of several tokens takes their rows: two
    // writers never wait on each other in turn.
    let mut in_order: Vec<(&TokenId, &TokenUse)> = batch.iter().collect();
    in_order.sort_by_key(|(id, _)| *id);
    for (token_id, pending) in in_order {
        let id = token_id.as_str();
        if !live.contains(id) {
            continue;
        }
        if let Some((at, client_ip)) = &pending.last {
            diesel::update(tokens::table.find(id))
                .set((
                    tokens::last_used_at.eq(Some(*at)),
                    tokens::last_used_ip.eq(client_ip.as_deref()),
                ))
                .execute(conn)?;
        }
        for (day, (requests, refused)) in &pending.days {
            let row = (
                token_usage::token_id.eq(id),
                token_usage::day.eq(*day),
                token_usage::requests.eq(*requests),
                token_usage::refused.eq(*refused),
            );
            super::pool::on_backend!(&mut *conn, |c| diesel::insert_into(token_usage::table)
                .values(row)
                .on_conflict((token_usage::token_id, token_usage::day))
                .do_update()
                .set((
                    token_usage::requests
                        .eq(token_usage::requests + excluded(token_usage::requests)),
                    token_usage::refused.eq(token_usage::refused + excluded(token_usage::refused)),
                ))
                .execute(c))?;
        }
        for (hour, (requests, refused)) in &pending.hours {
            let row = (
                token_usage_hourly::token_id.eq(id),
                token_usage_hourly::hour.eq(*hour),
                token_usage_hourly::requests.eq(*requests),
                token_usage_hourly::refused.eq(*refused),
            );
            super::pool::on_backend!(&mut *conn, |c| diesel::insert_into(
                token_usage_hourly::table
            )
            .values(row)
            .on_conflict((token_usage_hourly::token_id, token_usage_hourly::hour))
            .do_update()
            .set((
                token_usage_hourly::requests
                    .eq(token_usage_hourly::requests + excluded(token_usage_hourly::requests)),
                token_usage_hourly::refused
                    .eq(token_usage_hourly::refused + excluded(token_usage_hourly::refused)),
            ))
            .execute(c))?;
        }
        for (day, failed) in &pending.failed {
            let row = (
                token_usage::token_id.eq(id),
                token_usage::day.eq(*day),
                token_usage::requests.eq(0),
                token_usage::refused.eq(0),
                token_usage::failed_auth.eq(*failed),
            );
            super::pool::on_backend!(&mut *conn, |c| diesel::insert_into(token_usage::table)
                .values(row)
                .on_conflict((token_usage::token_id, token_usage::day))
                .do_update()
                .set(
                    token_usage::failed_auth
                        .eq(token_usage::failed_auth + excluded(token_usage::failed_auth)),
                )
                .execute(c))?;
        }
        module_usage::add(conn, token_id, &pending.modules)?;
    }
    Ok(batch.len())
}

/// A token's days with use from `from` to `to` (both included), oldest first.
pub fn days(
    conn: &mut DbConnection,
    token_id: &TokenId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayCount>, DbError> {
    Ok(token_usage::table
        .filter(token_usage::token_id.eq(token_id.as_str()))
        .filter(token_usage::day.ge(from))
        .filter(token_usage::day.le(to))
        .order(token_usage::day.asc())
        .select((
            token_usage::day,
            token_usage::requests,
            token_usage::refused,
            token_usage::failed_auth,
        ))
        .load::<(NaiveDate, i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(date, requests, refused, failed_auth)| DayCount {
            date,
            requests: u64::try_from(requests).unwrap_or(0),
            refused: u64::try_from(refused).unwrap_or(0),
            failed_auth: u64::try_from(failed_auth).unwrap_or(0),
        })
        .collect())
}

/// Each token's requests in the last 24 hours; tokens without any are left out.
fn last_day(
    conn: &mut DbConnection,
    ids: &[&str],
    now: NaiveDateTime,
) -> Result<HashMap<String, u64>, DbError> {
    let rows: Vec<(String, i64)> = token_usage_hourly::table
        .filter(token_usage_hourly::token_id.eq_any(ids))
        .filter(token_usage_hourly::hour.ge(last_day_start(now)))
        .select((token_usage_hourly::token_id, token_usage_hourly::requests))
        .load(conn)?;
    let mut totals = HashMap::new();
    for (id, requests) in rows {
        *totals.entry(id).or_default() += u64::try_from(requests).unwrap_or(0);
    }
    Ok(totals)
}

/// The details page's chart and totals for a token.
pub fn summary(
    conn: &mut DbConnection,
    token_id: &TokenId,
    now: NaiveDateTime,
) -> Result<UsageSummary, DbError> {
    let today = now.date();
    let from = today - Duration::days(CHART_DAYS - 1);
    let counts = days(conn, token_id, from, today)?;
    let last_day = last_day(conn, &[token_id.as_str()], now)?
        .into_values()
        .sum();
    Ok(UsageSummary::new(&counts, today, last_day))
}

/// The recent use of those of `tokens` used in the last seven days, by token id.
pub fn recent_use<'a>(
    conn: &mut DbConnection,
    tokens: impl IntoIterator<Item = &'a Token>,
    now: NaiveDateTime,
) -> Result<HashMap<TokenId, RecentUse>, DbError> {
    let recent: Vec<&Token> = tokens
        .into_iter()
        .filter(|token| recently_used(token.last_used_at, now))
        .collect();
    if recent.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<&str> = recent.iter().map(|token| token.id.as_str()).collect();
    let counts = last_day(conn, &ids, now)?;
    Ok(recent
        .into_iter()
        .filter_map(|token| {
            let at = token.last_used_at?;
            let used = RecentUse {
                at,
                from: token.last_used_ip.clone(),
                last_day: counts.get(token.id.as_str()).copied().unwrap_or(0),
            };
            Some((token.id.clone(), used))
        })
        .collect())
}

/// Deletes the days older than the 400 kept (per module too), and the hours older than two days.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    let days =
        diesel::delete(token_usage::table.filter(token_usage::day.lt((now - USAGE_KEPT).date())))
            .execute(conn)?;
    let hours = diesel::delete(
        token_usage_hourly::table.filter(token_usage_hourly::hour.lt(now - HOURLY_KEPT)),
    )
    .execute(conn)?;
    let modules = module_usage::prune(conn, (now - USAGE_KEPT).date())?;
    // A spooled batch is replayed at the next start: a month is long past that.
    let batches = diesel::delete(
        usage_batches::table.filter(usage_batches::written_at.lt(now - BATCH_IDS_KEPT)),
    )
    .execute(conn)?;
    Ok(days + hours + modules + batches)
}
