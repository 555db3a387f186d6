use super::schema::agreements;
use super::{DbConnection, DbError, now};
use crate::domain::ids::{AccountId, AgreementId};
use crate::domain::token::Actor;
use diesel::prelude::*;

/// An agreement as the seed writes it; the API reads them.
pub struct NewAgreement<'a> {
    pub account_id: &'a AccountId,
    pub agreement_type: &'a str,
    pub title: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub active: bool,
}

impl NewAgreement<'_> {
    pub fn insert(&self, conn: &mut DbConnection, actor: &Actor) -> Result<AgreementId, DbError> {
        let id = AgreementId::generate();
        let at = now();
        diesel::insert_into(agreements::table)
            .values((
                agreements::id.eq(id.as_str()),
                agreements::account_id.eq(self.account_id.as_str()),
                agreements::agreement_type.eq(self.agreement_type),
                agreements::title.eq(self.title),
                agreements::name.eq(self.name),
                agreements::description.eq(self.description),
                agreements::active.eq(self.active),
                agreements::created_at.eq(at),
                agreements::created_by_id.eq(&actor.id),
                agreements::created_by_name.eq(&actor.name),
                agreements::updated_at.eq(at),
                agreements::updated_by_id.eq(&actor.id),
                agreements::updated_by_name.eq(&actor.name),
            ))
            .execute(conn)?;
        Ok(id)
    }
}

pub fn count_for_account(conn: &mut DbConnection, account_id: &AccountId) -> Result<i64, DbError> {
    Ok(agreements::table
        .filter(agreements::account_id.eq(account_id.as_str()))
        .count()
        .get_result(conn)?)
}
