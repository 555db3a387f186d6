//! When and from where each token was last used. Recording is in memory and cheap; the buffer is
//! written to the database in one batch every few seconds, so API requests do not each write.

use super::schema::tokens;
use super::{DbConnection, DbError};
use crate::domain::ids::TokenId;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<TokenId, (NaiveDateTime, Option<String>)>>,
}

impl LastUsed {
    pub fn record(&self, token_id: &TokenId, at: NaiveDateTime, client_ip: Option<String>) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(token_id.clone(), (at, client_ip));
        }
    }

    /// Writes what was recorded since the last flush; on failure it is kept for the next one.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<usize, DbError> {
        let batch = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = conn.transaction(|conn| {
            for (token_id, (at, client_ip)) in &batch {
                diesel::update(tokens::table.find(token_id.as_str()))
                    .set((
                        tokens::last_used_at.eq(Some(*at)),
                        tokens::last_used_ip.eq(client_ip.as_deref()),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, DbError>(batch.len())
        });
        if written.is_err()
            && let Ok(mut pending) = self.pending.lock()
        {
            for (token_id, used) in batch {
                pending.entry(token_id).or_insert(used);
            }
        }
        written
    }
}
