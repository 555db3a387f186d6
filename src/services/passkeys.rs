//! Passkeys (WebAuthn, by webauthn-rs): registering them, removing them, and the ceremonies that
//! check one, as a second factor for a user already known (`start_authentication`,
//! `finish_authentication`) and to sign in without a password (`start_sign_in`,
//! `finish_sign_in`). Each ceremony is two calls; what the first returns as its state is kept
//! by the caller on the server (the session) and given to the second, once.

use super::users::record;
use super::{guesses, two_factor};
use crate::db::passkeys::{self, NewPasskey, StoredPasskey};
use crate::db::pool::write_transaction;
use crate::db::users::{Credentials, User};
use crate::db::{DbConnection, DbError};
use crate::domain::access::Requester;
use crate::domain::event::EventKind;
use crate::domain::ids::UserId;
use crate::domain::passkey::{PasskeyId, PublicUrl, user_handle};
use crate::domain::secret_box::MasterKey;
use crate::domain::text::PasskeyName;
use crate::domain::throttle::AttemptKey;
use crate::domain::two_factor::{RecoveryCode, SignInMethod};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// The site passkeys belong to: `TOKENDESK_PUBLIC_URL`, and webauthn-rs set up for it, unless
/// browsers would refuse passkeys there (an IP address).
pub struct RelyingParty {
    public_url: PublicUrl,
    webauthn: Option<Webauthn>,
}

impl RelyingParty {
    pub fn new(public_url: PublicUrl) -> Self {
        let webauthn = public_url
            .host_is_a_name()
            .then(|| {
                WebauthnBuilder::new(public_url.rp_id(), public_url.url())
                    .and_then(|builder| builder.rp_name("tokendesk").build())
                    .map_err(|e| tracing::error!(error = %e, url = %public_url, "passkeys are off"))
                    .ok()
            })
            .flatten();
        Self {
            public_url,
            webauthn,
        }
    }

    pub fn public_url(&self) -> &PublicUrl {
        &self.public_url
    }

    /// Why passkeys cannot be used here, if they cannot, and what to set instead.
    pub fn unavailable(&self) -> Option<String> {
        self.webauthn.is_none().then(|| {
            let instead = self
                .public_url
                .suggestion()
                .unwrap_or_else(|| "https://tokens.example.com".to_owned());
            format!(
                "Passkeys are off: browsers accept them only at a site's name, not at an IP \
                 address, and tokendesk's address is {} (TOKENDESK_PUBLIC_URL). To use \
                 passkeys, start tokendesk with TOKENDESK_PUBLIC_URL={instead} and open it at \
                 {instead}.",
                self.public_url
            )
        })
    }

    /// webauthn-rs, once the browser's page is known to be this site's: a page at another
    /// address (`origin`, the request's `Origin`) could not use a passkey of this one.
    fn for_origin(&self, origin: Option<&str>) -> Result<&Webauthn, PasskeyError> {
        let webauthn = self
            .webauthn
            .as_ref()
            .ok_or_else(|| PasskeyError::Unavailable(self.unavailable().unwrap_or_default()))?;
        match origin {
            Some(origin) if !self.public_url.is_origin(origin) => Err(self.mismatch(origin)),
            _ => Ok(webauthn),
        }
    }

    fn mismatch(&self, origin: &str) -> PasskeyError {
        PasskeyError::OriginMismatch {
            expected: self.public_url.origin(),
            got: origin.to_owned(),
        }
    }
}

