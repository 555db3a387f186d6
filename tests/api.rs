//! The /public/v1 API over HTTP: keys, modules, collections, RQL, and token management.

use crate::common::{Answer, Backend, TestApp, TestUser, spawn_app};
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

/// An admin token (All modules) of a fresh account, and the account's user.
fn admin_key(app: &TestApp) -> (TestUser, ApiKey) {
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, key) = app.add_token(
        &user,
        "Admin automation",
        Extension::Custom,
        StoredStatus::Active,
    );
    (user, key)
}

/// The status and `error_code` of a refusal, which always lists its errors.
fn refused(answer: &Answer) -> (u16, &str) {
    assert!(
        !answer.errors().is_empty(),
        "errors listed: {}",
        answer.body
    );
    (answer.status, answer.code())
}

async fn hostile_authorization_headers_are_all_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = admin_key(&app);
    let good = key.expose();
    let (id, secret) = good.split_once(':').unwrap();
    let flipped = {
        let mut s = secret.to_owned();
        let c = s.remove(0);
        s.insert(0, if c == 'a' { 'b' } else { 'a' });
        s
    };
    // Same id, a different random part with a correct checksum: passes the CRC, fails the digest.
    let forged = {
        let random = "0123456789abcdef0123456789abcdef";
        let crc = format!(
            "{:08x}",
            crc32fast::hash(format!("{id}:{random}").as_bytes())
        );
        format!("{id}:{random}{crc}")
    };
    let unknown = {
        let other = "SU-000-000-001";
        let random = &secret[..32];
        let crc = format!(
            "{:08x}",
            crc32fast::hash(format!("{other}:{random}").as_bytes())
        );
        format!("{other}:{random}{crc}")
    };
    let long = "a".repeat(10_000);
    let headers: Vec<String> = vec![
        String::new(),
        " ".into(),
        "ApiKey".into(),
        "ApiKey ".into(),
        format!("Bearer {good}"),
        format!("Basic {good}"),
        format!("Token {good}"),
        format!("ApiKey{good}"),
        format!("ApiKey  {good}"),
        format!("ApiKey\t{good}"),
        format!("ApiKey {good}x"),
        format!("ApiKey {good} {good}"),
        format!("ApiKey {good}:"),
        format!("ApiKey :{good}"),
        format!("ApiKey {id}"),
        format!("ApiKey {id}:"),
        format!("ApiKey :{secret}"),
        format!("ApiKey {secret}"),
        format!("ApiKey {id}::{secret}"),
        format!("ApiKey {id}:{}", &secret[..39]),
        format!("ApiKey {id}:{secret}0"),
        format!("ApiKey {id}:{}", secret.to_uppercase()),
        format!("ApiKey {id}:{flipped}"),
        format!("ApiKey {forged}"),
        format!("ApiKey {unknown}"),
        format!("ApiKey {}:{secret}", id.to_lowercase()),
        format!("ApiKey SU-160-984-311:{secret}"),
        format!("ApiKey ' OR 1=1 --:{secret}"),
        format!("ApiKey SU-1'; DROP TABLE tokens;--:{secret}"),
        format!("ApiKey {long}"),
        format!("ApiKey {id}:{long}"),
        format!("ApiKey {id}:{secret}%00"),
        "ApiKey SU-160-984-311:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".into(),
        format!("ApiKey {}", good.replace(':', "%3A")),
        good.clone(),
        format!("ApiKey {good},ApiKey {good}"),
    ];
    assert!(headers.len() >= 30);
    for header in &headers {
        let response = app
            .client
            .get(app.url("/public/v1/auth/context"))
            .header("Authorization", header.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        let answer = Answer::read(response).await;
        let (status, code) = refused(&answer);
        assert_eq!(status, 401, "{header:?}");
        assert!(code.starts_with("AUTH_"), "{header:?}: {code}");
    }
    // No header at all, and a header that is not text.
    let response = app
        .client
        .get(app.url("/public/v1/auth/context"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused(&Answer::read(response).await).0, 401);
    let response = app
        .client
        .get(app.url("/public/v1/auth/context"))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"ApiKey \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused(&Answer::read(response).await).0, 401);

    // And the good key, in any case of the scheme, works.
    for scheme in ["ApiKey", "apikey", "APIKEY"] {
        let response = app
            .client
            .get(app.url("/public/v1/auth/context"))
            .header("Authorization", format!("{scheme} {good}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

async fn the_context_names_the_account_and_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let answer = app.call(&key, Method::GET, "/auth/context", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({
            "account": {"id": user.account.id.to_string(), "name": "Front Street Inc"},
            "user": {"id": key.token_id.to_string(), "name": "Admin automation"},
        })
    );
}

async fn disabled_deleted_and_expired_tokens_are_refused_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, key) = app.add_token(&user, "Switchable", Extension::Custom, StoredStatus::Active);
    let context = || app.call(&key, Method::GET, "/auth/context", None);
    assert_eq!(context().await.status, 200);

    app.post(&format!("/integrations/tokens/{}/disable", token.id), &[])
        .await;
    assert_eq!(
        refused(&context().await),
        (401, "AUTH_003"),
        "disabled in the UI"
    );
    app.post(&format!("/integrations/tokens/{}/enable", token.id), &[])
        .await;
    assert_eq!(context().await.status, 200, "enabled again");
    app.post(&format!("/integrations/tokens/{}/delete", token.id), &[])
        .await;
    assert_eq!(refused(&context().await), (401, "AUTH_002"), "deleted");

    let past = Utc::now().naive_utc() - Duration::minutes(1);
    let (_, expired) = app.token(&user, "Expired").expires_at(past).create();
    let answer = app.call(&expired, Method::GET, "/auth/context", None).await;
    assert_eq!(refused(&answer), (401, "AUTH_004"));
    let html = app.get_html("/integrations/tokens?q=Expired").await;
    assert_eq!(
        crate::common::text(&html, ".status"),
        "Expired",
        "and the UI shows it"
    );
}

async fn modules_decide_what_a_key_reaches(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, agreements_only) = app
        .token(&user, "Agreements")
        .extension(Extension::Zapier)
        .modules("MD-0002")
        .create();
    let (_, nothing) = app
        .token(&user, "Helpdesk")
        .extension(Extension::Zapier)
        .modules("MD-0023")
        .create();
    let cases = [
        (&agreements_only, "/agreements", 200),
        (&agreements_only, "/accounts", 403),
        (&agreements_only, "/auth/tokens", 403),
        (&agreements_only, "/auth/context", 200),
        (&agreements_only, "/modules", 200),
        (&nothing, "/agreements", 403),
        (&nothing, "/auth/context", 200),
    ];
    for (key, path, expected) in cases {
        let answer = app.call(key, Method::GET, path, None).await;
        assert_eq!(answer.status, expected, "{} → {path}", key.token_id);
        if expected == 403 {
            assert_eq!(answer.code(), "AUTH_006");
        }
    }
}

async fn collections_page_with_content_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    for n in 1..=11 {
        app.add_token(
            &user,
            &format!("Bulk {n:02}"),
            Extension::Custom,
            StoredStatus::Active,
        );
    }
    let answer = app
        .call(
            &key,
            Method::GET,
            "/auth/tokens?limit=5&offset=0&ordering(name)",
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_range, "items 0-4/12");
    let names: Vec<String> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "Admin automation",
            "Bulk 01",
            "Bulk 02",
            "Bulk 03",
            "Bulk 04"
        ]
    );

    let answer = app
        .call(
            &key,
            Method::GET,
            "/auth/tokens?limit=5&offset=10&ordering(name)",
            None,
        )
        .await;
    assert_eq!(answer.content_range, "items 10-11/12");
    assert_eq!(answer.body.as_array().unwrap().len(), 2);

    let answer = app
        .call(&key, Method::GET, "/auth/tokens?limit=0", None)
        .await;
    assert_eq!(answer.content_range, "items 0-0/12");
    assert_eq!(answer.body, json!([]));

    let answer = app.call(&key, Method::GET, "/auth/tokens", None).await;
    assert_eq!(answer.content_range, "items 0-11/12", "100 by default");

    for bad in [
        "limit=1001",
        "limit=-1",
        "limit=x",
        "offset=-1",
        "offset=1.5",
    ] {
        let answer = app
            .call(&key, Method::GET, &format!("/auth/tokens?{bad}"), None)
            .await;
        assert_eq!(refused(&answer), (400, "REQ_001"), "{bad}");
    }
    let answer = app
        .call(&key, Method::GET, "/auth/tokens?limit=1000", None)
        .await;
    assert_eq!(answer.status, 200);
}

