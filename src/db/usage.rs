//! How tokens are used: when and from where last, and how many requests (and refusals) per UTC
//! day, and per hour for the last two days. Recording is in memory and cheap (one lock, no
//! query); the buffer is written in one transaction every few seconds and when the server stops,
//! so API requests do not each write. The requests a token was let in with are also counted per
//! module of the endpoint called (`db::module_usage`), for the least-privilege advice.

use super::module_usage::{self, ModuleDay};
use super::schema::{token_usage, token_usage_hourly, tokens};
use super::tokens::Token;
use super::{DbConnection, DbError};
use crate::domain::ids::TokenId;
use crate::domain::module::Module;
use crate::domain::usage::{
    CHART_DAYS, DayCount, HOURLY_KEPT, RecentUse, USAGE_KEPT, UsageSummary, hour_of,
    last_day_start, recently_used,
};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// What one token did since the last flush.
#[derive(Debug, Default)]
struct Pending {
    last: Option<(NaiveDateTime, Option<String>)>,
    days: HashMap<NaiveDate, (i64, i64)>,
    hours: HashMap<NaiveDateTime, (i64, i64)>,
    modules: HashMap<(Module, NaiveDate), ModuleDay>,
}

#[derive(Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<TokenId, Pending>>,
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
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
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
        self.pending.lock().map_or(0, |pending| {
            pending
                .values()
                .flat_map(|p| p.days.values())
                .map(|(requests, _)| u64::try_from(*requests).unwrap_or(0))
                .sum()
        })
    }

    /// Writes what was recorded since the last flush; on failure it is kept for the next one.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<usize, DbError> {
        let _writing = self.writing.lock();
        let batch = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = conn.transaction(|conn| write(conn, &batch));
        if written.is_err()
            && let Ok(mut pending) = self.pending.lock()
        {
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

fn write(conn: &mut DbConnection, batch: &HashMap<TokenId, Pending>) -> Result<usize, DbError> {
    // Only rows of tokens still there: one missing would fail the whole batch, again and again.
    let ids: Vec<&str> = batch.keys().map(TokenId::as_str).collect();
    let live: HashSet<String> = tokens::table
        .filter(tokens::id.eq_any(&ids))
        .select(tokens::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    for (token_id, pending) in batch {
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
        ))
        .load::<(NaiveDate, i64, i64)>(conn)?
        .into_iter()
        .map(|(date, requests, refused)| DayCount {
            date,
            requests: u64::try_from(requests).unwrap_or(0),
            refused: u64::try_from(refused).unwrap_or(0),
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
    Ok(days + hours + modules)
}
