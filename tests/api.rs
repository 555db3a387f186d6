//! The /public/v1 API over HTTP: keys, modules, collections, RQL, and token management.

mod common;

use chrono::{Duration, Utc};
use common::{Backend, TestApp, TestUser, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

fn content_range(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

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

async fn status_and_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = json_of(response).await;
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "errors listed: {body}"
    );
    (
        status,
        body["error_code"].as_str().unwrap_or_default().to_owned(),
    )
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
        let (status, code) = status_and_code(response).await;
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
    assert_eq!(status_and_code(response).await.0, 401);
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
    assert_eq!(status_and_code(response).await.0, 401);

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
    let response = app
        .api(Method::GET, "/auth/context", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await,
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
    let call = || app.api(Method::GET, "/auth/context", &key).send();
    assert_eq!(call().await.unwrap().status(), 200);

    app.post(&format!("/integrations/tokens/{}/disable", token.id), &[])
        .await;
    assert_eq!(
        status_and_code(call().await.unwrap()).await,
        (401, "AUTH_003".into()),
        "disabled in the UI"
    );
    app.post(&format!("/integrations/tokens/{}/enable", token.id), &[])
        .await;
    assert_eq!(call().await.unwrap().status(), 200, "enabled again");
    app.post(&format!("/integrations/tokens/{}/delete", token.id), &[])
        .await;
    assert_eq!(
        status_and_code(call().await.unwrap()).await,
        (401, "AUTH_002".into()),
        "deleted"
    );

    let past = Utc::now().naive_utc() - Duration::minutes(1);
    let (_, expired) = app.token(&user, "Expired").expires_at(past).create();
    let response = app
        .api(Method::GET, "/auth/context", &expired)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(response).await, (401, "AUTH_004".into()));
    let html = app.get_html("/integrations/tokens?q=Expired").await;
    assert_eq!(
        common::text(&html, ".status"),
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
        let response = app.api(Method::GET, path, key).send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(status, expected, "{} → {path}", key.token_id);
        if expected == 403 {
            let body = json_of(response).await;
            assert_eq!(body["error_code"], "AUTH_005");
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
    let response = app
        .api(
            Method::GET,
            "/auth/tokens?limit=5&offset=0&ordering(name)",
            &key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(content_range(&response), "items 0-4/12");
    let names: Vec<String> = json_of(response)
        .await
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

    let response = app
        .api(
            Method::GET,
            "/auth/tokens?limit=5&offset=10&ordering(name)",
            &key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content_range(&response), "items 10-11/12");
    assert_eq!(json_of(response).await.as_array().unwrap().len(), 2);

    let response = app
        .api(Method::GET, "/auth/tokens?limit=0", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(content_range(&response), "items 0-0/12");
    assert_eq!(json_of(response).await, json!([]));

    let response = app
        .api(Method::GET, "/auth/tokens", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(content_range(&response), "items 0-11/12", "100 by default");

    for bad in [
        "limit=1001",
        "limit=-1",
        "limit=x",
        "offset=-1",
        "offset=1.5",
    ] {
        let response = app
            .api(Method::GET, &format!("/auth/tokens?{bad}"), &key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(response).await,
            (400, "REQ_001".into()),
            "{bad}"
        );
    }
    let response = app
        .api(Method::GET, "/auth/tokens?limit=1000", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The names the filter returns, sorted.
async fn names_for(app: &TestApp, key: &ApiKey, query: &str) -> Vec<String> {
    let response = app
        .api(Method::GET, &format!("/auth/tokens?{query}"), key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    let mut names: Vec<String> = json_of(response)
        .await
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

    let response = app
        .api(Method::GET, "/auth/tokens?ordering(-name)&limit=3", &key)
        .send()
        .await
        .unwrap();
    let names: Vec<String> = json_of(response)
        .await
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
        let response = app
            .api(Method::GET, &format!("/auth/tokens?{bad}"), &key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(response).await,
            (400, "REQ_001".into()),
            "{bad}"
        );
    }
}

async fn tokens_are_managed_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);

    let response = app
        .api(Method::POST, "/auth/tokens", &key)
        .json(&json!({
            "name": "Made by a program",
            "description": "Created through the API",
            "external_id": "PRG-7",
            "extension": {"name": "zapier"},
            "permissions": [{"object": {"id": "MD-0002"}}],
            "expiration_date": (Utc::now() + Duration::days(10)).format("%Y-%m-%d").to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created = json_of(response).await;
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

    let response = app
        .api(Method::GET, &format!("/auth/tokens/{id}"), &key)
        .send()
        .await
        .unwrap();
    let fetched = json_of(response).await;
    assert_eq!(fetched["name"], "Made by a program");
    assert!(
        fetched.get("token").is_none(),
        "the key is not returned again"
    );

    // The new key works, within its module.
    assert_eq!(
        app.api(Method::GET, "/agreements", &new_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.api(Method::GET, "/accounts", &new_key)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let response = app
        .api(Method::PUT, &format!("/auth/tokens/{id}"), &key)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated = json_of(response).await;
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(
        updated["description"], "Created through the API",
        "fields left out are kept"
    );

    let response = app
        .api(Method::POST, &format!("/auth/tokens/{id}/deactivate"), &key)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response).await["status"], "inactive");
    assert_eq!(
        app.api(Method::GET, "/agreements", &new_key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let response = app
        .api(Method::POST, &format!("/auth/tokens/{id}/activate"), &key)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response).await["status"], "active");

    let permissions = format!("/auth/tokens/{id}/permissions");
    let response = app
        .api(Method::POST, &permissions, &key)
        .json(&json!([{"object": {"id": "MD-0001"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        app.api(Method::GET, "/accounts", &new_key)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "granted at once"
    );
    let response = app
        .api(Method::GET, &permissions, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(content_range(&response), "items 0-1/2");
    let listed = json_of(response).await;
    assert_eq!(listed[0]["object"]["id"], "MD-0001");
    assert_eq!(
        listed[0]["events"]["granted"]["by"]["id"],
        key.token_id.to_string()
    );
    let response = app
        .api(Method::DELETE, &permissions, &key)
        .json(&json!([{"object": {"id": "MD-0001"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.api(Method::GET, "/accounts", &new_key)
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "revoked at once"
    );

    // What the API did shows in the UI's history, by the token that did it.
    app.sign_in(&user).await;
    let html = app.get_html(&format!("/integrations/tokens/{id}")).await;
    let history = common::select_all(&html, "table.history td:first-child");
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
        common::select_all(&html, "table.history td:nth-child(2)")[0],
        "Admin automation"
    );

    let response = app
        .api(Method::DELETE, &format!("/auth/tokens/{id}"), &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.api(Method::GET, "/agreements", &new_key)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "deleted"
    );
    assert_eq!(
        app.api(Method::GET, &format!("/auth/tokens/{id}"), &key)
            .send()
            .await
            .unwrap()
            .status(),
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
        (json!([1, 2]), "invalid type"),
    ];
    for (body, message) in cases {
        let response = app
            .api(Method::POST, "/auth/tokens", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error = json_of(response).await;
        assert_eq!(error["error_code"], "VAL_001", "{body}");
        let text = error["errors"].to_string();
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
    let response = app
        .api(Method::POST, "/auth/tokens", &key)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(response).await, (413, "REQ_002".into()));
    assert_eq!(app.token_count(&user), 1, "nothing was created");

    let response = app
        .api(Method::GET, "/no/such/thing", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(response).await.0, 404);
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
        let response = app
            .api(method.clone(), &path, &key)
            .json(&json!({"name": "mine"}))
            .send()
            .await
            .unwrap();
        assert_eq!(status_and_code(response).await.0, 404, "{method} {path}");
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
        tokendesk::db::seed::seed_demo_data(&mut conn, &app.master_key).unwrap();
    }
    let response = app
        .api(
            Method::GET,
            "/agreements?eq(active,true)&ordering(title)",
            &key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content_range(&response), "items 0-3/4");
    let agreements = json_of(response).await;
    assert_eq!(agreements[0]["title"], "EMEA Reseller Agreement");
    assert_eq!(agreements[0]["owner"]["id"], user.account.id.to_string());
    let id = agreements[0]["id"].as_str().unwrap().to_owned();
    let response = app
        .api(Method::GET, &format!("/agreements/{id}"), &key)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response).await["type"], "distribution");
    let response = app
        .api(Method::GET, "/agreements?search=vendor", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(content_range(&response), "items 0-1/2");
    let response = app
        .api(Method::GET, "/agreements?eq(active,maybe)", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let response = app
        .api(Method::GET, "/accounts", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(response).await,
        json!([{"id": user.account.id.to_string(), "name": "Front Street Inc"}])
    );

    let response = app
        .api(Method::GET, "/modules?ilike(name,*de*)", &key)
        .send()
        .await
        .unwrap();
    let names: Vec<Value> = json_of(response)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, [json!("Helpdesk"), json!("DevOps")]);
    let response = app
        .api(Method::GET, "/modules/MD-0007", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(response).await,
        json!({"id": "MD-0007", "name": "Integrations"})
    );
}

async fn the_openapi_document_describes_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/public/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document = json_of(response).await;
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
            app.api(Method::GET, "/auth/context", &key)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let mut shown = String::new();
    for _ in 0..50 {
        let html = app
            .get_html(&format!("/integrations/tokens/{}", token.id))
            .await;
        let properties = common::select_all(&html, ".properties dd");
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
        let response = app
            .api(Method::POST, &own, &key)
            .json(&json!([{"object": {"id": module}}]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(response).await,
            (403, "AUTH_005".into()),
            "{module}"
        );
    }
    assert_eq!(
        app.api(Method::GET, "/accounts", &key)
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "still no Account"
    );

    let create = |body: Value| {
        app.api(Method::POST, "/auth/tokens", &key)
            .json(&body)
            .send()
    };
    let response =
        create(json!({"name": "x", "description": "x", "extension": {"name": "reports"}}))
            .await
            .unwrap();
    assert_eq!(
        status_and_code(response).await.0,
        403,
        "Reports tokens reach every module"
    );
    let response = create(
        json!({"name": "x", "description": "x", "extension": {"name": "custom"},
        "permissions": [{"object": {"id": "MD-0000"}}]}),
    )
    .await
    .unwrap();
    assert_eq!(status_and_code(response).await.0, 403);
    let response = create(
        json!({"name": "x", "description": "x", "extension": {"name": "custom"},
        "permissions": [{"object": {"id": "MD-0002"}}]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201, "what it holds it may pass on");
    assert_eq!(app.token_count(&user), 2);
}

async fn concurrent_changes_neither_fail_nor_get_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let (target, _) = app.token(&user, "Target").modules("MD-0002").create();
    let path = format!("/auth/tokens/{}", target.id);
    let renames = (0..24).map(|n| {
        app.api(Method::PUT, &path, &key)
            .json(&json!({"description": format!("Description {n}")}))
            .send()
    });
    for response in futures_util::future::join_all(renames).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    // Grants of different modules at once all stay; the same module twice is granted once.
    let permissions = format!("{path}/permissions");
    let grants = [
        "MD-0001", "MD-0003", "MD-0004", "MD-0005", "MD-0005", "MD-0006",
    ]
    .map(|module| {
        app.api(Method::POST, &permissions, &key)
            .json(&json!([{"object": {"id": module}}]))
            .send()
    });
    for response in futures_util::future::join_all(grants).await {
        assert_eq!(response.unwrap().status(), 201);
    }
    let response = app
        .api(Method::GET, &permissions, &key)
        .send()
        .await
        .unwrap();
    let mut held: Vec<String> = json_of(response)
        .await
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
        assert_eq!(status_and_code(response).await.0, 401, "{body:?}");
    }
    let response = app
        .client
        .post(app.url("/public/v1/auth/tokens"))
        .body(vec![b'x'; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(response).await.0, 401);
    assert_eq!(app.token_count(&user), 1);
}

on_both_databases!(
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
