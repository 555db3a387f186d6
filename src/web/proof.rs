//! Proving again who one is, while signed in: the password, or a code of one's second factor.
//! Asked by sensitive actions (`sudo`) and by removing a second factor (`security`); every try
//! counts in the sign-in throttle.

use super::CurrentUser;
use crate::app::AppState;
use crate::db::users::User;
use crate::domain::form::FieldErrors;
use crate::domain::password;
use crate::domain::throttle::{AttemptKey, retry_message};
use crate::domain::two_factor::SecondFactorCode;
use crate::error::AppError;
use crate::services::{guesses, two_factor as factors};
use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

/// Why a proof was not accepted: what to say beside which field, and with what status.
pub struct Refusal {
    pub errors: FieldErrors,
    pub status: StatusCode,
    /// Seconds to wait, when the throttle refused it.
    pub retry_after: Option<i64>,
}

impl Refusal {
    fn wrong(field: &'static str, message: &str) -> Self {
        Self {
            errors: FieldErrors::one(field, message),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            retry_after: None,
        }
    }

    /// `Retry-After` on a refused answer, when the throttle refused it.
    pub fn mark(&self, response: &mut HttpResponse) {
        if let Some(wait) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        }
    }
}

/// Checks that the signed-in user is who they say: their password, or a code of their second
/// factor (an app's code, or a recovery code, which is then used up). Each try counts in the
/// sign-in throttle, like a sign-in (the same keys as the password page); a right one clears
/// the user's count. `code_field` and `password_field` name the form's fields, for messages.
pub async fn prove(
    state: &AppState,
    current: &CurrentUser,
    typed_password: &str,
    typed_code: &str,
    (password_field, code_field): (&'static str, &'static str),
) -> Result<Result<(), Refusal>, AppError> {
    let code = match typed_code.trim() {
        "" => None,
        typed => match SecondFactorCode::parse(typed) {
            Ok(code) => Some(code),
            Err(message) => return Ok(Err(Refusal::wrong(code_field, message))),
        },
    };
    if code.is_none() && typed_password.is_empty() {
        return Ok(Err(Refusal::wrong(
            password_field,
            "Enter your password, or a code from your authenticator app",
        )));
    }
    let by_user = AttemptKey::email(&current.user.email);
    let by_address = AttemptKey::Address(
        current
            .client_ip
            .clone()
            .unwrap_or_else(|| "unknown".into()),
    );
    let now = current.at;
    let keys = (by_user.clone(), by_address.clone());
    let user_id = current.user.id.clone();
    let master_key = state.master_key.clone();
    let (refused_until, hash, proof) = current
        .run(state, move |conn, by| {
            let refused_until = guesses::count(conn, &[&keys.0, &keys.1], now)?;
            if refused_until.is_some() {
                return Ok((refused_until, None, None));
            }
            match &code {
                Some(code) => {
                    let proof = factors::check_code(conn, by, &user_id, &master_key, code)?;
                    Ok((None, None, Some(proof.is_some())))
                }
                None => Ok((None, Some(User::password_hash(conn, &user_id)?), None)),
            }
        })
        .await?;
    if let Some(until) = refused_until {
        return Ok(Err(Refusal {
            errors: FieldErrors::one(password_field, retry_message(until, now)),
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some((until - now).num_seconds().max(1)),
        }));
    }
    let right = match (proof, hash) {
        (Some(right), _) => right,
        (None, Some(hash)) => {
            let candidate = typed_password.to_owned();
            state
                .passwords
                .run(move || password::verify(&hash, &candidate))
                .await
                .map_err(|e| AppError::internal("checking a password", e))?
        }
        (None, None) => false,
    };
    if !right {
        return Ok(Err(
            if code_field.is_empty() || typed_code.trim().is_empty() {
                Refusal::wrong(password_field, "The password is not correct")
            } else {
                Refusal::wrong(code_field, factors::WRONG_CODE)
            },
        ));
    }
    current
        .read(state, move |conn, _| {
            guesses::proved(conn, &by_user, &by_address)
        })
        .await?;
    Ok(Ok(()))
}
