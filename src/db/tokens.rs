use super::accounts::{Account, AccountRow};
use super::counts::Counting;
use super::pool::{on_backend, write_transaction};
use super::query::{InSubquery, Page, Total, counted_page};
use super::schema::{accounts, token_permissions, tokens};
use super::token_filters::{self, BoxedTokens, Membership, SearchIndex, TokenConditions};
use super::{DbConnection, DbError, events, keys, now};
use crate::domain::api_key::{ApiKey, SecretDigest, TokenSecret};
use crate::domain::event::EventKind;
use crate::domain::extension::Extension;
use crate::domain::fields::TokenField;
use crate::domain::ids::{AccountId, TokenId};
use crate::domain::lifecycle::{AllowedNetworks, RateLimit};
use crate::domain::list_query::Question;
use crate::domain::module::{Module, ModuleSet};
use crate::domain::query::{Direction, Query};
use crate::domain::secret_box::MasterKey;
use crate::domain::token::{Actor, Requester, StoredStatus, TokenStatus};
use crate::domain::token_form::General;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
struct TokenRow {
    id: String,
    account_id: String,
    name: String,
    description: String,
    external_id: String,
    extension_id: String,
    status: String,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    created_by_id: String,
    created_by_name: String,
    updated_at: NaiveDateTime,
    updated_by_id: String,
    updated_by_name: String,
    last_used_at: Option<NaiveDateTime>,
    last_used_ip: Option<String>,
    previous_secret_expires_at: Option<NaiveDateTime>,
    allowed_networks: String,
    rate_limit: Option<i32>,
}

/// A token as an API key sees it: what to check the key against, and what it may reach.
pub struct KeyHolder {
    pub token: Token,
    pub digest: SecretDigest,
    /// The key replaced by a rotation, while it still works (`token.previous_key_until`).
    pub previous_digest: Option<SecretDigest>,
    pub account: Account,
    pub modules: ModuleSet,
}

impl KeyHolder {
    /// Whether `secret` is the token's key, or its previous one within the grace period.
    pub fn accepts(&self, secret: &TokenSecret, now: NaiveDateTime) -> bool {
        let digest = secret.digest();
        // Both compared, in constant time each, whichever matches.
        let current = digest.matches(&self.digest);
        let previous = self
            .previous_digest
            .as_ref()
            .is_some_and(|previous| digest.matches(previous))
            && self
                .token
                .previous_key_until
                .is_some_and(|until| now < until);
        current | previous
    }
}

/// A change to a token's properties and permissions; what is `None` stays as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenEdit<'a> {
    pub general: Option<&'a General>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub allowed_networks: Option<&'a AllowedNetworks>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    pub modules: Option<ModuleChange<'a>>,
}

/// A new key for a token: by rotation (the person chooses how long the old one keeps working)
/// or renewal (the old one works until its expiry, or a day).
#[derive(Debug, Clone, Copy)]
pub struct NewKey {
    pub kind: KeyChange,
    /// Until when the old key keeps working; `None` stops it at once.
    pub previous_until: Option<NaiveDateTime>,
    /// The token's new expiry; `None` keeps it.
    pub expires_at: Option<Option<NaiveDateTime>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    Rotated,
    Renewed,
}

/// How `Token::update` changes the modules: to exactly a set (the edit form), or by adding or
/// taking away some (the API's permissions sub-collection). Either way the result must be what
/// the token's extension allows.
#[derive(Debug, Clone, Copy)]
pub enum ModuleChange<'a> {
    Set(&'a ModuleSet),
    Grant(&'a ModuleSet),
    Revoke(&'a ModuleSet),
}

/// A module a token may use, and who granted it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub module: Module,
    pub granted: Stamp,
}

/// When something happened and who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub at: NaiveDateTime,
    pub by: Actor,
}

impl Stamp {
    /// From the `<event>_at`, `<event>_by_id` and `<event>_by_name` columns of a row.
    pub fn new(at: NaiveDateTime, by_id: String, by_name: String) -> Self {
        Self {
            at,
            by: Actor {
                id: by_id,
                name: by_name,
            },
        }
    }
}