/// The names the filter returns, sorted.
async fn names_for(app: &TestApp, key: &ApiKey, query: &str) -> Vec<String> {
    let answer = app
        .call(key, Method::GET, &format!("/auth/tokens?{query}"), None)
        .await;
    assert_eq!(answer.status, 200, "{query}");
    let mut names: Vec<String> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn rql_filters_every_listed_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let soon = Utc::now().naive_utc() + Duration::days(30);
    let past = Utc::now().naive_utc() - Duration::days(1);
    let (flow, _) = app
        .token(&user, "Flowgear sync")
        .external_id("FG-1")
        .extension(Extension::Flowgear)
        .modules("MD-0002,MD-0010")
        .expires_at(soon)
        .create();
    app.token(&user, "Zapier alerts")
        .external_id("ZAP-1")
        .extension(Extension::Zapier)
        .status(StoredStatus::Inactive)
        .modules("MD-0023")
        .create();
    app.token(&user, "Old trial")
        .modules("MD-0008")
        .expires_at(past)
        .create();
    app.token(&user, "Reports")
        .external_id("REP")
        .extension(Extension::Reports)
        .create();

    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("eq(id,{})", flow.id), vec!["Flowgear sync"]),
        ("eq(name,Zapier%20alerts)".into(), vec!["Zapier alerts"]),
        ("name=Zapier+alerts".into(), vec!["Zapier alerts"]),
        ("like(name,*sync*)".into(), vec!["Flowgear sync"]),
        ("like(name,*SYNC*)".into(), vec![]),
        ("ilike(name,*SYNC*)".into(), vec!["Flowgear sync"]),
        ("eq(external_id,ZAP-1)".into(), vec!["Zapier alerts"]),
        (
            "eq(external_id,empty())".into(),
            vec!["Admin automation", "Old trial"],
        ),
        (
            "eq(status,active)".into(),
            vec!["Admin automation", "Flowgear sync", "Reports"],
        ),
        ("eq(status,inactive)".into(), vec!["Zapier alerts"]),
        ("eq(status,expired)".into(), vec!["Old trial"]),
        (
            "ne(status,active)".into(),
            vec!["Old trial", "Zapier alerts"],
        ),
        (
            "in(status,(inactive,expired))".into(),
            vec!["Old trial", "Zapier alerts"],
        ),
        (
            "out(status,(active))".into(),
            vec!["Old trial", "Zapier alerts"],
        ),
        ("eq(extension.id,EXT-001)".into(), vec!["Flowgear sync"]),
        ("eq(extension.name,reports)".into(), vec!["Reports"]),
        (
            "in(extension.name,(zapier,flowgear))".into(),
            vec!["Flowgear sync", "Zapier alerts"],
        ),
        (
            format!("eq(events.created.by.id,{})", user.user.id),
            vec![
                "Admin automation",
                "Flowgear sync",
                "Old trial",
                "Reports",
                "Zapier alerts",
            ],
        ),
        (
            "gt(events.created.at,2000-01-01)".into(),
            vec![
                "Admin automation",
                "Flowgear sync",
                "Old trial",
                "Reports",
                "Zapier alerts",
            ],
        ),
        ("lt(events.created.at,2000-01-01)".into(), vec![]),
        (
            "eq(expiration_date,null())".into(),
            vec!["Admin automation", "Reports", "Zapier alerts"],
        ),
        (
            "ne(expiration_date,null())".into(),
            vec!["Flowgear sync", "Old trial"],
        ),
        (
            format!("gt(expiration_date,{})", Utc::now().format("%Y-%m-%d")),
            vec!["Flowgear sync"],
        ),
        (
            "eq(permissions.object.id,MD-0002)".into(),
            vec!["Flowgear sync"],
        ),
        (
            "eq(permissions.object.id,MD-0000)".into(),
            vec!["Admin automation", "Reports"],
        ),
        (
            "in(permissions.object.id,(MD-0023,MD-0008))".into(),
            vec!["Old trial", "Zapier alerts"],
        ),
        (
            "and(eq(status,active),eq(extension.name,custom))".into(),
            vec!["Admin automation"],
        ),
        (
            "or(eq(name,Reports),eq(external_id,FG-1))".into(),
            vec!["Flowgear sync", "Reports"],
        ),
        (
            "not(eq(extension.name,custom))".into(),
            vec!["Flowgear sync", "Reports", "Zapier alerts"],
        ),
        (
            "eq(status,active)&eq(extension.name,reports)".into(),
            vec!["Reports"],
        ),
        ("search=zap".into(), vec!["Zapier alerts"]),
        ("search=fg-1".into(), vec!["Flowgear sync"]),
        ("select(id,name)&eq(name,Reports)".into(), vec!["Reports"]),
    ];
    for (query, expected) in cases {
        assert_eq!(names_for(&app, &key, &query).await, expected, "{query}");
    }

    let answer = app
        .call(
            &key,
            Method::GET,
            "/auth/tokens?ordering(-name)&limit=3",
            None,
        )
        .await;
    let names: Vec<String> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Zapier alerts", "Reports", "Old trial"]);

    for bad in [
        "eq(nope,1)",
        "nope=1",
        "eq(status,deleted)",
        "gt(status,active)",
        "gt(events.created.at,yesterday)",
        "like(events.created.at,*)",
        "ordering(secret_digest)",
        "eq(name,a",
        "frobnicate(name,a)",
        "and()",
        "eq(secret_digest,x)",
        "gt(expiration_date,+10000-01-01T00:00:00%2B00:00)",
        &vec!["id="; 3000].join("&"),
        &vec!["eq(name,x)"; 300].join("&"),
    ] {
        let answer = app
            .call(&key, Method::GET, &format!("/auth/tokens?{bad}"), None)
            .await;
        assert_eq!(refused(&answer), (400, "REQ_001"), "{bad}");
    }
}

