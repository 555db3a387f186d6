//! An account's token policy, set by its admins: how long a key may live, whether it must
//! expire, which modules a member's token may reach only once an admin approves, whether every
//! key must carry an allowed-networks list, and the rate limit new tokens get. A token that
//! breaks a rule set after it was made is blocked (not changed) until it is brought within.

use super::form::FieldErrors;
use super::lifecycle::{MAX_RATE_LIMIT, RateLimit};
use super::module::{MODULES, Module, ModuleSet};
use chrono::{Duration, NaiveDateTime};

/// The longest lifetime a policy may set, in days (ten years).
pub const MAX_LIFETIME_DAYS: u32 = 3650;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPolicy {
    /// A key's expiry at most this many days after it is set; `None`: no limit.
    pub max_lifetime_days: Option<u32>,
    /// Every key must expire.
    pub require_expiry: bool,
    /// Modules a member's token reaches only once an admin approves (`All` among them: a
    /// request for All).
    pub approval_modules: ModuleSet,
    /// Every key must be limited to allowed networks.
    pub require_allowed_networks: bool,
    /// The rate limit a new token gets when none is given.
    pub default_rate_limit: Option<RateLimit>,
    /// Every user signs in with a second factor: one without is sent to enrol and reaches
    /// nothing else until then.
    pub require_2fa: bool,
}

/// A rule a token breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Its key never expires, and the policy wants an expiry.
    NoExpiry,
    /// Its key lives longer than the policy's maximum (in days).
    Lifetime(u32),
    /// It may be used from anywhere, and the policy wants allowed networks.
    NoNetworks,
}

impl Breach {
    /// Names the rule: "lifetime over 90 days".
    pub fn describe(self) -> String {
        match self {
            Self::NoExpiry => "no expiry, and every token must expire".to_owned(),
            Self::Lifetime(days) => format!("lifetime over {days} days"),
            Self::NoNetworks => {
                "no allowed networks, and every token must have a list of them".to_owned()
            }
        }
    }
}

/// What the policy looks at in a token.
#[derive(Debug, Clone, Copy)]
pub struct KeyTerms {
    /// How long the key lives from when its expiry was set; `None`: it never expires.
    pub lifetime: Option<Duration>,
    pub has_networks: bool,
}

impl AccountPolicy {
    /// The first rule the token breaks, if any.
    pub fn breach(&self, terms: KeyTerms) -> Option<Breach> {
        match (terms.lifetime, self.max_lifetime_days) {
            (None, Some(days)) => return Some(Breach::Lifetime(days)),
            (None, None) if self.require_expiry => return Some(Breach::NoExpiry),
            (Some(lifetime), Some(days)) if lifetime > lifetime_of(days) => {
                return Some(Breach::Lifetime(days));
            }
            _ => {}
        }
        (self.require_allowed_networks && !terms.has_networks).then_some(Breach::NoNetworks)
    }

    /// Whether an expiry set at `now` to `expires_at` is one the policy allows; if not, what
    /// to tell the person (beside the field that sets it).
    pub fn check_expiry(
        &self,
        expires_at: Option<NaiveDateTime>,
        now: NaiveDateTime,
    ) -> Result<(), String> {
        match (expires_at, self.max_lifetime_days) {
            (None, Some(days)) => Err(format!(
                "The account's policy: every key expires within {days} days. Choose an expiry."
            )),
            (None, None) if self.require_expiry => {
                Err("The account's policy: every key must expire. Choose an expiry.".to_owned())
            }
            (Some(at), Some(days)) if at > latest_expiry(days, now) => Err(format!(
                "The account's policy: a key expires within {days} days ({} at the latest).",
                latest_expiry(days, now).format("%Y-%m-%d")
            )),
            _ => Ok(()),
        }
    }

    /// The modules of `asked` that need an admin's approval when a member asks for them. A
    /// request for All reaches every module, so it needs approval if any module does.
    pub fn needing_approval(&self, asked: &ModuleSet) -> ModuleSet {
        if self.approval_modules.is_empty() {
            return ModuleSet::default();
        }
        if asked.has_all() {
            return self.approval_modules.clone();
        }
        ModuleSet::of(asked.iter().filter(|m| self.approval_modules.contains(*m)))
    }