/// A live (not deleted) token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub account_id: AccountId,
    pub name: String,
    pub description: String,
    pub external_id: String,
    pub extension: Extension,
    pub stored_status: StoredStatus,
    pub expires_at: Option<NaiveDateTime>,
    pub created: Stamp,
    pub updated: Stamp,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    /// Until when the key replaced by the last rotation keeps working.
    pub previous_key_until: Option<NaiveDateTime>,
    pub allowed_networks: AllowedNetworks,
    /// At most this many requests per UTC minute; `None`: no limit.
    pub rate_limit: Option<u32>,
}

impl From<TokenRow> for Token {
    fn from(row: TokenRow) -> Self {
        Self {
            id: TokenId::from_trusted(row.id),
            account_id: AccountId::from_trusted(row.account_id),
            name: row.name,
            description: row.description,
            external_id: row.external_id,
            extension: Extension::parse(&row.extension_id).unwrap_or(Extension::Custom),
            stored_status: StoredStatus::from_stored(&row.status),
            expires_at: row.expires_at,
            created: Stamp::new(row.created_at, row.created_by_id, row.created_by_name),
            updated: Stamp::new(row.updated_at, row.updated_by_id, row.updated_by_name),
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            previous_key_until: row.previous_secret_expires_at,
            allowed_networks: AllowedNetworks::from_stored(&row.allowed_networks),
            // The column's CHECK keeps it within 1–100 000.
            rate_limit: row.rate_limit.and_then(|n| u32::try_from(n).ok()),
        }
    }
}

/// What a new token is made of; the secret is generated on insert.
pub struct NewToken<'a> {
    pub general: &'a General,
    pub extension: Extension,
    /// What is asked for; the extension decides what the token gets (`Extension::modules_for`).
    pub modules: &'a ModuleSet,
    pub status: StoredStatus,
    pub expires_at: Option<NaiveDateTime>,
    pub allowed_networks: &'a AllowedNetworks,
    pub rate_limit: Option<RateLimit>,
    /// Makes the insert happen once per key: a second insert with it is `AlreadyCreated`.
    pub creation_key: Option<&'a str>,
}

impl Token {
    pub fn status(&self, at: NaiveDateTime) -> TokenStatus {
        TokenStatus::of(self.stored_status, self.expires_at, at)
    }

    /// A live token of the account; another account's or a deleted token is `NotFound`.
    pub fn find(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
    ) -> Result<Token, DbError> {
        Ok(tokens::table
            .filter(tokens::id.eq(id.as_str()))
            .filter(tokens::account_id.eq(account_id.as_str()))
            .filter(tokens::deleted_at.is_null())
            .select(TokenRow::as_select())
            .first::<TokenRow>(conn)?
            .into())
    }

    /// The token a creation key made, if any (deleted ones included: it was made all the same).
    pub fn find_by_creation_key(
        conn: &mut DbConnection,
        account_id: &AccountId,
        key: &str,
    ) -> Result<Option<Token>, DbError> {
        Ok(tokens::table
            .filter(tokens::creation_key.eq(key))
            .filter(tokens::account_id.eq(account_id.as_str()))
            .select(TokenRow::as_select())
            .first::<TokenRow>(conn)
            .optional()?
            .map(Token::from))
    }

    /// Decrypts the token's key for a person who asked to see it, and records that they did.
    pub fn reveal(
        conn: &mut DbConnection,
        by: &Requester,
        id: &TokenId,
        master_key: &MasterKey,
    ) -> Result<ApiKey, DbError> {
        write_transaction(conn, |conn| {
            within_reach(conn, by, id)?;
            let sealed: Vec<u8> = tokens::table
                .filter(tokens::id.eq(id.as_str()))
                .filter(tokens::account_id.eq(by.account_id.as_str()))
                .filter(tokens::deleted_at.is_null())
                .select(tokens::secret_ciphertext)
                .first(conn)?;
            let secret = master_key
                .open(id, &sealed)
                .map_err(|e| DbError::Corrupt(format!("the secret of token {id}: {e}")))?;
            events::record_for_token(conn, id, EventKind::TokenRevealed, by)?;
            Ok(ApiKey::new(id.clone(), secret))
        })
    }