/// Why a passkey could not be added or was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("{0}")]
    Unavailable(String),
    /// The page is at another address than `TOKENDESK_PUBLIC_URL`.
    #[error(
        "This page is open at {got}, but tokendesk's passkeys belong to {expected} \
         (TOKENDESK_PUBLIC_URL). Open tokendesk at {expected} to use passkeys."
    )]
    OriginMismatch { expected: String, got: String },
    /// The name typed for a new passkey.
    #[error("{0}")]
    Name(String),
    /// What the browser sent is not an answer to a ceremony.
    #[error("The browser's answer could not be read. Try again.")]
    Unreadable,
    /// No ceremony was started in this session, or it was used already.
    #[error("The passkey request has expired. Try again.")]
    NoCeremony,
    /// The user has no passkey to check.
    #[error("You have no passkey yet.")]
    NoPasskey,
    /// The passkey is registered already (to this user or another).
    #[error("This passkey is registered already.")]
    AlreadyRegistered,
    /// The signature counter went back: the authenticator may have been copied.
    #[error(
        "This passkey was refused: it looks like a copy of the authenticator it was made on. \
         Remove it and add a new one."
    )]
    Cloned,
    /// Signing in is refused for a while (too many attempts).
    #[error("Too many sign-in attempts.")]
    Throttled(NaiveDateTime),
    /// The answer does not prove the passkey (wrong or unknown passkey, a deactivated user,
    /// a signature that does not verify): all said alike.
    #[error("The passkey was not accepted.")]
    NotAccepted,
    #[error(transparent)]
    Storage(DbError),
}

impl From<DbError> for PasskeyError {
    fn from(error: DbError) -> Self {
        Self::Storage(error)
    }
}

impl From<diesel::result::Error> for PasskeyError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// What webauthn-rs's refusal of an answer means for the person.
fn refusal(rp: &RelyingParty, error: &WebauthnError, origin: Option<&str>) -> PasskeyError {
    tracing::info!(%error, "a passkey answer was refused");
    match error {
        WebauthnError::CredentialPossibleCompromise => PasskeyError::Cloned,
        WebauthnError::InvalidRPOrigin => rp.mismatch(origin.unwrap_or("another address")),
        _ => PasskeyError::NotAccepted,
    }
}

fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn to_json(passkey: &Passkey) -> Result<String, PasskeyError> {
    serde_json::to_string(passkey)
        .map_err(|e| PasskeyError::Storage(DbError::Corrupt(format!("a passkey as JSON: {e}"))))
}

fn from_json(stored: &StoredPasskey) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&stored.credential).map_err(|e| {
        PasskeyError::Storage(DbError::Corrupt(format!(
            "passkey {}: cannot be read ({e})",
            stored.id
        )))
    })
}

/// A registration in progress: webauthn-rs's state and the name the passkey will have.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Registration {
    name: String,
    state: PasskeyRegistration,
}

/// The user's passkeys, oldest first.
pub fn list(conn: &mut DbConnection, user_id: &UserId) -> Result<Vec<StoredPasskey>, DbError> {
    passkeys::of_user(conn, user_id)
}

