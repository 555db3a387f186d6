//! A token's life-cycle status as people see it.

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

    /// As `as_str` writes it; anything else is not a status.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Active, Self::Inactive]
            .into_iter()
            .find(|status| status.as_str() == value)
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

/// What is shown and enforced: an active token past its expiration date is expired; one whose
/// creation waits for an admin's approval is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Inactive,
    Expired,
    Pending,
}

impl TokenStatus {
    pub const ALL: [Self; 4] = [Self::Active, Self::Inactive, Self::Expired, Self::Pending];

    pub fn of(stored: StoredStatus, expires_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Self {
        match stored {
            StoredStatus::Inactive => Self::Inactive,
            StoredStatus::Active if expires_at.is_some_and(|at| at <= now) => Self::Expired,
            StoredStatus::Active => Self::Active,
        }
    }

    /// As `of`, for a token whose creation may still wait for approval.
    pub fn of_token(
        stored: StoredStatus,
        awaiting_approval: bool,
        expires_at: Option<NaiveDateTime>,
        now: NaiveDateTime,
    ) -> Self {
        if awaiting_approval {
            Self::Pending
        } else {
            Self::of(stored, expires_at, now)
        }
    }

    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Expired => "expired",
            Self::Pending => "pending",
        }
    }

    /// The UI's word for it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Disabled",
            Self::Expired => "Expired",
            Self::Pending => "Pending",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "expired" => Some(Self::Expired),
            "pending" => Some(Self::Pending),
            _ => None,
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
    fn labels() {
        assert_eq!(TokenStatus::Inactive.label(), "Disabled");
        assert_eq!(TokenStatus::parse("expired"), Some(TokenStatus::Expired));
        assert_eq!(TokenStatus::parse("disabled"), None);
    }
}