async fn tokens_are_managed_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);

    let answer = app
        .call(
            &key,
            Method::POST,
            "/auth/tokens",
            json!({
                "name": "Made by a program",
                "description": "Created through the API",
                "external_id": "PRG-7",
                "extension": {"name": "zapier"},
                "permissions": [{"object": {"id": "MD-0002"}}],
                "expiration_date": (Utc::now() + Duration::days(10)).format("%Y-%m-%d").to_string(),
            }),
        )
        .await;
    assert_eq!(answer.status, 201);
    let created = answer.body;
    let new_key = ApiKey::parse(created["token"].as_str().unwrap()).expect("the key, once");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(new_key.token_id.to_string(), id);
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["extension"],
        json!({"id": "EXT-002", "name": "zapier"})
    );
    assert_eq!(created["owner"]["id"], user.account.id.to_string());
    assert_eq!(
        created["events"]["created"]["by"]["id"],
        key.token_id.to_string(),
        "made by the calling token"
    );
    assert_eq!(created["permissions"][0]["object"]["id"], "MD-0002");
    assert!(created["expiration_date"].as_str().is_some());

    let fetched = app
        .call(&key, Method::GET, &format!("/auth/tokens/{id}"), None)
        .await
        .body;
    assert_eq!(fetched["name"], "Made by a program");
    assert!(
        fetched.get("token").is_none(),
        "the key is not returned again"
    );

    // The new key works, within its module.
    assert_eq!(
        app.call(&new_key, Method::GET, "/agreements", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&new_key, Method::GET, "/accounts", None)
            .await
            .status,
        403
    );

    let answer = app
        .call(
            &key,
            Method::PUT,
            &format!("/auth/tokens/{id}"),
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let updated = answer.body;
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(
        updated["description"], "Created through the API",
        "fields left out are kept"
    );

    let answer = app
        .call(
            &key,
            Method::POST,
            &format!("/auth/tokens/{id}/deactivate"),
            None,
        )
        .await;
    assert_eq!(answer.body["status"], "inactive");
    assert_eq!(
        app.call(&new_key, Method::GET, "/agreements", None)
            .await
            .status,
        401
    );
    let answer = app
        .call(
            &key,
            Method::POST,
            &format!("/auth/tokens/{id}/activate"),
            None,
        )
        .await;
    assert_eq!(answer.body["status"], "active");

    let permissions = format!("/auth/tokens/{id}/permissions");
    let answer = app
        .call(
            &key,
            Method::POST,
            &permissions,
            json!([{"object": {"id": "MD-0001"}}]),
        )
        .await;
    assert_eq!(answer.status, 201);
    assert_eq!(
        app.call(&new_key, Method::GET, "/accounts", None)
            .await
            .status,
        200,
        "granted at once"
    );
    let answer = app.call(&key, Method::GET, &permissions, None).await;
    assert_eq!(answer.content_range, "items 0-1/2");
    let listed = answer.body;
    assert_eq!(listed[0]["object"]["id"], "MD-0001");
    assert_eq!(
        listed[0]["events"]["granted"]["by"]["id"],
        key.token_id.to_string()
    );
    let answer = app
        .call(
            &key,
            Method::DELETE,
            &permissions,
            json!([{"object": {"id": "MD-0001"}}]),
        )
        .await;
    assert_eq!(answer.status, 204);
    assert_eq!(
        app.call(&new_key, Method::GET, "/accounts", None)
            .await
            .status,
        403,
        "revoked at once"
    );

    // What the API did shows in the UI's history, by the token that did it.
    app.sign_in(&user).await;
    let html = app.get_html(&format!("/integrations/tokens/{id}")).await;
    let history = crate::common::select_all(&html, "table.history td:first-child");
    assert_eq!(
        history,
        [
            "Permissions changed",
            "Permissions changed",
            "Enabled",
            "Disabled",
            "Edited",
            "Created"
        ]
    );
    assert_eq!(
        crate::common::select_all(&html, "table.history td:nth-child(2)")[0],
        "Admin automation"
    );

    let answer = app
        .call(&key, Method::DELETE, &format!("/auth/tokens/{id}"), None)
        .await;
    assert_eq!(answer.status, 204);
    assert_eq!(
        app.call(&new_key, Method::GET, "/agreements", None)
            .await
            .status,
        401,
        "deleted"
    );
    assert_eq!(
        app.call(&key, Method::GET, &format!("/auth/tokens/{id}"), None)
            .await
            .status,
        404
    );
}

