//! Changing the team: adding a user, changing a role, deactivating and activating, setting a
//! password. An account always keeps at least one active admin.

use super::ServiceError;
use super::tokens;
use crate::db::accounts::Account;
use crate::db::events::NewEvent;
use crate::db::pool::token_changed;
use crate::db::pool::write_transaction;
use crate::db::tokens::Token;
use crate::db::users::{NewUserRow, User, UserChanges, end_sessions};
use crate::db::{DbConnection, DbError};
use crate::domain::access::{Actor, Requester};
use crate::domain::event::EventKind;
use crate::domain::ids::{AccountId, UserId};
use crate::domain::text::{AccountName, PersonName};
use crate::domain::token::StoredStatus;
use crate::domain::user::{Email, Role};
use chrono::NaiveDateTime;

/// Why a change to the team was refused.
pub const LAST_ADMIN: &str = "An account keeps at least one active admin: make another user an \
    admin first.";

/// A user to add.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a PersonName,
    pub role: Role,
    pub password_hash: &'a str,
}

/// Adds a user to the requester's account, recorded as an event; a taken e-mail is `Conflict`.
pub fn add(
    conn: &mut DbConnection,
    by: &Requester,
    new: &NewUser<'_>,
) -> Result<User, ServiceError> {
    write_transaction(conn, |conn| {
        let user = insert(conn, &by.account_id, new, by.at)?;
        record(
            conn,
            by,
            EventKind::UserAdded,
            &user.id,
            Some(user.role.as_str()),
        )?;
        Ok(user)
    })
}

/// A user of the named account, which is made when it does not exist (the command line, the
/// first start), at `at`.
pub fn add_to_account(
    conn: &mut DbConnection,
    account: &AccountName,
    new: &NewUser<'_>,
    at: NaiveDateTime,
) -> Result<User, ServiceError> {
    write_transaction(conn, |conn| {
        let account = Account::find_or_insert(conn, account, at)?;
        insert(conn, &account.id, new, at)
    })
}