    /// The modules, for a form: "All, Agreements".
    pub fn approval_names(&self) -> String {
        self.approval_modules.names()
    }
}

/// `days` as a lifetime: to the end of the last day (a date typed in a form means its end), so
/// a key set at any hour may live `days` days and the rest of the day.
fn lifetime_of(days: u32) -> Duration {
    Duration::days(i64::from(days) + 1)
}

/// The latest expiry set at `now` that a `days` maximum allows: the end of the day `days` on.
pub fn latest_expiry(days: u32, now: NaiveDateTime) -> NaiveDateTime {
    super::lifecycle::end_of(now.date() + Duration::days(i64::from(days)))
}

/// The policy form as sent (the API's field names; checkboxes are `on`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyInput {
    pub max_lifetime_days: String,
    pub require_expiry: bool,
    pub approval_modules: Vec<String>,
    pub require_allowed_networks: bool,
    pub default_rate_limit: String,
    pub require_2fa: bool,
}

impl PolicyInput {
    pub fn of(policy: &AccountPolicy) -> Self {
        Self {
            max_lifetime_days: policy
                .max_lifetime_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            require_expiry: policy.require_expiry,
            approval_modules: policy
                .approval_modules
                .iter()
                .map(|m| m.id.to_owned())
                .collect(),
            require_allowed_networks: policy.require_allowed_networks,
            default_rate_limit: policy
                .default_rate_limit
                .map(|r| r.get().to_string())
                .unwrap_or_default(),
            require_2fa: policy.require_2fa,
        }
    }

