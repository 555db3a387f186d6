//! `Authorization: ApiKey <token id>:<secret>`. The key's shape and checksum are checked before
//! any database work; then the token is looked up (in the instance's key cache, `live::keys`, or
//! else in the same trip to the database as the request's own work), its secret compared in
//! constant time, and its status, expiry and networks checked on every request. A token disabled,
//! deleted, rotated or narrowed is forgotten by the cache when the change commits here, and
//! within a second on every other instance.

use super::error::ApiError;
use crate::app::AppState;
use crate::db::accounts::Account;
use crate::db::tokens::KeyHolder;
use crate::db::tokens::Token;
use crate::db::{self, DbConnection, DbError};
use crate::domain::access::{Actor, Owner, Reach, Requester};
use crate::domain::api_key::ApiKey;
use crate::domain::lifecycle::RateLimit;
use crate::domain::module::{Module, ModuleSet};
use crate::domain::token::TokenStatus;
use crate::live::metrics::{KeyOutcome, KeySource};
use crate::live::rates::{RateState, Verdict};
use crate::live::usage::KeyUse;
use crate::request::client_ip;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::NaiveDateTime;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;

/// The token making the request, with its account and what it may reach: the key cache's
/// entry itself, shared rather than copied for each request.
pub struct ApiCaller {
    holder: Arc<KeyHolder>,
    pub client_ip: Option<String>,
    /// When the request came, by the application's clock.
    pub at: NaiveDateTime,
}

impl ApiCaller {
    pub fn token(&self) -> &Token {
        &self.holder.token
    }

    pub fn account(&self) -> &Account {
        &self.holder.account
    }

    pub fn modules(&self) -> &ModuleSet {
        &self.holder.modules
    }

    /// The user the key acts for, while they are active.
    pub fn owner(&self) -> Option<&Owner> {
        self.holder.owner.as_ref()
    }

    /// 403 unless the token holds `module` (or All).
    pub fn require(&self, module: Module) -> Result<(), ApiError> {
        if self.modules().grants(module) {
            Ok(())
        } else {
            Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "AUTH_006",
                format!(
                    "This token may not use the {} module ({}).",
                    module.name, module.id
                ),
            ))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::token(&self.token().id, &self.token().name)
    }

    /// The token as the author of a change in its account.
    pub fn requester(&self) -> Requester {
        Requester {
            account_id: self.account().id.clone(),
            actor: self.actor(),
            client_ip: self.client_ip.clone(),
            reach: Reach::Key {
                modules: self.modules().clone(),
                owner: self.owner().cloned(),
            },
            at: self.at,
        }
    }

    /// The live, active token the key names, if the secret matches (or the one a rotation
    /// replaced, within its grace period) and the request comes from an allowed network.
    fn authenticate(
        holder: Option<&Arc<KeyHolder>>,
        key: &ApiKey,
        client_ip: Option<String>,
        now: NaiveDateTime,
    ) -> Result<Self, ApiError> {
        let invalid = || ApiError::unauthorized("AUTH_002", "The API key is not valid.");
        let holder = holder.ok_or_else(invalid)?;
        if !holder.accepts(&key.secret, now) {
            return Err(invalid());
        }
        let KeyHolder { token, account, .. } = &**holder;
        match token.status(now) {
            TokenStatus::Active => {}
            TokenStatus::Inactive => {
                return Err(ApiError::unauthorized("AUTH_003", "The token is disabled."));
            }
            TokenStatus::Expired => {
                return Err(ApiError::unauthorized("AUTH_004", "The token has expired."));
            }
            TokenStatus::Pending => {
                return Err(ApiError::unauthorized(
                    "AUTH_008",
                    "The token awaits an admin's approval.",
                ));
            }
        }
        if let Some(breach) = account.policy.breach(token.key_terms()) {
            return Err(ApiError::unauthorized(
                "AUTH_009",
                format!(
                    "The token breaks the account's policy ({}); renew or edit it within the \
                     policy.",
                    breach.describe()
                ),
            ));
        }
        let from: Option<IpAddr> = client_ip.as_deref().and_then(|ip| ip.parse().ok());
        if !token.allowed_networks.admits(from) {
            return Err(ApiError::outside_networks(format!(
                "This key may only be used from its allowed networks; this request came from {}.",
                client_ip.as_deref().unwrap_or("an unknown address")
            )));
        }
        Ok(Self {
            holder: holder.clone(),
            client_ip,
            at: now,
        })
    }
}

const SCHEME: &str = "ApiKey";

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every answer to a key with a
/// rate limit, as `ApiRequest::run` or `check` left them on the request (errors included).
pub async fn with_rate_limit_headers(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    rate_limit_headers(&mut response);
    Ok(response)
}

