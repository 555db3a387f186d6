//! Changing tokens: create, edit, give a new key (rotate, renew), switch on and off, delete,
//! reveal, act on a selection, take the least-privilege advice. Each reads the token's row once
//! (locked for the change on PostgreSQL), checks the requester's reach once, writes in one
//! transaction with its event, and tells the key cache of this and every other instance
//! (`db::pool::token_changed`, the triggers) when what a key depends on changed.

use super::ServiceError;
use super::approvals;
use crate::db::accounts::Account;
use crate::db::approvals::RequestKind;
use crate::db::module_usage;
use crate::db::pool::{token_changed, write_transaction};
use crate::db::tokens::{
    ForChange, NewTokenRow, Token, TokenChanges, stored_lifetime, stored_rate_limit,
};
use crate::db::{DbConnection, DbError, events};
use crate::domain::access::{Actor, Requester};
use crate::domain::api_key::{ApiKey, TokenSecret};
use crate::domain::event::EventKind;
use crate::domain::extension::Extension;
use crate::domain::ids::TokenId;
use crate::domain::least_privilege::{Advice, Narrowing};
use crate::domain::lifecycle::{AllowedNetworks, RENEWAL_GRACE, RateLimit};
use crate::domain::module::ModuleSet;
use crate::domain::policy::{AccountPolicy, Breach};
use crate::domain::secret_box::MasterKey;
use crate::domain::text::{Description, ExternalId, TokenName};
use crate::domain::token::{StoredStatus, TokenAction};
use crate::domain::token_form::General;
use chrono::{Duration, NaiveDateTime};
use std::fmt;

/// What a new token is made of; its id and secret are generated.
pub struct NewToken<'a> {
    pub general: &'a General,
    pub extension: Extension,
    /// What is asked for; the extension decides what the token gets (`Extension::modules_for`).
    pub modules: &'a ModuleSet,
    pub status: StoredStatus,
    pub expires_at: Option<NaiveDateTime>,
    pub allowed_networks: &'a AllowedNetworks,
    /// `None`: the account's default, if its policy has one.
    pub rate_limit: Option<RateLimit>,
    /// Makes the creation happen once per key: asked again, it is `AlreadyCreated`.
    pub creation_key: Option<&'a str>,
    /// Why it is needed, when what it asks for waits for an admin's approval.
    pub reason: Option<&'a str>,
}

/// How the account's policy shapes a new token.
struct Terms {
    rate_limit: Option<RateLimit>,
    /// The modules that wait for approval, and the reason given.
    awaiting: Option<(ModuleSet, String)>,
}

/// Holds a new token (its expiry set at `by.at`, holding `modules`) to the account's policy.
fn terms_of(
    policy: &AccountPolicy,
    by: &Requester,
    new: &NewToken<'_>,
    modules: &ModuleSet,
) -> Result<Terms, ServiceError> {
    policy
        .check_expiry(new.expires_at, by.at)
        .map_err(|message| ServiceError::Rule {
            field: "expiration_date",
            message,
        })?;
    if policy.require_allowed_networks && new.allowed_networks.is_empty() {
        return Err(ServiceError::Rule {
            field: "allowed_networks",
            message: NETWORKS_REQUIRED.into(),
        });
    }
    let needing = policy.needing_approval(modules);
    let awaiting = if by.reach.waits_for_approval() && !needing.is_empty() {
        Some((
            needing.clone(),
            approvals::reason_for(new.reason, &needing)?,
        ))
    } else {
        None
    };
    Ok(Terms {
        rate_limit: new.rate_limit.or(policy.default_rate_limit),
        awaiting,
    })
}

/// What the policy says when a key would be usable from anywhere.
pub const NETWORKS_REQUIRED: &str =
    "The account's policy: every key is limited to allowed networks. Give at least one.";

