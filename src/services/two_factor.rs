//! Second factors: setting up an authenticator app (with a fresh set of recovery codes),
//! removing it, an admin's reset, and checking a code at sign-in or for a sensitive action.
//! Every change is an event. A code is taken once: the step of an app's code, a recovery code.

use super::ServiceError;
use super::users::record;
use crate::db::accounts::Account;
use crate::db::passkeys;
use crate::db::pool::write_transaction;
use crate::db::two_factor as stored;
use crate::db::users::{User, end_sessions};
use crate::db::{DbConnection, DbError};
use crate::domain::access::Requester;
use crate::domain::event::EventKind;
use crate::domain::ids::UserId;
use crate::domain::secret_box::MasterKey;
use crate::domain::two_factor::{
    RecoveryCode, SecondFactorCode, SignInMethod, TotpCode, TotpSecret,
};

/// Whether the user has a second factor: an authenticator app or a passkey. The one place that
/// says so: the sign-in's second step, the policy's `require_2fa`, the users list, sudo mode and
/// the recovery codes all ask here.
pub fn has_second_factor(conn: &mut DbConnection, user_id: &UserId) -> Result<bool, DbError> {
    Ok(stored::has_totp(conn, user_id)? || passkeys::has_any(conn, user_id)?)
}

/// Where a user of `account` stands with the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The user has an authenticator app or a passkey: signing in asks for it.
    pub has_one: bool,
    /// The user has none, and the account's policy (`require_2fa`) wants one: nothing but the
    /// Security page (and help, and signing out) opens until they add it.
    pub must_enrol: bool,
}

pub fn standing(
    conn: &mut DbConnection,
    user_id: &UserId,
    account: &Account,
) -> Result<Standing, DbError> {
    let has_one = has_second_factor(conn, user_id)?;
    Ok(Standing {
        has_one,
        must_enrol: !has_one && account.policy.require_2fa,
    })
}

/// Recovery codes for a user who has just added a second factor (an app or a passkey): made
/// when it is their first (`had_second_factor` false), to be shown once; otherwise `None`, and
/// the codes they kept go on working.
pub fn codes_for_added_factor(
    conn: &mut DbConnection,
    master_key: &MasterKey,
    user_id: &UserId,
    had_second_factor: bool,
    at: chrono::NaiveDateTime,
) -> Result<Option<Vec<RecoveryCode>>, DbError> {
    if had_second_factor {
        return Ok(None);
    }
    new_recovery_codes(conn, master_key, user_id, at).map(Some)
}

/// After a second factor was removed: the recovery codes go too when none is left (they are a
/// way around a factor, not one of their own). Whether a factor is left.
pub fn after_factor_removed(conn: &mut DbConnection, user_id: &UserId) -> Result<bool, DbError> {
    let left = has_second_factor(conn, user_id)?;
    if !left {
        stored::remove_recovery_codes(conn, user_id)?;
    }
    Ok(left)
}

/// What the Security page shows of a user's second factors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factors {
    pub totp_enabled_at: Option<chrono::NaiveDateTime>,
    pub has_passkey: bool,
    pub recovery_codes_left: i64,
}

pub fn factors(conn: &mut DbConnection, user_id: &UserId) -> Result<Factors, DbError> {
    Ok(Factors {
        totp_enabled_at: stored::totp_of(conn, user_id)?.map(|t| t.enabled_at),
        has_passkey: passkeys::has_any(conn, user_id)?,
        recovery_codes_left: stored::recovery_codes_left(conn, user_id)?,
    })
}

/// What the sealed secret is bound to: its user (a ciphertext copied onto another's row does
/// not open).
fn totp_context(user_id: &UserId) -> String {
    format!("totp:{user_id}")
}

fn recovery_digest(master_key: &MasterKey, user_id: &UserId, code: &RecoveryCode) -> String {
    master_key.keyed_digest(
        b"recovery code",
        format!("{user_id}:{}", code.as_str()).as_bytes(),
    )
}

/// Makes a fresh set of recovery codes for the user, replacing the old ones: the codes, to show
/// once.
fn new_recovery_codes(
    conn: &mut DbConnection,
    master_key: &MasterKey,
    user_id: &UserId,
    at: chrono::NaiveDateTime,
) -> Result<Vec<RecoveryCode>, DbError> {
    let codes = RecoveryCode::generate_set();
    let digests: Vec<String> = codes
        .iter()
        .map(|code| recovery_digest(master_key, user_id, code))
        .collect();
    stored::set_recovery_codes(conn, user_id, &digests, at)?;
    Ok(codes)
}

/// The message beside the code field when the app's code does not match.
pub const WRONG_CODE: &str = "This code is not right, or was used already. Check your \
    authenticator app's clock, and enter the code it shows now.";