    /// Changes the properties and, when given, the permissions; records "edited" and
    /// "permissions changed" for what really changed, and moves "updated" only then.
    pub fn update(
        conn: &mut DbConnection,
        by: &Requester,
        id: &TokenId,
        edit: &TokenEdit<'_>,
    ) -> Result<Token, DbError> {
        write_transaction(conn, |conn| {
            let before = Token::find_for_update(conn, &by.account_id, id)?;
            let held = within_reach(conn, by, id)?;
            let at = now();
            let mut edited = match edit.general {
                Some(general) => before.write_general(conn, general)?,
                None => false,
            };
            edited |= before.write_settings(conn, edit)?;
            let regranted = match edit.modules {
                Some(change) => before.write_modules(conn, held, change, at, by)?,
                None => false,
            };
            if !edited && !regranted {
                return Ok(before);
            }
            keys::changed(conn, id);
            diesel::update(tokens::table.find(id.as_str()))
                .set((
                    tokens::updated_at.eq(at),
                    tokens::updated_by_id.eq(&by.actor.id),
                    tokens::updated_by_name.eq(&by.actor.name),
                ))
                .execute(conn)?;
            if edited {
                events::record_for_token(conn, id, EventKind::TokenUpdated, by)?;
            }
            if regranted {
                events::record_for_token(conn, id, EventKind::TokenPermissionsChanged, by)?;
            }
            Token::find(conn, &by.account_id, id)
        })
    }

    /// `find`, holding the row until the transaction ends, so that concurrent changes of one
    /// token's permissions are judged one after the other (SQLite's write lock already does).
    fn find_for_update(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
    ) -> Result<Token, DbError> {
        if let DbConnection::Postgres(pg) = conn {
            tokens::table
                .find(id.as_str())
                .select(tokens::id)
                .for_update()
                .first::<String>(pg)?;
        }
        Token::find(conn, account_id, id)
    }

    /// Writes the expiry, the allowed networks and the rate limit where they differ; whether
    /// they did.
    fn write_settings(
        &self,
        conn: &mut DbConnection,
        edit: &TokenEdit<'_>,
    ) -> Result<bool, DbError> {
        let mut changed = false;
        if let Some(expires_at) = edit.expires_at.filter(|at| *at != self.expires_at) {
            diesel::update(tokens::table.find(self.id.as_str()))
                .set(tokens::expires_at.eq(expires_at))
                .execute(conn)?;
            changed = true;
        }
        if let Some(networks) = edit
            .allowed_networks
            .filter(|n| **n != self.allowed_networks)
        {
            diesel::update(tokens::table.find(self.id.as_str()))
                .set(tokens::allowed_networks.eq(networks.stored()))
                .execute(conn)?;
            changed = true;
        }
        if let Some(limit) = edit
            .rate_limit
            .filter(|limit| limit.map(RateLimit::get) != self.rate_limit)
        {
            diesel::update(tokens::table.find(self.id.as_str()))
                .set(tokens::rate_limit.eq(stored_rate_limit(limit)))
                .execute(conn)?;
            changed = true;
        }
        Ok(changed)
    }

    /// Gives the token a new key (the same id), and returns it: the only moment it exists in
    /// clear outside a reveal. The old key's digest is kept while it keeps working; its
    /// ciphertext is not (only the new key can be revealed).
    pub fn replace_key(
        conn: &mut DbConnection,
        by: &Requester,
        id: &TokenId,
        master_key: &MasterKey,
        new_key: NewKey,
    ) -> Result<(Token, ApiKey), DbError> {
        write_transaction(conn, |conn| {
            let before = Token::find_for_update(conn, &by.account_id, id)?;
            within_reach(conn, by, id)?;
            let at = now();
            let old_digest: String = tokens::table
                .find(id.as_str())
                .select(tokens::secret_digest)
                .first(conn)?;
            let previous_until = new_key.previous_until.filter(|until| *until > at);
            let secret = TokenSecret::generate(id);
            diesel::update(tokens::table.find(id.as_str()))
                .set((
                    tokens::secret_digest.eq(secret.digest().as_str()),
                    tokens::secret_ciphertext.eq(master_key.seal(id, &secret)),
                    tokens::previous_secret_digest.eq(previous_until.map(|_| old_digest)),
                    tokens::previous_secret_expires_at.eq(previous_until),
                    tokens::expires_at.eq(new_key.expires_at.unwrap_or(before.expires_at)),
                    tokens::updated_at.eq(at),
                    tokens::updated_by_id.eq(&by.actor.id),
                    tokens::updated_by_name.eq(&by.actor.name),
                ))
                .execute(conn)?;
            keys::changed(conn, id);
            let kind = match new_key.kind {
                KeyChange::Rotated => EventKind::TokenRotated,
                KeyChange::Renewed => EventKind::TokenRenewed,
            };
            events::record_for_token(conn, id, kind, by)?;
            let token = Token::find(conn, &by.account_id, id)?;
            Ok((token, ApiKey::new(id.clone(), secret)))
        })
    }