fn rate_limit_headers(
    response: &mut actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
) {
    let Some(state) = response.request().extensions().get::<RateState>().copied() else {
        return;
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", state.limit),
        ("ratelimit-remaining", state.remaining),
        ("ratelimit-reset", state.reset),
    ] {
        headers.insert(
            header::HeaderName::from_static(name),
            header::HeaderValue::from(value),
        );
    }
}

/// The key from the header value, strictly: `ApiKey` (any case), one space, the key.
pub fn key_from_header(value: Option<&header::HeaderValue>) -> Result<ApiKey, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::unauthorized(
            "AUTH_001",
            "Send the header Authorization: ApiKey <token id>:<secret>.",
        )
    })?;
    let malformed = || {
        ApiError::unauthorized(
            "AUTH_001",
            "The Authorization header must be ApiKey <token id>:<secret>.",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, key) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || key.is_empty() || key.contains(char::is_whitespace) {
        return Err(malformed());
    }
    ApiKey::parse(key)
        .map_err(|e| ApiError::unauthorized("AUTH_002", format!("The API key is not valid: {e}.")))
}

/// An API request as it arrives: its key (or why it has none) and where it comes from.
pub struct ApiRequest {
    key: Result<ApiKey, ApiError>,
    client_ip: Option<String>,
    state: Option<web::Data<AppState>>,
    /// When the request came, by the application's clock: what it is judged and stamped by.
    at: NaiveDateTime,
    /// Where the key's rate-limit state is left for `rate_limit_headers`.
    request: HttpRequest,
}

impl FromRequest for ApiRequest {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut sent = req.headers().get_all(header::AUTHORIZATION);
        let first = sent.next();
        let key = if sent.next().is_some() {
            // Proxies and clients disagree on which of two counts; neither is guessed at.
            Err(ApiError::bad_request(
                "Send one Authorization header, not several.",
            ))
        } else {
            key_from_header(first)
        };
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let at = state
            .as_ref()
            .map_or_else(|| crate::clock::Clock::default().now(), |s| s.clock.now());
        ready(Ok(Self {
            key,
            client_ip: client_ip(req),
            state,
            at,
            request: req.clone(),
        }))
    }
}

impl ApiRequest {
    /// When the request came, by the application's clock.
    pub fn at(&self) -> NaiveDateTime {
        self.at
    }

