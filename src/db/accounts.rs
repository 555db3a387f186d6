use super::schema::accounts;
use super::{DbConnection, DbError};
use crate::domain::ids::AccountId;
use crate::domain::text::AccountName;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            id: AccountId::from_trusted(row.id),
            name: row.name,
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
