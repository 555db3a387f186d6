//! Keys in front of any service: Debian's nginx, configured as deploy/nginx.conf ships, asks
//! `/auth/verify` about every request to a service behind it; Traefik's and Envoy's requests,
//! as their documentation describes them, are answered alike; a key the cache knows is checked
//! without the database.

use crate::common::proxies::{self, NGINX, Service, free_port};
use crate::common::{Answer, Backend, TestApp, spawn_app_configured};
use reqwest::Method;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::routes::RouteTable;

/// The service's route table: which module each of its paths belongs to.
const ROUTES: &str = "\
# the service behind the proxy
/agreements        MD-0002
/catalog           MD-0010
/catalog/reports   MD-0011
";

/// tokendesk with the route table, trusting the proxy on 127.0.0.1 to say who the client is.
async fn tokendesk(backend: Backend) -> TestApp {
    spawn_app_configured(backend, |config| {
        config.routes = RouteTable::parse(ROUTES).unwrap();
        config.trusted_proxies =
            vec![tokendesk::domain::network::Network::parse("127.0.0.1/32").unwrap()];
    })
    .await
}

fn port_of(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// A request through the proxy at `base`, with `key` when there is one; the answer, and its
/// headers.
async fn through(
    base: &str,
    path: &str,
    key: Option<&ApiKey>,
) -> (Answer, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(key) = key {
        request = request.header("Authorization", format!("ApiKey {}", key.expose()));
    }
    let response = request.send().await.expect("a request through the proxy");
    let headers = response.headers().clone();
    (Answer::read(response).await, headers)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("", |value| value.to_str().unwrap())
}

/// The token's requests so far, as its usage endpoint answers them.
async fn requests_counted(app: &TestApp, reader: &ApiKey, id: &str) -> u64 {
    app.flush_usage();
    let answer = app
        .call(
            reader,
            Method::GET,
            &format!("/auth/tokens/{id}/usage"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|day| day["requests"].as_u64().unwrap())
        .sum()
}

async fn nginx_lets_through_only_what_the_key_reaches(backend: Backend) {
    if !proxies::installed(NGINX, "nginx") {
        return;
    }
    let app = tokendesk(backend).await;
    let service = Service::start();
    let port = free_port();
    let logs = tempfile::tempdir().unwrap();
    let config = proxies::nginx_conf(port, port_of(&app), service.port, logs.path());
    let nginx = proxies::nginx(&config, port);
    let base = format!("http://127.0.0.1:{port}");

    let user = app.robert();
    let (_, admin) = app.token(&user, "Admin").create();
    let (reader, key) = app.token(&user, "Reader").modules("MD-0002").create();
    let (_, catalog) = app.token(&user, "Catalog").modules("MD-0010").create();
    let (_, limited) = app
        .token(&user, "Limited")
        .modules("MD-0002")
        .rate_limit(2)
        .create();

    // A key with the path's module: the service's own answer, told who called.
    let (answer, _) = through(&base, "/agreements/AGP-1?expand=lines", Some(&key)).await;
    assert_eq!(answer.status, 200, "{:?}\n{}", answer.body, nginx.log());
    assert_eq!(answer.body["service"], "behind the proxy");
    assert_eq!(answer.body["path"], "/agreements/AGP-1?expand=lines");
    let seen = &answer.body["headers"];
    assert_eq!(seen["x-tokendesk-account"], user.account.id.as_str());
    assert_eq!(seen["x-tokendesk-token"], reader.id.as_str());
    assert_eq!(seen["x-tokendesk-module"], "MD-0002");
    assert!(
        seen.get("authorization").is_none_or(|v| v == ""),
        "the key stays with tokendesk: {seen}"
    );

    // A request with a body: the check is asked without it, the service gets all of it.
    let sent = r#"{"name": "Vendor Program"}"#;
    let response = reqwest::Client::new()
        .post(format!("{base}/agreements"))
        .header("Authorization", format!("ApiKey {}", key.expose()))
        .header("Content-Type", "application/json")
        .body(sent)
        .send()
        .await
        .expect("a POST through the proxy");
    let answer = Answer::read(response).await;
    assert_eq!(answer.status, 200, "{:?}\n{}", answer.body, nginx.log());
    assert_eq!(
        answer.body["headers"]["content-length"],
        sent.len().to_string()
    );

    // No key, another module's key, a path of no module: our answers, through nginx.
    let (answer, headers) = through(&base, "/agreements", None).await;
    assert_eq!(
        (answer.status, answer.code()),
        (401, "AUTH_001"),
        "{:?}",
        answer.body
    );
    assert!(header(&headers, "content-type").starts_with("application/json"));
    let (answer, _) = through(&base, "/agreements", Some(&catalog)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "AUTH_006"),
        "{:?}",
        answer.body
    );
    let (answer, _) = through(&base, "/catalog/../agreements", Some(&catalog)).await;
    assert_eq!(answer.status, 403, "judged by the path it reaches");
    let (answer, _) = through(&base, "/admin", Some(&key)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "AUTH_006"),
        "{:?}",
        answer.body
    );
    assert!(answer.errors()[0].contains("/admin"), "{:?}", answer.body);

    // Over the limit: 429 with Retry-After, and where the key stands on every answer.
    for remaining in ["1", "0"] {
        let (answer, headers) = through(&base, "/agreements", Some(&limited)).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(header(&headers, "ratelimit-limit"), "2");
        assert_eq!(header(&headers, "ratelimit-remaining"), remaining);
    }
    let (answer, headers) = through(&base, "/agreements", Some(&limited)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (429, "RATE_001"),
        "{:?}",
        answer.body
    );
    let retry: u32 = header(&headers, "retry-after")
        .parse()
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header(&headers, "ratelimit-remaining"), "0");

    // Counted in the token's usage like any API request.
    let before = requests_counted(&app, &admin, reader.id.as_str()).await;
    assert!(before >= 1, "{before}");
    through(&base, "/agreements/AGP-2", Some(&key)).await;
    assert_eq!(
        requests_counted(&app, &admin, reader.id.as_str()).await,
        before + 1
    );

    // Disabled: refused through the proxy within a second.
    let answer = app
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{}/deactivate", reader.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let disabled = Instant::now();
    loop {
        let (answer, _) = through(&base, "/agreements", Some(&key)).await;
        if answer.status == 401 {
            assert_eq!(answer.code(), "AUTH_003");
            break;
        }
        assert!(
            disabled.elapsed() < Duration::from_secs(1),
            "still {} a second after it was disabled",
            answer.status
        );
    }
}

