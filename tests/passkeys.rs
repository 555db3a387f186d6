//! Passkeys, as the user guide's "Passkeys" section tells: the list on the account's security
//! page, naming a new one, removing one, and signing in with one, refused from another address
//! than `TOKENDESK_PUBLIC_URL`. The ceremonies themselves, with an authenticator, are the
//! browser journey's (tests/e2e, `passkeys`).

use crate::common::{Backend, TestApp, TestUser, attr, location, select_all, spawn_app, text};
use crate::on_both_databases;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokendesk::db::passkeys::NewPasskey;
use tokendesk::db::schema::{events, passkeys};
use tokendesk::domain::passkey::PasskeyId;

const PAGE: &str = "/account/security/passkeys";

/// A stored passkey for `user`, as if registered earlier (its credential is not a real one:
/// only listing and removing are done with it).
fn stored_passkey(app: &TestApp, user: &TestUser, name: &str) -> PasskeyId {
    let mut conn = app.pool.get().unwrap();
    NewPasskey {
        user_id: user.user.id.as_str(),
        name,
        credential: "{}",
        credential_id: &format!("id-{}", uuid::Uuid::new_v4()),
        created_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap(),
    }
    .insert(&mut conn)
    .unwrap()
}

fn passkey_count(app: &TestApp) -> i64 {
    let mut conn = app.pool.get().unwrap();
    passkeys::table.count().get_result(&mut conn).unwrap()
}

fn events_of(app: &TestApp, kind: &str) -> Vec<Option<String>> {
    let mut conn = app.pool.get().unwrap();
    events::table
        .filter(events::kind.eq(kind))
        .select(events::detail)
        .load(&mut conn)
        .unwrap()
}