async fn bad_bodies_get_clear_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let cases = [
        (
            json!({"name": 5, "description": "x", "extension": {"name": "custom"}}),
            "name: invalid type",
        ),
        (
            json!({"description": "x", "extension": {"name": "custom"}}),
            "missing field `name`",
        ),
        (
            json!({"name": "", "description": "x", "extension": {"name": "custom"}}),
            "name: Name is required",
        ),
        (
            json!({"name": "x".repeat(129), "description": "x", "extension": {"name": "custom"}}),
            "name: Name must be at most 128 characters",
        ),
        (
            json!({"name": "x", "description": "x", "extension": {"name": "teams"}}),
            "extension: unknown extension",
        ),
        (
            json!({"name": "x", "description": "x", "extension": {}}),
            "extension: give its id",
        ),
        (
            json!({"name": "x", "description": "x", "extension": {"id": "EXT-000"}, "permissions": [{"object": {"id": "MD-9"}}]}),
            "permissions: unknown module",
        ),
        (
            json!({"name": "x", "description": "x", "extension": {"id": "EXT-000"}, "expiration_date": "2001-01-01"}),
            "expiration_date: must be in the future",
        ),
        (
            json!({"name": "x", "description": "x", "extension": {"id": "EXT-000"}, "expiration_date": "soon"}),
            "expiration_date:",
        ),
        (
            json!({"name": "\u{202e}evil", "description": "x", "extension": {"id": "EXT-000"}}),
            "name: Name must not contain invisible or text-direction characters (U+202E)",
        ),
        (
            json!({"name": "\u{200f}\u{200f}", "description": "x", "extension": {"id": "EXT-000"}}),
            "name: Name must not contain invisible or text-direction characters (U+200F)",
        ),
        (json!([1, 2]), "invalid type"),
    ];
    for (body, message) in cases {
        let answer = app
            .call(&key, Method::POST, "/auth/tokens", body.clone())
            .await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.code(), "VAL_001", "{body}");
        let text = answer.body["errors"].to_string();
        assert!(text.contains(message), "{body} → {text}");
    }
    for raw in ["{not json", "", "null"] {
        let response = app
            .api(Method::POST, "/auth/tokens", &key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{raw:?}");
    }
    let huge =
        json!({"name": "x", "description": "d".repeat(70_000), "extension": {"name": "custom"}});
    let answer = app.call(&key, Method::POST, "/auth/tokens", huge).await;
    assert_eq!(refused(&answer), (413, "REQ_002"));
    assert_eq!(app.token_count(&user), 1, "nothing was created");

    let answer = app.call(&key, Method::GET, "/no/such/thing", None).await;
    assert_eq!(refused(&answer).0, 404);
}

