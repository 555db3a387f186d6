//! Tokens as stored: their rows, their permissions, and the queries that read and write them.
//! What a change may do, and who may make it, is `services::tokens`'.

use super::accounts::{Account, AccountRow};
use super::pool::on_backend;
use super::query::{InSubquery, Page, Total, Totals, counted_page};
use super::schema::{accounts, token_permissions, tokens, users};
use super::token_filters::{self, BoxedTokens, Membership, SearchIndex, TokenConditions};
use super::{DbConnection, DbError, found};
use crate::domain::access::{Actor, Owner, Person};
use crate::domain::api_key::{SecretDigest, TokenSecret};
use crate::domain::extension::Extension;
use crate::domain::fields::TokenField;
use crate::domain::ids::{AccountId, TokenId, UserId};
use crate::domain::lifecycle::{AllowedNetworks, RateLimit};
use crate::domain::module::{Module, ModuleSet};
use crate::domain::policy::{AccountPolicy, KeyTerms};
use crate::domain::query::{Direction, Query};
use crate::domain::token::{StoredStatus, TokenStatus};
use crate::domain::user::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashMap;

/// The account's live (not deleted) token `id`, as a query to go on from: every read or write of
/// one token by its account starts here.
macro_rules! live_token {
    ($account_id:expr, $id:expr) => {
        tokens::table
            .filter(tokens::id.eq($id.as_str()))
            .filter(tokens::account_id.eq($account_id.as_str()))
            .filter(tokens::deleted_at.is_null())
    };
}

/// A token's row as read (its secret left out).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
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
    owner_id: String,
    owner_name: String,
    awaiting_approval: bool,
    lifetime_seconds: Option<i64>,
}

/// A token's row as written by `Token::insert`.
#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewTokenRow<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub external_id: &'a str,
    pub extension_id: &'a str,
    pub status: &'a str,
    pub secret_digest: &'a str,
    pub secret_ciphertext: &'a [u8],
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub created_by_id: &'a str,
    pub created_by_name: &'a str,
    pub updated_at: NaiveDateTime,
    pub updated_by_id: &'a str,
    pub updated_by_name: &'a str,
    pub creation_key: Option<&'a str>,
    pub allowed_networks: String,
    pub rate_limit: Option<i32>,
    pub owner_id: &'a str,
    pub owner_name: &'a str,
    pub awaiting_approval: bool,
    pub lifetime_seconds: Option<i64>,
}

/// The columns `Token::change` writes; `None` leaves one as it is, and `Some(None)` empties a
/// column that may be empty.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tokens)]
pub struct TokenChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub secret_digest: Option<&'a str>,
    pub secret_ciphertext: Option<&'a [u8]>,
    pub previous_secret_digest: Option<Option<&'a str>>,
    pub previous_secret_expires_at: Option<Option<NaiveDateTime>>,
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub allowed_networks: Option<String>,
    pub rate_limit: Option<Option<i32>>,
    pub updated_at: Option<NaiveDateTime>,
    pub updated_by_id: Option<&'a str>,
    pub updated_by_name: Option<&'a str>,
    pub deleted_at: Option<Option<NaiveDateTime>>,
    pub owner_id: Option<&'a str>,
    pub owner_name: Option<&'a str>,
    pub awaiting_approval: Option<bool>,
    pub lifetime_seconds: Option<Option<i64>>,
}

/// A row of `Token::for_key`: the token, its digests, its account, one of its modules, and its
/// owner's role while they are active.
type KeyRow = (
    TokenRow,
    String,
    Option<String>,
    AccountRow,
    Option<String>,
    Option<String>,
);

/// A token as an API key sees it: what to check the key against, and what it may reach.
pub struct KeyHolder {
    pub token: Token,
    pub digest: SecretDigest,
    /// The key replaced by a rotation, while it still works (`token.previous_key_until`).
    pub previous_digest: Option<SecretDigest>,
    pub account: Account,
    pub modules: ModuleSet,
    /// The user the key acts for, while they are an active user of the account.
    pub owner: Option<Owner>,
}