    /// Authenticates the key and checks `module` (when the endpoint belongs to one) and the key's
    /// rate limit, then calls `work`: all in one trip to the database's thread pool, where the
    /// key is looked up once a connection is in hand (a change committed while the request
    /// waited for one is not answered from the state before it). The request is then counted
    /// against the token the key names, if there is one, accepted or refused; counting is in
    /// memory, written later (see `live::usage`).
    pub async fn run<T, F>(
        self,
        module: Option<Module>,
        work: F,
    ) -> Result<(ApiCaller, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ApiCaller) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_as(Work::Any, module, work).await
    }

    /// `run` for an endpoint that only reads, a little: on SQLite the work may run on the
    /// request's own thread (`db::read_with`).
    pub async fn read<T, F>(
        self,
        module: Option<Module>,
        work: F,
    ) -> Result<(ApiCaller, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ApiCaller) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_as(Work::SmallRead, module, work).await
    }

    async fn run_as<T, F>(
        self,
        kind: Work,
        module: Option<Module>,
        work: F,
    ) -> Result<(ApiCaller, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ApiCaller) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (key, gate) = self.gate(KeySource::Api)?;
        let state = gate.state.clone();
        let job = move |conn: &mut DbConnection| {
            let found = match gate.cached(&key, module) {
                Some(found) => found,
                None => gate.looked_up(conn, &key, module)?,
            };
            let (rate, admitted) = gate.limit(&key, found.limit(), found.admitted);
            gate.count(admitted.as_ref().map(drop));
            let answer = admitted.and_then(|caller| {
                let output = work(conn, &caller)?;
                Ok((caller, output))
            });
            let refusal = answer.as_ref().err();
            if found.named {
                gate.record(&key, found.authenticated, module, refusal);
            }
            Ok::<_, ApiError>((rate, answer))
        };
        let (rate, answer) = match kind {
            Work::Any => db::run_with(&state.pool, job).await?,
            Work::SmallRead => db::read_with(&state.pool, job).await?,
        };
        if let Some(rate) = rate {
            self.request.extensions_mut().insert(rate);
        }
        answer
    }

    /// Checks the key for `route`'s module and nothing more, for a proxy asking on behalf of
    /// another service (`/auth/verify`); `Err(refusal)` for a path of no module, refused once
    /// the key is known to be good. Counted in use and against the rate limit alike.
    pub async fn check(
        self,
        route: Result<Module, ApiError>,
    ) -> Result<(ApiCaller, Module), ApiError> {
        let module = route.as_ref().ok().copied();
        self.admit_cached(KeySource::Verify, module, |caller| {
            route.map(|module| (caller, module))
        })
        .await
    }

    /// Checks the key for `module` (when the endpoint belongs to one), for an endpoint whose
    /// answer needs nothing of the database (who is calling, the modules, the caller's own
    /// account): `read` without its work.
    pub async fn caller(self, module: Option<Module>) -> Result<ApiCaller, ApiError> {
        self.admit_cached(KeySource::Api, module, Ok).await
    }

    /// A key the cache admits is answered without any database work (and without waiting for
    /// the database's threads or a connection); any other is looked up as `run` does. `then`
    /// may still refuse an admitted caller, before the rate limit counts the request.
    async fn admit_cached<T>(
        self,
        source: KeySource,
        module: Option<Module>,
        then: impl FnOnce(ApiCaller) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (key, gate) = self.gate(source)?;
        let found = match gate.cached(&key, module) {
            Some(found) => found,
            None => {
                let (gate, key) = (gate.clone(), key.clone());
                db::run_with(&gate.state.pool.clone(), move |conn| {
                    gate.looked_up(conn, &key, module)
                })
                .await?
            }
        };
        let limit = found.limit();
        let (rate, admitted) = gate.limit(&key, limit, found.admitted.and_then(then));
        gate.count(admitted.as_ref().map(drop));
        if found.named {
            gate.record(&key, found.authenticated, module, admitted.as_ref().err());
        }
        if let Some(rate) = rate {
            self.request.extensions_mut().insert(rate);
        }
        admitted
    }

    /// The key, and what checks it; a request without a usable key is counted as refused.
    fn gate(&self, source: KeySource) -> Result<(ApiKey, Gate), ApiError> {
        let state = self.state.clone();
        let key = self.key.as_ref().map_err(|refusal| {
            if let Some(state) = &state {
                state
                    .live
                    .metrics
                    .key_check(source, KeyOutcome::of(refusal));
            }
            refusal.clone()
        });
        let key = key?.clone();
        let state = state.ok_or_else(|| ApiError::from(DbError::Cancelled))?;
        Ok((
            key,
            Gate {
                state,
                client_ip: self.client_ip.clone(),
                now: self.at,
                source,
            },
        ))
    }
}

/// What an endpoint's database work does, for where it may run.
enum Work {
    /// Anything: writes, and reads of any size.
    Any,
    /// A read of a few rows.
    SmallRead,
}

impl KeyOutcome {
    /// The outcome a refusal of the key stands for; a failure that is not the key's (the
    /// database away, a bad request) is counted as a refusal of no key, unauthenticated.
    fn of(refusal: &ApiError) -> Self {
        match (refusal.status().as_u16(), refusal.code()) {
            (403, "AUTH_005") => Self::NetworkRefused,
            (403, _) => Self::Forbidden,
            (429, _) => Self::RateLimited,
            _ => Self::Unauthenticated,
        }
    }
}

/// What the key named, and what that lets it do.
struct Found {
    /// The key names a live token.
    named: bool,
    /// The key is the token's, and the token may be used from here now.
    authenticated: bool,
    /// The token's rate limit, when it has one.
    rate_limit: Option<RateLimit>,
    /// Authenticated and holding the endpoint's module: who calls.
    admitted: Result<ApiCaller, ApiError>,
}

impl Found {
    fn of(holder: Option<&Arc<KeyHolder>>, (authenticated, admitted): Admission) -> Self {
        Self {
            named: holder.is_some(),
            authenticated,
            rate_limit: holder.and_then(|holder| holder.token.rate_limit),
            admitted,
        }
    }

    /// The limit a key let in is counted against.
    fn limit(&self) -> Option<RateLimit> {
        self.rate_limit.filter(|_| self.authenticated)
    }
}

/// Whether a key is let in, and whether it may go on (it holds the endpoint's module).
type Admission = (bool, Result<ApiCaller, ApiError>);

/// What a request's key is checked with.
#[derive(Clone)]
struct Gate {
    /// Its `live` holds the key cache, the rate limits, the use and the metrics.
    state: web::Data<AppState>,
    client_ip: Option<String>,
    now: NaiveDateTime,
    source: KeySource,
}