    /// Writes name, external id and description where they differ; whether they did.
    fn write_general(&self, conn: &mut DbConnection, general: &General) -> Result<bool, DbError> {
        let changed = self.name != general.name.as_str()
            || self.external_id != general.external_id.as_str()
            || self.description != general.description.as_str();
        if changed {
            diesel::update(tokens::table.find(self.id.as_str()))
                .set((
                    tokens::name.eq(general.name.as_str()),
                    tokens::external_id.eq(general.external_id.as_str()),
                    tokens::description.eq(general.description.as_str()),
                ))
                .execute(conn)?;
        }
        Ok(changed)
    }

    /// Applies `change` to the modules the token holds (`current`), as its extension allows and
    /// within the requester's reach; whether any module was granted or revoked.
    fn write_modules(
        &self,
        conn: &mut DbConnection,
        current: ModuleSet,
        change: ModuleChange<'_>,
        at: NaiveDateTime,
        by: &Requester,
    ) -> Result<bool, DbError> {
        let requested = match change {
            ModuleChange::Set(set) => set.clone(),
            ModuleChange::Grant(granted) => current.with(granted),
            ModuleChange::Revoke(revoked) => current.without(revoked),
        };
        let modules = self.extension.modules_for(requested)?;
        by.reach.covers(&modules).map_err(DbError::Forbidden)?;
        let removed = current.without(&modules);
        let added = modules.without(&current);
        if !removed.is_empty() {
            diesel::delete(
                token_permissions::table
                    .filter(token_permissions::token_id.eq(self.id.as_str()))
                    .filter(token_permissions::module_id.eq_any(removed.iter().map(|m| m.id))),
            )
            .execute(conn)?;
        }
        insert_grants(conn, &self.id, &added, at, &by.actor)?;
        Ok(!removed.is_empty() || !added.is_empty())
    }

    /// A live token of the account with what it may reach.
    pub fn find_with_permissions(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
    ) -> Result<(Token, ModuleSet), DbError> {
        let token = Token::find(conn, account_id, id)?;
        let modules = Token::permissions(conn, id)?;
        Ok((token, modules))
    }

    /// What one token may reach. A query of its own (not `grants`): it runs on every API request,
    /// and a fixed statement is prepared once per connection.
    pub fn permissions(conn: &mut DbConnection, id: &TokenId) -> Result<ModuleSet, DbError> {
        let ids: Vec<String> = on_backend!(conn, |c| token_permissions::table
            .filter(token_permissions::token_id.eq(id.as_str()))
            .select(token_permissions::module_id)
            .load(c))?;
        Ok(ModuleSet::of(
            ids.iter().filter_map(|id| Module::find(id).ok()),
        ))
    }

    /// The permissions of each of `ids`, with when and by whom they were granted, in one query.
    pub fn grants(
        conn: &mut DbConnection,
        ids: &[TokenId],
    ) -> Result<HashMap<TokenId, Vec<Grant>>, DbError> {
        let rows = token_permissions::table
            .filter(token_permissions::token_id.eq_any(ids.iter().map(TokenId::as_str)))
            .order((token_permissions::token_id, token_permissions::module_id))
            .select((
                token_permissions::token_id,
                token_permissions::module_id,
                token_permissions::granted_at,
                token_permissions::granted_by_id,
                token_permissions::granted_by_name,
            ))
            .load::<(String, String, NaiveDateTime, String, String)>(conn)?;
        let mut grants: HashMap<TokenId, Vec<Grant>> =
            ids.iter().map(|id| (id.clone(), Vec::new())).collect();
        for (token_id, module_id, at, by_id, by_name) in rows {
            // A module this version does not know grants nothing; it is left out rather than failing.
            let Ok(module) = Module::find(&module_id) else {
                tracing::warn!(%token_id, %module_id, "unknown module in stored permissions");
                continue;
            };
            grants
                .entry(TokenId::from_trusted(token_id))
                .or_default()
                .push(Grant {
                    module,
                    granted: Stamp::new(at, by_id, by_name),
                });
        }
        Ok(grants)
    }

