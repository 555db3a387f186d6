//! Second factors: an authenticator app's codes (TOTP, RFC 6238: SHA-1, 6 digits, 30-second
//! steps, one step of drift either way), single-use recovery codes, how a session signed in,
//! and how long a sign-in counts as recent for sensitive actions ("sudo mode").

use chrono::{Duration, NaiveDateTime};
use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

/// How long a code stands for: one step.
pub const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// Steps of drift accepted either way between the server's clock and the phone's.
const DRIFT_STEPS: i64 = 1;
/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// How long a right password waits for its second factor before the sign-in starts over.
pub const PENDING_LIMIT: Duration = Duration::minutes(5);
/// How long after the last proof (password or second factor) sensitive actions go ahead
/// without asking again.
pub const SUDO_WINDOW: Duration = Duration::minutes(10);

/// How a session signed in: what the Sessions page shows, and what the activity records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    PasswordTotp,
    PasswordRecoveryCode,
    PasswordPasskey,
    Passkey,
}

impl SignInMethod {
    pub const ALL: [SignInMethod; 5] = [
        Self::Password,
        Self::PasswordTotp,
        Self::PasswordRecoveryCode,
        Self::PasswordPasskey,
        Self::Passkey,
    ];

    /// As stored with the session.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::PasswordTotp => "password+totp",
            Self::PasswordRecoveryCode => "password+recovery code",
            Self::PasswordPasskey => "password+passkey",
            Self::Passkey => "passkey",
        }
    }

    /// What the pages say.
    pub fn label(self) -> &'static str {
        match self {
            Self::Password => "Password",
            Self::PasswordTotp => "Password and authenticator code",
            Self::PasswordRecoveryCode => "Password and recovery code",
            Self::PasswordPasskey => "Password and passkey",
            Self::Passkey => "Passkey",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }
}

/// An authenticator app's shared secret: 160 random bits (the size RFC 4226 recommends).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A secret as stored (after it was opened).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// One base32 word (RFC 4648, no padding), as authenticator apps take it typed.
    pub fn base32(&self) -> String {
        self.totp().get_secret_base32()
    }

    /// The `otpauth://` address the QR code carries.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
        let account = utf8_percent_encode(account, NON_ALPHANUMERIC).to_string();
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32()
        )
    }

    fn totp(&self) -> TOTP {
        // The secret's size is ours (160 bits); the crate's check is for secrets typed in.
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, self.0.clone())
    }

    /// The code of the step `at` falls in.
    pub fn code_at(&self, at: NaiveDateTime) -> String {
        self.totp().generate(unix_seconds(at))
    }

    /// The step whose code `code` is, among the one `now` falls in and one either side, and only
    /// if it is later than `last_used` (a code is accepted once, and so is every earlier one).
    pub fn matching_step(
        &self,
        code: &TotpCode,
        now: NaiveDateTime,
        last_used: i64,
    ) -> Option<i64> {
        let current = step_of(now);
        let totp = self.totp();
        (current - DRIFT_STEPS..=current + DRIFT_STEPS)
            .filter(|step| *step > last_used && *step >= 0)
            .find(|step| {
                let candidate = totp.generate(u64::try_from(*step).unwrap_or(0) * STEP_SECONDS);
                constant_time_eq(candidate.as_bytes(), code.0.as_bytes())
            })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

fn unix_seconds(at: NaiveDateTime) -> u64 {
    u64::try_from(at.and_utc().timestamp()).unwrap_or(0)
}

/// The 30-second step `at` falls in.
pub fn step_of(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp().div_euclid(STEP_SECONDS as i64)
}

/// Six digits from an authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCode(String);

/// A recovery code: `xxxxx-xxxxx`, ten lowercase hex digits (40 random bits).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

impl RecoveryCode {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 5];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex = hex::encode(bytes);
        Self(format!("{}-{}", &hex[..5], &hex[5..]))
    }

    /// A fresh set of codes.
    pub fn generate_set() -> Vec<Self> {
        (0..RECOVERY_CODES).map(|_| Self::generate()).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the second step of signing in (or a confirmation) was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactorCode {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

impl SecondFactorCode {
    /// Six digits (spaces allowed, as apps show them `123 456`), or a recovery code in any case,
    /// with or without its dash.
    pub fn parse(typed: &str) -> Result<Self, &'static str> {
        let compact: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.is_empty() {
            return Err("Enter the 6-digit code from your authenticator app, or a recovery code");
        }
        if compact.len() == DIGITS && compact.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Self::Totp(TotpCode(compact)));
        }
        if compact.len() == 10 && compact.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Self::Recovery(RecoveryCode(format!(
                "{}-{}",
                &compact[..5],
                &compact[5..]
            ))));
        }
        Err("A code is 6 digits (authenticator app) or xxxxx-xxxxx (recovery code)")
    }

    /// Only an authenticator's code (enrolment confirms the app, not a recovery code).
    pub fn parse_totp(typed: &str) -> Result<TotpCode, &'static str> {
        match Self::parse(typed) {
            Ok(Self::Totp(code)) => Ok(code),
            _ => Err("Enter the 6 digits your authenticator app shows"),
        }
    }
}

