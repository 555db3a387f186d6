//! Least-privilege advice, as AWS IAM's "last accessed" gives it for roles: which of the modules a
//! token holds it has not used for a while, and what it could hold instead.
//!
//! The rule, with the same convention as the review's `stale=N` ("not used for N days" is a last
//! use at or before `now − N days`):
//! - a token is judged once it is at least 30 days old: created at or before `now − 30 days`;
//! - a module it holds is *unused* when its last use is at or before `now − 90 days`, or there is
//!   none; a token holding All holds every module;
//! - a token judged with unused modules is *overgranted*: take away the unused modules, or, for a
//!   holder of All, replace All by the modules it used.

use super::module::{MODULES, Module, ModuleSet};
use chrono::{Duration, NaiveDateTime};
use std::collections::HashMap;

/// How old a token must be before its use says anything.
pub const MIN_AGE_DAYS: i64 = 30;
/// A module not used for this many days is unused.
pub const UNUSED_DAYS: i64 = 90;

/// When a token last used each module it used (modules never used are absent).
pub type LastUses = HashMap<Module, NaiveDateTime>;

/// Tokens created at or before this are old enough to judge at `now`.
pub fn judged_if_created_by(now: NaiveDateTime) -> NaiveDateTime {
    now - Duration::days(MIN_AGE_DAYS)
}

/// A module last used at or before this (or never) is unused at `now`.
pub fn unused_if_last_used_by(now: NaiveDateTime) -> NaiveDateTime {
    now - Duration::days(UNUSED_DAYS)
}

/// Whether a module last used at `last_use` is unused at `now`.
pub fn is_unused(last_use: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    last_use.is_none_or(|at| at <= unused_if_last_used_by(now))
}

/// The modules a token holding `held` reaches one by one: every module for All.
pub fn reached(held: &ModuleSet) -> Vec<Module> {
    MODULES
        .iter()
        .copied()
        .filter(|m| !m.is_all() && (held.has_all() || held.contains(*m)))
        .collect()
}

/// What the rule says of one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// Younger than `MIN_AGE_DAYS`: too early to tell.
    TooEarly,
    /// It used every module it holds in the last `UNUSED_DAYS` days.
    AllUsed,
    /// It holds modules it has not used for `UNUSED_DAYS` days, or ever.
    Overgranted {
        /// Whether it holds All (then `unused` and `used` together are every module).
        holds_all: bool,
        unused: Vec<Module>,
        /// The modules it holds and used, in the platform's order.
        used: Vec<Module>,
    },
}

impl Advice {
    pub fn of(
        created_at: NaiveDateTime,
        held: &ModuleSet,
        last_uses: &LastUses,
        now: NaiveDateTime,
    ) -> Self {
        if created_at > judged_if_created_by(now) {
            return Self::TooEarly;
        }
        let (unused, used): (Vec<Module>, Vec<Module>) = reached(held)
            .into_iter()
            .partition(|m| is_unused(last_uses.get(m).copied(), now));
        if unused.is_empty() {
            Self::AllUsed
        } else {
            Self::Overgranted {
                holds_all: held.has_all(),
                unused,
                used,
            }
        }
    }

    /// How many modules it holds without using them; `None` while too early to tell.
    pub fn unused_count(&self) -> Option<usize> {
        match self {
            Self::TooEarly => None,
            Self::AllUsed => Some(0),
            Self::Overgranted { unused, .. } => Some(unused.len()),
        }
    }

    /// What the token would hold after taking the advice, when there is advice: what it holds
    /// less the unused modules, or for a holder of All the modules it used instead of All. It
    /// may be empty (nothing used), which no extension lets a token hold: whether it may be the
    /// token's is for `Extension::modules_for` to say.
    pub fn narrowed(&self, held: &ModuleSet) -> Option<ModuleSet> {
        match self {
            Self::TooEarly | Self::AllUsed => None,
            Self::Overgranted {
                holds_all: true,
                used,
                ..
            } => Some(ModuleSet::of(used.iter().copied())),
            Self::Overgranted { unused, .. } => {
                Some(held.without(&ModuleSet::of(unused.iter().copied())))
            }
        }
    }
}

/// What a person confirmed of the advice: the modules the token keeps, and those it loses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowing {
    pub keep: ModuleSet,
    pub remove: ModuleSet,
}