/// Creates a token with its permissions and its "created" event, and returns its key: the only
/// moment the secret exists in clear outside a reveal.
pub fn create(
    conn: &mut DbConnection,
    by: &Requester,
    master_key: &MasterKey,
    new: &NewToken<'_>,
) -> Result<(Token, ApiKey), ServiceError> {
    let modules = new.extension.modules_for(new.modules.clone())?;
    by.reach.covers(&modules).map_err(ServiceError::Forbidden)?;
    let owner = by
        .reach
        .new_owner(&by.actor)
        .map_err(ServiceError::Forbidden)?;
    let policy = Account::find(conn, &by.account_id)?.policy;
    let terms = terms_of(&policy, by, new, &modules)?;
    // A random id may be taken (one in a billion); a creation key may have been used.
    for _ in 0..5 {
        let id = TokenId::generate();
        match insert(conn, by, master_key, new, &terms, &id, &modules, &owner) {
            Err(ServiceError::Conflict(_)) => {
                if let Some(key) = new.creation_key
                    && let Some(made) = Token::find_by_creation_key(conn, &by.account_id, key)?
                {
                    return Err(ServiceError::AlreadyCreated(made.id));
                }
            }
            done => return done,
        }
    }
    Err(ServiceError::Conflict(
        "could not find a free token id".into(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn insert(
    conn: &mut DbConnection,
    by: &Requester,
    master_key: &MasterKey,
    new: &NewToken<'_>,
    terms: &Terms,
    id: &TokenId,
    modules: &ModuleSet,
    owner: &Actor,
) -> Result<(Token, ApiKey), ServiceError> {
    let secret = TokenSecret::generate(id);
    let sealed = master_key.seal(id, &secret);
    let digest = secret.digest();
    let row = NewTokenRow {
        id: id.as_str(),
        account_id: by.account_id.as_str(),
        name: new.general.name.as_str(),
        description: new.general.description.as_str(),
        external_id: new.general.external_id.as_str(),
        extension_id: new.extension.id(),
        status: new.status.as_str(),
        secret_digest: digest.as_str(),
        secret_ciphertext: &sealed,
        expires_at: new.expires_at,
        created_at: by.at,
        created_by_id: &by.actor.id,
        created_by_name: &by.actor.name,
        updated_at: by.at,
        updated_by_id: &by.actor.id,
        updated_by_name: &by.actor.name,
        creation_key: new.creation_key,
        allowed_networks: new.allowed_networks.stored(),
        rate_limit: stored_rate_limit(terms.rate_limit),
        owner_id: &owner.id,
        owner_name: &owner.name,
        awaiting_approval: terms.awaiting.is_some(),
        lifetime_seconds: stored_lifetime(new.expires_at, by.at),
    };
    write_transaction(conn, |conn| {
        Token::insert(conn, &row)?;
        Token::grant(conn, id, modules, by.at, &by.actor)?;
        events::record_for_token(conn, id, EventKind::TokenCreated, by, None)?;
        if let Some((_, reason)) = &terms.awaiting {
            let name = new.general.name.as_str();
            approvals::ask(conn, by, (id, name), RequestKind::Token, modules, reason)?;
        }
        Ok::<_, ServiceError>(Token::find(conn, &by.account_id, id)?)
    })
    .map(|token| (token, ApiKey::new(id.clone(), secret)))
}

/// A change to a token's properties and permissions; what is `None` stays as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenEdit<'a> {
    pub name: Option<&'a TokenName>,
    pub external_id: Option<&'a ExternalId>,
    pub description: Option<&'a Description>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub allowed_networks: Option<&'a AllowedNetworks>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    pub modules: Option<ModuleChange<'a>>,
    /// Why more permissions are needed, when what is added waits for an admin's approval.
    pub reason: Option<&'a str>,
}

/// A token as an edit left it.
#[derive(Debug)]
pub struct Edited {
    pub token: Token,
    /// The permissions asked for wait for an admin's approval: the old ones stay in force.
    pub awaiting_approval: bool,
}

impl<'a> TokenEdit<'a> {
    /// Every general field, as the edit form sends them.
    pub fn general(general: &'a General) -> Self {
        Self {
            name: Some(&general.name),
            external_id: Some(&general.external_id),
            description: Some(&general.description),
            ..Self::default()
        }
    }
}

/// How an edit changes the modules: to exactly a set (the edit form), or by adding or taking
/// away some (the API's permissions sub-collection). Either way the result must be what the
/// token's extension allows, and within the requester's reach.
#[derive(Debug, Clone, Copy)]
pub enum ModuleChange<'a> {
    Set(&'a ModuleSet),
    Grant(&'a ModuleSet),
    Revoke(&'a ModuleSet),
}

/// Changes the properties and, when given, the permissions; records "edited" and "permissions
/// changed" for what really changed, and moves "updated" only then. Answers the token as it
/// then is. A new expiry or allowed networks are held to the account's policy; modules a member
/// adds that the policy puts under approval are asked for instead of granted.
pub fn update(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    edit: &TokenEdit<'_>,
) -> Result<Edited, ServiceError> {
    write_transaction(conn, |conn| {
        let (found, held) = reach(conn, by, id, Read::ForChange)?;
        edit_token(conn, by, found.token, &held, edit)
    })
}

/// `update`, once the token is read and its reach checked.
fn edit_token(
    conn: &mut DbConnection,
    by: &Requester,
    mut token: Token,
    held: &ModuleSet,
    edit: &TokenEdit<'_>,
) -> Result<Edited, ServiceError> {
    let id = &token.id.clone();
    let policy = Account::find(conn, &by.account_id)?.policy;
    let mut modules = match edit.modules {
        Some(change) => {
            let requested = match change {
                ModuleChange::Set(set) => set.clone(),
                ModuleChange::Grant(granted) => held.with(granted),
                ModuleChange::Revoke(revoked) => held.without(revoked),
            };
            let modules = token.extension.modules_for(requested)?;
            by.reach.covers(&modules).map_err(ServiceError::Forbidden)?;
            Some(modules)
        }
        None => None,
    };
    let mut changes = TokenChanges::default();
    if let Some(name) = edit.name.filter(|name| token.name != name.as_str()) {
        changes.name = Some(name.as_str());
        token.name = name.as_str().to_owned();
    }
    if let Some(external_id) = edit
        .external_id
        .filter(|external_id| token.external_id != external_id.as_str())
    {
        changes.external_id = Some(external_id.as_str());
        token.external_id = external_id.as_str().to_owned();
    }
    if let Some(description) = edit
        .description
        .filter(|description| token.description != description.as_str())
    {
        changes.description = Some(description.as_str());
        token.description = description.as_str().to_owned();
    }
    if let Some(expires_at) = edit.expires_at.filter(|at| *at != token.expires_at) {
        policy
            .check_expiry(expires_at, by.at)
            .map_err(|message| ServiceError::Rule {
                field: "expiration_date",
                message,
            })?;
        changes.expires_at = Some(expires_at);
        changes.lifetime_seconds = Some(stored_lifetime(expires_at, by.at));
        token.expires_at = expires_at;
        token.lifetime = expires_at.map(|at| at - by.at);
    }
    if let Some(networks) = edit
        .allowed_networks
        .filter(|networks| **networks != token.allowed_networks)
    {
        if networks.is_empty() && policy.require_allowed_networks {
            return Err(ServiceError::Rule {
                field: "allowed_networks",
                message: NETWORKS_REQUIRED.into(),
            });
        }
        changes.allowed_networks = Some(networks.stored());
        token.allowed_networks = networks.clone();
    }
    let mut awaiting_approval = false;
    if let Some(asked) = &modules {
        let needing = policy.needing_approval(&asked.without(held));
        if by.reach.waits_for_approval() && !needing.is_empty() {
            let reason = approvals::reason_for(edit.reason, &needing)?;
            let token_ref = (id, token.name.as_str());
            approvals::ask(
                conn,
                by,
                token_ref,
                RequestKind::Permissions,
                asked,
                &reason,
            )?;
            // The old permissions stay in force until an admin approves.
            modules = None;
            awaiting_approval = true;
        }
    }
    if let Some(limit) = edit.rate_limit.filter(|limit| *limit != token.rate_limit) {
        changes.rate_limit = Some(stored_rate_limit(limit));
        token.rate_limit = limit;
    }
    let edited = changes.name.is_some()
        || changes.external_id.is_some()
        || changes.description.is_some()
        || changes.expires_at.is_some()
        || changes.allowed_networks.is_some()
        || changes.rate_limit.is_some();
    let regranted = match &modules {
        Some(modules) => {
            let (removed, added) = (held.without(modules), modules.without(held));
            if !removed.is_empty() {
                Token::revoke(conn, id, &removed)?;
            }
            Token::grant(conn, id, &added, by.at, &by.actor)?;
            !removed.is_empty() || !added.is_empty()
        }
        None => false,
    };
    if !edited && !regranted {
        return Ok(Edited {
            token,
            awaiting_approval,
        });
    }
    token.updated = updated_by(by);
    Token::change(conn, &by.account_id, id, &stamped(changes, by))?;
    token_changed(conn, id);
    if edited {
        events::record_for_token(conn, id, EventKind::TokenUpdated, by, None)?;
    }
    if regranted {
        events::record_for_token(conn, id, EventKind::TokenPermissionsChanged, by, None)?;
    }
    Ok(Edited {
        token,
        awaiting_approval,
    })
}

/// How a token gets a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKey {
    /// A person rotates it and chooses how long the old key keeps working (zero: it stops at
    /// once).
    Rotated { grace: Duration },
    /// The old key keeps working until the token's former expiry, or for `RENEWAL_GRACE` where
    /// it had none.
    Renewed,
}

/// A token with its new key, as `replace_key` leaves it.
pub struct Replaced {
    pub token: Token,
    /// The new key: the only moment it exists in clear outside a reveal.
    pub key: ApiKey,
    /// An earlier key that was still within its grace when this replacement ended it: when it
    /// would have stopped. Only one previous key is kept, so a second rotation within the first
    /// one's grace ends it now; the pages and the API say so.
    pub ended_grace: Option<NaiveDateTime>,
}

/// Gives the token a new key (the same id). The old key's digest is kept while it keeps
/// working; its ciphertext is not (only the new key can be revealed). `expires_at`, when given,
/// is the token's new expiry. A token left expired is refused: its new key would not work.
pub fn replace_key(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    master_key: &MasterKey,
    how: NewKey,
    expires_at: Option<Option<NaiveDateTime>>,
) -> Result<Replaced, ServiceError> {
    let secret = TokenSecret::generate(id);
    let sealed = master_key.seal(id, &secret);
    let digest = secret.digest();
    let (token, ended_grace) = write_transaction(conn, |conn| {
        let (
            ForChange {
                mut token,
                digest: old,
            },
            _,
        ) = reach(conn, by, id, Read::ForChange)?;
        let former_expiry = token.expires_at;
        let policy = Account::find(conn, &by.account_id)?.policy;
        let invalid = |message: String| ServiceError::Rule {
            field: "expiration_date",
            message,
        };
        let mut lifetime = None;
        if let Some(expires_at) = expires_at {
            policy.check_expiry(expires_at, by.at).map_err(invalid)?;
            token.expires_at = expires_at;
            token.lifetime = expires_at.map(|at| at - by.at);
            lifetime = Some(stored_lifetime(expires_at, by.at));
        } else if let Some(breach) = policy
            .breach(token.key_terms())
            .filter(|breach| *breach != Breach::NoNetworks)
        {
            return Err(invalid(format!(
                "the token breaks the account's policy ({}), so a new key would be refused \
                 too; give it a new expiry within the policy",
                breach.describe()
            )));
        }
        if let Some(expired) = token.expires_at.filter(|at| *at <= by.at) {
            return Err(ServiceError::Invalid {
                field: "expiration_date",
                message: format!(
                    "the token expired on {}, so a new key would not work either; give it a \
                     new expiry (a date in the future, or none)",
                    expired.format("%Y-%m-%d %H:%M UTC")
                ),
            });
        }
        let ended_grace = token.previous_key_until.filter(|until| *until > by.at);
        let previous_until = match how {
            NewKey::Rotated { grace } => by.at + grace,
            NewKey::Renewed => former_expiry.unwrap_or(by.at + RENEWAL_GRACE),
        };
        let previous_until = Some(previous_until).filter(|until| *until > by.at);
        token.previous_key_until = previous_until;
        token.updated = updated_by(by);
        let changes = TokenChanges {
            secret_digest: Some(digest.as_str()),
            secret_ciphertext: Some(&sealed),
            previous_secret_digest: Some(previous_until.map(|_| old.as_str())),
            previous_secret_expires_at: Some(previous_until),
            expires_at: Some(token.expires_at),
            lifetime_seconds: lifetime,
            ..TokenChanges::default()
        };
        Token::change(conn, &by.account_id, id, &stamped(changes, by))?;
        token_changed(conn, id);
        let kind = match how {
            NewKey::Rotated { .. } => EventKind::TokenRotated,
            NewKey::Renewed => EventKind::TokenRenewed,
        };
        events::record_for_token(conn, id, kind, by, None)?;
        Ok::<_, ServiceError>((token, ended_grace))
    })?;
    Ok(Replaced {
        token,
        key: ApiKey::new(id.clone(), secret),
        ended_grace,
    })
}

/// Switches a token on or off and records who did it, and why when said; unchanged (and no
/// event) when it already is.
pub fn set_status(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    status: StoredStatus,
    reason: Option<&str>,
) -> Result<Token, ServiceError> {
    write_transaction(conn, |conn| {
        let (found, _) = reach(conn, by, id, Read::ForChange)?;
        switch(conn, by, found.token, status, reason)
    })
}

/// `set_status`, once the token is read and its reach checked.
fn switch(
    conn: &mut DbConnection,
    by: &Requester,
    mut token: Token,
    status: StoredStatus,
    reason: Option<&str>,
) -> Result<Token, ServiceError> {
    if token.stored_status == status {
        return Ok(token);
    }
    token.stored_status = status;
    token.updated = updated_by(by);
    let changes = TokenChanges {
        status: Some(status.as_str()),
        ..TokenChanges::default()
    };
    Token::change(conn, &by.account_id, &token.id, &stamped(changes, by))?;
    token_changed(conn, &token.id);
    let kind = match status {
        StoredStatus::Active => EventKind::TokenEnabled,
        StoredStatus::Inactive => EventKind::TokenDisabled,
    };
    events::record_for_token(conn, &token.id, kind, by, reason)?;
    Ok(token)
}

/// Hands a token to another user of the account (`to`, who must be active), who then owns it:
/// manages it (with the admins), and its key acts for them. One `token.transferred` event.
pub fn hand_over(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    to: &Actor,
) -> Result<Token, ServiceError> {
    write_transaction(conn, |conn| {
        let (ForChange { mut token, .. }, _) = reach(conn, by, id, Read::ForChange)?;
        if token.owner == *to {
            return Ok(token);
        }
        let detail = format!("from {} to {}", token.owner.name, to.name);
        token.owner = to.clone();
        token.updated = updated_by(by);
        let changes = TokenChanges {
            owner_id: Some(&to.id),
            owner_name: Some(&to.name),
            ..TokenChanges::default()
        };
        Token::change(conn, &by.account_id, id, &stamped(changes, by))?;
        token_changed(conn, id);
        events::record_for_token(conn, id, EventKind::TokenTransferred, by, Some(&detail))?;
        Ok(token)
    })
}

/// Deletes a token for good: it disappears from lists, its key stops working and its encrypted
/// secret is wiped. The row stays so that its history remains.
pub fn delete(conn: &mut DbConnection, by: &Requester, id: &TokenId) -> Result<(), ServiceError> {
    write_transaction(conn, |conn| {
        reach(conn, by, id, Read::ForChange)?;
        remove(conn, by, id)
    })
}

/// `delete`, once the token is read and its reach checked.
fn remove(conn: &mut DbConnection, by: &Requester, id: &TokenId) -> Result<(), ServiceError> {
    let changes = TokenChanges {
        deleted_at: Some(Some(by.at)),
        status: Some(StoredStatus::Inactive.as_str()),
        secret_digest: Some(""),
        secret_ciphertext: Some(&[]),
        ..TokenChanges::default()
    };
    Token::change(conn, &by.account_id, id, &stamped(changes, by))?;
    token_changed(conn, id);
    events::record_for_token(conn, id, EventKind::TokenDeleted, by, None)?;
    Ok(())
}

/// Decrypts the token's key for a person who asked to see it, and records that they did.
pub fn reveal(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    master_key: &MasterKey,
) -> Result<ApiKey, ServiceError> {
    write_transaction(conn, |conn| {
        reach(conn, by, id, Read::Plain)?;
        let sealed = Token::sealed_secret(conn, &by.account_id, id)?;
        let secret = master_key
            .open(id, &sealed)
            .map_err(|e| DbError::Corrupt(format!("the secret of token {id}: {e}")))?;
        events::record_for_token(conn, id, EventKind::TokenRevealed, by, None)?;
        Ok(ApiKey::new(id.clone(), secret))
    })
}

/// Takes the least-privilege advice for the token `id` as it stands now, provided it still is
/// what the person confirmed (`expected`): the token then holds only the modules kept, changed
/// as every edit of permissions is (the extension's rule, one `token.permissions_changed`
/// event). Otherwise nothing changes, and the refusal says why.
pub fn narrow(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    expected: &Narrowing,
) -> Result<Token, ServiceError> {
    write_transaction(conn, |conn| {
        // The row is held until the change is written, so that no other change of its
        // permissions comes between the advice and the change.
        let (ForChange { token, .. }, held) = reach(conn, by, id, Read::ForChange)?;
        let uses = module_usage::last_uses(conn, std::slice::from_ref(id))?
            .remove(id)
            .unwrap_or_default();
        let advice = Advice::of(token.created.at, &held, &uses, by.at);
        let Some(narrowing) = Narrowing::of(&advice, &held) else {
            return Err(ServiceError::Refused(format!(
                "“{}” holds no module it has not used: nothing was changed.",
                token.name
            )));
        };
        if narrowing != *expected {
            return Err(ServiceError::Refused(format!(
                "The permissions or the use of “{}” changed since the advice was shown: nothing \
                 was changed. Look at the advice again.",
                token.name
            )));
        }
        let edit = TokenEdit {
            modules: Some(ModuleChange::Set(&narrowing.keep)),
            ..TokenEdit::default()
        };
        Ok(edit_token(conn, by, token, &held, &edit)?.token)
    })
}

/// A selected token the requester may not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: TokenId,
    /// Unknown when the token does not exist (or is not in the requester's account).
    pub name: Option<String>,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "“{name}” ({}): {}", self.id, self.reason),
            None => write!(f, "{}: {}", self.id, self.reason),
        }
    }
}