/// Starts adding a passkey named `name` for `user`: what the browser is to be asked, and the
/// state to finish with. The user's passkeys are excluded, so that one authenticator is not
/// registered twice.
pub fn start_registration(
    conn: &mut DbConnection,
    rp: &RelyingParty,
    origin: Option<&str>,
    user: &User,
    name: &str,
) -> Result<(CreationChallengeResponse, Registration), PasskeyError> {
    let name = PasskeyName::parse(name).map_err(|e| PasskeyError::Name(e.to_string()))?;
    let webauthn = rp.for_origin(origin)?;
    let exclude = passkeys::of_user(conn, &user.id)?
        .iter()
        .map(|stored| from_json(stored).map(|passkey| passkey.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut challenge, state) = webauthn
        .start_passkey_registration(
            Uuid::from_bytes(user_handle(&user.id)),
            &user.email,
            &user.name,
            Some(exclude),
        )
        .map_err(|e| PasskeyError::Unavailable(format!("A passkey cannot be made now ({e}).")))?;
    // A passkey that the authenticator keeps (a discoverable credential) is what signing in
    // without typing an e-mail needs; one that cannot be kept still serves as a second factor.
    if let Some(selection) = challenge.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    Ok((
        challenge,
        Registration {
            name: name.into_inner(),
            state,
        },
    ))
}

/// A passkey just added.
pub struct Added {
    pub id: PasskeyId,
    pub name: String,
    /// Recovery codes to show once, when the passkey is the user's first second factor.
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

/// Finishes adding the passkey the browser made; records `user.passkey_added`. A first second
/// factor comes with recovery codes, as an authenticator app does.
#[allow(clippy::too_many_arguments)]
pub fn finish_registration(
    conn: &mut DbConnection,
    rp: &RelyingParty,
    origin: Option<&str>,
    by: &Requester,
    user_id: &UserId,
    master_key: &MasterKey,
    registration: &Registration,
    answer: &RegisterPublicKeyCredential,
) -> Result<Added, PasskeyError> {
    let webauthn = rp.for_origin(origin)?;
    let passkey = webauthn
        .finish_passkey_registration(answer, &registration.state)
        .map_err(|e| refusal(rp, &e, origin))?;
    let credential = to_json(&passkey)?;
    let credential_id = credential_id_text(passkey.cred_id());
    write_transaction(conn, |conn| {
        let had_second_factor = two_factor::has_second_factor(conn, user_id)?;
        let id = NewPasskey {
            user_id: user_id.as_str(),
            name: &registration.name,
            credential: &credential,
            credential_id: &credential_id,
            created_at: by.at,
        }
        .insert(conn)
        .map_err(|e| match e {
            DbError::Conflict(_) => PasskeyError::AlreadyRegistered,
            other => other.into(),
        })?;
        let recovery_codes = two_factor::codes_for_added_factor(
            conn,
            master_key,
            user_id,
            had_second_factor,
            by.at,
        )?;
        record(
            conn,
            by,
            EventKind::UserPasskeyAdded,
            user_id,
            Some(&registration.name),
        )?;
        Ok::<_, PasskeyError>(Added {
            id,
            name: registration.name.clone(),
            recovery_codes,
        })
    })
}

/// A passkey just removed.
pub struct Removed {
    pub name: String,
    /// Whether the user still has a second factor (else their recovery codes went with it).
    pub second_factor_left: bool,
}

/// Removes the user's passkey `id`; records `user.passkey_removed`. The recovery codes go too
/// when it was the last second factor. Another user's passkey is `NotFound`.
pub fn remove(
    conn: &mut DbConnection,
    by: &Requester,
    user_id: &UserId,
    id: PasskeyId,
) -> Result<Removed, DbError> {
    write_transaction(conn, |conn| {
        let stored = passkeys::find(conn, user_id, id)?;
        passkeys::delete(conn, user_id, id)?;
        let second_factor_left = two_factor::after_factor_removed(conn, user_id)?;
        record(
            conn,
            by,
            EventKind::UserPasskeyRemoved,
            user_id,
            Some(&stored.name),
        )?;
        Ok(Removed {
            name: stored.name,
            second_factor_left,
        })
    })
}

/// Keeps what the passkey's use changed (its counter) and when it was used.
fn record_use(
    conn: &mut DbConnection,
    stored: &StoredPasskey,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    at: NaiveDateTime,
) -> Result<(), PasskeyError> {
    passkey.update_credential(result);
    passkeys::record_use(conn, stored.id, &to_json(&passkey)?, at)?;
    Ok(())
}

/// Starts checking one of `user_id`'s passkeys (a second factor after the password, or a
/// signed-in user confirming who they are).
pub fn start_authentication(
    conn: &mut DbConnection,
    rp: &RelyingParty,
    origin: Option<&str>,
    user_id: &UserId,
) -> Result<(RequestChallengeResponse, PasskeyAuthentication), PasskeyError> {
    let webauthn = rp.for_origin(origin)?;
    let keys = passkeys::of_user(conn, user_id)?
        .iter()
        .map(from_json)
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(PasskeyError::NoPasskey);
    }
    webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| PasskeyError::Unavailable(format!("A passkey cannot be asked for now ({e}).")))
}

