//! What the API sends and accepts, as JSON. The OpenAPI document's answers are generated from
//! these; what a request body may hold is written in `openapi::bodies`, from the same rules.

use crate::db::accounts::Account;
use crate::db::agreements::Agreement;
use crate::db::tokens::{Grant, Stamp, Token};
use crate::domain::access::Actor;
use crate::domain::lifecycle::RateLimit;
use crate::domain::module::Module;
use crate::domain::usage::DayCount;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An instant as the platform writes it: `2026-11-27T10:30:00+00:00`.
pub fn instant(at: NaiveDateTime) -> String {
    Instant(at).to_string()
}

/// `instant`, written where it goes (into an answer, without a string of its own), field by
/// field: chrono's `format` reads its pattern anew on every call, and a page of agreements
/// writes twenty.
#[derive(Debug, Clone, Copy)]
pub struct Instant(pub NaiveDateTime);

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let at = self.0;
        if !(0..=9999).contains(&at.year()) {
            return write!(f, "{}", at.and_utc().format("%Y-%m-%dT%H:%M:%S%:z"));
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        )
    }
}

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A reference to another object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ref {
    pub id: String,
    pub name: String,
}

impl From<&Actor> for Ref {
    fn from(actor: &Actor) -> Self {
        Self {
            id: actor.id.clone(),
            name: actor.name.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub at: String,
    pub by: Ref,
}

impl From<&Stamp> for Event {
    fn from(stamp: &Stamp) -> Self {
        Self {
            at: instant(stamp.at),
            by: (&stamp.by).into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Events {
    pub created: Event,
    pub updated: Event,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantEvents {
    pub granted: Event,
}

/// A module a token may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct Permission {
    /// The module's id: a token holds a module once.
    pub id: String,
    pub object: Ref,
    pub events: GrantEvents,
}

impl From<&Grant> for Permission {
    fn from(grant: &Grant) -> Self {
        Self {
            id: grant.module.id.to_owned(),
            object: module_ref(grant.module),
            events: GrantEvents {
                granted: (&grant.granted).into(),
            },
        }
    }
}

pub fn module_ref(module: Module) -> Ref {
    Ref {
        id: module.id.to_owned(),
        name: module.name.to_owned(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: String,
    pub name: String,
    pub description: String,
    pub external_id: String,
    /// `active`, `inactive`, `expired` or `pending` (awaiting an admin's approval).
    pub status: String,
    pub extension: Ref,
    pub owner: Ref,
    pub permissions: Vec<Permission>,
    pub events: Events,
    pub expiration_date: Option<String>,
    /// Addresses or CIDR blocks the key may be used from; empty means anywhere.
    pub allowed_networks: Vec<String>,
    /// At most this many requests per UTC minute (1–100000); null means no limit.
    pub rate_limit: Option<u32>,
    /// The rule of the account's policy the token breaks ("lifetime over 90 days"), its key
    /// refused with `AUTH_009` until it is renewed or edited within the policy; null when none.
    pub breaks_policy: Option<String>,
}

impl TokenOut {
    pub fn new(token: &Token, owner: &Account, grants: &[Grant], now: NaiveDateTime) -> Self {
        Self {
            id: token.id.to_string(),
            name: token.name.clone(),
            description: token.description.clone(),
            external_id: token.external_id.clone(),
            status: token.status(now).as_str().to_owned(),
            extension: Ref {
                id: token.extension.id().to_owned(),
                name: token.extension.name().to_owned(),
            },
            owner: Ref {
                id: owner.id.to_string(),
                name: owner.name.clone(),
            },
            permissions: grants.iter().map(Permission::from).collect(),
            events: Events {
                created: (&token.created).into(),
                updated: (&token.updated).into(),
            },
            expiration_date: token.expires_at.map(instant),
            allowed_networks: token
                .allowed_networks
                .iter()
                .map(ToString::to_string)
                .collect(),
            rate_limit: token.rate_limit.map(RateLimit::get),
            breaks_policy: owner
                .policy
                .breach(token.key_terms())
                .map(crate::domain::policy::Breach::describe),
        }
    }
}

/// A token just created: the token and, this once, its key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token_fields: TokenOut,
    /// The API key, `SU-…:<secret>`. It is not returned again; the UI can reveal it.
    pub token: String,
}

/// A token's API requests on one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Every request the token's key was let in with.
    pub requests: u64,
    /// Those of them answered 401 or 403 (a module it does not hold, a token beyond its reach).
    pub refused: u64,
    /// Requests that named the token and did not authenticate (a wrong, old or disabled key,
    /// or from outside its networks): counted apart, never in `requests`.
    pub failed_authentications: u64,
}

impl From<DayCount> for UsageDay {
    fn from(day: DayCount) -> Self {
        Self {
            date: day.date.format("%Y-%m-%d").to_string(),
            requests: day.requests,
            refused: day.refused,
            failed_authentications: day.failed_auth,
        }
    }
}

/// A token with a new key: the key, this once, and until when the previous one works.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenewedToken {
    #[serde(flatten)]
    pub token_fields: TokenOut,
    /// The new API key, `SU-…:<secret>`.
    pub token: String,
    /// When the previous key stops working; null when it already has.
    pub renewed_expiration_date: Option<String>,
    /// Only one previous key is kept: when a key replaced earlier was still within its grace,
    /// this call ended it, and this says when it would have stopped; null otherwise.
    pub ended_previous_grace: Option<String>,
}

/// `{"expiration_date": "2027-01-01"}`, `{"expiration_date": null}` (never), or `{}` (as it is).
#[derive(Debug, Default, Deserialize)]
pub struct NewKeyIn {
    /// The token's expiry from now on: a date or an RFC 3339 date-time in the future, or null
    /// for none; left out, it stays as it is.
    #[serde(default, deserialize_with = "present")]
    pub expiration_date: Option<Option<String>>,
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Strict for NewKeyIn {
    fn other_fields(&self) -> &OtherFields {
        &self.other
    }
}

/// A field that was sent, as `Some(value)`; `null` is `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// A field that was sent, whatever it holds (`null` included), to be judged by the handler,
/// whose message says what the field takes.
fn sent_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// An agreement as the API sends it, borrowed from its row and the caller's account: a page
/// is written straight into the answer, nothing copied on the way (a page of ten copied 130
/// strings). Its schema is that of the owned `Ref` and `Events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementOut<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub agreement_type: &'a str,
    pub title: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub active: bool,
    #[schema(value_type = Ref)]
    pub owner: RefTo<'a>,
    #[schema(value_type = Events)]
    pub events: EventsOf<'a>,
}

impl<'a> AgreementOut<'a> {
    pub fn new(agreement: &'a Agreement, owner: &'a Account) -> Self {
        Self {
            id: agreement.id.as_str(),
            agreement_type: &agreement.agreement_type,
            title: &agreement.title,
            name: &agreement.name,
            description: &agreement.description,
            active: agreement.active,
            owner: RefTo {
                id: owner.id.as_str(),
                name: &owner.name,
            },
            events: EventsOf {
                created: (&agreement.created).into(),
                updated: (&agreement.updated).into(),
            },
        }
    }
}

/// `Ref`, borrowed.
#[derive(Debug, Serialize)]
pub struct RefTo<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// `Events`, borrowed.
#[derive(Debug, Serialize)]
pub struct EventsOf<'a> {
    pub created: EventOf<'a>,
    pub updated: EventOf<'a>,
}

/// `Event`, borrowed.
#[derive(Debug, Serialize)]
pub struct EventOf<'a> {
    pub at: Instant,
    pub by: RefTo<'a>,
}

impl<'a> From<&'a Stamp> for EventOf<'a> {
    fn from(stamp: &'a Stamp) -> Self {
        Self {
            at: Instant(stamp.at),
            by: RefTo {
                id: &stamp.by.id,
                name: &stamp.by.name,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Context {
    pub account: Ref,
    /// The token itself: the "user" the API sees.
    pub user: Ref,
}

/// `{"id": …}` or `{"name": …}`.
#[derive(Debug, Deserialize)]
pub struct ExtensionRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ObjectId {
    pub id: String,
}

/// A permission to add or remove: `{"object": {"id": "MD-0002"}}`.
#[derive(Debug, Deserialize)]
pub struct PermissionIn {
    pub object: ObjectId,
    /// Why the token needs it, when the account's policy puts it under an admin's approval
    /// (and the key acts for a member): the addition then waits (202) until approved.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A list of permissions, or one alone (as the client's `collection.create({...})` sends it).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PermissionsIn {
    Many(Vec<PermissionIn>),
    One(PermissionIn),
}

impl PermissionsIn {
    pub fn into_vec(self) -> Vec<PermissionIn> {
        match self {
            Self::Many(items) => items,
            Self::One(item) => vec![item],
        }
    }
}

/// Fields a body sent that its endpoint does not take, kept to name them in the error.
pub type OtherFields = std::collections::BTreeMap<String, serde_json::Value>;

/// A request body whose fields are checked: ones it does not take are refused, not ignored.
pub trait Strict {
    fn other_fields(&self) -> &OtherFields;
}

/// Why a field that the token object shows cannot be sent.
pub fn read_only_hint(field: &str) -> Option<&'static str> {
    Some(match field {
        "id" | "owner" | "events" => "set by the server",
        "status" => "use POST /auth/tokens/{id}/activate or /deactivate",
        "permissions" => "use /auth/tokens/{id}/permissions",
        "extension" => "fixed when the token is created",
        "expiration_date" => "set when the token is created",
        "token" => "shown once, when the token is created",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
pub struct NewTokenIn {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub external_id: Option<String>,
    pub extension: ExtensionRef,
    /// When the token stops working; a date or an RFC 3339 date-time, in the future.
    #[serde(default)]
    pub expiration_date: Option<String>,
    /// The modules it may use: at least one (Custom Reports tokens always hold All, which is
    /// what they get when this is left out).
    #[serde(default)]
    pub permissions: Option<Vec<PermissionIn>>,
    /// Addresses or CIDR blocks the key may be used from (at most 32); none means anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// At most this many requests per UTC minute, an integer from 1 to 100000; null or left
    /// out means no limit.
    #[serde(default, deserialize_with = "sent_value")]
    pub rate_limit: Option<serde_json::Value>,
    /// Why the token needs what it asks for: required when the account's policy puts a module
    /// it asks for under an admin's approval (and the key acts for a member). The token is then
    /// created `pending`, its key refused with `AUTH_008` until an admin approves.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Strict for NewTokenIn {
    fn other_fields(&self) -> &OtherFields {
        &self.other
    }
}

/// Text to search for leaked keys (at most 1 MiB).
#[derive(Debug, Deserialize)]
pub struct LeaksIn {
    pub text: String,
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Strict for LeaksIn {
    fn other_fields(&self) -> &OtherFields {
        &self.other
    }
}

/// A key found in the text, by its token id, and what became of it: `disabled` (it was live),
/// `already_inactive`, `not_found` (no such token in the caller's account, whoever's it is) or
/// `secret_mismatch`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakOut {
    pub id: String,
    pub result: &'static str,
}

/// The properties to change; those left out stay as they are.
#[derive(Debug, Deserialize)]
pub struct TokenChangeIn {
    pub name: Option<String>,
    pub description: Option<String>,
    pub external_id: Option<String>,
    /// Replaces the list; `[]` lets the key be used from anywhere.
    pub allowed_networks: Option<Vec<String>>,
    /// An integer from 1 to 100000 requests per UTC minute; null removes the limit.
    #[serde(default, deserialize_with = "sent_value")]
    pub rate_limit: Option<serde_json::Value>,
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Strict for TokenChangeIn {
    fn other_fields(&self) -> &OtherFields {
        &self.other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        let dates = [
            "2026-11-27T10:30:00",
            "2026-01-01T00:00:00.999999",
            "1999-12-31T23:59:59",
            "0001-02-03T04:05:06",
            "9999-12-31T23:59:59",
        ];
        for date in dates {
            let at: NaiveDateTime = date.parse().unwrap();
            let expected = at.and_utc().format("%Y-%m-%dT%H:%M:%S%:z").to_string();
            assert_eq!(instant(at), expected, "{date}");
        }
        assert_eq!(
            instant("2026-11-27T10:30:00".parse().unwrap()),
            "2026-11-27T10:30:00+00:00"
        );
    }
}

/// The account's token policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyOut {
    /// A key expires at most this many days after its expiry is set (1–3650); null: no limit.
    pub max_lifetime_days: Option<u32>,
    /// Every key must expire.
    pub require_expiry: bool,
    /// Modules a member's token reaches only once an admin approves (`MD-0000`: a request for
    /// All).
    pub approval_modules: Vec<String>,
    /// Every key must have a list of allowed networks.
    pub require_allowed_networks: bool,
    /// The rate limit a new token gets when none is given (1–100000); null: none.
    pub default_rate_limit: Option<u32>,
    /// Every user signs in with a second factor (an authenticator app or a passkey).
    pub require_2fa: bool,
}

impl From<&crate::domain::policy::AccountPolicy> for PolicyOut {
    fn from(policy: &crate::domain::policy::AccountPolicy) -> Self {
        Self {
            max_lifetime_days: policy.max_lifetime_days,
            require_expiry: policy.require_expiry,
            approval_modules: policy
                .approval_modules
                .iter()
                .map(|m| m.id.to_owned())
                .collect(),
            require_allowed_networks: policy.require_allowed_networks,
            default_rate_limit: policy.default_rate_limit.map(RateLimit::get),
            require_2fa: policy.require_2fa,
        }
    }
}

/// A change of the policy: the fields sent replace the current ones; those left out stay.
#[derive(Debug, Default, Deserialize)]
pub struct PolicyIn {
    #[serde(default, deserialize_with = "present_value")]
    pub max_lifetime_days: Option<Option<serde_json::Value>>,
    pub require_expiry: Option<bool>,
    pub approval_modules: Option<Vec<String>>,
    pub require_allowed_networks: Option<bool>,
    #[serde(default, deserialize_with = "present_value")]
    pub default_rate_limit: Option<Option<serde_json::Value>>,
    pub require_2fa: Option<bool>,
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Strict for PolicyIn {
    fn other_fields(&self) -> &OtherFields {
        &self.other
    }
}

/// A field that was sent, as `Some(value)`; `null` is `Some(None)`.
fn present_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<serde_json::Value>>, D::Error> {
    Option::<serde_json::Value>::deserialize(deserializer).map(Some)
}

/// An admin's decision on a request: an optional note the requester sees.
#[derive(Debug, Default, Deserialize)]
pub struct DecisionIn {
    pub note: Option<String>,
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Strict for DecisionIn {
    fn other_fields(&self) -> &OtherFields {
        &self.other
    }
}
