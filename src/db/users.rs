//! Staff users: signing in, the team an admin manages, and passwords.

use super::accounts::{Account, AccountRow};
use super::events::NewEvent;
use super::pool::write_transaction;
use super::schema::{accounts, sessions, users};
use super::{DbConnection, DbError};
use crate::domain::access::Person;
use crate::domain::event::EventKind;
use crate::domain::ids::{AccountId, UserId};
use crate::domain::text::PersonName;
use crate::domain::token::{Actor, Reach, Requester};
use crate::domain::user::{Email, Role};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    account_id: String,
    email: String,
    name: String,
    role: String,
    active: bool,
    last_sign_in_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// A deactivated user cannot sign in, and has no open session.
    pub active: bool,
    pub last_sign_in_at: Option<NaiveDateTime>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId::from_trusted(row.id),
            account_id: AccountId::from_trusted(row.account_id),
            email: row.email,
            name: row.name,
            // The column only holds the two (a CHECK constraint); the lesser is the safe reading.
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            active: row.active,
            last_sign_in_at: row.last_sign_in_at,
        }
    }
}

/// What signing in needs: the user and the stored password hash.
pub struct Credentials {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub name: String,
    pub active: bool,
    pub password_hash: String,
}

pub struct NewUser<'a> {
    pub account_id: &'a AccountId,
    pub email: &'a Email,
    pub name: &'a PersonName,
    pub role: Role,
    pub password_hash: &'a str,
}

/// Why a change to the team was refused.
pub const LAST_ADMIN: &str = "An account keeps at least one active admin: make another user an \
    admin first.";

impl User {
    pub fn actor(&self) -> Actor {
        Actor::user(&self.id, &self.name)
    }

    pub fn person(&self) -> Person {
        Person {
            user_id: self.id.clone(),
            role: self.role,
        }
    }

    /// The user as the author of a change made outside any request (the command line, the
    /// demo data).
    pub fn offline(&self) -> Requester {
        Requester {
            account_id: self.account_id.clone(),
            actor: self.actor(),
            client_ip: None,
            reach: Reach::Person(self.person()),
        }
    }

