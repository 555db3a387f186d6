//! Test helpers: a real server on port 0 with a fresh database (SQLite file or a new PostgreSQL
//! database), a cookie-keeping HTTP client, and ways to read the pages a person would see.

pub mod binary;
pub mod cluster;
pub mod proxies;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use rand::RngCore;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use scraper::{Html, Selector};
use std::net::TcpListener;
use std::sync::Arc;
use tokendesk::clock::Clock;
use tokendesk::config::Config;
use tokendesk::db::accounts::Account;
use tokendesk::db::tokens::Token;
use tokendesk::db::users::User;
use tokendesk::db::{self, DatabaseUrl, DbPool};
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::lifecycle::{AllowedNetworks, RateLimit};
use tokendesk::domain::module::ModuleSet;
use tokendesk::domain::password;
use tokendesk::domain::secret_box::MasterKey;
use tokendesk::domain::text::{AccountName, PersonName};
use tokendesk::domain::token::StoredStatus;
use tokendesk::domain::token_form::GeneralInput;
use tokendesk::domain::user::{Email, Role};
use tokendesk::services::tokens::{self as token_service, NewToken};
use tokendesk::services::users::{self as team, NewUser};

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL, as
/// `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests create their databases on; by default as `.ci/run` sets it.
/// Without TLS: a test process ends with the server's threads still holding connections, and
/// OpenSSL's clean-up at exit racing them can abort a test that passed ("double free").
pub fn postgres_admin_url() -> String {
    std::env::var("TOKENDESK_TEST_POSTGRES").unwrap_or_else(|_| {
        "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&gssencmode=disable".into()
    })
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        match backend {
            Backend::Sqlite => Self {
                url: DatabaseUrl::Sqlite(dir.path().join("tokendesk.db")),
                postgres_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let name = format!("tokendesk_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = PgConnection::establish(&admin)
                    .unwrap_or_else(|e| panic!("PostgreSQL for tests at {admin}: {e}"));
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let mut url = url::Url::parse(&admin).expect("admin URL");
                url.set_path(&name);
                Self {
                    url: DatabaseUrl::Postgres(url.to_string()),
                    postgres_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name
            && let Ok(mut conn) = PgConnection::establish(&postgres_admin_url())
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub fn random_key(len: usize) -> Vec<u8> {
    let mut key = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub pool: DbPool,
    pub master_key: MasterKey,
    pub backend: Backend,
    /// The server's clock: moving it forward ages sessions, sign-in attempts, keys and limits.
    pub clock: Clock,
    pub config: Config,
    /// What the server's handlers reach: its key cache and its buffer of API use (written every
    /// few seconds; `flush_usage` writes it now) among them.
    pub state: actix_web::web::Data<tokendesk::app::AppState>,
    /// `http://…` of `/metrics`, when the configuration gave it an address.
    pub metrics_address: Option<String>,
    /// Removed with the first instance; `None` on another instance sharing it.
    _database: Option<TestDatabase>,
}

/// A staff member created for a test.
#[derive(Clone)]
pub struct TestUser {
    pub user: User,
    pub account: Account,
    pub email: String,
}

pub fn new_client() -> reqwest::Client {
    client_with(Arc::new(Jar::default()))
}

/// A client keeping its cookies in `jar`, which a test can read (to replay an old session).
pub fn client_with(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(Policy::none())
        .build()
        .expect("HTTP client")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_trusting(backend, &[]).await
}

/// `spawn_app` behind trusted proxies: requests may say where they come from in
/// `X-Forwarded-For` (the test client connects from 127.0.0.1).
pub async fn spawn_app_trusting(backend: Backend, proxies: &[&str]) -> TestApp {
    spawn_app_configured(backend, |config| {
        config.trusted_proxies = proxies
            .iter()
            .map(|p| tokendesk::domain::network::Network::parse(p).unwrap())
            .collect();
    })
    .await
}

/// `spawn_app` where passkeys work: `TOKENDESK_PUBLIC_URL` is `http://localhost:<its port>`
/// (browsers refuse passkeys at the default, an IP address), so its pages are to be opened at
/// `TestApp::public_origin`.
pub async fn spawn_app_with_passkeys(backend: Backend) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().unwrap().port();
    spawn_app_listening(backend, listener, |config| {
        config.public_url = Some(
            tokendesk::domain::passkey::PublicUrl::parse(&format!("http://localhost:{port}"))
                .unwrap(),
        );
    })
    .await
}

/// `spawn_app` with its configuration changed by `configure` first (a route table, the metrics
/// address, trusted proxies).
pub async fn spawn_app_configured(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    spawn_app_listening(backend, listener, configure).await
}

/// `spawn_app_configured` on `listener`.
async fn spawn_app_listening(
    backend: Backend,
    listener: TcpListener,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let database = TestDatabase::new(backend);
    let master_key = MasterKey::from_bytes(&random_key(32)).unwrap();
    let mut config = Config {
        database: database.url.clone(),
        database_timeout: db::pool::DEFAULT_TIMEOUT,
        trusted_proxies: Vec::new(),
        bind: "127.0.0.1:0".into(),
        public_url: None,
        session_key: random_key(64),
        master_key: master_key.clone(),
        cookie_secure: false,
        log_filter: "warn".into(),
        spool_dir: database.dir().join("spool"),
        mail: None,
        routes: Default::default(),
        metrics_bind: None,
        log_format: Default::default(),
    };
    configure(&mut config);
    db::connect_one(&config.database, config.database_timeout).expect("test database");
    let mut app = serve(listener, config, Clock::default(), backend);
    app._database = Some(database);
    app
}

/// A server on `config`'s database, telling the time by `clock`.
fn serve(listener: TcpListener, config: Config, clock: Clock, backend: Backend) -> TestApp {
    let pool = db::connect(&config.database, config.database_timeout).expect("a pool");
    let port = listener.local_addr().unwrap().port();
    let service = tokendesk::startup::run(listener, pool.clone(), &config, clock.clone())
        .expect("server starts");
    let state = service.state();
    let metrics_address = service
        .metrics_address()
        .map(|address| format!("http://{address}"));
    tokio::spawn(service.run_until_stopped());
    let jar = Arc::new(Jar::default());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: client_with(jar.clone()),
        jar,
        pool,
        master_key: config.master_key.clone(),
        backend,
        clock,
        config,
        state,
        metrics_address,
        _database: None,
    }
}

impl TestApp {
    /// A second instance on the same database with the same keys and clock, as behind a load
    /// balancer; it has a browser (cookie jar) of its own.
    pub fn another_instance(&self) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        serve(
            listener,
            self.config.clone(),
            self.clock.clone(),
            self.backend,
        )
    }

    /// The token's status as stored (deleted tokens are inactive).
    pub fn stored_status(&self, id: &tokendesk::domain::ids::TokenId) -> StoredStatus {
        use diesel::prelude::*;
        use tokendesk::db::schema::tokens;
        let mut conn = self.pool.get().unwrap();
        let status: String = tokens::table
            .find(id.as_str())
            .select(tokens::status)
            .first(&mut conn)
            .unwrap();
        StoredStatus::parse(&status).expect("a stored status")
    }

    /// Writes the API use recorded so far, as the server does every few seconds.
    pub fn flush_usage(&self) {
        let mut conn = db::pool::checkout(&self.pool).expect("a connection");
        self.state
            .live
            .usage
            .flush(&mut conn, self.clock.now())
            .expect("usage written");
    }

    /// The server's cache of what API keys need checked.
    pub fn keys(&self) -> &tokendesk::live::keys::KeyCache {
        &self.state.live.keys
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The address passkeys belong to in an app of `spawn_app_with_passkeys`: `localhost` at
    /// its port.
    pub fn public_origin(&self) -> String {
        self.address.replace("127.0.0.1", "localhost")
    }

    /// The session cookie the client would send now (`tokendesk_session=…`), without the
    /// others it keeps.
    pub fn session_cookie(&self) -> String {
        let url = reqwest::Url::parse(&self.address).unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
            .split("; ")
            .find(|c| c.starts_with("tokendesk_session="))
            .unwrap_or_default()
            .to_owned()
    }

    /// POSTs a form with the given `Cookie` header instead of the client's own cookies.
    pub async fn post_with_cookie(
        &self,
        cookie: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap()
            .post(self.url(path))
            .header("Cookie", cookie)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// How many live tokens the account has.
    pub fn token_count(&self, owner: &TestUser) -> u64 {
        let mut conn = self.pool.get().unwrap();
        let query =
            tokendesk::domain::list_query::TokenListQuery::default().to_query(self.clock.now());
        Token::query(&mut conn, &owner.account.id, &query, self.clock.now())
            .unwrap()
            .total
    }

    /// An admin with the password `PASSWORD` in the named account (created when new).
    pub fn add_user(&self, account: &str, email: &str, name: &str) -> TestUser {
        self.add_user_as(account, email, name, Role::Admin)
    }

    /// Robert Balboa, admin of Front Street Inc, the user most tests act as.
    pub fn robert(&self) -> TestUser {
        self.add_user(
            "Front Street Inc",
            "robert@frontstreet.example",
            "Robert Balboa",
        )
    }

    /// Mia, a member of Front Street Inc.
    pub fn mia(&self) -> TestUser {
        self.add_user_as(
            "Front Street Inc",
            "mia@frontstreet.example",
            "Mia Wallace",
            Role::Member,
        )
    }

    /// A user of the given role with the password `PASSWORD`.
    pub fn add_user_as(&self, account: &str, email: &str, name: &str, role: Role) -> TestUser {
        let hash = password::hash(PASSWORD);
        let mut conn = self.pool.get().unwrap();
        let new = NewUser {
            email: &Email::parse(email).unwrap(),
            name: &PersonName::parse(name).unwrap(),
            role,
            password_hash: &hash,
        };
        let account_name = AccountName::parse(account).unwrap();
        let user = team::add_to_account(&mut conn, &account_name, &new, self.clock.now()).unwrap();
        let account = Account::find(&mut conn, &user.account_id).unwrap();
        TestUser {
            user,
            account,
            email: email.to_owned(),
        }
    }

    /// A token to make for `owner`: custom, active, all modules and no expiry unless told.
    pub fn token<'a>(&'a self, owner: &'a TestUser, name: &str) -> TokenSpec<'a> {
        TokenSpec {
            app: self,
            owner,
            name: name.to_owned(),
            external_id: String::new(),
            extension: Extension::Custom,
            status: StoredStatus::Active,
            modules: "all".to_owned(),
            expires_at: None,
            allowed_networks: AllowedNetworks::default(),
            rate_limit: None,
            reason: None,
        }
    }

    pub fn add_token(
        &self,
        owner: &TestUser,
        name: &str,
        extension: Extension,
        status: StoredStatus,
    ) -> (Token, ApiKey) {
        self.token(owner, name)
            .extension(extension)
            .status(status)
            .create()
    }

    /// A request to the API with `Authorization: ApiKey <key>`.
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &ApiKey,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/public/v1{path}")))
            .header("Authorization", format!("ApiKey {}", key.expose()))
    }

    /// Calls the API with `key`, sending `body` as JSON when there is one, and reads the answer.
    pub async fn call(
        &self,
        key: &ApiKey,
        method: reqwest::Method,
        path: &str,
        body: impl Into<Option<serde_json::Value>>,
    ) -> Answer {
        let mut request = self.api(method, path, key);
        if let Some(body) = body.into() {
            request = request.json(&body);
        }
        Answer::read(request.send().await.expect("API request")).await
    }

    pub fn find_token(&self, owner: &TestUser, token: &Token) -> Option<Token> {
        let mut conn = self.pool.get().unwrap();
        Token::find(&mut conn, &owner.account.id, &token.id).ok()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> Html {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        Html::parse_document(&response.text().await.unwrap())
    }

    /// POSTs a form exactly as given (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    /// POSTs a form with the CSRF token of the current session, as a page's form would.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// POSTs a form as `post` does, and follows the redirect its success answers with (every
    /// successful POST leads to a GET page), as a browser would.
    pub async fn post_and_follow(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let response = self.post(path, fields).await;
        assert_eq!(response.status(), 303, "POST {path} leads to a page");
        self.get(&location(&response)).await
    }

    /// The token the signed-in pages put in their forms, read from the sign-in page or the list.
    /// (A user the account's policy sends to set up a second factor finds it on the Security
    /// page; one half signed in, on the sign-in page.)
    pub async fn csrf_token(&self) -> String {
        for page in ["/integrations/tokens", "/account/security", "/login"] {
            let response = self.get(page).await;
            if response.status() == 200 {
                let html = Html::parse_document(&response.text().await.unwrap());
                if let Some(token) = attr(&html, "input[name=csrf_token]", "value") {
                    return token;
                }
            }
        }
        panic!("a form with a CSRF token")
    }

    pub async fn sign_in_with(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }

    pub async fn sign_in(&self, user: &TestUser) {
        let response = self.sign_in_with(&user.email, PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in succeeds");
    }

    /// A user of a new account, signed in.
    pub async fn signed_in_user(&self) -> TestUser {
        let user = self.add_user(
            "Front Street Inc",
            "robert@frontstreet.example",
            "Robert Balboa",
        );
        self.sign_in(&user).await;
        user
    }
}

/// What the API answered: the status, the `Content-Range` header, and the JSON body (`Null`
/// when there is none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_range: String,
    pub body: serde_json::Value,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let content_range = response
            .headers()
            .get("content-range")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
        };
        Self {
            status,
            content_range,
            body,
        }
    }

    /// The `error_code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or_default()
    }

    /// The messages of an error body.
    pub fn errors(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A token a test needs, described by what differs from the usual one.
pub struct TokenSpec<'a> {
    app: &'a TestApp,
    owner: &'a TestUser,
    name: String,
    external_id: String,
    extension: Extension,
    status: StoredStatus,
    modules: String,
    expires_at: Option<NaiveDateTime>,
    allowed_networks: AllowedNetworks,
    rate_limit: Option<RateLimit>,
    reason: Option<String>,
}

impl TokenSpec<'_> {
    /// Why it is asked for, where the account's policy wants an admin's approval.
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// Networks the key may be used from, comma-separated.
    pub fn allowed(mut self, networks: &str) -> Self {
        self.allowed_networks = AllowedNetworks::parse_lines(networks).unwrap();
        self
    }

    pub fn external_id(mut self, external_id: &str) -> Self {
        self.external_id = external_id.to_owned();
        self
    }

    pub fn extension(mut self, extension: Extension) -> Self {
        self.extension = extension;
        self
    }

    pub fn status(mut self, status: StoredStatus) -> Self {
        self.status = status;
        self
    }

    /// `all` or `MD-0001,MD-0002`.
    pub fn modules(mut self, modules: &str) -> Self {
        self.modules = modules.to_owned();
        self
    }

    pub fn expires_at(mut self, at: NaiveDateTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// At most this many requests per minute (1–100 000).
    pub fn rate_limit(mut self, requests: u32) -> Self {
        self.rate_limit = Some(RateLimit::new(requests.into()).expect("a valid rate limit"));
        self
    }

    pub fn create(self) -> (Token, ApiKey) {
        let general = GeneralInput {
            name: self.name,
            external_id: self.external_id,
            description: "A token made by a test.".into(),
        }
        .parse()
        .expect("valid test token");
        let mut conn = self.app.pool.get().unwrap();
        let new = NewToken {
            general: &general,
            extension: self.extension,
            modules: &ModuleSet::parse_list(&self.modules).unwrap(),
            status: self.status,
            expires_at: self.expires_at,
            allowed_networks: &self.allowed_networks,
            rate_limit: self.rate_limit,
            creation_key: None,
            reason: self.reason.as_deref(),
        };
        let by = self.owner.user.offline(self.app.clock.now());
        token_service::create(&mut conn, &by, &self.app.master_key, &new).unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn select_all(html: &Html, selector: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    html.select(&selector)
        .map(|e| {
            e.text()
                .collect::<Vec<_>>()
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

pub fn text(html: &Html, selector: &str) -> String {
    select_all(html, selector)
        .into_iter()
        .next()
        .unwrap_or_default()
}

pub fn attr(html: &Html, selector: &str, name: &str) -> Option<String> {
    let selector = Selector::parse(selector).unwrap();
    html.select(&selector)
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_owned)
}

/// The token names in the list, top to bottom.
pub fn listed_names(html: &Html) -> Vec<String> {
    select_all(html, "table.tokens-table a.token-name")
}
