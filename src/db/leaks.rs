//! Keys found in pasted text, told apart by what they are to the account that pasted them.

use super::tokens::Token;
use super::{DbConnection, DbError};
use crate::domain::api_key::ApiKey;
use crate::domain::ids::{AccountId, TokenId};
use crate::domain::token::TokenStatus;
use chrono::NaiveDateTime;

/// One key found, as the account sees it.
#[derive(Debug)]
pub enum Sighting {
    /// No live token of this account has that id: unknown, deleted, or another account's, and
    /// nothing more is said.
    Unknown(TokenId),
    /// The account's token. `live`: the secret is its key (or the previous one within its grace
    /// period) and the token is active, so anyone holding the text can use it.
    Yours {
        token: Box<Token>,
        secret_matches: bool,
        status: TokenStatus,
    },
}

impl Sighting {
    pub fn id(&self) -> &TokenId {
        match self {
            Self::Unknown(id) => id,
            Self::Yours { token, .. } => &token.id,
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Self::Yours {
                secret_matches: true,
                status: TokenStatus::Active,
                ..
            }
        )
    }
}

/// What each key is to `account_id`, in the order given. Every key costs the same query, the
/// account's or not.
pub fn sightings(
    conn: &mut DbConnection,
    account_id: &AccountId,
    keys: &[ApiKey],
    now: NaiveDateTime,
) -> Result<Vec<Sighting>, DbError> {
    keys.iter()
        .map(|key| {
            let holder = Token::for_key(conn, &key.token_id)?
                .filter(|holder| holder.account.id == *account_id);
            Ok(match holder {
                None => Sighting::Unknown(key.token_id.clone()),
                Some(holder) => Sighting::Yours {
                    secret_matches: holder.accepts(&key.secret, now),
                    status: holder.token.status(now),
                    token: Box::new(holder.token),
                },
            })
        })
        .collect()
}