/// Sets up the requester's authenticator app once a code from it matches `secret`; when it is
/// their first second factor, with a fresh set of recovery codes (returned, to be shown once).
pub fn enable_totp(
    conn: &mut DbConnection,
    by: &Requester,
    user_id: &UserId,
    master_key: &MasterKey,
    secret: &TotpSecret,
    code: &TotpCode,
) -> Result<Option<Vec<RecoveryCode>>, ServiceError> {
    let step = secret
        .matching_step(code, by.at, 0)
        .ok_or_else(|| ServiceError::Invalid {
            field: "code",
            message: WRONG_CODE.to_owned(),
        })?;
    let sealed = master_key.seal_bytes(totp_context(user_id).as_bytes(), secret.expose());
    write_transaction(conn, |conn| {
        // One app at a time: a second enrolment (a page left open in another tab) would replace
        // the first without a word.
        if stored::has_totp(conn, user_id)? {
            return Err(ServiceError::Invalid {
                field: "code",
                message: "An authenticator app is already on: remove it first to set up \
                          another."
                    .to_owned(),
            });
        }
        let had_second_factor = has_second_factor(conn, user_id)?;
        stored::set_totp(conn, user_id, &sealed, step, by.at)?;
        let codes = codes_for_added_factor(conn, master_key, user_id, had_second_factor, by.at)?;
        record(conn, by, EventKind::User2faEnabled, user_id, None)?;
        Ok(codes)
    })
}

/// Removes the requester's authenticator app (they proved who they are first); the recovery
/// codes go too when no second factor is left. `None` when there was none, else whether a
/// second factor (a passkey) is left.
pub fn disable_totp(
    conn: &mut DbConnection,
    by: &Requester,
    user_id: &UserId,
) -> Result<Option<bool>, ServiceError> {
    write_transaction(conn, |conn| {
        if !stored::remove_totp(conn, user_id)? {
            return Ok(None);
        }
        let left = after_factor_removed(conn, user_id)?;
        record(conn, by, EventKind::User2faDisabled, user_id, None)?;
        Ok(Some(left))
    })
}

/// A new set of recovery codes for a user who has a second factor; the old ones stop working.
pub fn regenerate_recovery_codes(
    conn: &mut DbConnection,
    user_id: &UserId,
    master_key: &MasterKey,
    at: chrono::NaiveDateTime,
) -> Result<Vec<RecoveryCode>, ServiceError> {
    write_transaction(conn, |conn| {
        if !has_second_factor(conn, user_id)? {
            return Err(ServiceError::Refused(
                "Recovery codes come with a second factor: set one up first.".to_owned(),
            ));
        }
        Ok(new_recovery_codes(conn, master_key, user_id, at)?)
    })
}

/// An admin removes every second factor of a user of their account (a lost phone or security
/// key): their authenticator app, passkeys and recovery codes; and ends the user's sessions:
/// they sign in with their password and set one up again.
pub fn reset(conn: &mut DbConnection, by: &Requester, id: &UserId) -> Result<User, ServiceError> {
    if !by.reach.is_admin() {
        return Err(ServiceError::Forbidden(
            "Only an admin resets another user's second factor.".into(),
        ));
    }
    write_transaction(conn, |conn| {
        let user = User::find(conn, &by.account_id, id)?;
        stored::remove_totp(conn, id)?;
        passkeys::delete_all_of(conn, id)?;
        stored::remove_recovery_codes(conn, id)?;
        end_sessions(conn, id, None)?;
        record(conn, by, EventKind::User2faReset, id, None)?;
        Ok(user)
    })
}

/// What a right code proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Totp,
    /// A recovery code, now used; how many are left.
    RecoveryCode {
        left: i64,
    },
}

impl Proof {
    /// How a sign-in that proved the password and then this is recorded.
    pub fn sign_in_method(self) -> SignInMethod {
        match self {
            Self::Totp => SignInMethod::PasswordTotp,
            Self::RecoveryCode { .. } => SignInMethod::PasswordRecoveryCode,
        }
    }
}

/// Checks a code of the user's: their app's (of a step not used yet) or one of their unused
/// recovery codes, which is then used up (`user.recovery_code_used`). `None`: not right.
pub fn check_code(
    conn: &mut DbConnection,
    by: &Requester,
    user_id: &UserId,
    master_key: &MasterKey,
    code: &SecondFactorCode,
) -> Result<Option<Proof>, ServiceError> {
    match code {
        SecondFactorCode::Totp(code) => {
            let Some(totp) = stored::totp_of(conn, user_id)? else {
                return Ok(None);
            };
            let secret = master_key
                .open_bytes(totp_context(user_id).as_bytes(), &totp.secret_ciphertext)
                .map_err(|e| DbError::Corrupt(format!("the TOTP secret of {user_id}: {e}")))?;
            let secret = TotpSecret::from_bytes(secret);
            let Some(step) = secret.matching_step(code, by.at, totp.last_used_step) else {
                return Ok(None);
            };
            Ok(stored::take_step(conn, user_id, step)?.then_some(Proof::Totp))
        }
        SecondFactorCode::Recovery(code) => {
            let digest = recovery_digest(master_key, user_id, code);
            write_transaction(conn, |conn| {
                if !stored::use_recovery_code(conn, user_id, &digest, by.at)? {
                    return Ok(None);
                }
                let left = stored::recovery_codes_left(conn, user_id)?;
                let detail = format!("{left} left");
                record(
                    conn,
                    by,
                    EventKind::UserRecoveryCodeUsed,
                    user_id,
                    Some(&detail),
                )?;
                Ok(Some(Proof::RecoveryCode { left }))
            })
        }
    }
}
