use super::schema::accounts;
use super::{DbConnection, DbError};
use crate::domain::ids::AccountId;
use crate::domain::lifecycle::RateLimit;
use crate::domain::module::{Module, ModuleSet};
use crate::domain::policy::AccountPolicy;
use crate::domain::text::AccountName;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub max_lifetime_days: Option<i32>,
    pub require_expiry: bool,
    pub approval_modules: String,
    pub require_allowed_networks: bool,
    pub default_rate_limit: Option<i32>,
    pub require_2fa: bool,
}

/// An account, with the policy its admins set for its tokens (read with it wherever it is
/// read: the key check holds every key against it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub policy: AccountPolicy,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        let policy = AccountPolicy {
            max_lifetime_days: row.max_lifetime_days.and_then(|d| u32::try_from(d).ok()),
            require_expiry: row.require_expiry,
            // Written only from a checked list; an id this version does not know is left out.
            approval_modules: ModuleSet::of(
                row.approval_modules
                    .split(',')
                    .filter_map(|id| Module::find(id.trim()).ok()),
            ),
            require_allowed_networks: row.require_allowed_networks,
            default_rate_limit: row
                .default_rate_limit
                .and_then(|n| u64::try_from(n).ok())
                .and_then(RateLimit::new),
            require_2fa: row.require_2fa,
        };
        Self {
            id: AccountId::from_trusted(row.id),
            name: row.name,
            policy,
        }
    }
}

impl Account {
    pub fn find_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Account>, DbError> {
        Ok(accounts::table
            .filter(accounts::name.eq(name))
            .select(AccountRow::as_select())
            .first(conn)
            .optional()?
            .map(Account::from))
    }

    pub fn find(conn: &mut DbConnection, id: &AccountId) -> Result<Account, DbError> {
        Ok(accounts::table
            .find(id.as_str())
            .select(AccountRow::as_select())
            .first::<AccountRow>(conn)?
            .into())
    }

    pub fn any_exists(conn: &mut DbConnection) -> Result<bool, DbError> {
        let count: i64 = accounts::table.count().get_result(conn)?;
        Ok(count > 0)
    }

    /// Creates an account with a fresh id at `at`, retrying on the rare id collision.
    pub fn insert(
        conn: &mut DbConnection,
        name: &AccountName,
        at: NaiveDateTime,
    ) -> Result<Account, DbError> {
        for _ in 0..5 {
            let id = AccountId::generate();
            // A nested transaction (a savepoint) keeps an outer transaction usable after a conflict.
            let inserted = conn.transaction(|conn| {
                diesel::insert_into(accounts::table)
                    .values((
                        accounts::id.eq(id.as_str()),
                        accounts::name.eq(name.as_str()),
                        accounts::created_at.eq(at),
                    ))
                    .execute(conn)
            });
            match inserted.map_err(DbError::from) {
                Ok(_) => {
                    return Ok(Account {
                        id,
                        name: name.as_str().to_owned(),
                        policy: AccountPolicy::default(),
                    });
                }
                Err(DbError::Conflict(_)) if Self::find_by_name(conn, name.as_str())?.is_none() => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(DbError::Conflict("could not find a free account id".into()))
    }

    /// The named account, created when it does not exist yet.
    pub fn find_or_insert(
        conn: &mut DbConnection,
        name: &AccountName,
        at: NaiveDateTime,
    ) -> Result<Account, DbError> {
        match Self::find_by_name(conn, name.as_str())? {
            Some(account) => Ok(account),
            None => Self::insert(conn, name, at),
        }
    }
}

/// Sets the account's policy.
pub fn set_policy(
    conn: &mut DbConnection,
    id: &AccountId,
    policy: &AccountPolicy,
) -> Result<(), DbError> {
    let modules: Vec<&str> = policy.approval_modules.iter().map(|m| m.id).collect();
    diesel::update(accounts::table.find(id.as_str()))
        .set((
            accounts::max_lifetime_days
                .eq(policy.max_lifetime_days.and_then(|d| i32::try_from(d).ok())),
            accounts::require_expiry.eq(policy.require_expiry),
            accounts::approval_modules.eq(modules.join(",")),
            accounts::require_allowed_networks.eq(policy.require_allowed_networks),
            accounts::default_rate_limit.eq(policy
                .default_rate_limit
                .and_then(|r| i32::try_from(r.get()).ok())),
            accounts::require_2fa.eq(policy.require_2fa),
        ))
        .execute(conn)?;
    Ok(())
}
