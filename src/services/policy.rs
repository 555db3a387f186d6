//! The account's token policy: read by everyone it applies to, set by admins (or an admin's key
//! holding Account). Every change is an `account.policy_changed` event with before and after.

use super::ServiceError;
use crate::db::DbConnection;
use crate::db::accounts::{self, Account};
use crate::db::events::NewEvent;
use crate::db::pool::{every_key_changed, write_transaction};
use crate::domain::access::Requester;
use crate::domain::event::EventKind;
use crate::domain::policy::{self, AccountPolicy};

/// Sets the account's policy to `new`: the policy it replaced, and whether anything changed (an
/// unchanged policy records no event). Tokens that break the new rules are blocked from the next
/// request on, on every instance (the key caches forget every key of the account).
pub fn set(
    conn: &mut DbConnection,
    by: &Requester,
    new: &AccountPolicy,
) -> Result<(AccountPolicy, bool), ServiceError> {
    if !by.reach.is_admin() {
        return Err(ServiceError::Forbidden(
            "Only an admin (or an admin's key) sets the account's policy.".into(),
        ));
    }
    write_transaction(conn, |conn| {
        let before = Account::find(conn, &by.account_id)?.policy;
        if &before == new {
            return Ok((before, false));
        }
        accounts::set_policy(conn, &by.account_id, new)?;
        // Every key of the account is checked against it: forgotten here at the commit, and
        // by the other instances through the trigger's announcement.
        every_key_changed(conn);
        let detail = format!(
            "before: {}\nafter: {}",
            policy::summary(&before),
            policy::summary(new)
        );
        NewEvent {
            account_id: &by.account_id,
            kind: EventKind::AccountPolicyChanged,
            actor: &by.actor,
            user_id: None,
            detail: Some(&detail),
            client_ip: by.client_ip.as_deref(),
            at: by.at,
        }
        .record(conn)?;
        Ok((before, true))
    })
}