impl KeyHolder {
    /// Whether `secret` is the token's key, or its previous one within the grace period.
    pub fn accepts(&self, secret: &TokenSecret, now: NaiveDateTime) -> bool {
        // Both compared, in constant time each, whichever matches.
        let current = self.digest.is_of(secret);
        let previous = self
            .previous_digest
            .as_ref()
            .is_some_and(|previous| previous.is_of(secret))
            && self
                .token
                .previous_key_until
                .is_some_and(|until| now < until);
        current | previous
    }
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
    pub rate_limit: Option<RateLimit>,
    /// The user it acts for, who manages it (with the admins): who made it, or was handed it.
    pub owner: Actor,
    /// Made by a member, asking for modules an admin must approve first: its key is refused
    /// until then.
    pub awaiting_approval: bool,
    /// How long its key lives from when its expiry was set; `None`: it never expires. What a
    /// maximum lifetime set later is held against.
    pub lifetime: Option<chrono::Duration>,
}

/// A stored value this version cannot read: an error naming the row and the column, never a
/// silent default.
fn unreadable(id: &str, column: &str, value: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("token {id}: {column} “{value}” cannot be read"))
}

impl TryFrom<TokenRow> for Token {
    type Error = DbError;

    fn try_from(row: TokenRow) -> Result<Self, DbError> {
        let extension = Extension::parse(&row.extension_id)
            .map_err(|_| unreadable(&row.id, "extension_id", &row.extension_id))?;
        let stored_status = StoredStatus::parse(&row.status)
            .ok_or_else(|| unreadable(&row.id, "status", &row.status))?;
        let allowed_networks = AllowedNetworks::from_stored(&row.allowed_networks)
            .map_err(|_| unreadable(&row.id, "allowed_networks", &row.allowed_networks))?;
        let rate_limit = row
            .rate_limit
            .map(|n| {
                u64::try_from(n)
                    .ok()
                    .and_then(RateLimit::new)
                    .ok_or_else(|| unreadable(&row.id, "rate_limit", n))
            })
            .transpose()?;
        Ok(Self {
            id: TokenId::from_trusted(row.id),
            account_id: AccountId::from_trusted(row.account_id),
            name: row.name,
            description: row.description,
            external_id: row.external_id,
            extension,
            stored_status,
            expires_at: row.expires_at,
            created: Stamp::new(row.created_at, row.created_by_id, row.created_by_name),
            updated: Stamp::new(row.updated_at, row.updated_by_id, row.updated_by_name),
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            previous_key_until: row.previous_secret_expires_at,
            allowed_networks,
            rate_limit,
            owner: Actor {
                id: row.owner_id,
                name: row.owner_name,
            },
            awaiting_approval: row.awaiting_approval,
            lifetime: row.lifetime_seconds.map(chrono::Duration::seconds),
        })
    }
}

/// A module as a column holds it; one this version does not know is an error, never left out.
pub fn stored_module(id: &str) -> Result<Module, DbError> {
    Module::find(id).map_err(|_| DbError::Corrupt(format!("module “{id}” cannot be read")))
}

/// A rate limit as its column holds it (at most 100 000, so it fits).
pub fn stored_rate_limit(limit: Option<RateLimit>) -> Option<i32> {
    limit.and_then(|limit| i32::try_from(limit.get()).ok())
}

/// The live token `id` of the account, with its current secret's digest, read for a change:
/// on PostgreSQL its row is locked until the transaction ends, so that concurrent changes of
/// one token are judged one after the other (SQLite's write lock already does).
pub struct ForChange {
    pub token: Token,
    pub digest: String,
}

impl ForChange {
    /// A token read to be shown, not changed: its digest is not read (and not needed).
    pub fn shown(token: Token) -> Self {
        Self {
            token,
            digest: String::new(),
        }
    }
}

impl Token {
    pub fn status(&self, at: NaiveDateTime) -> TokenStatus {
        TokenStatus::of_token(
            self.stored_status,
            self.awaiting_approval,
            self.expires_at,
            at,
        )
    }

