//! A token's life-cycle status as people see it.

use super::access::Person;
use super::ids::{AccountId, TokenId, UserId};
use super::module::ModuleSet;
use chrono::NaiveDateTime;

/// What is stored: a token is switched on or off by people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    Active,
    Inactive,
}

impl StoredStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    pub fn from_stored(value: &str) -> Self {
        if value == "active" {
            Self::Active
        } else {
            Self::Inactive
        }
    }
}

/// What can be done to several tokens at once (and to one from its menu).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAction {
    Disable,
    Enable,
    Delete,
}

impl TokenAction {
    pub const ALL: [Self; 3] = [Self::Disable, Self::Enable, Self::Delete];

    /// As a form sends it: `disable`, `enable`, `delete`.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_param() == value)
    }

    pub fn as_param(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Delete => "delete",
        }
    }

    /// "Disable", as a button says it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Disable => "Disable",
            Self::Enable => "Enable",
            Self::Delete => "Delete",
        }
    }

    /// "disabled", as a message says it.
    pub fn done(self) -> &'static str {
        match self {
            Self::Disable => "disabled",
            Self::Enable => "enabled",
            Self::Delete => "deleted",
        }
    }

    /// Whether a token in use should be warned about before this is done to it.
    pub fn stops_keys(self) -> bool {
        self != Self::Enable
    }
}

/// What is shown and enforced: an active token past its expiration date is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Inactive,
    Expired,
}

impl TokenStatus {
    pub fn of(stored: StoredStatus, expires_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Self {
        match stored {
            StoredStatus::Inactive => Self::Inactive,
            StoredStatus::Active if expires_at.is_some_and(|at| at <= now) => Self::Expired,
            StoredStatus::Active => Self::Active,
        }
    }

    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Expired => "expired",
        }
    }

    /// The UI's word for it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Disabled",
            Self::Expired => "Expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Who did something: a signed-in user, or a token acting through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

impl Actor {
    pub fn user(id: &UserId, name: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_owned(),
        }
    }

    pub fn token(id: &TokenId, name: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_owned(),
        }
    }
}

/// Who asks for a change, for which account, and from where: what every change checks and
/// records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub account_id: AccountId,
    pub actor: Actor,
    pub client_ip: Option<String>,
    pub reach: Reach,
}

/// Which of the account's tokens a requester may manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A person of the account, as their role allows (see `access`).
    Person(Person),
    /// An API key: a token must not reach, through the tokens it manages, what it cannot reach
    /// itself; so it manages only tokens holding nothing it lacks, and grants only what it holds.
    Modules(ModuleSet),
}

impl Reach {
    /// Whether an existing token, made by `creator` and holding `modules`, may be managed; if
    /// not, why.
    pub fn may_manage(&self, creator: &Actor, modules: &ModuleSet) -> Result<(), String> {
        match self {
            Self::Person(person) => person.may_manage_token(creator),
            Self::Modules(_) => self.covers(modules),
        }
    }

    /// Whether a token holding (or about to hold) `modules` is within reach; if not, why.
    pub fn covers(&self, modules: &ModuleSet) -> Result<(), String> {
        let Self::Modules(held) = self else {
            return Ok(());
        };
        let lacking: Vec<&str> = held.lacking(modules).map(|m| m.id).collect();
        if lacking.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "This key does not hold {}: it can neither grant that nor manage a token that \
                 holds it.",
                lacking.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn expiry_turns_active_into_expired() {
        let now = Utc::now().naive_utc();
        let past = Some(now - Duration::seconds(1));
        let future = Some(now + Duration::days(1));
        let cases = [
            (StoredStatus::Active, None, TokenStatus::Active),
            (StoredStatus::Active, future, TokenStatus::Active),
            (StoredStatus::Active, past, TokenStatus::Expired),
            (StoredStatus::Active, Some(now), TokenStatus::Expired),
            (StoredStatus::Inactive, past, TokenStatus::Inactive),
            (StoredStatus::Inactive, None, TokenStatus::Inactive),
        ];
        for (stored, expires, expected) in cases {
            assert_eq!(TokenStatus::of(stored, expires, now), expected);
        }
    }

    #[test]
    fn a_key_reaches_no_further_than_its_own_modules() {
        let key = Reach::Modules(ModuleSet::parse(["MD-0002", "MD-0007"]).unwrap());
        let within = ModuleSet::parse(["MD-0002"]).unwrap();
        assert_eq!(key.covers(&within), Ok(()));
        let beyond = ModuleSet::parse(["MD-0002", "MD-0001"]).unwrap();
        assert!(key.covers(&beyond).unwrap_err().contains("MD-0001"));
        assert!(
            key.covers(&ModuleSet::all())
                .unwrap_err()
                .contains("MD-0000")
        );
        assert_eq!(
            Reach::Modules(ModuleSet::all()).covers(&ModuleSet::all()),
            Ok(())
        );
    }

    #[test]
    fn labels() {
        assert_eq!(TokenStatus::Inactive.label(), "Disabled");
        assert_eq!(TokenStatus::parse("expired"), Some(TokenStatus::Expired));
        assert_eq!(TokenStatus::parse("disabled"), None);
    }
}
