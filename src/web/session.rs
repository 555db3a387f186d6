//! Sessions: actix-session with a store of our own in the database. The cookie carries only a
//! random id; the row holds the state (who is signed in, the CSRF token, the wizard's draft, a
//! one-shot flash message), so that ending a session ends it on every instance. `TypedSession`
//! is the typed view handlers use.

use crate::clock::Clock;
use crate::db::{self, DbError, DbPool, sessions};
use crate::domain::ids::{UserId, random_token};
use crate::domain::secret_box::MasterKey;
use crate::domain::two_factor::SignInMethod;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{Session, SessionExt};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::{Ready, ready};

const USER_ID: &str = "user_id";
const CSRF_TOKEN: &str = "csrf_token";
const FLASH: &str = "flash";
/// A secret to show once on the page a POST redirects to (a new key, a new password), sealed
/// with the master key: the session's row never holds it in clear.
const SECRET: &str = "secret";
const WIZARD: &str = "wizard";
/// The live keys the last leaked-keys check found, under the id its form names.
const LEAK_CHECK: &str = "leak_check";
/// A passkey ceremony between its start and its finish: which one, and webauthn-rs's state.
const PASSKEY_CEREMONY: &str = "passkey_ceremony";
const CLIENT_IP: &str = "client_ip";
const USER_AGENT: &str = "user_agent";
/// How the session signed in (`SignInMethod::as_str`), kept in a column for the Sessions page.
const SIGN_IN_METHOD: &str = "sign_in_method";
/// When the user last proved who they are (signing in, or confirming a sensitive action), as
/// seconds since the epoch: sensitive actions ask again when it is old (`two_factor::is_recent`).
const AUTHENTICATED_AT: &str = "authenticated_at";
/// A right password waiting for its second factor (`PendingSignIn`).
const PENDING_SIGN_IN: &str = "pending_sign_in";
/// An authenticator secret being set up, sealed, until a code from the app confirms it.
const TOTP_ENROLMENT: &str = "totp_enrolment";
/// Recovery codes just made, sealed, shown (and downloadable) until the user says they kept
/// them.
const RECOVERY_CODES: &str = "recovery_codes";
/// The stored row's id (the hash of the cookie's), put into the state by the store so that a
/// handler knows which of the user's sessions is the current one.
const ROW: &str = "_row";
/// Put into the state by the store when the database could not be read: the request is
/// answered 503, and nothing of it is written.
const UNAVAILABLE: &str = "_unavailable";

pub struct TypedSession(Session);

/// The one-shot line the next page shows: what was done, or a note.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    /// A change that was made (the success style), rather than a note.
    pub done: bool,
    pub text: String,
}

impl Flash {
    pub fn note(text: &str) -> Self {
        Self {
            done: false,
            text: text.to_owned(),
        }
    }
}

/// A sign-in half done: the password was right, the second factor is still to come.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingSignIn {
    pub user_id: String,
    /// The e-mail typed, as the sign-in throttle and the known-device cookie know it.
    pub email: String,
    /// Where to go once signed in.
    pub next: String,
    /// What was proved so far (`SignInMethod::as_str`: `password`).
    pub method: String,
    /// When the password was proved, seconds since the epoch; it waits `PENDING_LIMIT`.
    pub started_at: i64,
    /// `password::fingerprint` of the hash the password was checked against: a password changed
    /// or reset since ends the wait (one kept from before this was stored has none, and ends).
    #[serde(default)]
    pub password: String,
}

impl PendingSignIn {
    pub fn started(&self) -> Option<NaiveDateTime> {
        chrono::DateTime::from_timestamp(self.started_at, 0).map(|at| at.naive_utc())
    }
}

impl TypedSession {
    pub fn of(req: &HttpRequest) -> Self {
        Self(req.get_session())
    }