async fn another_accounts_objects_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = admin_key(&app);
    let rival = app.add_user("Rival Corp", "mallory@rival.example", "Mallory");
    let (theirs, _) = app.add_token(&rival, "Theirs", Extension::Custom, StoredStatus::Active);
    for (method, path) in [
        (Method::GET, format!("/auth/tokens/{}", theirs.id)),
        (Method::PUT, format!("/auth/tokens/{}", theirs.id)),
        (Method::DELETE, format!("/auth/tokens/{}", theirs.id)),
        (
            Method::POST,
            format!("/auth/tokens/{}/deactivate", theirs.id),
        ),
        (
            Method::GET,
            format!("/auth/tokens/{}/permissions", theirs.id),
        ),
        (Method::GET, format!("/accounts/{}", rival.account.id)),
    ] {
        let answer = app
            .call(&key, method.clone(), &path, json!({"name": "mine"}))
            .await;
        assert_eq!(refused(&answer).0, 404, "{method} {path}");
    }
    let names = names_for(&app, &key, "").await;
    assert_eq!(names, ["Admin automation"]);
    assert_eq!(
        app.find_token(&rival, &theirs).unwrap().stored_status,
        StoredStatus::Active
    );
}

async fn agreements_accounts_and_modules(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    {
        let mut conn = app.pool.get().unwrap();
        tokendesk::services::demo::seed_demo_data(&mut conn, &app.master_key, app.clock.now())
            .unwrap();
    }
    let answer = app
        .call(
            &key,
            Method::GET,
            "/agreements?eq(active,true)&ordering(title)",
            None,
        )
        .await;
    assert_eq!(answer.content_range, "items 0-3/4");
    let agreements = answer.body;
    assert_eq!(agreements[0]["title"], "EMEA Reseller Agreement");
    assert_eq!(agreements[0]["owner"]["id"], user.account.id.to_string());
    let id = agreements[0]["id"].as_str().unwrap().to_owned();
    let answer = app
        .call(&key, Method::GET, &format!("/agreements/{id}"), None)
        .await;
    assert_eq!(answer.body["type"], "distribution");
    let answer = app
        .call(&key, Method::GET, "/agreements?search=vendor", None)
        .await;
    assert_eq!(answer.content_range, "items 0-1/2");
    let answer = app
        .call(&key, Method::GET, "/agreements?eq(active,maybe)", None)
        .await;
    assert_eq!(answer.status, 400);

    // Plain pages in id order: the first (its own statement, without OFFSET), the next, and
    // one past the end, which still says how many there are.
    let ids = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = app
        .call(&key, Method::GET, "/agreements?limit=2", None)
        .await;
    assert_eq!(first.content_range, "items 0-1/5");
    let next = app
        .call(&key, Method::GET, "/agreements?limit=2&offset=2", None)
        .await;
    assert_eq!(next.content_range, "items 2-3/5");
    let all = app
        .call(&key, Method::GET, "/agreements?limit=10", None)
        .await;
    assert_eq!(all.content_range, "items 0-4/5");
    let mut sorted = ids(&all.body);
    sorted.sort();
    assert_eq!(ids(&all.body), sorted);
    assert_eq!([ids(&first.body), ids(&next.body)].concat(), sorted[..4]);
    let beyond = app
        .call(&key, Method::GET, "/agreements?limit=2&offset=7", None)
        .await;
    assert_eq!(
        (beyond.status, beyond.content_range.as_str()),
        (200, "items 0-0/5")
    );

    let answer = app.call(&key, Method::GET, "/accounts", None).await;
    assert_eq!(
        answer.body,
        json!([{"id": user.account.id.to_string(), "name": "Front Street Inc"}])
    );

    let answer = app
        .call(&key, Method::GET, "/modules?ilike(name,*de*)", None)
        .await;
    let names: Vec<Value> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, [json!("Helpdesk"), json!("DevOps")]);
    let answer = app.call(&key, Method::GET, "/modules/MD-0007", None).await;
    assert_eq!(
        answer.body,
        json!({"id": "MD-0007", "name": "Integrations"})
    );
}