    /// What an API key needs checked: the live token of that id, its secret's digest, its
    /// account and what it may reach, in one query (it runs on every API request). Deleted and
    /// unknown tokens are both `None`.
    pub fn for_key(conn: &mut DbConnection, id: &TokenId) -> Result<Option<KeyHolder>, DbError> {
        let rows = on_backend!(conn, |c| tokens::table
            .inner_join(accounts::table)
            .left_join(token_permissions::table)
            .filter(tokens::id.eq(id.as_str()))
            .filter(tokens::deleted_at.is_null())
            .select((
                TokenRow::as_select(),
                tokens::secret_digest,
                tokens::previous_secret_digest,
                AccountRow::as_select(),
                token_permissions::module_id.nullable(),
            ))
            .load::<(TokenRow, String, Option<String>, AccountRow, Option<String>)>(c))?;
        let modules = ModuleSet::of(
            rows.iter()
                .filter_map(|row| row.4.as_deref())
                .filter_map(|id| Module::find(id).ok()),
        );
        Ok(rows
            .into_iter()
            .next()
            .map(|(token, digest, previous, account, _)| KeyHolder {
                token: token.into(),
                digest: SecretDigest::from_trusted(digest),
                previous_digest: previous.map(SecretDigest::from_trusted),
                account: account.into(),
                modules,
            }))
    }

    /// The account's live tokens matching `query`: filtered, searched, ordered and paged, with
    /// the total before paging. The list page and the API's collection both ask here.
    pub fn query(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query<TokenField>,
    ) -> Result<Page<Token>, DbError> {
        let selection = Selection::new(conn, account_id, query);
        counted_page(
            conn,
            query.limit,
            query.offset,
            |conn, limit, offset| selection.load_counted(conn, limit, offset),
            |conn| selection.count(conn),
        )
    }

    /// `query` as above, its total taken from those `counting` keeps under `question` (a name for
    /// the query's filter and search, whatever its page and order) or counted and kept there.
    /// With a total known exactly (one the time cannot change, or just counted), a page in the
    /// second half is read from the end.
    pub fn query_counting(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query<TokenField>,
        counting: &Counting<'_>,
        question: &Question,
    ) -> Result<Page<Token>, DbError> {
        let selection = Selection::new(conn, account_id, query);
        let counted = counting.total(question, || {
            Ok(u64::try_from(selection.count(conn)?).unwrap_or(0))
        })?;
        // A total kept from earlier is exact while no write happened, unless time changes it.
        let (total, exact) = (counted.total, counted.fresh || !question.changes_with_time);
        let (limit, offset) = (u64::from(query.limit), query.offset);
        let items = if limit == 0 || offset >= total {
            Vec::new()
        } else if exact && offset.saturating_add(limit / 2) > total / 2 {
            selection.load_from_end(conn, limit, offset, total)?
        } else {
            selection.load(
                conn,
                i64::from(query.limit),
                i64::try_from(offset).unwrap_or(i64::MAX),
            )?
        };
        Ok(Page { items, total })
    }

    /// `query`'s tokens without their total: for reading a whole collection in batches.
    pub fn batch(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query<TokenField>,
    ) -> Result<Vec<Token>, DbError> {
        Selection::new(conn, account_id, query).batch(
            conn,
            i64::from(query.limit),
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        )
    }

    /// Switches a token on or off and records who did it; unchanged when it already is.
    pub fn set_status(
        conn: &mut DbConnection,
        by: &Requester,
        id: &TokenId,
        status: StoredStatus,
    ) -> Result<Token, DbError> {
        Token::set_status_because(conn, by, id, status, None)
    }