    pub fn parse(&self) -> Result<AccountPolicy, FieldErrors> {
        let mut errors = FieldErrors::default();
        let max_lifetime_days = match self.max_lifetime_days.trim() {
            "" => None,
            days => match days.parse::<u32>() {
                Ok(days) if (1..=MAX_LIFETIME_DAYS).contains(&days) => Some(days),
                _ => {
                    errors.add(
                        "max_lifetime_days",
                        format!("A whole number of days from 1 to {MAX_LIFETIME_DAYS}, or empty for none"),
                    );
                    None
                }
            },
        };
        let approval_modules =
            match ModuleSet::parse(self.approval_modules.iter().map(String::as_str)) {
                Ok(modules) => modules,
                Err(e) => {
                    errors.add("approval_modules", e.to_string());
                    ModuleSet::default()
                }
            };
        let default_rate_limit = match self.default_rate_limit.trim() {
            "" => None,
            limit => match limit.parse::<u64>().ok().and_then(RateLimit::new) {
                Some(limit) => Some(limit),
                None => {
                    errors.add(
                        "default_rate_limit",
                        format!("A whole number of requests per minute from 1 to {MAX_RATE_LIMIT}, or empty for none"),
                    );
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(AccountPolicy {
            max_lifetime_days,
            require_expiry: self.require_expiry,
            approval_modules,
            require_allowed_networks: self.require_allowed_networks,
            default_rate_limit,
            require_2fa: self.require_2fa,
        })
    }
}

/// The modules a policy may name for approval, as the form lists them ("All" first).
pub fn approvable_modules() -> &'static [Module] {
    &MODULES
}

/// The policy in words, one line per rule: what an event records before and after a change.
pub fn summary(policy: &AccountPolicy) -> String {
    format!(
        "max lifetime: {}; expiry required: {}; approval for: {}; allowed networks required: {}; default rate limit: {}; second factor required: {}",
        policy
            .max_lifetime_days
            .map_or("none".to_owned(), |d| format!("{d} days")),
        if policy.require_expiry { "yes" } else { "no" },
        if policy.approval_modules.is_empty() {
            "none".to_owned()
        } else {
            policy
                .approval_modules
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
                .join(",")
        },
        if policy.require_allowed_networks {
            "yes"
        } else {
            "no"
        },
        policy
            .default_rate_limit
            .map_or("none".to_owned(), |r| format!("{}/min", r.get())),
        if policy.require_2fa { "yes" } else { "no" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn expiries_within_the_policy() {
        let now = at("2026-12-07 10:00:00");
        let ninety = AccountPolicy {
            max_lifetime_days: Some(90),
            ..AccountPolicy::default()
        };
        assert!(
            ninety
                .check_expiry(None, now)
                .unwrap_err()
                .contains("within 90 days")
        );
        assert_eq!(
            ninety.check_expiry(Some(now + Duration::days(90)), now),
            Ok(())
        );
        assert_eq!(
            ninety.check_expiry(Some(at("2027-03-07 23:59:59")), now),
            Ok(()),
            "a date 90 days on means its end"
        );
        let late = ninety
            .check_expiry(Some(at("2027-03-08 23:59:59")), now)
            .unwrap_err();
        assert!(late.contains("2027-03-07 at the latest"), "{late}");
        let must = AccountPolicy {
            require_expiry: true,
            ..AccountPolicy::default()
        };
        assert!(must.check_expiry(None, now).is_err());
        assert_eq!(
            must.check_expiry(Some(now + Duration::days(9000)), now),
            Ok(())
        );
        assert_eq!(AccountPolicy::default().check_expiry(None, now), Ok(()));
    }

    #[test]
    fn breaches_name_the_rule() {
        let policy = AccountPolicy {
            max_lifetime_days: Some(90),
            require_allowed_networks: true,
            ..AccountPolicy::default()
        };
        let terms = |days: Option<i64>, has_networks| KeyTerms {
            lifetime: days.map(Duration::days),
            has_networks,
        };
        assert_eq!(
            policy.breach(terms(Some(730), true)),
            Some(Breach::Lifetime(90))
        );
        assert_eq!(policy.breach(terms(None, true)), Some(Breach::Lifetime(90)));
        assert_eq!(
            policy.breach(terms(Some(30), false)),
            Some(Breach::NoNetworks)
        );
        assert_eq!(policy.breach(terms(Some(30), true)), None);
        assert_eq!(Breach::Lifetime(90).describe(), "lifetime over 90 days");
        assert_eq!(AccountPolicy::default().breach(terms(None, false)), None);
    }

    #[test]
    fn approval_applies_to_what_is_asked() {
        let policy = AccountPolicy {
            approval_modules: ModuleSet::of([Module::ALL, Module::PRICING]),
            ..AccountPolicy::default()
        };
        assert_eq!(
            policy.needing_approval(&ModuleSet::of([Module::AGREEMENTS])),
            ModuleSet::default()
        );
        assert_eq!(
            policy.needing_approval(&ModuleSet::of([Module::PRICING, Module::AGREEMENTS])),
            ModuleSet::of([Module::PRICING])
        );
        assert!(!policy.needing_approval(&ModuleSet::all()).is_empty());
        let pricing_only = AccountPolicy {
            approval_modules: ModuleSet::of([Module::PRICING]),
            ..AccountPolicy::default()
        };
        assert!(
            !pricing_only.needing_approval(&ModuleSet::all()).is_empty(),
            "All reaches Pricing too"
        );
    }

    #[test]
    fn the_form_reads_and_refuses() {
        let input = PolicyInput {
            max_lifetime_days: " 90 ".into(),
            require_expiry: true,
            approval_modules: vec!["MD-0000".into()],
            require_allowed_networks: false,
            default_rate_limit: "600".into(),
            require_2fa: true,
        };
        let policy = input.parse().unwrap();
        assert_eq!(policy.max_lifetime_days, Some(90));
        assert_eq!(PolicyInput::of(&policy).parse(), Ok(policy.clone()));
        assert_eq!(
            summary(&policy),
            "max lifetime: 90 days; expiry required: yes; approval for: MD-0000; allowed networks required: no; default rate limit: 600/min; second factor required: yes"
        );
        let bad = PolicyInput {
            max_lifetime_days: "0".into(),
            approval_modules: vec!["MD-9".into()],
            default_rate_limit: "lots".into(),
            ..PolicyInput::default()
        };
        let errors = bad.parse().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "approval_modules",
                "default_rate_limit",
                "max_lifetime_days"
            ]
        );
    }
}