async fn the_openapi_document_describes_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = Answer::read(app.get("/public/v1/openapi.json").await).await;
    assert_eq!(answer.status, 200);
    let document = answer.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/auth/context",
        "/agreements",
        "/auth/tokens",
        "/auth/tokens/{id}/permissions",
        "/modules",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path}");
    }
    assert!(document["components"]["schemas"].get("TokenOut").is_some());
}

async fn last_use_is_recorded_in_batches_and_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, key) = app.add_token(&user, "Busy", Extension::Custom, StoredStatus::Active);
    for _ in 0..5 {
        assert_eq!(
            app.call(&key, Method::GET, "/auth/context", None)
                .await
                .status,
            200
        );
    }
    let mut shown = String::new();
    for _ in 0..50 {
        let html = app
            .get_html(&format!("/integrations/tokens/{}", token.id))
            .await;
        let properties = crate::common::select_all(&html, ".properties dd");
        shown = properties.last().cloned().unwrap_or_default();
        if shown != "Never" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(shown.ends_with("from 127.0.0.1"), "{shown}");
}

async fn a_token_cannot_grant_what_it_does_not_hold(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (manager, key) = app
        .token(&user, "Token manager")
        .modules("MD-0007,MD-0002")
        .create();
    let own = format!("/auth/tokens/{}/permissions", manager.id);
    for module in ["MD-0000", "MD-0001"] {
        let answer = app
            .call(
                &key,
                Method::POST,
                &own,
                json!([{"object": {"id": module}}]),
            )
            .await;
        assert_eq!(refused(&answer), (403, "AUTH_007"), "{module}");
    }
    assert_eq!(
        app.call(&key, Method::GET, "/accounts", None).await.status,
        403,
        "still no Account"
    );

    let create = |body: Value| app.call(&key, Method::POST, "/auth/tokens", body);
    let answer =
        create(json!({"name": "x", "description": "x", "extension": {"name": "reports"}})).await;
    assert_eq!(refused(&answer).0, 403, "Reports tokens reach every module");
    let answer = create(
        json!({"name": "x", "description": "x", "extension": {"name": "custom"},
        "permissions": [{"object": {"id": "MD-0000"}}]}),
    )
    .await;
    assert_eq!(refused(&answer).0, 403);
    let answer = create(
        json!({"name": "x", "description": "x", "extension": {"name": "custom"},
        "permissions": [{"object": {"id": "MD-0002"}}]}),
    )
    .await;
    assert_eq!(answer.status, 201, "what it holds it may pass on");
    assert_eq!(app.token_count(&user), 2);
}