    /// `set_status`, with why, recorded with the event.
    pub fn set_status_because(
        conn: &mut DbConnection,
        by: &Requester,
        id: &TokenId,
        status: StoredStatus,
        reason: Option<&str>,
    ) -> Result<Token, DbError> {
        write_transaction(conn, |conn| {
            within_reach(conn, by, id)?;
            let at = now();
            let changed = diesel::update(
                tokens::table
                    .filter(tokens::id.eq(id.as_str()))
                    .filter(tokens::account_id.eq(by.account_id.as_str()))
                    .filter(tokens::deleted_at.is_null())
                    .filter(tokens::status.ne(status.as_str())),
            )
            .set((
                tokens::status.eq(status.as_str()),
                tokens::updated_at.eq(at),
                tokens::updated_by_id.eq(&by.actor.id),
                tokens::updated_by_name.eq(&by.actor.name),
            ))
            .execute(conn)?;
            if changed == 1 {
                keys::changed(conn, id);
                let kind = match status {
                    StoredStatus::Active => EventKind::TokenEnabled,
                    StoredStatus::Inactive => EventKind::TokenDisabled,
                };
                events::record_for_token_because(conn, id, kind, by, reason)?;
            }
            Token::find(conn, &by.account_id, id)
        })
    }

    /// Deletes a token for good: it disappears from lists, its key stops working and its
    /// encrypted secret is wiped. The row stays so that its history remains.
    pub fn delete(conn: &mut DbConnection, by: &Requester, id: &TokenId) -> Result<(), DbError> {
        write_transaction(conn, |conn| {
            within_reach(conn, by, id)?;
            let at = now();
            let deleted = diesel::update(
                tokens::table
                    .filter(tokens::id.eq(id.as_str()))
                    .filter(tokens::account_id.eq(by.account_id.as_str()))
                    .filter(tokens::deleted_at.is_null()),
            )
            .set((
                tokens::deleted_at.eq(Some(at)),
                tokens::status.eq(StoredStatus::Inactive.as_str()),
                tokens::secret_digest.eq(""),
                tokens::secret_ciphertext.eq(Vec::<u8>::new()),
                tokens::updated_at.eq(at),
                tokens::updated_by_id.eq(&by.actor.id),
                tokens::updated_by_name.eq(&by.actor.name),
            ))
            .execute(conn)?;
            if deleted == 0 {
                return Err(DbError::NotFound);
            }
            keys::changed(conn, id);
            events::record_for_token(conn, id, EventKind::TokenDeleted, by)
        })
    }
}

impl NewToken<'_> {
    /// Inserts the token, its permissions and its "created" event in one transaction, and returns
    /// the key: the only moment the secret exists in clear outside a reveal.
    pub fn insert(
        &self,
        conn: &mut DbConnection,
        master_key: &MasterKey,
        by: &Requester,
    ) -> Result<(Token, ApiKey), DbError> {
        let modules = self.extension.modules_for(self.modules.clone())?;
        by.reach.covers(&modules).map_err(DbError::Forbidden)?;
        for _ in 0..5 {
            let id = TokenId::generate();
            match self.insert_as(conn, master_key, by, id, &modules) {
                Err(DbError::Conflict(_)) => {
                    if let Some(key) = self.creation_key
                        && let Some(existing) =
                            Token::find_by_creation_key(conn, &by.account_id, key)?
                    {
                        return Err(DbError::AlreadyCreated(existing.id));
                    }
                    continue;
                }
                other => return other,
            }
        }
        Err(DbError::Conflict("could not find a free token id".into()))
    }

    fn insert_as(
        &self,
        conn: &mut DbConnection,
        master_key: &MasterKey,
        by: &Requester,
        id: TokenId,
        modules: &ModuleSet,
    ) -> Result<(Token, ApiKey), DbError> {
        let secret = TokenSecret::generate(&id);
        write_transaction(conn, |conn| {
            let at = now();
            diesel::insert_into(tokens::table)
                .values((
                    tokens::id.eq(id.as_str()),
                    tokens::account_id.eq(by.account_id.as_str()),
                    tokens::name.eq(self.general.name.as_str()),
                    tokens::description.eq(self.general.description.as_str()),
                    tokens::external_id.eq(self.general.external_id.as_str()),
                    tokens::extension_id.eq(self.extension.id()),
                    tokens::status.eq(self.status.as_str()),
                    tokens::secret_digest.eq(secret.digest().as_str()),
                    tokens::secret_ciphertext.eq(master_key.seal(&id, &secret)),
                    tokens::expires_at.eq(self.expires_at),
                    tokens::created_at.eq(at),
                    tokens::created_by_id.eq(&by.actor.id),
                    tokens::created_by_name.eq(&by.actor.name),
                    tokens::updated_at.eq(at),
                    tokens::updated_by_id.eq(&by.actor.id),
                    tokens::updated_by_name.eq(&by.actor.name),
                    tokens::creation_key.eq(self.creation_key),
                    tokens::allowed_networks.eq(self.allowed_networks.stored()),
                    tokens::rate_limit.eq(stored_rate_limit(self.rate_limit)),
                ))
                .execute(conn)?;
            insert_grants(conn, &id, modules, at, &by.actor)?;
            events::record_for_token(conn, &id, EventKind::TokenCreated, by)?;
            let token = Token::find(conn, &by.account_id, &id)?;
            Ok((token, ApiKey::new(id.clone(), secret.clone())))
        })
    }
}