/// The selected tokens the requester may act on, in the order given, and the refusals for the
/// others, as a confirmation shows them (nothing is locked). Repeated ids count once.
pub fn check_selection(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
) -> Result<(Vec<Token>, Vec<Refusal>), ServiceError> {
    let (found, refusals) = judge_selection(conn, by, ids, Read::Plain)?;
    Ok((found.into_iter().map(|f| f.token).collect(), refusals))
}

/// How a token is read before it is judged.
#[derive(Clone, Copy)]
enum Read {
    /// To be shown: nothing is held.
    Plain,
    /// To be changed: its row is held until the transaction ends (PostgreSQL).
    ForChange,
}

/// Each distinct selected token judged, in the order given. Rows are read (and, for a change,
/// locked) in the order of their ids, so that two selections never wait on each other in turn.
fn judge_selection(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
    read: Read,
) -> Result<(Vec<ForChange>, Vec<Refusal>), ServiceError> {
    let mut in_order: Vec<&TokenId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !in_order.contains(&id) {
            in_order.push(id);
        }
    }
    let mut by_id: Vec<&TokenId> = in_order.clone();
    by_id.sort();
    let mut judged = std::collections::HashMap::with_capacity(by_id.len());
    for id in by_id {
        judged.insert(id.clone(), judge(conn, by, id, read)?);
    }
    let (mut found, mut refusals) = (Vec::new(), Vec::new());
    for id in in_order {
        match judged.remove(id) {
            Some(Ok((token, _))) => found.push(token),
            Some(Err(refusal)) => refusals.push(refusal),
            None => {}
        }
    }
    Ok((found, refusals))
}

