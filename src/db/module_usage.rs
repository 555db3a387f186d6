//! How tokens use each module: requests per token, module and UTC day with the day's last use
//! (written with the rest of the usage by `db::usage`, kept 400 days), read back for the
//! Permissions tab, the least-privilege advice and the review's "Unused grants".

use super::pool::on_backend;
use super::schema::token_module_usage;
use super::tokens::stored_module;
use super::{DbConnection, DbError};
use crate::domain::ids::TokenId;
use crate::domain::least_privilege::LastUses;
use crate::domain::module::Module;
use crate::domain::usage::CHART_DAYS;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::dsl::{case_when, max};
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::HashMap;

/// One module's requests on one day, and the last of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleDay {
    pub requests: i64,
    pub last_used_at: NaiveDateTime,
}

impl ModuleDay {
    /// `requests` more, the last of them at `at`.
    pub fn add(&mut self, requests: i64, at: NaiveDateTime) {
        self.requests += requests;
        self.last_used_at = self.last_used_at.max(at);
    }
}

/// Adds a token's counts to what is written, keeping each day's latest use.
pub(super) fn add(
    conn: &mut DbConnection,
    token_id: &TokenId,
    days: &HashMap<(Module, NaiveDate), ModuleDay>,
) -> Result<(), DbError> {
    for ((module, day), counted) in days {
        let row = (
            token_module_usage::token_id.eq(token_id.as_str()),
            token_module_usage::module_id.eq(module.id),
            token_module_usage::day.eq(*day),
            token_module_usage::requests.eq(counted.requests),
            token_module_usage::last_used_at.eq(counted.last_used_at),
        );
        on_backend!(&mut *conn, |c| diesel::insert_into(
            token_module_usage::table
        )
        .values(row)
        .on_conflict((
            token_module_usage::token_id,
            token_module_usage::module_id,
            token_module_usage::day,
        ))
        .do_update()
        .set((
            token_module_usage::requests
                .eq(token_module_usage::requests + excluded(token_module_usage::requests)),
            token_module_usage::last_used_at.eq(case_when(
                excluded(token_module_usage::last_used_at).gt(token_module_usage::last_used_at),
                excluded(token_module_usage::last_used_at),
            )
            .otherwise(token_module_usage::last_used_at)),
        ))
        .execute(c))?;
    }
    Ok(())
}

/// When each of `ids` last used each module it used, in the days kept; every one of `ids` is
/// in the answer.
pub fn last_uses(
    conn: &mut DbConnection,
    ids: &[TokenId],
) -> Result<HashMap<TokenId, LastUses>, DbError> {
    let rows: Vec<(String, String, Option<NaiveDateTime>)> = token_module_usage::table
        .filter(token_module_usage::token_id.eq_any(ids.iter().map(TokenId::as_str)))
        .group_by((token_module_usage::token_id, token_module_usage::module_id))
        .select((
            token_module_usage::token_id,
            token_module_usage::module_id,
            max(token_module_usage::last_used_at),
        ))
        .load(conn)?;
    let mut uses: HashMap<TokenId, LastUses> =
        ids.iter().map(|id| (id.clone(), LastUses::new())).collect();
    for (token_id, module_id, at) in rows {
        if let Some(at) = at {
            uses.entry(TokenId::from_trusted(token_id))
                .or_default()
                .insert(stored_module(&module_id)?, at);
        }
    }
    Ok(uses)
}

/// A token's use of the modules: when it last used each, and its requests to each in the last
/// `CHART_DAYS` days (as the details page counts them: today and the days before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleUsage {
    pub last_uses: LastUses,
    pub last_month: HashMap<Module, u64>,
}

pub fn of_token(
    conn: &mut DbConnection,
    id: &TokenId,
    now: NaiveDateTime,
) -> Result<ModuleUsage, DbError> {
    let last_uses = last_uses(conn, std::slice::from_ref(id))?
        .remove(id)
        .unwrap_or_default();
    let from = now.date() - Duration::days(CHART_DAYS - 1);
    let rows: Vec<(String, i64)> = token_module_usage::table
        .filter(token_module_usage::token_id.eq(id.as_str()))
        .filter(token_module_usage::day.ge(from))
        .select((token_module_usage::module_id, token_module_usage::requests))
        .load(conn)?;
    let mut last_month = HashMap::new();
    for (module_id, requests) in rows {
        *last_month.entry(stored_module(&module_id)?).or_default() +=
            u64::try_from(requests).unwrap_or(0);
    }
    Ok(ModuleUsage {
        last_uses,
        last_month,
    })
}

/// Deletes the days before `before`.
pub(super) fn prune(conn: &mut DbConnection, before: NaiveDate) -> Result<usize, DbError> {
    Ok(
        diesel::delete(token_module_usage::table.filter(token_module_usage::day.lt(before)))
            .execute(conn)?,
    )
}
