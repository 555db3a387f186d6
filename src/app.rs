//! What every handler, of the UI and of the API, can reach: in a module of its own, below the
//! handlers, so that they import it from beneath rather than from the server that mounts them.

use crate::clock::Clock;
use crate::db::DbPool;
use crate::domain::network::Network;
use crate::domain::routes::RouteTable;
use crate::domain::secret_box::MasterKey;
use crate::live::Live;
use crate::live::passwords::PasswordGate;
use crate::services::passkeys::RelyingParty;
use actix_web::cookie::Key;

pub struct AppState {
    pub pool: DbPool,
    pub clock: Clock,
    pub master_key: MasterKey,
    /// What this instance keeps in memory: the key cache, the totals, the rate limits, the use.
    pub live: Live,
    /// Hashing and checking passwords, a few at a time.
    pub passwords: PasswordGate,
    pub trusted_proxies: Vec<Network>,
    /// Which module each path behind a proxy belongs to (`/auth/verify`).
    pub routes: RouteTable,
    /// Signs the known-device cookie (the session key's).
    pub cookie_key: Key,
    pub cookie_secure: bool,
    /// Where passkeys belong (`TOKENDESK_PUBLIC_URL`), and webauthn-rs set up for it.
    pub passkeys: RelyingParty,
}