/// A forward-auth request to tokendesk itself, with `key` and the given headers.
async fn ask(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&ApiKey>,
    headers: &[(&str, &str)],
) -> (Answer, reqwest::header::HeaderMap) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.header("Authorization", format!("ApiKey {}", key.expose()));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("a forward-auth request");
    let headers = response.headers().clone();
    (Answer::read(response).await, headers)
}

async fn traefik_and_envoy_are_answered_alike(backend: Backend) {
    let app = tokendesk(backend).await;
    let user = app.robert();
    let (token, key) = app
        .token(&user, "Catalog")
        .modules("MD-0010,MD-0011")
        .create();
    let (_, fenced) = app
        .token(&user, "Fenced")
        .modules("MD-0010")
        .allowed("10.0.0.0/8")
        .create();

    // Traefik forwardAuth: the original method and path in X-Forwarded-Method and -Uri.
    let traefik = [
        ("X-Forwarded-Method", "DELETE"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example"),
        ("X-Forwarded-Uri", "/catalog/reports/2024?format=csv"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    let (answer, headers) = ask(&app, Method::GET, "/auth/verify", Some(&key), &traefik).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(header(&headers, "x-tokendesk-module"), "MD-0011");
    assert_eq!(header(&headers, "x-tokendesk-token"), token.id.as_str());
    assert_eq!(
        header(&headers, "x-tokendesk-account"),
        user.account.id.as_str()
    );
    // An answer that lets the request through goes to the proxy alone: no headers for
    // browsers, but never to be cached.
    for browsers_only in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ] {
        assert!(headers.get(browsers_only).is_none(), "{browsers_only}");
    }
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert!(headers.get("x-request-id").is_some());

    // Envoy ext_authz: the original method, and the original path after the path_prefix; a
    // POST without any CSRF token, with the client's cookies, is a forward-auth check like
    // any other.
    let (answer, headers) = ask(
        &app,
        Method::POST,
        "/auth/verify/catalog/items/7?x=1",
        Some(&key),
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("Cookie", "tokendesk_session=junk"),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(header(&headers, "x-tokendesk-module"), "MD-0010");
    // Envoy asks /auth/verify/ for the service's root: the path /, which has no module here.
    let (answer, headers) = ask(&app, Method::GET, "/auth/verify/", Some(&key), &[]).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "AUTH_006"),
        "{:?}",
        answer.body
    );
    assert!(
        answer.errors()[0].contains("the path /"),
        "{:?}",
        answer.body
    );
    // A refusal may reach a browser (Traefik and Envoy hand it on): it has their headers.
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    assert!(headers.get("content-security-policy").is_some());
    // Every refusal's body is also in X-Tokendesk-Error, for proxies that answer themselves.
    let repeated: serde_json::Value =
        serde_json::from_str(header(&headers, "x-tokendesk-error")).unwrap();
    assert_eq!(repeated, answer.body);

    // Two proxies' headers naming different paths: a client cannot pick its module so.
    let (answer, _) = ask(
        &app,
        Method::GET,
        "/auth/verify",
        Some(&key),
        &[
            ("X-Original-URI", "/catalog/1"),
            ("X-Forwarded-Uri", "/agreements/1"),
        ],
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "AUTH_006"),
        "{:?}",
        answer.body
    );
    // Nothing says which path: refused.
    let (answer, _) = ask(&app, Method::GET, "/auth/verify", Some(&key), &[]).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "AUTH_006"),
        "{:?}",
        answer.body
    );

    // The client's address, forwarded by the trusted proxy, against the allowed networks.
    let from_outside = [
        ("X-Original-URI", "/catalog/1"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    let (answer, _) = ask(
        &app,
        Method::GET,
        "/auth/verify",
        Some(&fenced),
        &from_outside,
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "AUTH_005"),
        "{:?}",
        answer.body
    );
    assert!(
        answer.errors()[0].contains("203.0.113.9"),
        "{:?}",
        answer.body
    );
    let from_inside = [
        ("X-Original-URI", "/catalog/1"),
        ("X-Forwarded-For", "10.1.2.3"),
    ];
    let (answer, _) = ask(
        &app,
        Method::GET,
        "/auth/verify",
        Some(&fenced),
        &from_inside,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    // A bad key, two keys: 401, never a 400 that nginx would turn into a 500.
    let nginx_shape = [
        ("X-Original-URI", "/catalog/1"),
        ("X-Original-Method", "GET"),
    ];
    let (answer, _) = ask(&app, Method::GET, "/auth/verify", None, &nginx_shape).await;
    assert_eq!((answer.status, answer.code()), (401, "AUTH_001"));
    let twice = app
        .client
        .get(app.url("/auth/verify"))
        .header("X-Original-URI", "/catalog/1")
        .header("Authorization", format!("ApiKey {}", key.expose()))
        .header("Authorization", format!("ApiKey {}", fenced.expose()));
    let answer = Answer::read(twice.send().await.unwrap()).await;
    assert_eq!(
        (answer.status, answer.code()),
        (401, "AUTH_001"),
        "{:?}",
        answer.body
    );
}

/// Once the cache holds a key, checking it runs no statement: no read of the token, and no
/// session, though the browser that asks carries a live one (proxies pass cookies along).
async fn a_known_key_is_checked_without_the_database(backend: Backend) {
    let app = tokendesk(backend).await;
    let user = app.signed_in_user().await;
    assert!(!app.session_cookie().is_empty());
    let (token, key) = app.token(&user, "Catalog").modules("MD-0010").create();
    let nginx_shape = [("X-Original-URI", "/catalog/1")];
    let started = Instant::now();
    while app.keys().get(&token.id).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the key is kept"
        );
        let (answer, _) = ask(&app, Method::GET, "/auth/verify", Some(&key), &nginx_shape).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    let statements = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = statements.clone();
    app.pool
        .on_statement(move |sql| seen.lock().unwrap().push(sql.to_owned()));
    // The cache steps aside whenever the key watch is late to prove its connection alive (750 ms:
    // a machine loaded by others can do that), so a round may read the token once; one round of
    // twenty checks in three must read nothing.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        statements.lock().unwrap().clear();
        for _ in 0..20 {
            let (answer, _) =
                ask(&app, Method::GET, "/auth/verify", Some(&key), &nginx_shape).await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
        }
        let on_the_path: Vec<String> = statements
            .lock()
            .unwrap()
            .iter()
            .filter(|sql| sql.contains("token_permissions") || sql.contains("sessions"))
            .cloned()
            .collect();
        assert!(
            !on_the_path.iter().any(|sql| sql.contains("sessions")),
            "no session is loaded: {on_the_path:#?}"
        );
        if on_the_path.is_empty() {
            return;
        }
        rounds.push(on_the_path);
    }
    panic!("every round read the token: {rounds:#?}");
}

crate::on_both_databases!(
    nginx_lets_through_only_what_the_key_reaches,
    traefik_and_envoy_are_answered_alike,
    a_known_key_is_checked_without_the_database,
);
