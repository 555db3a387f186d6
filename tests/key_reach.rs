//! A key acts on other tokens only as far as its owner may: a member's key manages only that
//! member's tokens, and the key of a user since deactivated manages none. Deactivating a user
//! asks what becomes of their tokens: kept, disabled, or handed to another user.

use crate::common::{Backend, TestApp, TestUser, location, spawn_app, text};
use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use tokendesk::db::schema::events;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::user::Role;

fn team(app: &TestApp) -> (TestUser, TestUser) {
    let robert = app.robert();
    let mia = app.mia();
    (robert, mia)
}

/// What a key's management calls on token `id` answer: status and code, for each.
async fn manage(app: &TestApp, key: &ApiKey, id: &str) -> Vec<(u16, String)> {
    let token = format!("/auth/tokens/{id}");
    let calls = [
        (Method::POST, format!("{token}/rotate"), Some(json!({}))),
        (Method::POST, format!("{token}/renew"), Some(json!({}))),
        (Method::POST, format!("{token}/deactivate"), None),
        (Method::POST, format!("{token}/activate"), None),
        (Method::PUT, token.clone(), Some(json!({"name": "Renamed"}))),
        (
            Method::POST,
            format!("{token}/permissions"),
            Some(json!([{"object": {"id": "MD-0002"}}])),
        ),
        (Method::DELETE, token.clone(), None),
    ];
    let mut answers = Vec::new();
    for (method, path, body) in calls {
        let answer = app.call(key, method, &path, body).await;
        answers.push((answer.status, answer.code().to_owned()));
    }
    answers
}

async fn a_members_key_manages_only_that_members_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (robert, mia) = team(&app);
    let (_, mias_key) = app.token(&mia, "Mia's automation").create();
    let (roberts, _) = app.token(&robert, "Robert's sync").create();
    let (mias_other, _) = app.token(&mia, "Mia's other").create();

    for (status, code) in manage(&app, &mias_key, roberts.id.as_str()).await {
        assert_eq!((status, code.as_str()), (403, "AUTH_007"));
    }
    let answer = app
        .call(
            &mias_key,
            Method::GET,
            &format!("/auth/tokens/{}", roberts.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "seeing is not managing");
    let answers = manage(&app, &mias_key, mias_other.id.as_str()).await;
    assert!(
        answers.iter().all(|(status, _)| *status < 300),
        "{answers:?}"
    );

    // An admin's key manages every token of the account.
    let (_, roberts_key) = app.token(&robert, "Robert's automation").create();
    let (mias_third, _) = app.token(&mia, "Mia's third").create();
    let answers = manage(&app, &roberts_key, mias_third.id.as_str()).await;
    assert!(
        answers.iter().all(|(status, _)| *status < 300),
        "{answers:?}"
    );

    // A token the member's key makes is the member's.
    let made = app
        .call(
            &mias_key,
            Method::POST,
            "/auth/tokens",
            json!({
                "name": "Made by a key",
                "description": "Belongs to Mia",
                "extension": {"id": "EXT-000"},
                "permissions": [{"object": {"id": "MD-0002"}}],
            }),
        )
        .await;
    assert_eq!(made.status, 201);
    let made = made.body["id"].as_str().unwrap().to_owned();
    let answers = manage(&app, &mias_key, &made).await;
    assert!(
        answers.iter().all(|(status, _)| *status < 300),
        "{answers:?}"
    );
}