    /// What the account's policy looks at in it.
    pub fn key_terms(&self) -> KeyTerms {
        KeyTerms {
            lifetime: self.lifetime,
            has_networks: !self.allowed_networks.is_empty(),
        }
    }

    /// A live token of the account; another account's or a deleted token is `NotFound`.
    pub fn find(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
    ) -> Result<Token, DbError> {
        live_token!(account_id, id)
            .select(TokenRow::as_select())
            .first::<TokenRow>(conn)?
            .try_into()
    }

    /// See `ForChange`: one statement.
    pub fn find_for_change(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
    ) -> Result<ForChange, DbError> {
        let (row, digest) = match conn {
            DbConnection::Postgres(pg) => live_token!(account_id, id)
                .select((TokenRow::as_select(), tokens::secret_digest))
                .for_update()
                .first::<(TokenRow, String)>(pg)?,
            DbConnection::Sqlite(sqlite) => live_token!(account_id, id)
                .select((TokenRow::as_select(), tokens::secret_digest))
                .first::<(TokenRow, String)>(sqlite)?,
        };
        Ok(ForChange {
            token: row.try_into()?,
            digest,
        })
    }

    /// The token a creation key made, if any (deleted ones included: it was made all the same).
    pub fn find_by_creation_key(
        conn: &mut DbConnection,
        account_id: &AccountId,
        key: &str,
    ) -> Result<Option<Token>, DbError> {
        tokens::table
            .filter(tokens::creation_key.eq(key))
            .filter(tokens::account_id.eq(account_id.as_str()))
            .select(TokenRow::as_select())
            .first::<TokenRow>(conn)
            .optional()?
            .map(Token::try_from)
            .transpose()
    }

    /// The account's live tokens owned by `owner`, by name.
    pub fn owned_by(
        conn: &mut DbConnection,
        account_id: &AccountId,
        owner: &UserId,
    ) -> Result<Vec<Token>, DbError> {
        tokens::table
            .filter(tokens::account_id.eq(account_id.as_str()))
            .filter(tokens::owner_id.eq(owner.as_str()))
            .filter(tokens::deleted_at.is_null())
            .order((tokens::name, tokens::id))
            .select(TokenRow::as_select())
            .load::<TokenRow>(conn)?
            .into_iter()
            .map(Token::try_from)
            .collect()
    }

