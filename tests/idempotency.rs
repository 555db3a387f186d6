//! `Idempotency-Key` on the API's POSTs: a client whose answer was lost sends the same request
//! again and gets the first answer, on any instance, for 24 hours; the same key with another
//! request is refused.

use crate::common::{Answer, Backend, TestApp, spawn_app};
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};
use tokendesk::domain::api_key::ApiKey;

async fn post_keyed(
    app: &TestApp,
    key: &ApiKey,
    path: &str,
    idempotency: &str,
    body: Value,
) -> (Answer, bool) {
    let response = app
        .api(Method::POST, path, key)
        .header("Idempotency-Key", idempotency)
        .json(&body)
        .send()
        .await
        .unwrap();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (Answer::read(response).await, replayed)
}

fn new_token(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Made once, whatever is sent twice",
        "extension": {"id": "EXT-000"},
        "permissions": [{"object": {"id": "MD-0002"}}],
    })
}

async fn a_create_sent_again_answers_the_first_answer_and_makes_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, admin) = app.token(&user, "Automation").create();
    let before = app.token_count(&user);

    let (first, replayed) =
        post_keyed(&app, &admin, "/auth/tokens", "create-1", new_token("Sync")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert!(!replayed);
    // The answer was lost; the client sends it again, to another instance.
    let other = app.another_instance();
    let (again, replayed) = post_keyed(
        &other,
        &admin,
        "/auth/tokens",
        "create-1",
        new_token("Sync"),
    )
    .await;
    assert_eq!(again.status, 201);
    assert!(replayed, "said to be a replay");
    assert_eq!(again.body, first.body, "the first answer, its key included");
    assert_eq!(app.token_count(&user), before + 1, "one token made");
    let made = ApiKey::parse(first.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        app.call(&made, Method::GET, "/agreements", None)
            .await
            .status,
        200
    );

    // The same key with another request: refused, nothing made.
    let (other_body, _) =
        post_keyed(&app, &admin, "/auth/tokens", "create-1", new_token("Other")).await;
    assert_eq!(other_body.status, 422);
    assert_eq!(other_body.code(), "REQ_005");
    assert_eq!(app.token_count(&user), before + 1);

    // After a day the key is forgotten: the same request makes a new token.
    app.clock.advance(Duration::hours(25));
    let (later, replayed) =
        post_keyed(&app, &admin, "/auth/tokens", "create-1", new_token("Sync")).await;
    assert_eq!(later.status, 201);
    assert!(!replayed);
    assert_ne!(later.body["id"], first.body["id"]);
}

async fn a_rotation_sent_again_rotates_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, admin) = app.token(&user, "Automation").create();
    let (target, old) = app.token(&user, "Rotated").modules("MD-0002").create();
    let path = format!("/auth/tokens/{}/renew", target.id);
    let (first, _) = post_keyed(&app, &admin, &path, "renew-1", json!({})).await;
    assert_eq!(first.status, 200);
    let (again, replayed) = post_keyed(&app, &admin, &path, "renew-1", json!({})).await;
    assert!(replayed);
    assert_eq!(again.body["token"], first.body["token"], "the same new key");
    let new = ApiKey::parse(first.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        app.call(&new, Method::GET, "/agreements", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&old, Method::GET, "/agreements", None)
            .await
            .status,
        200,
        "the renewed key's grace, not cut short by a second renewal"
    );
}

async fn a_bad_idempotency_key_is_refused_after_the_api_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, admin) = app.token(&user, "Automation").create();
    let long = "k".repeat(256);
    let (answer, _) = post_keyed(&app, &admin, "/auth/tokens", &long, new_token("Sync")).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.errors()[0].contains("Idempotency-Key"),
        "{:?}",
        answer.body
    );
    let anonymous = app
        .client
        .post(app.url("/public/v1/auth/tokens"))
        .header("Idempotency-Key", &long)
        .json(&new_token("Sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "no key: 401 first");
}

crate::on_both_databases!(
    a_create_sent_again_answers_the_first_answer_and_makes_one_token,
    a_rotation_sent_again_rotates_once,
    a_bad_idempotency_key_is_refused_after_the_api_key,
);