async fn a_deactivated_owners_key_manages_nothing_on_any_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    let (robert, mia) = team(&app);
    let (_, mias_key) = app.token(&mia, "Mia's automation").create();
    let (mias_other, _) = app.token(&mia, "Mia's other").create();
    let other = app.another_instance();
    // The other instance knows Mia's key (and keeps it).
    let started = Instant::now();
    while other.keys().get(&mias_key.token_id).is_none() {
        assert!(started.elapsed() < Duration::from_secs(5));
        let answer = other
            .call(&mias_key, Method::GET, "/auth/context", None)
            .await;
        assert_eq!(answer.status, 200);
    }
    app.sign_in(&robert).await;
    let deactivate = format!("/account/users/{}/deactivate", mia.user.id);
    let response = app
        .post(&deactivate, &[("confirm", "yes"), ("tokens", "keep")])
        .await;
    assert_eq!(response.status(), 303);

    // Kept: the key still reads, but acts on no token, here at once and there within a second.
    let answer = app.call(&mias_key, Method::GET, "/agreements", None).await;
    assert_eq!(answer.status, 200);
    for (status, code) in manage(&app, &mias_key, mias_other.id.as_str()).await {
        assert_eq!((status, code.as_str()), (403, "AUTH_007"));
    }
    let path = format!("/auth/tokens/{}/rotate", mias_other.id);
    let started = Instant::now();
    loop {
        let answer = other.call(&mias_key, Method::POST, &path, json!({})).await;
        if answer.status == 403 {
            assert_eq!(answer.code(), "AUTH_007");
            assert!(answer.errors()[0].contains("no longer an active user"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "{answer:?}");
    }
}

fn events_of(app: &TestApp, kind: &str) -> Vec<Option<String>> {
    let mut conn = app.pool.get().unwrap();
    events::table
        .filter(events::kind.eq(kind))
        .select(events::detail)
        .load(&mut conn)
        .unwrap()
}

async fn deactivating_a_user_asks_what_becomes_of_their_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (robert, mia) = team(&app);
    let paulie = app.add_user_as(
        "Front Street Inc",
        "paulie@frontstreet.example",
        "Paulie Pennino",
        Role::Member,
    );
    let (first, first_key) = app.token(&mia, "Mia's first").create();
    let (second, _) = app.token(&mia, "Mia's second").create();
    app.sign_in(&robert).await;
    let deactivate = format!("/account/users/{}/deactivate", mia.user.id);

    // First the question, with her tokens, and no one handed her tokens but active others.
    let asked = app.post(&deactivate, &[]).await;
    assert_eq!(asked.status(), 200);
    let page = scraper::Html::parse_document(&asked.text().await.unwrap());
    let owned = crate::common::select_all(&page, ".owned-token strong");
    assert_eq!(owned, ["Mia's first", "Mia's second"]);
    let heirs = crate::common::select_all(&page, "select#to option");
    assert!(heirs.iter().any(|h| h.contains("Paulie")), "{heirs:?}");
    assert!(!heirs.iter().any(|h| h.contains("Mia")), "{heirs:?}");

    // Handed to Paulie: one event each, and he owns them.
    let to = paulie.user.id.to_string();
    let response = app
        .post(
            &deactivate,
            &[
                ("confirm", "yes"),
                ("tokens", "transfer"),
                ("to", to.as_str()),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account/users");
    let handed = events_of(&app, "token.transferred");
    assert_eq!(handed.len(), 2);
    assert_eq!(
        handed[0].as_deref(),
        Some("from Mia Wallace to Paulie Pennino")
    );
    let details = app
        .get_html(&format!("/integrations/tokens/{}", first.id))
        .await;
    assert_eq!(text(&details, ".token-owner"), "Paulie Pennino");
    assert_eq!(
        app.call(&first_key, Method::GET, "/agreements", None)
            .await
            .status,
        200,
        "handed over, the key works on, for Paulie"
    );
    let path = format!("/auth/tokens/{}/rotate", second.id);
    let answer = app.call(&first_key, Method::POST, &path, json!({})).await;
    assert_eq!(answer.status, 200, "Paulie's key acts on Paulie's token");

    // Another member, whose tokens are disabled with her: each with its event and its reason.
    let adrian = app.add_user_as(
        "Front Street Inc",
        "adrian@frontstreet.example",
        "Adrian Pennino",
        Role::Member,
    );
    let (_, adrians_key) = app.token(&adrian, "Adrian's").create();
    let response = app
        .post(
            &format!("/account/users/{}/deactivate", adrian.user.id),
            &[("confirm", "yes"), ("tokens", "disable")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let answer = app
        .call(&adrians_key, Method::GET, "/agreements", None)
        .await;
    assert_eq!((answer.status, answer.code()), (401, "AUTH_003"));
    let disabled = events_of(&app, "token.disabled");
    assert_eq!(disabled, [Some("its owner was deactivated".to_owned())]);
}

crate::on_both_databases!(
    a_members_key_manages_only_that_members_tokens,
    a_deactivated_owners_key_manages_nothing_on_any_instance,
    deactivating_a_user_asks_what_becomes_of_their_tokens,
);
