use super::accounts::{Account, AccountRow};
use super::schema::{accounts, users};
use super::{DbConnection, DbError, now};
use crate::domain::ids::{AccountId, UserId};
use crate::domain::text::PersonName;
use crate::domain::token::{Actor, Reach, Requester};
use crate::domain::user::{Email, Role};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    account_id: String,
    email: String,
    name: String,
    role: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId::from_trusted(row.id),
            account_id: AccountId::from_trusted(row.account_id),
            email: row.email,
            name: row.name,
            role: row.role,
        }
    }
}

/// What signing in needs: the user and the stored password hash.
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
}

pub struct NewUser<'a> {
    pub account_id: &'a AccountId,
    pub email: &'a Email,
    pub name: &'a PersonName,
    pub role: Role,
    pub password_hash: &'a str,
}

impl User {
    /// The user as the author of a change made outside any request (the command line, the
    /// demo data).
    pub fn offline(&self) -> Requester {
        Requester {
            account_id: self.account_id.clone(),
            actor: Actor::user(&self.id, &self.name),
            client_ip: None,
            reach: Reach::Account,
        }
    }

    pub fn credentials(
        conn: &mut DbConnection,
        email: &Email,
    ) -> Result<Option<Credentials>, DbError> {
        Ok(users::table
            .filter(users::email.eq(email.as_str()))
            .select((users::id, users::password_hash))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(id, password_hash)| Credentials {
                user_id: UserId::from_trusted(id),
                password_hash,
            }))
    }

    /// The signed-in user with their account, in one query.
    pub fn find_with_account(
        conn: &mut DbConnection,
        id: &UserId,
    ) -> Result<(User, Account), DbError> {
        let (user, account) = users::table
            .inner_join(accounts::table)
            .filter(users::id.eq(id.as_str()))
            .select((UserRow::as_select(), AccountRow::as_select()))
            .first::<(UserRow, AccountRow)>(conn)?;
        Ok((user.into(), account.into()))
    }

    /// The account's longest-standing admin (or user), who acts for command-line changes.
    pub fn first_of_account(
        conn: &mut DbConnection,
        account_id: &AccountId,
    ) -> Result<User, DbError> {
        let mut rows = users::table
            .filter(users::account_id.eq(account_id.as_str()))
            .order(users::created_at.asc())
            .select(UserRow::as_select())
            .load::<UserRow>(conn)?;
        let position = rows
            .iter()
            .position(|u| u.role == Role::Admin.as_str())
            .unwrap_or(0);
        if rows.is_empty() {
            return Err(DbError::NotFound);
        }
        Ok(rows.swap_remove(position).into())
    }
}

impl NewUser<'_> {
    /// Fails with `Conflict` when the e-mail is taken; retries the rare id collision. Each attempt
    /// runs in its own (nested) transaction, so a failed one leaves an outer transaction usable.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<User, DbError> {
        let taken = || DbError::Conflict(format!("a user with the e-mail {} exists", self.email));
        for _ in 0..5 {
            if User::credentials(conn, self.email)?.is_some() {
                return Err(taken());
            }
            let id = UserId::generate();
            let inserted = conn.transaction(|conn| {
                diesel::insert_into(users::table)
                    .values((
                        users::id.eq(id.as_str()),
                        users::account_id.eq(self.account_id.as_str()),
                        users::email.eq(self.email.as_str()),
                        users::name.eq(self.name.as_str()),
                        users::role.eq(self.role.as_str()),
                        users::password_hash.eq(self.password_hash),
                        users::created_at.eq(now()),
                    ))
                    .execute(conn)
            });
            match inserted.map_err(DbError::from) {
                Ok(_) => {
                    return Ok(User {
                        id,
                        account_id: self.account_id.clone(),
                        email: self.email.to_string(),
                        name: self.name.as_str().to_owned(),
                        role: self.role.as_str().to_owned(),
                    });
                }
                // Either the id or the e-mail was taken meanwhile; the next round tells which.
                Err(DbError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DbError::Conflict("could not find a free user id".into()))
    }
}
