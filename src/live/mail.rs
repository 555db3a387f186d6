//! Mailing notifications: each user with unmailed notifications gets at most one digest a day,
//! sent once whatever the number of instances (the day's digest is claimed in the database
//! first), retried with a growing wait while the SMTP server cannot take it, and never on a
//! request's path (this is a worker). A mail names tokens by name and id, never a key.

use super::worker::Job;
use crate::clock::Clock;
use crate::config::{MailSettings, SmtpSecurity};
use crate::db::notifications::{self, Digest, Unmailed};
use crate::db::{self, DbError, DbPool};
use chrono::{Duration, NaiveDateTime};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

/// How often unmailed notifications are looked for.
pub const MAIL_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// How long one attempt may take before the SMTP server is taken for gone.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A claim neither sent nor failed after this long (its sender stopped) is taken over.
const CLAIM_STALE_MINUTES: i64 = 10;
/// Users written to per round at most.
const USERS_PER_ROUND: i64 = 50;
/// The longest wait between two attempts.
const MAX_RETRY_MINUTES: i64 = 60;

/// The wait before attempt `attempts + 1`: 1 minute, 2, 4 … up to an hour.
pub fn retry_after(attempts: i32) -> Duration {
    let minutes = 1_i64 << attempts.clamp(0, 6);
    Duration::minutes(minutes.min(MAX_RETRY_MINUTES))
}

/// What the digest says: its subject and text.
pub fn compose(user: &Unmailed) -> (String, String) {
    let count = user.notifications.len();
    let subject = if count == 1 {
        "tokendesk: 1 notification".to_owned()
    } else {
        format!("tokendesk: {count} notifications")
    };
    let mut text = format!("Hello {},\n\n", user.name);
    for (_, message, at) in &user.notifications {
        text.push_str(&format!(
            "- {} ({})\n",
            message,
            at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    text.push_str(
        "\nSign in to tokendesk to see them under Notifications. You get at most one such \
         mail a day.\n",
    );
    (subject, text)
}

/// The job: mails the digests due.
pub struct MailDigests {
    pool: DbPool,
    clock: Clock,
    from: Mailbox,
    transport: SmtpTransport,
}

impl MailDigests {
    pub fn new(pool: DbPool, clock: Clock, settings: &MailSettings) -> Result<Self, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("the sender {:?}: {e}", settings.from))?;
        let tls = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| format!("TLS for {}: {e}", settings.host))
        };
        let mut builder = SmtpTransport::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(match settings.security {
                SmtpSecurity::Plain => Tls::None,
                SmtpSecurity::StartTls => Tls::Required(tls()?),
                SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            });
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            pool,
            clock,
            from,
            transport: builder.build(),
        })
    }

    /// Sends `user`'s digest of `now`'s day, claimed by this process: whether it went.
    fn send(&self, user: &Unmailed) -> Result<(), String> {
        let to: Mailbox = format!(
            "{} <{}>",
            user.name.replace(['<', '>', '"'], ""),
            user.email
        )
        .parse()
        .or_else(|_| user.email.parse())
        .map_err(|e| format!("the address of {}: {e}", user.user_id))?;
        let (subject, text) = compose(user);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| format!("composing: {e}"))?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// One round at `now`: every user with something unmailed whose digest of the day is due.
    pub fn round(&mut self, now: NaiveDateTime) -> Result<usize, DbError> {
        let day = now.date();
        let due = {
            let mut conn = db::pool::checkout(&self.pool)?;
            notifications::unmailed(&mut conn, day, now, USERS_PER_ROUND)?
        };
        let mut sent = 0;
        for user in due {
            let claim = {
                let mut conn = db::pool::checkout(&self.pool)?;
                notifications::claim_digest(
                    &mut conn,
                    &user.user_id,
                    day,
                    now,
                    Duration::minutes(CLAIM_STALE_MINUTES),
                )?
            };
            let attempts = match claim {
                Digest::NotNow => continue,
                Digest::Claimed => 0,
                Digest::Retrying { attempts } => attempts,
            };
            // No connection is held while the SMTP server is talked to.
            let outcome = self.send(&user);
            let mut conn = db::pool::checkout(&self.pool)?;
            match outcome {
                Ok(()) => {
                    let ids: Vec<i64> = user.notifications.iter().map(|(id, ..)| *id).collect();
                    notifications::digest_sent(&mut conn, &user.user_id, day, &ids, now)?;
                    sent += 1;
                }
                Err(why) => {
                    let retry_at = now + retry_after(attempts);
                    tracing::warn!(user = %user.user_id, attempts = attempts + 1, %retry_at, error = %why, "a notification digest could not be mailed; it will be tried again");
                    notifications::digest_failed(&mut conn, &user.user_id, day, &why, retry_at)?;
                }
            }
        }
        if sent > 0 {
            tracing::info!(sent, "notification digests mailed");
        }
        Ok(sent)
    }
}

impl Job for MailDigests {
    fn run(&mut self) -> Result<(), DbError> {
        let now = self.clock.now();
        self.round(now).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        let waits: Vec<i64> = (0..9).map(|a| retry_after(a).num_minutes()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
