//! A typed view of the signed, encrypted session cookie: who is signed in, the CSRF token, and a
//! one-shot flash message.

use crate::domain::ids::UserId;
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use std::future::{Ready, ready};

const USER_ID: &str = "user_id";
const SIGNED_IN_AT: &str = "signed_in_at";
const CSRF_TOKEN: &str = "csrf_token";
const FLASH: &str = "flash";
const WIZARD: &str = "wizard";

/// A sign-in lasts this long, however active; the cookie cannot be altered to stretch it.
const SESSION_LIFETIME_SECS: i64 = 12 * 60 * 60;

pub struct TypedSession(Session);

impl TypedSession {
    pub fn of(req: &HttpRequest) -> Self {
        Self(req.get_session())
    }

    /// The signed-in user, unless the sign-in has expired.
    pub fn user_id(&self) -> Option<UserId> {
        let signed_in_at = self.0.get::<i64>(SIGNED_IN_AT).ok().flatten()?;
        if chrono::Utc::now().timestamp() - signed_in_at > SESSION_LIFETIME_SECS {
            return None;
        }
        self.0
            .get::<String>(USER_ID)
            .ok()
            .flatten()
            .and_then(|id| UserId::parse(&id).ok())
    }

    /// Starts a signed-in session under a new cookie, so an identifier planted before sign-in is
    /// worth nothing after it.
    pub fn sign_in(&self, user_id: &UserId) {
        self.0.renew();
        self.0.clear();
        // Inserting strings into a fresh cookie session cannot fail.
        let _ = self.0.insert(USER_ID, user_id.as_str());
        let _ = self.0.insert(SIGNED_IN_AT, chrono::Utc::now().timestamp());
        let _ = self.0.insert(CSRF_TOKEN, new_csrf_token());
    }

    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// The session's CSRF token, created on first use.
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.0.get::<String>(CSRF_TOKEN).ok().flatten() {
            return token;
        }
        let token = new_csrf_token();
        let _ = self.0.insert(CSRF_TOKEN, &token);
        token
    }

    /// The token without creating one: a request whose session has none cannot carry a valid one.
    pub fn existing_csrf_token(&self) -> Option<String> {
        self.0.get::<String>(CSRF_TOKEN).ok().flatten()
    }

    pub fn wizard<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.0.get::<T>(WIZARD).ok().flatten()
    }

    pub fn set_wizard<T: serde::Serialize>(&self, state: &T) {
        let _ = self.0.insert(WIZARD, state);
    }

    pub fn clear_wizard(&self) {
        self.0.remove(WIZARD);
    }

    pub fn set_flash(&self, message: &str) {
        let _ = self.0.insert(FLASH, message);
    }

    pub fn take_flash(&self) -> Option<String> {
        self.0.remove_as::<String>(FLASH).and_then(Result::ok)
    }
}

fn new_csrf_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}
