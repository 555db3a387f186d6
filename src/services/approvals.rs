//! Approvals: what a member asks for that the account's policy puts under an admin's approval
//! (a new token, or more permissions for one) waits here until an admin approves or denies it.
//! Admins are told of each request; the member of each outcome.

use super::ServiceError;
use crate::db::approvals::{self, ApprovalRequest, Decision, RequestKind};
use crate::db::notifications::{self, NewNotification};
use crate::db::pool::{token_changed, write_transaction};
use crate::db::tokens::{Token, TokenChanges};
use crate::db::users::User;
use crate::db::{DbConnection, DbError, events};
use crate::domain::access::Requester;
use crate::domain::event::EventKind;
use crate::domain::ids::{AccountId, TokenId, UserId};
use crate::domain::module::ModuleSet;
use crate::domain::text::bounded;
use crate::domain::token::StoredStatus;
use crate::domain::user::Role;
use chrono::NaiveDateTime;

/// The longest reason a request may give.
pub const MAX_REASON_CHARS: usize = 500;

/// A reason as written (a request's, or an admin's note as `field`): trimmed, at most
/// `MAX_REASON_CHARS` characters, lines of characters that show; else why not.
pub fn checked_text(text: &str, field: &'static str) -> Result<String, ServiceError> {
    let label = if field == "note" { "Note" } else { "Reason" };
    bounded(text, label, false, MAX_REASON_CHARS, true).map_err(|e| ServiceError::Rule {
        field,
        message: e.to_string(),
    })
}

/// The reason given for a request that needs one (for the modules `needing` approval): as
/// `checked_text`, and not empty; else why not.
pub fn reason_for(reason: Option<&str>, needing: &ModuleSet) -> Result<String, ServiceError> {
    let reason = checked_text(reason.unwrap_or_default(), "reason")?;
    if reason.is_empty() {
        let one = needing.iter().count() == 1;
        return Err(ServiceError::Rule {
            field: "reason",
            message: format!(
                "{} {} an admin's approval: say why the token needs {}",
                needing.names(),
                if one { "needs" } else { "need" },
                if one { "it" } else { "them" }
            ),
        });
    }
    Ok(reason)
}

/// Records what `by` asks for token `token` (named `name`), with its event, and tells the
/// account's admins. Part of the caller's transaction.
pub fn ask(
    conn: &mut DbConnection,
    by: &Requester,
    token: (&TokenId, &str),
    kind: RequestKind,
    modules: &ModuleSet,
    reason: &str,
) -> Result<(), ServiceError> {
    let (id, name) = token;
    if approvals::open_for(conn, &by.account_id, id)?.is_some() {
        return Err(ServiceError::Refused(format!(
            "A request for “{name}” waits for an admin already: nothing more can be asked until \
             it is decided."
        )));
    }
    approvals::open(
        conn,
        &by.account_id,
        id,
        kind,
        modules,
        reason,
        &by.actor,
        by.at,
    )?;
    events::record_for_token(
        conn,
        id,
        EventKind::TokenApprovalRequested,
        by,
        Some(reason),
    )?;
    let what = match kind {
        RequestKind::Token => "a new token",
        RequestKind::Permissions => "more permissions for",
    };
    let message = format!(
        "{} asks for {what} “{name}” ({}): {reason}",
        by.actor.name,
        modules.names()
    );
    tell_admins(
        conn,
        &by.account_id,
        &format!("approval-requested:{id}:{}", by.at.and_utc().timestamp()),
        "approval_requested",
        Some(id),
        &message,
        by.at,
    )?;
    Ok(())
}

/// Tells every active admin of the account, once per `topic`.
pub fn tell_admins(
    conn: &mut DbConnection,
    account_id: &AccountId,
    topic: &str,
    kind: &str,
    token_id: Option<&TokenId>,
    message: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    for admin in User::list(conn, account_id)?
        .into_iter()
        .filter(|u| u.active && u.role == Role::Admin)
    {
        notifications::add(
            conn,
            &NewNotification {
                account_id,
                user_id: &admin.id,
                topic,
                kind,
                token_id,
                message,
                at,
            },
        )?;
    }
    Ok(())
}