/// Does `action` to every selected token, each with its own event (and `reason`, when said), or
/// to none of them: any refusal leaves everything as it was and is the answer. Answers the
/// tokens as they were.
pub fn act_on_selection(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
    action: TokenAction,
    reason: Option<&str>,
) -> Result<Result<Vec<Token>, Vec<Refusal>>, ServiceError> {
    write_transaction(conn, |conn| {
        let (found, refusals) = judge_selection(conn, by, ids, Read::ForChange)?;
        if !refusals.is_empty() {
            return Ok(Err(refusals));
        }
        act_on(conn, by, found, action, reason).map(Ok)
    })
}

/// Does `action` to those of the selected tokens the requester may act on, each with its own
/// event, in one transaction; the tokens acted on (as they were) and the refusals for the rest.
/// For a cleanup that should go as far as it may (a member's leaked keys, some of them an
/// admin's): what is left is named, for someone who may.
pub fn act_on_what_is_allowed(
    conn: &mut DbConnection,
    by: &Requester,
    ids: &[TokenId],
    action: TokenAction,
    reason: Option<&str>,
) -> Result<(Vec<Token>, Vec<Refusal>), ServiceError> {
    write_transaction(conn, |conn| {
        let (found, refusals) = judge_selection(conn, by, ids, Read::ForChange)?;
        Ok((act_on(conn, by, found, action, reason)?, refusals))
    })
}

