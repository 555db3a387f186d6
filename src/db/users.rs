//! Staff users as stored: signing in, the team an admin manages, and passwords. What a change to
//! the team may do is `services::users`'.

use super::accounts::{Account, AccountRow};
use super::events::NewEvent;
use super::schema::{accounts, sessions, users};
use super::{DbConnection, DbError, found};
use crate::domain::access::Person;
use crate::domain::access::{Actor, Reach, Requester};
use crate::domain::event::EventKind;
use crate::domain::ids::{AccountId, UserId};
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

impl TryFrom<UserRow> for User {
    type Error = DbError;

    fn try_from(row: UserRow) -> Result<Self, DbError> {
        let role = Role::parse(&row.role).map_err(|_| {
            DbError::Corrupt(format!(
                "user {}: role {:?} cannot be read",
                row.id, row.role
            ))
        })?;
        Ok(Self {
            id: UserId::from_trusted(row.id),
            account_id: AccountId::from_trusted(row.account_id),
            email: row.email,
            name: row.name,
            role,
            active: row.active,
            last_sign_in_at: row.last_sign_in_at,
        })
    }
}

/// A user's row as written.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
    pub created_at: NaiveDateTime,
}

/// The columns a change to a user writes; `None` leaves one as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges<'a> {
    pub role: Option<&'a str>,
    pub active: Option<bool>,
    pub password_hash: Option<&'a str>,
    pub last_sign_in_at: Option<Option<NaiveDateTime>>,
}

/// What signing in needs: the user and the stored password hash.
pub struct Credentials {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub account_name: String,
    pub name: String,
    pub active: bool,
    pub password_hash: String,
}

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
    /// demo data), at `at`.
    pub fn offline(&self, at: NaiveDateTime) -> Requester {
        Requester {
            account_id: self.account_id.clone(),
            actor: self.actor(),
            client_ip: None,
            reach: Reach::Person(self.person()),
            at,
        }
    }

    /// Everyone who signs in with `email`: one user per account that has it (an e-mail is
    /// unique within an account only), the most recently signed-in first.
    pub fn credentials(
        conn: &mut DbConnection,
        email: &Email,
    ) -> Result<Vec<Credentials>, DbError> {
        Ok(users::table
            .inner_join(accounts::table)
            .filter(users::email.eq(email.as_str()))
            .order((
                users::last_sign_in_at.is_null().asc(),
                users::last_sign_in_at.desc(),
                users::created_at.asc(),
            ))
            .select((
                users::id,
                users::account_id,
                accounts::name,
                users::name,
                users::active,
                users::password_hash,
            ))
            .load::<(String, String, String, String, bool, String)>(conn)?
            .into_iter()
            .map(
                |(id, account_id, account_name, name, active, password_hash)| Credentials {
                    user_id: UserId::from_trusted(id),
                    account_id: AccountId::from_trusted(account_id),
                    account_name,
                    name,
                    active,
                    password_hash,
                },
            )
            .collect())
    }

    /// The user's password hash.
    pub fn password_hash(conn: &mut DbConnection, id: &UserId) -> Result<String, DbError> {
        Ok(users::table
            .find(id.as_str())
            .select(users::password_hash)
            .first::<String>(conn)?)
    }

    /// Whether the account has a user with `email`.
    pub fn email_taken(
        conn: &mut DbConnection,
        account_id: &AccountId,
        email: &Email,
    ) -> Result<bool, DbError> {
        Ok(diesel::select(diesel::dsl::exists(
            users::table
                .filter(users::account_id.eq(account_id.as_str()))
                .filter(users::email.eq(email.as_str())),
        ))
        .get_result(conn)?)
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
        Ok((user.try_into()?, account.into()))
    }

    /// A user of the account; another account's is `NotFound`.
    pub fn find(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &UserId,
    ) -> Result<User, DbError> {
        users::table
            .filter(users::id.eq(id.as_str()))
            .filter(users::account_id.eq(account_id.as_str()))
            .select(UserRow::as_select())
            .first::<UserRow>(conn)?
            .try_into()
    }

    /// The users with `email`, one per account that has it, oldest first.
    pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> Result<Vec<User>, DbError> {
        users::table
            .filter(users::email.eq(email.as_str()))
            .order(users::created_at.asc())
            .select(UserRow::as_select())
            .load::<UserRow>(conn)?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    /// The account's team, admins first, then by name.
    pub fn list(conn: &mut DbConnection, account_id: &AccountId) -> Result<Vec<User>, DbError> {
        let mut team = users::table
            .filter(users::account_id.eq(account_id.as_str()))
            .order((super::lower(users::name).asc(), users::id.asc()))
            .select(UserRow::as_select())
            .load::<UserRow>(conn)?
            .into_iter()
            .map(User::try_from)
            .collect::<Result<Vec<User>, DbError>>()?;
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
        rows.swap_remove(position).try_into()
    }

    /// Notes a successful sign-in on the user and in the account's events, with how it was
    /// made (`SignInMethod::as_str`) as the event's detail.
    pub fn record_sign_in(
        conn: &mut DbConnection,
        account_id: &AccountId,
        user_id: &UserId,
        name: &str,
        method: &str,
        client_ip: Option<&str>,
        at: NaiveDateTime,
    ) -> Result<(), DbError> {
        let changes = UserChanges {
            last_sign_in_at: Some(Some(at)),
            ..UserChanges::default()
        };
        User::change(conn, account_id, user_id, &changes)?;
        NewEvent {
            account_id,
            kind: EventKind::UserSignedIn,
            actor: &Actor::user(user_id, name),
            user_id: Some(user_id),
            detail: Some(method),
            client_ip,
            at,
        }
        .record(conn)
    }

    /// Inserts a user's row; a taken id or e-mail is `Conflict`.
    pub fn insert(conn: &mut DbConnection, row: &NewUserRow<'_>) -> Result<(), DbError> {
        diesel::insert_into(users::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// Writes `changes` to the account's user `id`; `NotFound` when there is none.
    pub fn change(
        conn: &mut DbConnection,
        account_id: &AccountId,
        id: &UserId,
        changes: &UserChanges<'_>,
    ) -> Result<(), DbError> {
        let changed = diesel::update(
            users::table
                .filter(users::id.eq(id.as_str()))
                .filter(users::account_id.eq(account_id.as_str())),
        )
        .set(changes)
        .execute(conn)?;
        found(changed)
    }

    /// Holds the account's admins' rows until the transaction ends (PostgreSQL; SQLite's write
    /// lock already does), so that two changes to the team are judged one after the other.
    pub fn lock_admins(conn: &mut DbConnection, account_id: &AccountId) -> Result<(), DbError> {
        if let DbConnection::Postgres(pg) = conn {
            users::table
                .filter(users::account_id.eq(account_id.as_str()))
                .filter(users::role.eq(Role::Admin.as_str()))
                .select(users::id)
                .for_update()
                .load::<String>(pg)?;
        }
        Ok(())
    }

    /// How many active admins the account has besides `leaving`.
    pub fn other_active_admins(
        conn: &mut DbConnection,
        account_id: &AccountId,
        leaving: &UserId,
    ) -> Result<i64, DbError> {
        Ok(users::table
            .filter(users::account_id.eq(account_id.as_str()))
            .filter(users::role.eq(Role::Admin.as_str()))
            .filter(users::active.eq(true))
            .filter(users::id.ne(leaving.as_str()))
            .count()
            .get_result(conn)?)
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