impl Gate {
    /// Whether the key is let in (`authenticated`) and may use `module` (`admitted`), as the
    /// token it names says.
    fn admit(
        &self,
        holder: Option<&Arc<KeyHolder>>,
        key: &ApiKey,
        module: Option<Module>,
    ) -> Admission {
        match ApiCaller::authenticate(holder, key, self.client_ip.clone(), self.now) {
            Err(refused) => (false, Err(refused)),
            Ok(caller) => match module.map(|module| caller.require(module)) {
                Some(Err(refused)) => (true, Err(refused)),
                _ => (true, Ok(caller)),
            },
        }
    }

    /// The key as the key cache admits it, if it does. The cache may only be behind on a change
    /// made elsewhere a moment ago. Behind on a refusal it is not trusted: whatever it would
    /// refuse (a key rotated, a token enabled or given a module on another instance or by the
    /// command line) is asked of the database (`looked_up`) before the answer, so only
    /// acceptances come from memory.
    fn cached(&self, key: &ApiKey, module: Option<Module>) -> Option<Found> {
        let holder = self.state.live.keys.get(&key.token_id);
        let admission = holder
            .as_ref()
            .map(|holder| self.admit(Some(holder), key, module))
            .filter(|admission| admission.1.is_ok());
        self.state.live.metrics.key_cache(admission.is_some());
        admission.map(|admission| Found::of(holder.as_ref(), admission))
    }

    /// The key as the database has it now; what is read is kept in the cache.
    fn looked_up(
        &self,
        conn: &mut DbConnection,
        key: &ApiKey,
        module: Option<Module>,
    ) -> Result<Found, DbError> {
        let keys = &self.state.live.keys;
        let generation = keys.generation();
        let holder = Token::for_key(conn, &key.token_id)?.map(Arc::new);
        if let Some(holder) = &holder {
            keys.insert(&key.token_id, holder.clone(), generation);
        }
        let admission = self.admit(holder.as_ref(), key, module);
        Ok(Found::of(holder.as_ref(), admission))
    }

    /// A key let in is counted against its rate limit, if it has one, before anything else:
    /// the limit's state for the answer's headers, and whether the request may go on.
    fn limit<T>(
        &self,
        key: &ApiKey,
        limit: Option<RateLimit>,
        admitted: Result<T, ApiError>,
    ) -> (Option<RateState>, Result<T, ApiError>) {
        let Some(limit) = limit else {
            return (None, admitted);
        };
        let rates = &self.state.live.rates;
        match rates.check(key.token_id.as_str(), limit.get(), self.now) {
            Verdict::Allowed(state) => (Some(state), admitted),
            Verdict::Refused { state, retry_after } => (
                Some(state),
                Err(ApiError::too_many_requests(limit.get(), retry_after)),
            ),
        }
    }

    /// Counts the key check's outcome for the metrics.
    fn count(&self, admitted: Result<(), &ApiError>) {
        let outcome = admitted.map_or_else(KeyOutcome::of, |()| KeyOutcome::Ok);
        self.state.live.metrics.key_check(self.source, outcome);
    }

    /// Counts the request against the token the key names, answered with `refusal` or not.
    fn record(
        &self,
        key: &ApiKey,
        authenticated: bool,
        module: Option<Module>,
        refusal: Option<&ApiError>,
    ) {
        // A request held back by the key's rate limit did not use the endpoint's module.
        let throttled = refusal.is_some_and(ApiError::is_throttled);
        let used = KeyUse {
            at: self.now,
            client_ip: self.client_ip.clone(),
            authenticated,
            refused: refusal.is_some_and(ApiError::is_refusal),
            module: if throttled { None } else { module },
        };
        self.state.live.usage.record(&key.token_id, used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::api_key::TokenSecret;
    use crate::domain::ids::TokenId;

    #[test]
    fn header_shapes() {
        let id = TokenId::parse("SU-160-984-311").unwrap();
        let key = ApiKey::new(id.clone(), TokenSecret::generate(&id)).expose();
        let value = |v: &str| header::HeaderValue::from_str(v).unwrap();
        assert!(key_from_header(Some(&value(&format!("ApiKey {key}")))).is_ok());
        assert!(key_from_header(Some(&value(&format!("apikey {key}")))).is_ok());
        assert!(key_from_header(Some(&value(&format!("APIKEY {key}")))).is_ok());
        for bad in [
            format!("Bearer {key}"),
            format!("ApiKey  {key}"),
            format!("ApiKey{key}"),
            format!("ApiKey {key} extra"),
            key.clone(),
            "ApiKey ".to_owned(),
        ] {
            assert!(key_from_header(Some(&value(&bad))).is_err(), "{bad:?}");
        }
        assert!(key_from_header(None).is_err());
    }
}
