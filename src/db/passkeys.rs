//! Users' passkeys as stored. The credential is kept as webauthn-rs serialises it; what it means
//! and when it may be used is `services::passkeys`'.

use super::schema::{accounts, passkeys, users};
use super::users::Credentials;
use super::{DbConnection, DbError, found};
use crate::domain::ids::{AccountId, UserId};
use crate::domain::passkey::PasskeyId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A passkey as its owner's pages show it, with the credential to check it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: PasskeyId,
    pub user_id: UserId,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub credential: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = passkeys)]
struct PasskeyRow {
    id: i64,
    user_id: String,
    name: String,
    credential: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

impl From<PasskeyRow> for StoredPasskey {
    fn from(row: PasskeyRow) -> Self {
        Self {
            id: PasskeyId::from_trusted(row.id),
            user_id: UserId::from_trusted(row.user_id),
            name: row.name,
            credential: row.credential,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// A passkey's row as written.
#[derive(Debug, Insertable)]
#[diesel(table_name = passkeys)]
pub struct NewPasskey<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
    /// The credential's id, base64url: unique among every user's passkeys.
    pub credential_id: &'a str,
    pub created_at: NaiveDateTime,
}

impl NewPasskey<'_> {
    /// Stores the passkey; a credential id stored before (for anyone) is `Conflict`.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<PasskeyId, DbError> {
        diesel::insert_into(passkeys::table)
            .values(self)
            .execute(conn)?;
        let id = passkeys::table
            .filter(passkeys::credential_id.eq(self.credential_id))
            .select(passkeys::id)
            .first::<i64>(conn)?;
        Ok(PasskeyId::from_trusted(id))
    }
}

/// The user's passkeys, oldest first.
pub fn of_user(conn: &mut DbConnection, user_id: &UserId) -> Result<Vec<StoredPasskey>, DbError> {
    Ok(passkeys::table
        .filter(passkeys::user_id.eq(user_id.as_str()))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PasskeyRow::as_select())
        .load::<PasskeyRow>(conn)?
        .into_iter()
        .map(StoredPasskey::from)
        .collect())
}

/// The passkey with `credential_id`, and who signs in with it.
pub fn by_credential_id(
    conn: &mut DbConnection,
    credential_id: &str,
) -> Result<(StoredPasskey, Credentials), DbError> {
    let (row, (user_id, account_id, account_name, name, active, password_hash)) = passkeys::table
        .inner_join(users::table.inner_join(accounts::table))
        .filter(passkeys::credential_id.eq(credential_id))
        .select((
            PasskeyRow::as_select(),
            (
                users::id,
                users::account_id,
                accounts::name,
                users::name,
                users::active,
                users::password_hash,
            ),
        ))
        .first::<(PasskeyRow, (String, String, String, String, bool, String))>(conn)?;
    Ok((
        row.into(),
        Credentials {
            user_id: UserId::from_trusted(user_id),
            account_id: AccountId::from_trusted(account_id),
            account_name,
            name,
            active,
            password_hash,
        },
    ))
}

/// Keeps the credential as its last use left it (its counter), and when that was.
pub fn record_use(
    conn: &mut DbConnection,
    id: PasskeyId,
    credential: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    let changed = diesel::update(passkeys::table.find(id.get()))
        .set((
            passkeys::credential.eq(credential),
            passkeys::last_used_at.eq(Some(at)),
        ))
        .execute(conn)?;
    found(changed)
}

/// The user's passkey `id`; another user's is `NotFound`.
pub fn find(
    conn: &mut DbConnection,
    user_id: &UserId,
    id: PasskeyId,
) -> Result<StoredPasskey, DbError> {
    Ok(passkeys::table
        .filter(passkeys::id.eq(id.get()))
        .filter(passkeys::user_id.eq(user_id.as_str()))
        .select(PasskeyRow::as_select())
        .first::<PasskeyRow>(conn)?
        .into())
}

/// Removes the user's passkey `id`; another user's is `NotFound`.
pub fn delete(conn: &mut DbConnection, user_id: &UserId, id: PasskeyId) -> Result<(), DbError> {
    let changed = diesel::delete(
        passkeys::table
            .filter(passkeys::id.eq(id.get()))
            .filter(passkeys::user_id.eq(user_id.as_str())),
    )
    .execute(conn)?;
    found(changed)
}

/// Whether the user has any passkey.
pub fn has_any(conn: &mut DbConnection, user_id: &UserId) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        passkeys::table.filter(passkeys::user_id.eq(user_id.as_str())),
    ))
    .get_result(conn)?)
}

/// Removes every passkey of the user (an admin's reset); how many there were.
pub fn delete_all_of(conn: &mut DbConnection, user_id: &UserId) -> Result<usize, DbError> {
    Ok(
        diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id.as_str())))
            .execute(conn)?,
    )
}
