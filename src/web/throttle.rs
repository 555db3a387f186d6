//! Limits on failed sign-ins, per e-mail and per client address, so passwords cannot be guessed
//! at the speed of the server. Kept in this process: behind a load balancer each instance counts
//! its own attempts, which still bounds guessing to a small multiple.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_EMAIL: u32 = 10;
const PER_ADDRESS: u32 = 50;
/// Past this many tracked keys, expired ones are dropped, so the map cannot grow without bound.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

fn keys(email: &str, address: Option<&str>) -> [(String, u32); 2] {
    [
        (format!("email:{}", email.trim().to_lowercase()), PER_EMAIL),
        (
            format!("address:{}", address.unwrap_or("unknown")),
            PER_ADDRESS,
        ),
    ]
}

impl SignInThrottle {
    /// `Err(wait)` when this e-mail or address failed too often lately.
    pub fn check(&self, email: &str, address: Option<&str>) -> Result<(), Duration> {
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        for (key, limit) in keys(email, address) {
            if let Some((count, since)) = failures.get(&key)
                && *count >= limit
                && now.duration_since(*since) < WINDOW
            {
                return Err(WINDOW - now.duration_since(*since));
            }
        }
        Ok(())
    }

    pub fn failed(&self, email: &str, address: Option<&str>) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for (key, _) in keys(email, address) {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A successful sign-in clears the e-mail's count (not the address's).
    pub fn succeeded(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&keys(email, None)[0].0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_held_back_after_ten_failures() {
        let throttle = SignInThrottle::default();
        for _ in 0..PER_EMAIL {
            assert!(throttle.check("Robert@x.example", Some("10.0.0.1")).is_ok());
            throttle.failed("robert@x.example", Some("10.0.0.1"));
        }
        let wait = throttle
            .check("robert@x.example", Some("10.0.0.2"))
            .unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(14 * 60));
        assert!(
            throttle.check("ann@x.example", Some("10.0.0.2")).is_ok(),
            "others are not affected"
        );
        throttle.succeeded("robert@x.example");
        assert!(throttle.check("robert@x.example", Some("10.0.0.3")).is_ok());
    }

    #[test]
    fn an_address_is_held_back_after_fifty_failures() {
        let throttle = SignInThrottle::default();
        for n in 0..PER_ADDRESS {
            throttle.failed(&format!("user{n}@x.example"), Some("10.0.0.9"));
        }
        assert!(throttle.check("new@x.example", Some("10.0.0.9")).is_err());
        assert!(throttle.check("new@x.example", Some("10.0.0.8")).is_ok());
    }
}