    /// Live, enabled tokens of every account whose key expires after `after` and at or before
    /// `until`, soonest first (at most `limit`), with their account: what reminders look at.
    pub fn expiring_between(
        conn: &mut DbConnection,
        after: NaiveDateTime,
        until: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<(AccountId, Token)>, DbError> {
        tokens::table
            .filter(tokens::deleted_at.is_null())
            .filter(tokens::status.eq(StoredStatus::Active.as_str()))
            .filter(tokens::awaiting_approval.eq(false))
            .filter(tokens::expires_at.is_not_null())
            .filter(tokens::expires_at.assume_not_null().gt(after))
            .filter(tokens::expires_at.assume_not_null().le(until))
            .order((tokens::expires_at.asc(), tokens::id.asc()))
            .limit(limit)
            .select((tokens::account_id, TokenRow::as_select()))
            .load::<(String, TokenRow)>(conn)?
            .into_iter()
            .map(|(account, row)| Ok((AccountId::from_trusted(account), Token::try_from(row)?)))
            .collect()
    }

    /// Whether the account has any token, live or deleted.
    pub fn any_in_account(
        conn: &mut DbConnection,
        account_id: &AccountId,
    ) -> Result<bool, DbError> {
        Ok(diesel::select(diesel::dsl::exists(
            tokens::table.filter(tokens::account_id.eq(account_id.as_str())),
        ))
        .get_result(conn)?)
    }

    /// The sealed secret of the account's live token `id`.
    pub fn sealed_secret(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
    ) -> Result<Vec<u8>, DbError> {
        Ok(live_token!(account_id, id)
            .select(tokens::secret_ciphertext)
            .first(conn)?)
    }

    /// Inserts a token's row; a taken id (or creation key) is `Conflict`.
    pub fn insert(conn: &mut DbConnection, row: &NewTokenRow<'_>) -> Result<(), DbError> {
        diesel::insert_into(tokens::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// Writes `changes` to the account's live token `id`; `NotFound` when there is none.
    pub fn change(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &TokenId,
        changes: &TokenChanges<'_>,
    ) -> Result<(), DbError> {
        let changed = diesel::update(live_token!(account_id, id))
            .set(changes)
            .execute(conn)?;
        found(changed)
    }

    /// Grants `modules` to the token; one already held stays as it was (two requests granting
    /// the same module at once grant it once).
    pub fn grant(
        conn: &mut DbConnection,
        id: &TokenId,
        modules: &ModuleSet,
        at: NaiveDateTime,
        by: &Actor,
    ) -> Result<(), DbError> {
        for module in modules.iter() {
            let grant = (
                token_permissions::token_id.eq(id.as_str()),
                token_permissions::module_id.eq(module.id),
                token_permissions::granted_at.eq(at),
                token_permissions::granted_by_id.eq(&by.id),
                token_permissions::granted_by_name.eq(&by.name),
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

    /// Takes `modules` away from the token.
    pub fn revoke(
        conn: &mut DbConnection,
        id: &TokenId,
        modules: &ModuleSet,
    ) -> Result<(), DbError> {
        diesel::delete(
            token_permissions::table
                .filter(token_permissions::token_id.eq(id.as_str()))
                .filter(token_permissions::module_id.eq_any(modules.iter().map(|m| m.id))),
        )
        .execute(conn)?;
        Ok(())
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

    /// What one token may reach. A query of its own (not `grants`): every change asks it,
    /// and a fixed statement is prepared once per connection.
    pub fn permissions(conn: &mut DbConnection, id: &TokenId) -> Result<ModuleSet, DbError> {
        let ids: Vec<String> = on_backend!(conn, |c| token_permissions::table
            .filter(token_permissions::token_id.eq(id.as_str()))
            .select(token_permissions::module_id)
            .load(c))?;
        Ok(ModuleSet::of(
            ids.iter()
                .map(|id| stored_module(id))
                .collect::<Result<Vec<_>, _>>()?,
        ))
    }

    /// The permissions of one token, with when and by whom they were granted.
    pub fn grants_of(conn: &mut DbConnection, id: &TokenId) -> Result<Vec<Grant>, DbError> {
        Ok(Token::grants(conn, std::slice::from_ref(id))?
            .remove(id)
            .unwrap_or_default())
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
            let module = stored_module(&module_id)?;
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
    /// account and what it may reach, in one query (asked for every key the cache does not
    /// hold). Deleted and unknown tokens are both `None`.
    pub fn for_key(conn: &mut DbConnection, id: &TokenId) -> Result<Option<KeyHolder>, DbError> {
        let rows = on_backend!(conn, |c| tokens::table
            .inner_join(accounts::table)
            .left_join(token_permissions::table)
            .left_join(
                users::table.on(users::id
                    .eq(tokens::owner_id)
                    .and(users::account_id.eq(tokens::account_id))
                    .and(users::active.eq(true))),
            )
            .filter(tokens::id.eq(id.as_str()))
            .filter(tokens::deleted_at.is_null())
            .select((
                TokenRow::as_select(),
                tokens::secret_digest,
                tokens::previous_secret_digest,
                AccountRow::as_select(),
                token_permissions::module_id.nullable(),
                users::role.nullable(),
            ))
            .load::<KeyRow>(c))?;
        let modules = ModuleSet::of(
            rows.iter()
                .filter_map(|row| row.4.as_deref())
                .map(stored_module)
                .collect::<Result<Vec<_>, _>>()?,
        );
        rows.into_iter()
            .next()
            .map(|(token, digest, previous, account, _, role)| {
                let token = Token::try_from(token)?;
                let owner = role
                    .map(|role| {
                        let role = Role::parse(&role).map_err(|_| {
                            DbError::Corrupt(format!("user {}: role “{role}”", token.owner.id))
                        })?;
                        Ok::<_, DbError>(Owner {
                            person: Person {
                                user_id: UserId::from_trusted(token.owner.id.clone()),
                                role,
                            },
                            actor: token.owner.clone(),
                        })
                    })
                    .transpose()?;
                Ok(KeyHolder {
                    token,
                    digest: SecretDigest::from_trusted(digest),
                    previous_digest: previous.map(SecretDigest::from_trusted),
                    account: account.into(),
                    modules,
                    owner,
                })
            })
            .transpose()
    }

    /// The account's live tokens matching `query`: filtered, searched, ordered and paged, with
    /// the total before paging. The list page and the API's collection both ask here.
    pub fn query(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query<TokenField>,
        now: NaiveDateTime,
    ) -> Result<Page<Token>, DbError> {
        let selection = Selection::new(conn, account_id, query, now)?;
        counted_page(
            conn,
            query.limit,
            query.offset,
            |conn, limit, offset| selection.load_counted(conn, limit, offset),
            |conn| selection.count(conn),
        )
    }

    /// `query` as above, its total taken from `totals` (kept from an earlier page, or counted).
    /// With a total known exactly, a page in the second half is read from the end.
    pub fn query_with_totals(
        conn: &mut DbConnection,
        account_id: &AccountId,
        query: &Query<TokenField>,
        totals: &dyn Totals,
        now: NaiveDateTime,
    ) -> Result<Page<Token>, DbError> {
        let selection = Selection::new(conn, account_id, query, now)?;
        let known = totals.total(&mut || Ok(u64::try_from(selection.count(conn)?).unwrap_or(0)))?;
        let (total, exact) = (known.count, known.exact);
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
        now: NaiveDateTime,
    ) -> Result<Vec<Token>, DbError> {
        Selection::new(conn, account_id, query, now)?.batch(
            conn,
            i64::from(query.limit),
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        )
    }
}

/// The live tokens of an account that a query selects, as SQL.
struct Selection<'q> {
    account_id: &'q AccountId,
    query: &'q Query<TokenField>,
    now: NaiveDateTime,
    sqlite: bool,
    /// The account's policy, read when the query asks which tokens break it.
    policy: AccountPolicy,
}

impl<'q> Selection<'q> {
    fn new(
        conn: &mut DbConnection,
        account_id: &'q AccountId,
        query: &'q Query<TokenField>,
        now: NaiveDateTime,
    ) -> Result<Self, DbError> {
        let asks_policy = query
            .filter
            .as_ref()
            .is_some_and(|f| f.mentions(&TokenField::Policy));
        let policy = if asks_policy {
            super::accounts::Account::find(conn, account_id)?.policy
        } else {
            AccountPolicy::default()
        };
        Ok(Self {
            account_id,
            query,
            now,
            sqlite: matches!(conn, DbConnection::Sqlite(_)),
            policy,
        })
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
                policy: &self.policy,
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
        self.page(limit, offset, &self.ordering(false))?
            .select((TokenRow::as_select(), total))
            .load::<(TokenRow, i64)>(conn)?
            .into_iter()
            .map(|(row, total)| Ok((Token::try_from(row)?, total)))
            .collect()
    }
}

/// The tokens `select` finds, in its order.
fn read(conn: &mut DbConnection, select: BoxedTokens<'_>) -> Result<Vec<Token>, DbError> {
    select
        .select(TokenRow::as_select())
        .load::<TokenRow>(conn)?
        .into_iter()
        .map(Token::try_from)
        .collect()
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

/// A key's lifetime as its column holds it: from `set_at` to `expires_at`, in seconds.
pub fn stored_lifetime(expires_at: Option<NaiveDateTime>, set_at: NaiveDateTime) -> Option<i64> {
    expires_at.map(|at| (at - set_at).num_seconds())
}