/// The requests waiting in the account, oldest first; for an admin.
pub fn queue(
    conn: &mut DbConnection,
    by: &Requester,
) -> Result<Vec<ApprovalRequest>, ServiceError> {
    only_admins(by)?;
    Ok(approvals::queue(conn, &by.account_id)?)
}

fn only_admins(by: &Requester) -> Result<(), ServiceError> {
    if !by.reach.is_admin() {
        return Err(ServiceError::Forbidden(
            "Only an admin (or an admin's key) approves or denies requests.".into(),
        ));
    }
    Ok(())
}

/// Approves or denies what waits for token `id`, with the admin's `note`; the token's owner is
/// told. Approved, a new token's key works from the next request on, and more permissions are
/// granted; denied, a new token is disabled, and a change is not made.
pub fn decide(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    decision: Decision,
    note: &str,
) -> Result<Token, ServiceError> {
    only_admins(by)?;
    let note = checked_text(note, "note")?;
    let note = note.as_str();
    write_transaction(conn, |conn| {
        let token = Token::find(conn, &by.account_id, id)?;
        let Some(request) = approvals::open_for(conn, &by.account_id, id)? else {
            return Err(ServiceError::Refused(format!(
                "Nothing about “{}” waits for approval: it was decided already.",
                token.name
            )));
        };
        if !approvals::decide(conn, request.id, decision, note, &by.actor, by.at)? {
            return Err(ServiceError::AlreadyDone);
        }
        let mut changes = TokenChanges::default();
        match (request.kind, decision) {
            (RequestKind::Token, Decision::Approved) => {
                changes.awaiting_approval = Some(false);
            }
            (RequestKind::Token, Decision::Denied) => {
                changes.awaiting_approval = Some(false);
                changes.status = Some(StoredStatus::Inactive.as_str());
            }
            (RequestKind::Permissions, Decision::Approved) => {
                let held = Token::permissions(conn, id)?;
                let asked = token.extension.modules_for(request.modules.clone())?;
                let (removed, added) = (held.without(&asked), asked.without(&held));
                Token::revoke(conn, id, &removed)?;
                Token::grant(conn, id, &added, by.at, &by.actor)?;
                events::record_for_token(conn, id, EventKind::TokenPermissionsChanged, by, None)?;
            }
            (RequestKind::Permissions, Decision::Denied) => {}
        }
        let changes = TokenChanges {
            updated_at: Some(by.at),
            updated_by_id: Some(&by.actor.id),
            updated_by_name: Some(&by.actor.name),
            ..changes
        };
        Token::change(conn, &by.account_id, id, &changes)?;
        token_changed(conn, id);
        let (kind, done) = match decision {
            Decision::Approved => (EventKind::TokenApproved, "approved"),
            Decision::Denied => (EventKind::TokenDenied, "denied"),
        };
        events::record_for_token(conn, id, kind, by, (!note.is_empty()).then_some(note))?;
        let asked = match request.kind {
            RequestKind::Token => format!("“{}”", token.name),
            RequestKind::Permissions => format!("more permissions for “{}”", token.name),
        };
        let mut message = format!("{} {done} {asked}", by.actor.name);
        if !note.is_empty() {
            message.push_str(&format!(": {note}"));
        } else {
            message.push('.');
        }
        if let Ok(owner) = UserId::parse(&token.owner.id) {
            notifications::add(
                conn,
                &NewNotification {
                    account_id: &by.account_id,
                    user_id: &owner,
                    topic: &format!("approval-decided:{}", request.id),
                    kind: "approval_decided",
                    token_id: Some(id),
                    message: &message,
                    at: by.at,
                },
            )?;
        }
        Ok(Token::find(conn, &by.account_id, id)?)
    })
}