async fn concurrent_changes_neither_fail_nor_get_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let (target, _) = app.token(&user, "Target").modules("MD-0002").create();
    let path = format!("/auth/tokens/{}", target.id);
    let renames = (0..24).map(|n| {
        app.call(
            &key,
            Method::PUT,
            &path,
            json!({"description": format!("Description {n}")}),
        )
    });
    for answer in futures_util::future::join_all(renames).await {
        assert_eq!(answer.status, 200);
    }
    // Grants of different modules at once all stay; the same module twice is granted once.
    let permissions = format!("{path}/permissions");
    let grants = [
        "MD-0001", "MD-0003", "MD-0004", "MD-0005", "MD-0005", "MD-0006",
    ]
    .map(|module| {
        app.call(
            &key,
            Method::POST,
            &permissions,
            json!([{"object": {"id": module}}]),
        )
    });
    for answer in futures_util::future::join_all(grants).await {
        assert_eq!(answer.status, 201);
    }
    let answer = app.call(&key, Method::GET, &permissions, None).await;
    let mut held: Vec<String> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            "MD-0001", "MD-0002", "MD-0003", "MD-0004", "MD-0005", "MD-0006"
        ]
    );
}

async fn without_a_key_the_answer_is_401_whatever_the_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = admin_key(&app);
    for body in ["nope", "{\"name\": 5}", ""] {
        let response = app
            .client
            .post(app.url("/public/v1/auth/tokens"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(refused(&Answer::read(response).await).0, 401, "{body:?}");
    }
    let response = app
        .client
        .post(app.url("/public/v1/auth/tokens"))
        .body(vec![b'x'; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(refused(&Answer::read(response).await).0, 401);
    assert_eq!(app.token_count(&user), 1);
}

async fn a_key_acts_only_on_tokens_within_its_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, key) = app
        .token(&user, "Integrations only")
        .modules("MD-0007")
        .create();
    let (wide, _) = app
        .token(&user, "Everything")
        .status(StoredStatus::Inactive)
        .create();
    let (narrow, _) = app
        .token(&user, "Also integrations")
        .modules("MD-0007")
        .status(StoredStatus::Inactive)
        .create();
    let attempts: [(Method, String, Option<Value>); 5] = [
        (
            Method::POST,
            format!("/auth/tokens/{}/activate", wide.id),
            None,
        ),
        (Method::DELETE, format!("/auth/tokens/{}", wide.id), None),
        (
            Method::PUT,
            format!("/auth/tokens/{}", wide.id),
            Some(json!({"name": "Mine now"})),
        ),
        (
            Method::DELETE,
            format!("/auth/tokens/{}/permissions", wide.id),
            Some(json!([{"object": {"id": "MD-0000"}}])),
        ),
        (
            Method::POST,
            format!("/auth/tokens/{}/permissions", narrow.id),
            Some(json!([{"object": {"id": "MD-0002"}}])),
        ),
    ];
    for (method, path, body) in attempts {
        let answer = app.call(&key, method.clone(), &path, body).await;
        assert_eq!(refused(&answer), (403, "AUTH_007"), "{method} {path}");
        assert!(answer.errors()[0].contains("does not hold"), "{answer:?}");
    }
    let still = app.find_token(&user, &wide).expect("not deleted");
    assert_eq!(
        (still.name.as_str(), still.stored_status),
        ("Everything", StoredStatus::Inactive)
    );

    // Within its reach it acts as before; another account's token is not found, not refused.
    let answer = app
        .call(
            &key,
            Method::POST,
            &format!("/auth/tokens/{}/activate", narrow.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    let rival = app.add_user("Rival Corp", "mallory@rival.example", "Mallory");
    let (theirs, _) = app.token(&rival, "Theirs").create();
    let answer = app
        .call(
            &key,
            Method::DELETE,
            &format!("/auth/tokens/{}", theirs.id),
            None,
        )
        .await;
    assert_eq!(refused(&answer), (404, "NFND_001"));
}

async fn bodies_say_what_they_cannot_carry(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let (token, _) = app.token(&user, "Target").modules("MD-0002").create();
    let path = format!("/auth/tokens/{}", token.id);

    // Fields the PUT does not take are refused, every one named, and nothing changes.
    let answer = app
        .call(
            &key,
            Method::PUT,
            &path,
            json!({"name": "Renamed", "status": "inactive", "expiration_date": "2030-01-01",
                   "extension": {"name": "zapier"}, "colour": "blue"}),
        )
        .await;
    assert_eq!(refused(&answer), (400, "VAL_001"));
    let errors = answer.errors();
    for field in ["status", "expiration_date", "extension", "colour"] {
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{field}: "))),
            "{field}: {errors:?}"
        );
    }
    assert!(errors.iter().any(|e| e.contains("/activate")), "{errors:?}");
    assert_eq!(app.find_token(&user, &token).unwrap().name, "Target");
    let answer = app
        .call(
            &key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "x", "description": "x", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0002"}}], "status": "inactive"}),
        )
        .await;
    assert_eq!(
        answer.errors(),
        ["status: cannot be sent here (use POST /auth/tokens/{id}/activate or /deactivate)"]
    );

    // A body that is not JSON is refused as such, whatever it looks like.
    let send = |content_type: &'static str, body: &'static str| {
        app.api(Method::PUT, &path, &key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/json",
    ] {
        let answer = Answer::read(send(content_type, r#"{"name": "x"}"#).await.unwrap()).await;
        assert_eq!(refused(&answer), (415, "REQ_003"), "{content_type}");
    }
    let answer = Answer::read(
        send("application/json; charset=utf-8", r#"{"name": "Fine"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);

    // Two Authorization headers: neither is guessed at.
    let response = app
        .client
        .get(app.url("/public/v1/auth/context"))
        .header("Authorization", format!("ApiKey {}", key.expose()))
        .header("Authorization", "ApiKey SU-000-000-000:0")
        .send()
        .await
        .unwrap();
    assert_eq!(refused(&Answer::read(response).await), (400, "REQ_001"));
}

crate::on_both_databases!(
    a_key_acts_only_on_tokens_within_its_reach,
    bodies_say_what_they_cannot_carry,
    a_token_cannot_grant_what_it_does_not_hold,
    concurrent_changes_neither_fail_nor_get_lost,
    without_a_key_the_answer_is_401_whatever_the_body,
    hostile_authorization_headers_are_all_401,
    the_context_names_the_account_and_the_token,
    disabled_deleted_and_expired_tokens_are_refused_at_once,
    modules_decide_what_a_key_reaches,
    collections_page_with_content_range,
    rql_filters_every_listed_field,
    tokens_are_managed_through_the_api,
    bad_bodies_get_clear_errors,
    another_accounts_objects_are_not_found,
    agreements_accounts_and_modules,
    the_openapi_document_describes_the_api,
    last_use_is_recorded_in_batches_and_shown,
);