/// Whether the last proof of identity, at `authenticated_at`, is recent enough at `now` for a
/// sensitive action.
pub fn is_recent(authenticated_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    authenticated_at.is_some_and(|at| now - at <= SUDO_WINDOW && at <= now + Duration::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .naive_utc()
    }

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890" (its 6 last digits).
    #[test]
    fn the_rfc_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(secret.code_at(at(time)), code, "at {time}");
        }
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn one_step_of_drift_either_way_and_once() {
        let secret = TotpSecret::generate();
        let now = at(1_800_000_015);
        let step = step_of(now);
        let code_of = |s: i64| SecondFactorCode::parse_totp(&secret.code_at(at(s * 30))).unwrap();
        assert_eq!(secret.matching_step(&code_of(step), now, 0), Some(step));
        assert_eq!(
            secret.matching_step(&code_of(step - 1), now, 0),
            Some(step - 1)
        );
        assert_eq!(
            secret.matching_step(&code_of(step + 1), now, 0),
            Some(step + 1)
        );
        assert_eq!(secret.matching_step(&code_of(step - 2), now, 0), None);
        assert_eq!(secret.matching_step(&code_of(step + 2), now, 0), None);
        assert_eq!(
            secret.matching_step(&code_of(step), now, step),
            None,
            "used"
        );
        assert_eq!(
            secret.matching_step(&code_of(step - 1), now, step),
            None,
            "older than one used"
        );
    }

    #[test]
    fn codes_are_read_leniently_and_refused_clearly() {
        let cases = [
            ("123456", Some("totp")),
            (" 123 456 ", Some("totp")),
            ("abcde-01234", Some("recovery")),
            ("ABCDE01234", Some("recovery")),
            ("12345", None),
            ("abcde-0123x", None),
            ("", None),
            ("1234567", None),
        ];
        for (typed, kind) in cases {
            let parsed = SecondFactorCode::parse(typed);
            let got = parsed.as_ref().ok().map(|c| match c {
                SecondFactorCode::Totp(_) => "totp",
                SecondFactorCode::Recovery(_) => "recovery",
            });
            assert_eq!(got, kind, "{typed:?}");
        }
        assert_eq!(
            SecondFactorCode::parse("ABCDE01234").unwrap(),
            SecondFactorCode::Recovery(RecoveryCode("abcde-01234".into()))
        );
        assert!(SecondFactorCode::parse_totp("abcde-01234").is_err());
    }

    #[test]
    fn recovery_codes_look_as_promised() {
        let codes = RecoveryCode::generate_set();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let text = code.as_str();
            assert_eq!(text.len(), 11);
            assert_eq!(&text[5..6], "-");
            assert!(
                text.chars()
                    .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
        }
    }

    #[test]
    fn methods_round_trip() {
        for method in SignInMethod::ALL {
            assert_eq!(SignInMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(SignInMethod::parse("magic"), None);
    }

    #[test]
    fn recent_means_ten_minutes() {
        let now = at(1_800_000_000);
        assert!(is_recent(Some(now - Duration::minutes(10)), now));
        assert!(!is_recent(Some(now - Duration::minutes(11)), now));
        assert!(!is_recent(None, now));
    }
}