/// Finishes checking a passkey of `user_id`: `Ok` when the answer proves one of theirs. Its
/// counter and last use are kept; a counter that went back (a copied authenticator) is refused.
pub fn finish_authentication(
    conn: &mut DbConnection,
    rp: &RelyingParty,
    origin: Option<&str>,
    user_id: &UserId,
    state: &PasskeyAuthentication,
    answer: &PublicKeyCredential,
    at: NaiveDateTime,
) -> Result<(), PasskeyError> {
    let webauthn = rp.for_origin(origin)?;
    let result = webauthn
        .finish_passkey_authentication(answer, state)
        .map_err(|e| refusal(rp, &e, origin))?;
    let (stored, _) = passkeys::by_credential_id(conn, &credential_id_text(result.cred_id()))
        .map_err(|e| match e {
            DbError::NotFound => PasskeyError::NotAccepted,
            other => other.into(),
        })?;
    if &stored.user_id != user_id {
        return Err(PasskeyError::NotAccepted);
    }
    let passkey = from_json(&stored)?;
    record_use(conn, &stored, passkey, &result, at)
}

/// Starts signing in with a passkey the authenticator finds itself (no e-mail typed). Counted
/// as a sign-in attempt from `address`, before anything is checked.
pub fn start_sign_in(
    conn: &mut DbConnection,
    rp: &RelyingParty,
    origin: Option<&str>,
    address: &AttemptKey,
    now: NaiveDateTime,
) -> Result<(RequestChallengeResponse, DiscoverableAuthentication), PasskeyError> {
    let webauthn = rp.for_origin(origin)?;
    if let Some(until) = guesses::count(conn, &[address], now)? {
        return Err(PasskeyError::Throttled(until));
    }
    let (mut challenge, state) = webauthn.start_discoverable_authentication().map_err(|e| {
        PasskeyError::Unavailable(format!("A passkey cannot be asked for now ({e})."))
    })?;
    // Asked for when the person presses the button, not offered among the e-mail field's
    // suggestions (conditional mediation).
    challenge.mediation = None;
    Ok((challenge, state))
}

/// Finishes signing in with a passkey: the user it belongs to, when it proves theirs and they
/// are active. The sign-in is recorded as the password's is (its method `passkey`), and the attempt counted at the
/// start is given back; a refusal records a failed sign-in for the passkey's owner, if known.
#[allow(clippy::too_many_arguments)]
pub fn finish_sign_in(
    conn: &mut DbConnection,
    rp: &RelyingParty,
    origin: Option<&str>,
    state: DiscoverableAuthentication,
    answer: &PublicKeyCredential,
    address: &AttemptKey,
    client_ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Credentials, PasskeyError> {
    let webauthn = rp.for_origin(origin)?;
    let (handle, credential_id) = webauthn
        .identify_discoverable_authentication(answer)
        .map_err(|_| PasskeyError::NotAccepted)?;
    let (stored, owner) = match passkeys::by_credential_id(conn, &credential_id_text(credential_id))
    {
        Ok(found) => found,
        Err(DbError::NotFound) => return Err(PasskeyError::NotAccepted),
        Err(other) => return Err(other.into()),
    };
    let failed = |conn: &mut DbConnection, note: &str| -> Result<(), PasskeyError> {
        super::users::sign_in_failed(
            conn,
            &owner.account_id,
            &owner.user_id,
            &format!("passkey “{}”{note}", stored.name),
            client_ip,
            now,
        )?;
        Ok(())
    };
    if handle.as_bytes() != &user_handle(&owner.user_id) {
        failed(conn, " (another user's handle)")?;
        return Err(PasskeyError::NotAccepted);
    }
    let passkey = from_json(&stored)?;
    let result = match webauthn.finish_discoverable_authentication_v2(answer, state, &passkey) {
        Ok(result) => result,
        Err(e) => {
            let refused = refusal(rp, &e, origin);
            failed(conn, "")?;
            return Err(refused);
        }
    };
    // A deactivated user's valid passkey is answered as a wrong one, as their password is.
    if !owner.active {
        failed(conn, " (deactivated)")?;
        return Err(PasskeyError::NotAccepted);
    }
    record_use(conn, &stored, passkey, &result, now)?;
    guesses::proved_by_passkey(conn, address)?;
    User::record_sign_in(
        conn,
        &owner.account_id,
        &owner.user_id,
        &owner.name,
        SignInMethod::Passkey.as_str(),
        client_ip,
        now,
    )?;
    Ok(owner)
}