impl Narrowing {
    /// What taking `advice` does to a token holding `held`, when there is advice.
    pub fn of(advice: &Advice, held: &ModuleSet) -> Option<Self> {
        let keep = advice.narrowed(held)?;
        Some(Self {
            remove: held.without(&keep),
            keep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 6, 1)
            .unwrap()
            .and_hms_micro_opt(12, 0, 0, 500)
            .unwrap()
    }

    fn set(ids: &[&str]) -> ModuleSet {
        ModuleSet::parse(ids.iter().copied()).unwrap()
    }

    fn days(n: i64) -> Duration {
        Duration::days(n)
    }

    #[test]
    fn judged_from_exactly_thirty_days_old() {
        let held = set(&["MD-0001"]);
        let none = LastUses::new();
        let cases = [
            (days(30), true),
            (days(30) + Duration::microseconds(1), true),
            (days(30) - Duration::microseconds(1), false),
            (days(29) + Duration::hours(23), false),
            (Duration::zero(), false),
        ];
        for (age, judged) in cases {
            let advice = Advice::of(now() - age, &held, &none, now());
            assert_eq!(advice != Advice::TooEarly, judged, "{age}");
        }
    }

    #[test]
    fn unused_from_exactly_ninety_days_without_use() {
        let cases = [
            (None, true),
            (Some(days(90)), true),
            (Some(days(90) + Duration::seconds(1)), true),
            (Some(days(90) - Duration::microseconds(1)), false),
            (Some(days(90) - Duration::seconds(1)), false),
            (Some(Duration::zero()), false),
        ];
        for (ago, unused) in cases {
            assert_eq!(is_unused(ago.map(|d| now() - d), now()), unused, "{ago:?}");
        }
    }

    #[test]
    fn a_token_with_unused_modules_is_told_to_remove_them() {
        let held = set(&["MD-0001", "MD-0002", "MD-0007"]);
        let uses = LastUses::from([
            (Module::AGREEMENTS, now() - days(3)),
            (Module::ACCOUNT, now() - days(90)),
            // Use of a module it does not hold says nothing of what it holds.
            (Module::LEADS, now() - days(1)),
        ]);
        let advice = Advice::of(now() - days(365), &held, &uses, now());
        assert_eq!(
            advice,
            Advice::Overgranted {
                holds_all: false,
                unused: vec![Module::ACCOUNT, Module::INTEGRATIONS],
                used: vec![Module::AGREEMENTS],
            }
        );
        assert_eq!(advice.unused_count(), Some(2));
        assert_eq!(advice.narrowed(&held), Some(set(&["MD-0002"])));
    }

    #[test]
    fn a_token_using_all_it_holds_is_left_alone() {
        let held = set(&["MD-0002"]);
        let uses = LastUses::from([(Module::AGREEMENTS, now() - days(89))]);
        let advice = Advice::of(now() - days(400), &held, &uses, now());
        assert_eq!(advice, Advice::AllUsed);
        assert_eq!(advice.unused_count(), Some(0));
        assert_eq!(advice.narrowed(&held), None);
        let young = Advice::of(now() - days(29), &set(&["MD-0001"]), &uses, now());
        assert_eq!(young.unused_count(), None);
        assert_eq!(young.narrowed(&held), None);
    }

    #[test]
    fn all_is_every_module_and_is_replaced_by_those_used() {
        let all = ModuleSet::all();
        let uses = LastUses::from([
            (Module::AGREEMENTS, now() - days(10)),
            (Module::INTEGRATIONS, now() - days(89)),
            (Module::PRODUCTS, now() - days(91)),
        ]);
        let advice = Advice::of(now() - days(100), &all, &uses, now());
        let Advice::Overgranted {
            holds_all: true,
            unused,
            used,
        } = &advice
        else {
            panic!("{advice:?}");
        };
        assert_eq!(used, &[Module::AGREEMENTS, Module::INTEGRATIONS]);
        assert_eq!(unused.len(), MODULES.len() - 3);
        assert!(unused.contains(&Module::PRODUCTS));
        assert_eq!(advice.narrowed(&all), Some(set(&["MD-0002", "MD-0007"])));

        // All with a module of its own besides: that one goes too when unused.
        let both = set(&["MD-0000", "MD-0010"]);
        let advice = Advice::of(now() - days(100), &both, &uses, now());
        assert_eq!(advice.unused_count(), Some(MODULES.len() - 3));
        assert_eq!(advice.narrowed(&both), Some(set(&["MD-0002", "MD-0007"])));

        // Every module used: nothing to say.
        let everything: LastUses = MODULES[1..].iter().map(|m| (*m, now())).collect();
        assert_eq!(
            Advice::of(now() - days(100), &all, &everything, now()),
            Advice::AllUsed
        );
    }

    #[test]
    fn nothing_used_leaves_nothing_to_hold() {
        let never = LastUses::new();
        let held = set(&["MD-0001", "MD-0002"]);
        let advice = Advice::of(now() - days(30), &held, &never, now());
        assert_eq!(advice.unused_count(), Some(2));
        assert_eq!(advice.narrowed(&held), Some(ModuleSet::default()));
        let all = Advice::of(now() - days(30), &ModuleSet::all(), &never, now());
        assert_eq!(all.unused_count(), Some(MODULES.len() - 1));
        assert_eq!(all.narrowed(&ModuleSet::all()), Some(ModuleSet::default()));
    }
}