fn act_on(
    conn: &mut DbConnection,
    by: &Requester,
    found: Vec<ForChange>,
    action: TokenAction,
    reason: Option<&str>,
) -> Result<Vec<Token>, ServiceError> {
    let tokens: Vec<Token> = found.into_iter().map(|f| f.token).collect();
    for token in &tokens {
        match action {
            TokenAction::Disable => {
                switch(conn, by, token.clone(), StoredStatus::Inactive, reason)?;
            }
            TokenAction::Enable => {
                switch(conn, by, token.clone(), StoredStatus::Active, reason)?;
            }
            TokenAction::Delete => remove(conn, by, &token.id)?,
        }
    }
    Ok(tokens)
}

/// The account's live token `id` and the modules it holds, if the requester may manage a token
/// holding those; otherwise why not.
fn judge(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    read: Read,
) -> Result<Result<(ForChange, ModuleSet), Refusal>, ServiceError> {
    let found = match read {
        Read::ForChange => Token::find_for_change(conn, &by.account_id, id),
        Read::Plain => Token::find(conn, &by.account_id, id).map(ForChange::shown),
    };
    let found = match found {
        Ok(found) => found,
        Err(DbError::NotFound) => {
            return Ok(Err(Refusal {
                id: id.clone(),
                name: None,
                reason: "it does not exist or has been deleted".to_owned(),
            }));
        }
        Err(other) => return Err(other.into()),
    };
    let held = Token::permissions(conn, id)?;
    Ok(match by.reach.may_manage(&found.token.owner, &held) {
        Ok(()) => Ok((found, held)),
        Err(reason) => Err(Refusal {
            id: id.clone(),
            name: Some(found.token.name.clone()),
            reason,
        }),
    })
}

/// `judge` for one token: another account's token is `NotFound`, whatever it holds.
fn reach(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
    read: Read,
) -> Result<(ForChange, ModuleSet), ServiceError> {
    match judge(conn, by, id, read)? {
        Ok(found) => Ok(found),
        Err(Refusal { name: None, .. }) => Err(ServiceError::NotFound),
        Err(refusal) => Err(ServiceError::Forbidden(refusal.reason)),
    }
}

/// "Updated" as the requester moves it.
fn updated_by(by: &Requester) -> crate::db::tokens::Stamp {
    crate::db::tokens::Stamp {
        at: by.at,
        by: by.actor.clone(),
    }
}

/// `changes` with "updated" moved by the requester.
fn stamped<'a>(changes: TokenChanges<'a>, by: &'a Requester) -> TokenChanges<'a> {
    TokenChanges {
        updated_at: Some(by.at),
        updated_by_id: Some(&by.actor.id),
        updated_by_name: Some(&by.actor.name),
        ..changes
    }
}