    pub fn credentials(
        conn: &mut DbConnection,
        email: &Email,
    ) -> Result<Option<Credentials>, DbError> {
        Ok(users::table
            .filter(users::email.eq(email.as_str()))
            .select((
                users::id,
                users::account_id,
                users::name,
                users::active,
                users::password_hash,
            ))
            .first::<(String, String, String, bool, String)>(conn)
            .optional()?
            .map(
                |(id, account_id, name, active, password_hash)| Credentials {
                    user_id: UserId::from_trusted(id),
                    account_id: AccountId::from_trusted(account_id),
                    name,
                    active,
                    password_hash,
                },
            ))
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

    /// A user of the account; another account's is `NotFound`.
    pub fn find(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &UserId,
    ) -> Result<User, DbError> {
        Ok(users::table
            .filter(users::id.eq(id.as_str()))
            .filter(users::account_id.eq(account_id.as_str()))
            .select(UserRow::as_select())
            .first::<UserRow>(conn)?
            .into())
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> Result<User, DbError> {
        Ok(users::table
            .filter(users::email.eq(email.as_str()))
            .select(UserRow::as_select())
            .first::<UserRow>(conn)?
            .into())
    }

    /// The account's team, admins first, then by name.
    pub fn list(conn: &mut DbConnection, account_id: &AccountId) -> Result<Vec<User>, DbError> {
        let mut team: Vec<User> = users::table
            .filter(users::account_id.eq(account_id.as_str()))
            .order((super::lower(users::name).asc(), users::id.asc()))
            .select(UserRow::as_select())
            .load::<UserRow>(conn)?
            .into_iter()
            .map(User::from)
            .collect();
        team.sort_by_key(|u| u.role != Role::Admin);
        Ok(team)
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
            .position(|u| u.role == Role::Admin.as_str() && u.active)
            .unwrap_or(0);
        if rows.is_empty() {
            return Err(DbError::NotFound);
        }
        Ok(rows.swap_remove(position).into())
    }

    /// Notes a successful sign-in on the user and in the account's events.
    pub fn record_sign_in(
        conn: &mut DbConnection,
        credentials: &Credentials,
        client_ip: Option<&str>,
        at: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(users::table.find(credentials.user_id.as_str()))
            .set(users::last_sign_in_at.eq(Some(at)))
            .execute(conn)?;
        NewEvent {
            account_id: &credentials.account_id,
            kind: EventKind::UserSignedIn,
            actor: &Actor::user(&credentials.user_id, &credentials.name),
            user_id: Some(&credentials.user_id),
            detail: None,
            client_ip,
            at,
        }
        .record(conn)
    }

    /// Changes the role of a user of `by`'s account; demoting the last active admin is refused.
    pub fn set_role(
        conn: &mut DbConnection,
        by: &Requester,
        id: &UserId,
        role: Role,
        at: NaiveDateTime,
    ) -> Result<User, DbError> {
        write_transaction(conn, |conn| {
            let user = User::find(conn, &by.account_id, id)?;
            if user.role == role {
                return Ok(user);
            }
            if user.role == Role::Admin && user.active {
                ensure_another_admin(conn, &by.account_id, id)?;
            }
            diesel::update(users::table.find(id.as_str()))
                .set(users::role.eq(role.as_str()))
                .execute(conn)?;
            let change = format!("{} → {}", user.role.as_str(), role.as_str());
            record(conn, by, EventKind::UserRoleChanged, id, Some(&change), at)?;
            User::find(conn, &by.account_id, id)
        })
    }

    /// Deactivates (ending every session at once) or activates a user of `by`'s account;
    /// deactivating the last active admin is refused.
    pub fn set_active(
        conn: &mut DbConnection,
        by: &Requester,
        id: &UserId,
        active: bool,
        at: NaiveDateTime,
    ) -> Result<User, DbError> {
        write_transaction(conn, |conn| {
            let user = User::find(conn, &by.account_id, id)?;
            if user.active == active {
                return Ok(user);
            }
            if !active && user.role == Role::Admin {
                ensure_another_admin(conn, &by.account_id, id)?;
            }
            diesel::update(users::table.find(id.as_str()))
                .set(users::active.eq(active))
                .execute(conn)?;
            if !active {
                end_sessions(conn, id, None)?;
            }
            let kind = if active {
                EventKind::UserActivated
            } else {
                EventKind::UserDeactivated
            };
            record(conn, by, kind, id, None, at)?;
            User::find(conn, &by.account_id, id)
        })
    }

    /// Sets a new password hash and ends the user's sessions but `keep` (the one changing it).
    pub fn set_password(
        conn: &mut DbConnection,
        by: &Requester,
        id: &UserId,
        password_hash: &str,
        keep: Option<&str>,
        at: NaiveDateTime,
    ) -> Result<(), DbError> {
        write_transaction(conn, |conn| {
            User::find(conn, &by.account_id, id)?;
            diesel::update(users::table.find(id.as_str()))
                .set(users::password_hash.eq(password_hash))
                .execute(conn)?;
            end_sessions(conn, id, keep)?;
            record(conn, by, EventKind::UserPasswordChanged, id, None, at)
        })
    }
}

/// Ends every session of a user except `keep` (a session id hash).
pub fn end_sessions(
    conn: &mut DbConnection,
    user_id: &UserId,
    keep: Option<&str>,
) -> Result<usize, DbError> {
    let mine = sessions::table.filter(sessions::user_id.eq(user_id.as_str()));
    Ok(match keep {
        Some(keep) => diesel::delete(mine.filter(sessions::id_hash.ne(keep))).execute(conn)?,
        None => diesel::delete(mine).execute(conn)?,
    })
}

/// Refuses to leave the account without an active admin once `leaving` is no longer one.
fn ensure_another_admin(
    conn: &mut DbConnection,
    account_id: &AccountId,
    leaving: &UserId,
) -> Result<(), DbError> {
    let others: i64 = users::table
        .filter(users::account_id.eq(account_id.as_str()))
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::active.eq(true))
        .filter(users::id.ne(leaving.as_str()))
        .count()
        .get_result(conn)?;
    if others == 0 {
        Err(DbError::Refused(LAST_ADMIN.to_owned()))
    } else {
        Ok(())
    }
}

fn record(
    conn: &mut DbConnection,
    by: &Requester,
    kind: EventKind,
    user: &UserId,
    detail: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    NewEvent {
        account_id: &by.account_id,
        kind,
        actor: &by.actor,
        user_id: Some(user),
        detail,
        client_ip: by.client_ip.as_deref(),
        at,
    }
    .record(conn)
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
                        users::created_at.eq(super::now()),
                    ))
                    .execute(conn)
            });
            match inserted.map_err(DbError::from) {
                Ok(_) => return User::find(conn, self.account_id, &id),
                // Either the id or the e-mail was taken meanwhile; the next round tells which.
                Err(DbError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DbError::Conflict("could not find a free user id".into()))
    }

    /// `insert`, by an admin of the account, recorded as an event.
    pub fn add(
        &self,
        conn: &mut DbConnection,
        by: &Requester,
        at: NaiveDateTime,
    ) -> Result<User, DbError> {
        write_transaction(conn, |conn| {
            let user = self.insert(conn)?;
            record(
                conn,
                by,
                EventKind::UserAdded,
                &user.id,
                Some(user.role.as_str()),
                at,
            )?;
            Ok(user)
        })
    }
}
