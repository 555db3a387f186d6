//! Reminders before a key expires: a token's owner (and the account's admins, for tokens
//! holding All) is told 7 days and 1 day before, and when it has expired. Each reminder is made
//! once per user and expiry (a renewed key gets its own), whichever instance finds it first.

use crate::db::notifications::{self, NewNotification};
use crate::db::tokens::Token;
use crate::db::users::User;
use crate::db::{DbConnection, DbError};
use crate::domain::ids::{AccountId, TokenId};
use crate::domain::module::Module;
use crate::domain::user::Role;
use chrono::{Duration, NaiveDateTime};
use std::collections::HashMap;

/// Tokens read at a time.
const BATCH: i64 = 500;
/// Batches read per window and round at most: a backlog is worked through over a few rounds.
const MAX_BATCHES: usize = 20;
/// How long after its expiry a token is still told of: a server started after a long stop does
/// not remind of keys that ended long ago.
const EXPIRED_WITHIN_DAYS: i64 = 7;

/// Which reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reminder {
    WeekBefore,
    DayBefore,
    Expired,
}

impl Reminder {
    fn topic(self) -> &'static str {
        match self {
            Self::WeekBefore => "expiry-7d",
            Self::DayBefore => "expiry-1d",
            Self::Expired => "expired",
        }
    }

    /// The window of expiries it is about, at `now`: after the first, at or before the second.
    fn window(self, now: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
        match self {
            Self::WeekBefore => (now + Duration::days(1), now + Duration::days(7)),
            Self::DayBefore => (now, now + Duration::days(1)),
            Self::Expired => (now - Duration::days(EXPIRED_WITHIN_DAYS), now),
        }
    }

    fn message(self, token: &Token, expires_at: NaiveDateTime, now: NaiveDateTime) -> String {
        let when = expires_at.format("%Y-%m-%d %H:%M UTC");
        let who = format!("“{}” ({})", token.name, token.id);
        match self {
            Self::Expired => format!(
                "The key of {who} expired on {when}: requests with it are refused. Renew it or \
                 rotate its key with a new expiry."
            ),
            Self::WeekBefore | Self::DayBefore => {
                let hours = (expires_at - now).num_hours();
                let left = if hours < 24 {
                    "within a day".to_owned()
                } else {
                    let days = (hours + 23) / 24;
                    format!("in {days} days")
                };
                format!(
                    "The key of {who} expires {left}, on {when}. Renew it or rotate its key before \
                     then."
                )
            }
        }
    }
}

/// The people of each account, read once per round.
#[derive(Default)]
struct Teams(HashMap<AccountId, Vec<User>>);

impl Teams {
    fn of(&mut self, conn: &mut DbConnection, account: &AccountId) -> Result<&[User], DbError> {
        if !self.0.contains_key(account) {
            let team = User::list(conn, account)?;
            self.0.insert(account.clone(), team);
        }
        Ok(self.0.get(account).map(Vec::as_slice).unwrap_or_default())
    }
}

/// Makes the reminders due at `now`: how many were added.
pub fn remind(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    let mut teams = Teams::default();
    let mut added = 0;
    for reminder in [Reminder::Expired, Reminder::DayBefore, Reminder::WeekBefore] {
        let (mut after, until) = reminder.window(now);
        for _ in 0..MAX_BATCHES {
            let batch = Token::expiring_between(conn, after, until, BATCH)?;
            let ids: Vec<TokenId> = batch.iter().map(|(_, t)| t.id.clone()).collect();
            let grants = Token::grants(conn, &ids)?;
            for (account, token) in &batch {
                let Some(expires_at) = token.expires_at else {
                    continue;
                };
                let holds_all = grants
                    .get(&token.id)
                    .is_some_and(|held| held.iter().any(|g| g.module == Module::ALL));
                let team = teams.of(conn, account)?;
                let told = team.iter().filter(|user| {
                    user.active
                        && (user.id.as_str() == token.owner.id
                            || (holds_all && user.role == Role::Admin))
                });
                let topic = format!(
                    "{}:{}:{}",
                    reminder.topic(),
                    token.id,
                    expires_at.and_utc().timestamp()
                );
                let message = reminder.message(token, expires_at, now);
                for user in told {
                    let new = NewNotification {
                        account_id: account,
                        user_id: &user.id,
                        topic: &topic,
                        kind: reminder.topic(),
                        token_id: Some(&token.id),
                        message: &message,
                        at: now,
                    };
                    if notifications::add(conn, &new)? {
                        added += 1;
                    }
                }
            }
            // Expiries equal to the last one read may be left in the next batch's gap: read on
            // from just before it (the topics make a second notice a no-op).
            match batch.last() {
                Some((_, last)) if batch.len() as i64 == BATCH => {
                    let next = last.expires_at.unwrap_or(until) - Duration::microseconds(1);
                    if next <= after {
                        break;
                    }
                    after = next;
                }
                _ => break,
            }
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::Reminder;
    use chrono::{Duration, NaiveDateTime};

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_windows_follow_each_other_without_gap_or_overlap() {
        let now = at("2027-03-01 12:00:00");
        let (expired_from, expired_to) = Reminder::Expired.window(now);
        let (day_from, day_to) = Reminder::DayBefore.window(now);
        let (week_from, week_to) = Reminder::WeekBefore.window(now);
        assert_eq!(expired_from, now - Duration::days(7));
        assert_eq!(expired_to, day_from);
        assert_eq!(day_to, week_from);
        assert_eq!(week_to, now + Duration::days(7));
    }
}