/// POSTs `body` as JSON, as static/passkeys.js does: with the page's CSRF token in the header
/// when `csrf` is given, and the `Origin` header when `origin` is.
async fn post_json(
    app: &TestApp,
    path: &str,
    body: &Value,
    csrf: Option<&str>,
    origin: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.client.post(app.url(path)).json(body);
    if let Some(token) = csrf {
        request = request.header("X-CSRF-Token", token);
    }
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The origin the test app's passkeys belong to: `localhost` at its port.
fn public_origin(app: &TestApp) -> String {
    app.address.replace("127.0.0.1", "localhost")
}

async fn passkeys_are_listed_with_their_dates(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let empty = app.get_html(PAGE).await;
    assert_eq!(text(&empty, "#passkeys-empty"), "You have no passkey yet.");
    assert!(attr(&empty, "#add-passkey button[type=submit]", "disabled").is_some());
    stored_passkey(&app, &robert, "Work laptop");
    stored_passkey(&app, &robert, "<b>Phone</b>");
    let page = app.get_html(PAGE).await;
    assert_eq!(
        select_all(&page, ".passkeys-table td.passkey-name"),
        ["Work laptop", "<b>Phone</b>"],
        "oldest first, names as typed (escaped)"
    );
    let cells = select_all(&page, ".passkeys-table tbody tr:first-child td");
    assert_eq!(&cells[1..3], ["2026-12-01 09:30", "Never"]);
    assert!(
        attr(&page, "script[src='/static/passkeys.js']", "src").is_some(),
        "the page loads its script"
    );
}

async fn the_page_warns_when_opened_at_another_address(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    // The test client opens the app at 127.0.0.1; its passkeys belong to localhost.
    let page = app.get_html(PAGE).await;
    let notice = text(&page, "#passkey-notice");
    assert!(
        notice.contains(&format!("belong to {}", public_origin(&app))),
        "{notice}"
    );
    assert!(notice.contains("TOKENDESK_PUBLIC_URL"), "{notice}");
    let response = app
        .client
        .get(app.url(PAGE))
        .header("Host", public_origin(&app).trim_start_matches("http://"))
        .send()
        .await
        .unwrap();
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(
        select_all(&html, "#passkey-notice").is_empty(),
        "no warning at the public address"
    );
}

async fn a_new_passkey_needs_a_name_of_at_most_100_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let csrf = app.csrf_token().await;
    let start = "/account/security/passkeys/register/start";
    for (name, message) in [
        ("", "Name is required"),
        ("   ", "Name is required"),
        (&*"x".repeat(101), "Name must be at most 100 characters"),
        ("bad\u{7}bell", "Name must not contain control characters"),
    ] {
        let (status, answer) =
            post_json(&app, start, &json!({ "name": name }), Some(&csrf), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(
            answer,
            json!({ "error": message, "field": "name" }),
            "{name:?}"
        );
    }
    let (status, options) = post_json(
        &app,
        start,
        &json!({ "name": "x".repeat(100) }),
        Some(&csrf),
        Some(&public_origin(&app)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let key = &options["publicKey"];
    assert_eq!(key["rp"]["id"], "localhost");
    assert_eq!(key["user"]["name"], robert.email.as_str());
    assert_eq!(key["user"]["displayName"], "Robert Balboa");
    assert_eq!(key["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(
        key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert!(key["challenge"].as_str().is_some_and(|c| c.len() >= 43));
    // Finishing with something that is not a browser's answer adds nothing.
    let finish = "/account/security/passkeys/register/finish";
    let (status, answer) = post_json(&app, finish, &json!({ "id": "x" }), Some(&csrf), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"],
        "The browser's answer could not be read. Try again."
    );
    assert_eq!(passkey_count(&app), 0);
}

async fn a_page_at_another_address_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let csrf = app.csrf_token().await;
    let expected = format!(
        "This page is open at http://evil.example, but tokendesk's passkeys belong to {0} \
         (TOKENDESK_PUBLIC_URL). Open tokendesk at {0} to use passkeys.",
        public_origin(&app)
    );
    for path in [
        "/account/security/passkeys/register/start",
        "/account/security/passkeys/check/start",
        "/login/passkey/start",
    ] {
        let (status, answer) = post_json(
            &app,
            path,
            &json!({ "name": "Phone" }),
            Some(&csrf),
            Some("http://evil.example"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer, json!({ "error": expected }), "{path}");
    }
}

async fn every_passkey_call_needs_the_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let id = stored_passkey(&app, &robert, "Work laptop");
    for path in [
        "/account/security/passkeys/register/start",
        "/account/security/passkeys/register/finish",
        "/account/security/passkeys/check/start",
        "/account/security/passkeys/check/finish",
        "/login/passkey/start",
        "/login/passkey/finish",
    ] {
        let (status, _) = post_json(&app, path, &json!({ "name": "Phone" }), None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without a token");
        let (status, _) = post_json(
            &app,
            path,
            &json!({ "name": "Phone" }),
            Some("forged"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} with a forged token");
    }
    let remove = format!("{PAGE}/{id}/remove");
    let response = app.post_raw(&remove, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(passkey_count(&app), 1, "nothing was removed");
}

async fn a_passkey_is_removed_by_its_owner_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let mia = app.add_user("Front Street Inc", "mia@frontstreet.example", "Mia Park");
    let elsewhere = app.add_user("Other Corp", "ann@other.example", "Ann Other");
    let robert_key = stored_passkey(&app, &robert, "Work laptop");
    let mia_key = stored_passkey(&app, &mia, "Mia's phone");
    let other_key = stored_passkey(&app, &elsewhere, "Ann's key");
    for id in [
        mia_key.to_string(),
        other_key.to_string(),
        "999999".into(),
        "x".into(),
    ] {
        let response = app.post(&format!("{PAGE}/{id}/remove"), &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(passkey_count(&app), 3);
    let response = app.post(&format!("{PAGE}/{robert_key}/remove"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), PAGE);
    let page = app.get_html(PAGE).await;
    assert_eq!(
        text(&page, ".alert-success"),
        "The passkey “Work laptop” was removed."
    );
    assert_eq!(text(&page, "#passkeys-empty"), "You have no passkey yet.");
    assert_eq!(passkey_count(&app), 2);
    assert_eq!(
        events_of(&app, "user.passkey_removed"),
        [Some("Work laptop".to_owned())]
    );
    let again = app.post(&format!("{PAGE}/{robert_key}/remove"), &[]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "removed once");
}

async fn the_sign_in_page_offers_a_passkey(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.get_html("/login").await;
    assert!(
        attr(&page, "#passkey-sign-in", "hidden").is_some(),
        "hidden until the script finds WebAuthn"
    );
    assert_eq!(text(&page, "#passkey-button"), "Sign in with a passkey");
    assert!(attr(&page, "script[src='/static/passkeys.js']", "src").is_some());
    let script = app.get("/static/passkeys.js").await;
    assert_eq!(script.status(), 200);
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("navigator.credentials.get")
    );
}

async fn signing_in_with_a_passkey_starts_for_anyone_and_counts_as_an_attempt(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.csrf_token().await;
    let (status, options) =
        post_json(&app, "/login/passkey/start", &json!({}), Some(&csrf), None).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(
        options.get("mediation").is_none(),
        "asked for by the button"
    );
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the authenticator finds the passkey"
    );
    // An answer no passkey here made is refused, and its ceremony is used up.
    let answer = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {
            "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA",
            "userHandle": "AAAAAAAAAAAAAAAAAAAAAA"
        },
        "extensions": {}
    });
    let finish = "/login/passkey/finish";
    let (status, refused) = post_json(&app, finish, &answer, Some(&csrf), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused, json!({ "error": "The passkey was not accepted." }));
    let (status, expired) = post_json(&app, finish, &answer, Some(&csrf), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        expired,
        json!({ "error": "The passkey request has expired. Try again." })
    );
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        StatusCode::SEE_OTHER,
        "still signed out"
    );
    // Twenty attempts from one address within 15 minutes, then a wait, as for passwords.
    for _ in 1..20 {
        let (status, _) =
            post_json(&app, "/login/passkey/start", &json!({}), Some(&csrf), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = app
        .client
        .post(app.url("/login/passkey/start"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("Try again")),
        "{answer}"
    );
}

async fn checking_needs_a_passkey(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let csrf = app.csrf_token().await;
    let (status, answer) = post_json(
        &app,
        "/account/security/passkeys/check/start",
        &json!({}),
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer, json!({ "error": "You have no passkey yet." }));
}

on_both_databases!(
    passkeys_are_listed_with_their_dates,
    the_page_warns_when_opened_at_another_address,
    a_new_passkey_needs_a_name_of_at_most_100_characters,
    a_page_at_another_address_is_refused,
    every_passkey_call_needs_the_csrf_token,
    a_passkey_is_removed_by_its_owner_only,
    the_sign_in_page_offers_a_passkey,
    signing_in_with_a_passkey_starts_for_anyone_and_counts_as_an_attempt,
    checking_needs_a_passkey,
);
