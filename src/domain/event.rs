//! What happens in an account, as its activity log and each token's history record it.

/// Every kind of event, by the name the activity log and its filters use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    TokenCreated,
    TokenUpdated,
    TokenPermissionsChanged,
    TokenDisabled,
    TokenEnabled,
    TokenDeleted,
    TokenRevealed,
    TokenRotated,
    TokenRenewed,
    TokenTransferred,
    TokenApprovalRequested,
    TokenApproved,
    TokenDenied,
    AccountPolicyChanged,
    UserSignedIn,
    UserSignInFailed,
    UserAdded,
    UserRoleChanged,
    UserDeactivated,
    UserActivated,
    UserPasswordChanged,
    User2faEnabled,
    User2faDisabled,
    User2faReset,
    UserRecoveryCodeUsed,
    UserPasskeyAdded,
    UserPasskeyRemoved,
}

impl EventKind {
    pub const ALL: [EventKind; 27] = [
        Self::TokenCreated,
        Self::TokenUpdated,
        Self::TokenPermissionsChanged,
        Self::TokenDisabled,
        Self::TokenEnabled,
        Self::TokenDeleted,
        Self::TokenRevealed,
        Self::TokenRotated,
        Self::TokenRenewed,
        Self::TokenTransferred,
        Self::TokenApprovalRequested,
        Self::TokenApproved,
        Self::TokenDenied,
        Self::AccountPolicyChanged,
        Self::UserSignedIn,
        Self::UserSignInFailed,
        Self::UserAdded,
        Self::UserRoleChanged,
        Self::UserDeactivated,
        Self::UserActivated,
        Self::UserPasswordChanged,
        Self::User2faEnabled,
        Self::User2faDisabled,
        Self::User2faReset,
        Self::UserRecoveryCodeUsed,
        Self::UserPasskeyAdded,
        Self::UserPasskeyRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreated => "token.created",
            Self::TokenUpdated => "token.updated",
            Self::TokenPermissionsChanged => "token.permissions_changed",
            Self::TokenDisabled => "token.disabled",
            Self::TokenEnabled => "token.enabled",
            Self::TokenDeleted => "token.deleted",
            Self::TokenRevealed => "token.revealed",
            Self::TokenRotated => "token.rotated",
            Self::TokenRenewed => "token.renewed",
            Self::TokenTransferred => "token.transferred",
            Self::TokenApprovalRequested => "token.approval_requested",
            Self::TokenApproved => "token.approved",
            Self::TokenDenied => "token.denied",
            Self::AccountPolicyChanged => "account.policy_changed",
            Self::UserSignedIn => "user.signed_in",
            Self::UserSignInFailed => "user.sign_in_failed",
            Self::UserAdded => "user.added",
            Self::UserRoleChanged => "user.role_changed",
            Self::UserDeactivated => "user.deactivated",
            Self::UserActivated => "user.activated",
            Self::UserPasswordChanged => "user.password_changed",
            Self::User2faEnabled => "user.2fa_enabled",
            Self::User2faDisabled => "user.2fa_disabled",
            Self::User2faReset => "user.2fa_reset",
            Self::UserRecoveryCodeUsed => "user.recovery_code_used",
            Self::UserPasskeyAdded => "user.passkey_added",
            Self::UserPasskeyRemoved => "user.passkey_removed",
        }
    }

    /// What the pages say.
    pub fn label(self) -> &'static str {
        match self {
            Self::TokenCreated => "Created",
            Self::TokenUpdated => "Edited",
            Self::TokenPermissionsChanged => "Permissions changed",
            Self::TokenDisabled => "Disabled",
            Self::TokenEnabled => "Enabled",
            Self::TokenDeleted => "Deleted",
            Self::TokenRevealed => "Key revealed",
            Self::TokenRotated => "Key rotated",
            Self::TokenRenewed => "Key renewed",
            Self::TokenTransferred => "Handed over",
            Self::TokenApprovalRequested => "Approval requested",
            Self::TokenApproved => "Approved",
            Self::TokenDenied => "Denied",
            Self::AccountPolicyChanged => "Policy changed",
            Self::UserSignedIn => "Signed in",
            Self::UserSignInFailed => "Sign-in failed",
            Self::UserAdded => "User added",
            Self::UserRoleChanged => "Role changed",
            Self::UserDeactivated => "User deactivated",
            Self::UserActivated => "User activated",
            Self::UserPasswordChanged => "Password changed",
            Self::User2faEnabled => "Two-factor sign-in on",
            Self::User2faDisabled => "Two-factor sign-in off",
            Self::User2faReset => "Two-factor sign-in reset",
            Self::UserRecoveryCodeUsed => "Recovery code used",
            Self::UserPasskeyAdded => "Passkey added",
            Self::UserPasskeyRemoved => "Passkey removed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("token.exploded"), None);
        assert_eq!(EventKind::parse("created"), None);
    }
}