/// Inserts the user, retrying the rare id collision. Each attempt runs in its own (nested)
/// transaction, so a failed one leaves the outer transaction usable.
fn insert(
    conn: &mut DbConnection,
    account_id: &AccountId,
    new: &NewUser<'_>,
    at: NaiveDateTime,
) -> Result<User, ServiceError> {
    // Only this account's users are looked at: whether another account has the e-mail is
    // never told (it may have it too).
    let taken = || ServiceError::Conflict(format!("a user with the e-mail {} exists", new.email));
    for _ in 0..5 {
        if User::email_taken(conn, account_id, new.email)? {
            return Err(taken());
        }
        let id = UserId::generate();
        let row = NewUserRow {
            id: id.as_str(),
            account_id: account_id.as_str(),
            email: new.email.as_str(),
            name: new.name.as_str(),
            role: new.role.as_str(),
            password_hash: new.password_hash,
            created_at: at,
        };
        match write_transaction(conn, |conn| User::insert(conn, &row)) {
            Ok(()) => return Ok(User::find(conn, account_id, &id)?),
            // Either the id or the e-mail was taken meanwhile; the next round tells which.
            Err(DbError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ServiceError::Conflict(
        "could not find a free user id".into(),
    ))
}

/// What becomes of a user's live tokens when they are deactivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// They stay as they are: they keep working, but their keys may no longer make or change
    /// any token (their owner is gone).
    Keep,
    /// Every active one is disabled, each with its event.
    Disable,
    /// Every one is handed to this active user of the account, each with its event.
    Transfer(UserId),
}

/// Why the tokens of a user being deactivated are disabled.
pub const OWNER_DEACTIVATED: &str = "its owner was deactivated";

/// Changes the role of a user of the requester's account; demoting the last active admin is
/// refused.
pub fn set_role(
    conn: &mut DbConnection,
    by: &Requester,
    id: &UserId,
    role: Role,
) -> Result<User, ServiceError> {
    write_transaction(conn, |conn| {
        User::lock_admins(conn, &by.account_id)?;
        let mut user = User::find(conn, &by.account_id, id)?;
        if user.role == role {
            return Ok(user);
        }
        if user.role == Role::Admin && user.active {
            ensure_another_admin(conn, &by.account_id, id)?;
        }
        let changes = UserChanges {
            role: Some(role.as_str()),
            ..UserChanges::default()
        };
        User::change(conn, &by.account_id, id, &changes)?;
        keys_changed(conn, &by.account_id, id)?;
        let change = format!("{} → {}", user.role.as_str(), role.as_str());
        record(conn, by, EventKind::UserRoleChanged, id, Some(&change))?;
        user.role = role;
        Ok(user)
    })
}

/// Activates a user of the requester's account again.
pub fn activate(
    conn: &mut DbConnection,
    by: &Requester,
    id: &UserId,
) -> Result<User, ServiceError> {
    set_active(conn, by, id, true)
}

/// Deactivates a user of the requester's account, ending every session at once, and does with
/// their live tokens what `handover` says; deactivating the last active admin is refused, and so
/// is handing tokens to someone who is not an active user of the account.
pub fn deactivate(
    conn: &mut DbConnection,
    by: &Requester,
    id: &UserId,
    handover: &Handover,
) -> Result<User, ServiceError> {
    write_transaction(conn, |conn| {
        let user = set_active(conn, by, id, false)?;
        let owned = Token::owned_by(conn, &by.account_id, id)?;
        match handover {
            Handover::Keep => {}
            Handover::Disable => {
                for token in owned
                    .iter()
                    .filter(|t| t.stored_status == StoredStatus::Active)
                {
                    let reason = Some(OWNER_DEACTIVATED);
                    tokens::set_status(conn, by, &token.id, StoredStatus::Inactive, reason)?;
                }
            }
            Handover::Transfer(to) => {
                let heir = User::find(conn, &by.account_id, to)
                    .ok()
                    .filter(|heir| heir.active && heir.id != *id)
                    .ok_or_else(|| {
                        ServiceError::Refused(
                            "Tokens can be handed only to another active user of the account."
                                .to_owned(),
                        )
                    })?;
                for token in &owned {
                    tokens::hand_over(conn, by, &token.id, &heir.actor())?;
                }
            }
        }
        Ok(user)
    })
}

/// Deactivates (ending every session at once) or activates a user of the requester's account;
/// deactivating the last active admin is refused.
fn set_active(
    conn: &mut DbConnection,
    by: &Requester,
    id: &UserId,
    active: bool,
) -> Result<User, ServiceError> {
    write_transaction(conn, |conn| {
        User::lock_admins(conn, &by.account_id)?;
        let mut user = User::find(conn, &by.account_id, id)?;
        if user.active == active {
            return Ok(user);
        }
        if !active && user.role == Role::Admin {
            ensure_another_admin(conn, &by.account_id, id)?;
        }
        let changes = UserChanges {
            active: Some(active),
            ..UserChanges::default()
        };
        User::change(conn, &by.account_id, id, &changes)?;
        keys_changed(conn, &by.account_id, id)?;
        if !active {
            end_sessions(conn, id, None)?;
        }
        let kind = if active {
            EventKind::UserActivated
        } else {
            EventKind::UserDeactivated
        };
        record(conn, by, kind, id, None)?;
        user.active = active;
        Ok(user)
    })
}

/// Sets a new password hash and ends the user's sessions but `keep` (the one changing it).
pub fn set_password(
    conn: &mut DbConnection,
    by: &Requester,
    id: &UserId,
    password_hash: &str,
    keep: Option<&str>,
) -> Result<(), ServiceError> {
    write_transaction(conn, |conn| {
        let changes = UserChanges {
            password_hash: Some(password_hash),
            ..UserChanges::default()
        };
        User::change(conn, &by.account_id, id, &changes)?;
        end_sessions(conn, id, keep)?;
        record(conn, by, EventKind::UserPasswordChanged, id, None)?;
        Ok(())
    })
}

/// What the keys of the user's tokens may do depends on the user's standing (role, active):
/// each is forgotten by the key cache when the change commits (other instances hear of it from
/// the `users` trigger).
fn keys_changed(
    conn: &mut DbConnection,
    account_id: &AccountId,
    user: &UserId,
) -> Result<(), DbError> {
    for token in Token::owned_by(conn, account_id, user)? {
        token_changed(conn, &token.id);
    }
    Ok(())
}

/// Refuses to leave the account without an active admin once `leaving` is no longer one.
fn ensure_another_admin(
    conn: &mut DbConnection,
    account_id: &AccountId,
    leaving: &UserId,
) -> Result<(), ServiceError> {
    if User::other_active_admins(conn, account_id, leaving)? == 0 {
        Err(ServiceError::Refused(LAST_ADMIN.to_owned()))
    } else {
        Ok(())
    }
}

/// A sign-in as `user` that failed, by someone not signed in; `detail` says with what (the
/// e-mail typed, and which step failed).
pub fn sign_in_failed(
    conn: &mut DbConnection,
    account_id: &AccountId,
    user: &UserId,
    detail: &str,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    NewEvent {
        account_id,
        kind: EventKind::UserSignInFailed,
        actor: &Actor::unknown(),
        user_id: Some(user),
        detail: Some(detail),
        client_ip,
        at,
    }
    .record(conn)
}

/// An event about user `user`, made by `by` (what the users, two-factor and passkey services
/// record alike).
pub(super) fn record(
    conn: &mut DbConnection,
    by: &Requester,
    kind: EventKind,
    user: &UserId,
    detail: Option<&str>,
) -> Result<(), DbError> {
    NewEvent {
        account_id: &by.account_id,
        kind,
        actor: &by.actor,
        user_id: Some(user),
        detail,
        client_ip: by.client_ip.as_deref(),
        at: by.at,
    }
    .record(conn)
}