/// The live tokens of an account that a query selects, as SQL.
struct Selection<'q> {
    account_id: &'q AccountId,
    query: &'q Query<TokenField>,
    now: NaiveDateTime,
    sqlite: bool,
}

impl<'q> Selection<'q> {
    fn new(conn: &DbConnection, account_id: &'q AccountId, query: &'q Query<TokenField>) -> Self {
        Self {
            account_id,
            query,
            now: now(),
            sqlite: matches!(conn, DbConnection::Sqlite(_)),
        }
    }

    fn matching(&self, membership: Membership) -> Result<BoxedTokens<'q>, DbError> {
        let mut select = tokens::table
            .filter(tokens::account_id.eq(self.account_id.as_str()))
            .filter(tokens::deleted_at.is_null())
            .into_boxed();
        if let Some(filter) = &self.query.filter {
            let conditions = TokenConditions {
                now: self.now,
                membership,
            };
            select = select.filter(filter.fold(&conditions)?);
        }
        if let Some(text) = &self.query.search {
            let index = if self.sqlite {
                SearchIndex::Fts5
            } else {
                SearchIndex::OnTheTest
            };
            select = select.filter(token_filters::search(text, index));
        }
        Ok(select)
    }

    /// The matching tokens, as the page's rows are best found: on SQLite each token is asked
    /// for its permissions in the page's order (see `Membership`).
    fn rows(&self) -> Result<BoxedTokens<'q>, DbError> {
        self.matching(if self.sqlite {
            Membership::EachToken
        } else {
            Membership::Holders
        })
    }

    fn count(&self, conn: &mut DbConnection) -> Result<i64, DbError> {
        Ok(self
            .matching(Membership::Holders)?
            .count()
            .get_result(conn)?)
    }

    /// The query's order (newest first when it names none), or its exact reverse.
    fn ordering(&self, reversed: bool) -> Vec<(TokenField, Direction)> {
        let ordering = if self.query.ordering.is_empty() {
            vec![(TokenField::CreatedAt, Direction::Descending)]
        } else {
            self.query.ordering.clone()
        };
        if !reversed {
            return ordering;
        }
        ordering
            .into_iter()
            .map(|(field, direction)| {
                let opposite = match direction {
                    Direction::Ascending => Direction::Descending,
                    Direction::Descending => Direction::Ascending,
                };
                (field, opposite)
            })
            .collect()
    }

    /// One page of the matching tokens in `ordering`. The page's ids are chosen first, by a query
    /// the indexes alone can answer, and only the page's rows are read: skipping 50 000 tokens
    /// then reads no table row.
    fn page(
        &self,
        limit: i64,
        offset: i64,
        ordering: &[(TokenField, Direction)],
    ) -> Result<BoxedTokens<'q>, DbError> {
        let ids = token_filters::order(self.rows()?, ordering)
            .limit(limit)
            .offset(offset)
            .select(tokens::id);
        Ok(token_filters::order(
            tokens::table
                .filter(InSubquery {
                    column: tokens::id,
                    subquery: ids,
                })
                .into_boxed(),
            ordering,
        ))
    }

    fn load(
        &self,
        conn: &mut DbConnection,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Token>, DbError> {
        read(conn, self.page(limit, offset, &self.ordering(false))?)
    }

    /// `load`, for a page in the second half of `total` matching tokens: read from the other
    /// end, in the reverse order, so that at most half of them are skipped. Exact when `total`
    /// is.
    fn load_from_end(
        &self,
        conn: &mut DbConnection,
        limit: u64,
        offset: u64,
        total: u64,
    ) -> Result<Vec<Token>, DbError> {
        let end = total.min(offset.saturating_add(limit));
        let from_end = i64::try_from(total - end).unwrap_or(i64::MAX);
        let count = i64::try_from(end.saturating_sub(offset)).unwrap_or(0);
        let mut tokens = read(conn, self.page(count, from_end, &self.ordering(true))?)?;
        tokens.reverse();
        Ok(tokens)
    }

    /// The matching tokens in order, `limit` of them from `offset`, read as they come: for
    /// walking a whole collection in batches (with a key in the filter, not an offset).
    fn batch(
        &self,
        conn: &mut DbConnection,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Token>, DbError> {
        let ordered = token_filters::order(self.rows()?, &self.ordering(false));
        read(conn, ordered.limit(limit).offset(offset))
    }

    /// `load` with the number of matching tokens beside each.
    fn load_counted(
        &self,
        conn: &mut DbConnection,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(Token, i64)>, DbError> {
        let total = Total(self.matching(Membership::Holders)?.count());
        Ok(self
            .page(limit, offset, &self.ordering(false))?
            .select((TokenRow::as_select(), total))
            .load::<(TokenRow, i64)>(conn)?
            .into_iter()
            .map(|(row, total)| (Token::from(row), total))
            .collect())
    }
}

/// The tokens `select` finds, in its order.
fn read(conn: &mut DbConnection, select: BoxedTokens<'_>) -> Result<Vec<Token>, DbError> {
    Ok(select
        .select(TokenRow::as_select())
        .load::<TokenRow>(conn)?
        .into_iter()
        .map(Token::from)
        .collect())
}

/// A rate limit as its column holds it (at most 100 000, so it fits).
fn stored_rate_limit(limit: Option<RateLimit>) -> Option<i32> {
    limit.and_then(|limit| i32::try_from(limit.get()).ok())
}

/// The account of a live token, whoever asks (the command line).
pub fn account_of(conn: &mut DbConnection, id: &TokenId) -> Result<Option<AccountId>, DbError> {
    Ok(tokens::table
        .find(id.as_str())
        .filter(tokens::deleted_at.is_null())
        .select(tokens::account_id)
        .first::<String>(conn)
        .optional()?
        .map(AccountId::from_trusted))
}

/// What the requester's live token `id` holds, if the requester may manage a token holding
/// that; another account's token is `NotFound`, whatever it holds.
pub(super) fn within_reach(
    conn: &mut DbConnection,
    by: &Requester,
    id: &TokenId,
) -> Result<ModuleSet, DbError> {
    let token = Token::find(conn, &by.account_id, id)?;
    let held = Token::permissions(conn, id)?;
    by.reach
        .may_manage(&token.created.by, &held)
        .map_err(DbError::Forbidden)?;
    Ok(held)
}

/// Grants `modules` to the token; one already held stays as it was (two requests granting the
/// same module at once grant it once).
fn insert_grants(
    conn: &mut DbConnection,
    id: &TokenId,
    modules: &ModuleSet,
    at: NaiveDateTime,
    actor: &Actor,
) -> Result<(), DbError> {
    for module in modules.iter() {
        let grant = (
            token_permissions::token_id.eq(id.as_str()),
            token_permissions::module_id.eq(module.id),
            token_permissions::granted_at.eq(at),
            token_permissions::granted_by_id.eq(&actor.id),
            token_permissions::granted_by_name.eq(&actor.name),
        );
        on_backend!(&mut *conn, |c| diesel::insert_into(
            token_permissions::table
        )
        .values(grant)
        .on_conflict_do_nothing()
        .execute(c))?;
    }
    Ok(())
}