    /// The session could not be read because the database is away.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.0.get::<bool>(UNAVAILABLE), Ok(Some(true)))
    }

    /// The signed-in user; the store has already refused an expired or ended session.
    pub fn user_id(&self) -> Option<UserId> {
        self.0
            .get::<String>(USER_ID)
            .ok()
            .flatten()
            .and_then(|id| UserId::parse(&id).ok())
    }

    /// Which stored session this is (see `sessions::open_for`).
    pub fn row(&self) -> Option<String> {
        self.0.get::<String>(ROW).ok().flatten()
    }

    /// Starts a signed-in session under a new id, so that an id planted before sign-in is worth
    /// nothing after it; where and what from (`req`'s User-Agent) is kept for the Sessions page.
    pub fn sign_in(
        &self,
        user_id: &UserId,
        method: SignInMethod,
        at: NaiveDateTime,
        client_ip: Option<&str>,
        req: &HttpRequest,
    ) {
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        self.0.renew();
        self.0.clear();
        // Inserting strings into a fresh session cannot fail.
        let _ = self.0.insert(USER_ID, user_id.as_str());
        let _ = self.0.insert(CSRF_TOKEN, random_token());
        let _ = self.0.insert(SIGN_IN_METHOD, method.as_str());
        self.set_authenticated_at(at);
        if let Some(ip) = client_ip {
            let _ = self.0.insert(CLIENT_IP, ip);
        }
        if let Some(agent) = user_agent {
            let _ = self
                .0
                .insert(USER_AGENT, agent.chars().take(256).collect::<String>());
        }
    }

    /// Ends the session: its row is deleted, so its cookie is worth nothing anywhere.
    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// The right password waits for a second factor: kept under a new session id (nobody is
    /// signed in with it yet), with a fresh CSRF token for the second step's form.
    pub fn start_pending(&self, pending: &PendingSignIn) {
        self.0.renew();
        self.0.clear();
        let _ = self.0.insert(CSRF_TOKEN, random_token());
        let _ = self.0.insert(PENDING_SIGN_IN, pending);
    }

    pub fn pending(&self) -> Option<PendingSignIn> {
        self.0.get::<PendingSignIn>(PENDING_SIGN_IN).ok().flatten()
    }

    pub fn clear_pending(&self) {
        self.0.remove(PENDING_SIGN_IN);
    }

    /// When the user last proved who they are.
    pub fn authenticated_at(&self) -> Option<NaiveDateTime> {
        let seconds = self.0.get::<i64>(AUTHENTICATED_AT).ok().flatten()?;
        chrono::DateTime::from_timestamp(seconds, 0).map(|at| at.naive_utc())
    }

    /// The user proved who they are at `at` (signing in, confirming a sensitive action).
    pub fn set_authenticated_at(&self, at: NaiveDateTime) {
        let _ = self.0.insert(AUTHENTICATED_AT, at.and_utc().timestamp());
    }

    /// Keeps an authenticator secret being set up, sealed, until a code confirms it.
    pub fn set_totp_enrolment(&self, master_key: &MasterKey, secret: &[u8]) {
        let sealed = master_key.seal_bytes(TOTP_ENROLMENT.as_bytes(), secret);
        let _ = self
            .0
            .insert(TOTP_ENROLMENT, URL_SAFE_NO_PAD.encode(sealed));
    }

    pub fn totp_enrolment(&self, master_key: &MasterKey) -> Option<Vec<u8>> {
        let sealed = self.0.get::<String>(TOTP_ENROLMENT).ok()??;
        let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        master_key
            .open_bytes(TOTP_ENROLMENT.as_bytes(), &sealed)
            .ok()
    }

    pub fn clear_totp_enrolment(&self) {
        self.0.remove(TOTP_ENROLMENT);
    }

    /// Keeps recovery codes just made, sealed, for the pages that show them once.
    pub fn set_recovery_codes(&self, master_key: &MasterKey, codes: &[String]) {
        let plain = codes.join("\n");
        let sealed = master_key.seal_bytes(RECOVERY_CODES.as_bytes(), plain.as_bytes());
        let _ = self
            .0
            .insert(RECOVERY_CODES, URL_SAFE_NO_PAD.encode(sealed));
    }

    /// The recovery codes just made, while they are still to be shown.
    pub fn recovery_codes(&self, master_key: &MasterKey) -> Option<Vec<String>> {
        let sealed = self.0.get::<String>(RECOVERY_CODES).ok()??;
        let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let plain = master_key
            .open_bytes(RECOVERY_CODES.as_bytes(), &sealed)
            .ok()?;
        let plain = String::from_utf8(plain).ok()?;
        Some(plain.lines().map(str::to_owned).collect())
    }

    pub fn clear_recovery_codes(&self) {
        self.0.remove(RECOVERY_CODES);
    }

    /// The session's CSRF token, created on first use.
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.0.get::<String>(CSRF_TOKEN).ok().flatten() {
            return token;
        }
        let token = random_token();
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

    /// Keeps the live keys a leaked-keys check found, under `check`, the id its form names: a
    /// disable acts on these and nothing else. Only the last check is kept.
    pub fn set_leak_check(&self, check: &str, ids: &[String]) {
        let _ = self.0.insert(LEAK_CHECK, (check, ids));
    }

    /// The live keys the check `check` found, if it is the last one made in this session.
    pub fn leak_check(&self, check: &str) -> Option<Vec<String>> {
        let (kept, ids) = self.0.get::<(String, Vec<String>)>(LEAK_CHECK).ok()??;
        (kept == check).then_some(ids)
    }

    /// Keeps a passkey ceremony's state until it is finished; `purpose` (`register`,
    /// `sign-in`, …) binds it to the route that may finish it. Only the last one is kept.
    pub fn set_passkey_ceremony<T: serde::Serialize>(&self, purpose: &str, state: &T) {
        let _ = self.0.insert(PASSKEY_CEREMONY, (purpose, state));
    }

    /// The state of the ceremony started for `purpose`, once: it is gone afterwards, so that an
    /// answer cannot be replayed against it.
    pub fn take_passkey_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        purpose: &str,
    ) -> Option<T> {
        let (kept, state) = self.0.remove_as::<(String, T)>(PASSKEY_CEREMONY)?.ok()?;
        (kept == purpose).then_some(state)
    }

    /// A note for the next page: something not done, or done before.
    pub fn set_flash(&self, message: &str) {
        let _ = self.0.insert(FLASH, Flash::note(message));
    }

    /// What was just done, for the next page to confirm in the success style.
    pub fn set_done(&self, message: &str) {
        let _ = self.0.insert(
            FLASH,
            Flash {
                done: true,
                text: message.to_owned(),
            },
        );
    }

    pub fn take_flash(&self) -> Option<Flash> {
        self.0.remove_as::<Flash>(FLASH).and_then(Result::ok)
    }

    /// Keeps `secret` for the next page that asks for it with the same `purpose` (say
    /// `rotated:SU-…`), sealed with `master_key` and bound to that purpose.
    pub fn set_secret(&self, master_key: &MasterKey, purpose: &str, secret: &str) {
        let sealed = master_key.seal_bytes(purpose.as_bytes(), secret.as_bytes());
        let _ = self.0.insert(SECRET, URL_SAFE_NO_PAD.encode(sealed));
    }

    /// The secret kept for `purpose`, left in the session: the page that shows it may be
    /// reloaded (the wizard's Summary, until the wizard is left).
    pub fn peek_secret(&self, master_key: &MasterKey, purpose: &str) -> Option<String> {
        let sealed = self.0.get::<String>(SECRET).ok()??;
        let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let plain = master_key.open_bytes(purpose.as_bytes(), &sealed).ok()?;
        String::from_utf8(plain).ok()
    }

    /// Forgets the secret kept, whatever it was kept for.
    pub fn forget_secret(&self) {
        self.0.remove(SECRET);
    }

    /// The secret kept for `purpose`, once: it is gone from the session afterwards, whatever it
    /// was kept for.
    pub fn take_secret(&self, master_key: &MasterKey, purpose: &str) -> Option<String> {
        let sealed = self.0.remove_as::<String>(SECRET)?.ok()?;
        let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let plain = master_key.open_bytes(purpose.as_bytes(), &sealed).ok()?;
        String::from_utf8(plain).ok()
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// The store: a row per session, found by the SHA-256 of the cookie's id (the id itself is
/// never stored). Idle and absolute limits are checked on every load (`domain::session`).
#[derive(Clone)]
pub struct DbSessionStore {
    pool: DbPool,
    clock: Clock,
}

impl DbSessionStore {
    pub fn new(pool: DbPool, clock: Clock) -> Self {
        Self { pool, clock }
    }
}

fn row_of(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A state value as actix-session keeps it: JSON text.
fn text_of(state: &HashMap<String, String>, name: &str) -> Option<String> {
    state
        .get(name)
        .and_then(|value| serde_json::from_str::<String>(value).ok())
}

/// The state as stored, and the columns read from it.
fn stored(state: &HashMap<String, String>, row: &str) -> Result<StoredState, serde_json::Error> {
    let mut state = state.clone();
    state.insert(ROW.to_owned(), serde_json::to_string(row)?);
    Ok(StoredState {
        json: serde_json::to_string(&state)?,
        user_id: text_of(&state, USER_ID),
        client_ip: text_of(&state, CLIENT_IP),
        user_agent: text_of(&state, USER_AGENT),
        sign_in_method: text_of(&state, SIGN_IN_METHOD),
    })
}

struct StoredState {
    json: String,
    user_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    sign_in_method: Option<String>,
}

impl StoredState {
    fn data(&self) -> sessions::SessionData<'_> {
        sessions::SessionData {
            state: &self.json,
            user_id: self.user_id.as_deref(),
            client_ip: self.client_ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            sign_in_method: self.sign_in_method.as_deref(),
        }
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let row = row_of(key.as_ref());
        let now = self.clock.now();
        match db::run(&self.pool, move |conn| sessions::load(conn, &row, now)).await {
            Ok(Some(json)) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
            Ok(None) => Ok(None),
            Err(DbError::Unavailable(_) | DbError::Busy) => Ok(Some(HashMap::from([(
                UNAVAILABLE.to_owned(),
                "true".to_owned(),
            )]))),
            Err(e) => Err(LoadError::Other(anyhow::anyhow!(e))),
        }
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        let key = random_token();
        // Read while the database was away: nothing is written (the answer is a 503 anyway),
        // and the cookie names a session the next request starts afresh.
        if state.contains_key(UNAVAILABLE) {
            return SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()));
        }
        let row = row_of(&key);
        let stored = stored(&state, &row).map_err(|e| SaveError::Serialization(e.into()))?;
        let now = self.clock.now();
        match db::run(&self.pool, move |conn| {
            sessions::insert(conn, &row, &stored.data(), now)
        })
        .await
        {
            Ok(()) => {}
            // Not kept: the answer stands (the page was made), and the browser's cookie names a
            // session that does not exist, which the next request starts afresh.
            Err(e @ (DbError::Unavailable(_) | DbError::Busy | DbError::Full(_))) => {
                tracing::warn!(error = %e, "a new session could not be saved");
            }
            Err(e) => return Err(SaveError::Other(anyhow::anyhow!(e))),
        }
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        // Read while the database was away: nothing is written (the answer is a 503 anyway).
        if state.contains_key(UNAVAILABLE) {
            return Ok(key);
        }
        let row = row_of(key.as_ref());
        let stored = stored(&state, &row).map_err(|e| UpdateError::Serialization(e.into()))?;
        let now = self.clock.now();
        let found = match db::run(&self.pool, move |conn| {
            sessions::update(conn, &row, &stored.data(), now)
        })
        .await
        {
            Ok(found) => found,
            // Gone after the answer was made: the answer stands (a 503 page, most likely),
            // without this change to the session, rather than turning into a 500.
            Err(e @ (DbError::Unavailable(_) | DbError::Busy | DbError::Full(_))) => {
                tracing::warn!(error = %e, "the session could not be saved");
                return Ok(key);
            }
            Err(e) => return Err(UpdateError::Other(anyhow::anyhow!(e))),
        };
        if found {
            Ok(key)
        } else {
            // Ended meanwhile (signed out elsewhere): not brought back; a fresh one instead.
            let mut fresh = state;
            fresh.remove(USER_ID);
            self.save(fresh, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            })
        }
    }

    /// Idle time is kept by `load`, in the row.
    async fn update_ttl(&self, _key: &SessionKey, _ttl: &CookieDuration) -> anyhow::Result<()> {
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let row = row_of(key.as_ref());
        db::run(&self.pool, move |conn| sessions::delete(conn, &row)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_is_found_by_a_hash_of_the_cookie_never_the_id_itself() {
        let key = random_token();
        assert_eq!(key.len(), 43, "256 bits");
        let row = row_of(&key);
        assert_eq!(row.len(), 64);
        assert!(!row.contains(&key));
        assert_ne!(random_token(), key);
    }

    #[test]
    fn columns_come_from_the_state() {
        let state = HashMap::from([
            (USER_ID.to_owned(), "\"UR-100-200-300\"".to_owned()),
            (CLIENT_IP.to_owned(), "\"203.0.113.9\"".to_owned()),
        ]);
        let stored = stored(&state, "abc").unwrap();
        assert_eq!(stored.user_id.as_deref(), Some("UR-100-200-300"));
        assert_eq!(stored.client_ip.as_deref(), Some("203.0.113.9"));
        assert!(stored.json.contains("\"_row\""));
    }
}
