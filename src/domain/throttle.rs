//! Limits on sign-in attempts, so that passwords cannot be guessed at the speed of the server:
//! per e-mail and per client address, in a window, counted before the password is checked.
//! A browser that proved the password recently (its known-device cookie) is counted on its own,
//! so that failures from elsewhere do not lock the owner out.

use chrono::{Duration, NaiveDateTime};

pub const WINDOW: Duration = Duration::minutes(15);

/// What attempts are counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptKey {
    Email(String),
    Address(String),
    Device(String),
}

impl AttemptKey {
    pub fn email(email: &str) -> Self {
        Self::Email(email.trim().to_lowercase())
    }

    /// The client's address, as the request tells it (`unknown` when it does not).
    pub fn address(address: Option<String>) -> Self {
        Self::Address(address.unwrap_or_else(|| "unknown".into()))
    }

    /// As stored.
    pub fn key(&self) -> String {
        match self {
            Self::Email(email) => format!("email:{email}"),
            Self::Address(address) => format!("address:{address}"),
            Self::Device(device) => format!("device:{device}"),
        }
    }

    /// Attempts allowed in a window.
    pub fn limit(&self) -> i32 {
        match self {
            Self::Email(_) | Self::Device(_) => 5,
            Self::Address(_) => 20,
        }
    }
}

/// A key's attempts in its current window, this one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: i32,
    pub window_started_at: NaiveDateTime,
}

impl Attempts {
    /// When another attempt will be heard, if this one is over the limit.
    pub fn refused_until(&self, limit: i32) -> Option<NaiveDateTime> {
        (self.count > limit).then_some(self.window_started_at + WINDOW)
    }
}

/// "Try again in 7 minutes."
pub fn retry_message(until: NaiveDateTime, now: NaiveDateTime) -> String {
    let minutes = (until - now).num_seconds().max(1).div_euclid(60) + 1;
    let minutes = minutes.min(WINDOW.num_minutes());
    format!(
        "Too many sign-in attempts. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_messages() {
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let email = AttemptKey::email(" Robert@X.example ");
        assert_eq!(email.key(), "email:robert@x.example");
        let attempts = |count| Attempts {
            count,
            window_started_at: start,
        };
        assert_eq!(attempts(5).refused_until(email.limit()), None);
        assert_eq!(
            attempts(6).refused_until(email.limit()),
            Some(start + WINDOW)
        );
        assert_eq!(
            attempts(20).refused_until(AttemptKey::Address("a".into()).limit()),
            None
        );
        assert_eq!(
            retry_message(start + WINDOW, start + Duration::minutes(8)),
            "Too many sign-in attempts. Try again in 8 minutes."
        );
        assert_eq!(
            retry_message(start + WINDOW, start + Duration::seconds(14 * 60 + 30)),
            "Too many sign-in attempts. Try again in 1 minute."
        );
    }
}
