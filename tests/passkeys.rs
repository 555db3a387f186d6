//! Passkeys, as the user guide's "Two-factor sign-in and passkeys" section tells: the list on
//! the Security page, naming a new one, removing one, signing in with one, refused from another
//! address than `TOKENDESK_PUBLIC_URL` (and off at an IP address, the default); and a passkey
//! as a second factor: the second step of signing in, the policy, an admin's reset, sudo mode.
//! The ceremonies themselves, with an authenticator, are the browser journey's (tests/e2e,
//! `passkeys`); here passkeys are stored rows.

use crate::common::{
    Backend, PASSWORD, TestApp, TestUser, attr, location, select_all, spawn_app,
    spawn_app_with_passkeys, text,
};
use crate::on_both_databases;
use diesel::prelude::*;
use reqwest::StatusCode;
use scraper::Html;
use serde_json::{Value, json};
use tokendesk::db::passkeys::NewPasskey;
use tokendesk::db::schema::{events, passkeys};
use tokendesk::domain::passkey::PasskeyId;

/// The Security page, whose section lists the passkeys.
const PAGE: &str = "/account/security";
/// Where a passkey's routes are.
const PASSKEYS: &str = "/account/security/passkeys";

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
    app.public_origin()
}

/// A stored passkey for `user` as their first second factor, with the recovery codes that come
/// with it.
fn first_passkey(app: &TestApp, user: &TestUser, name: &str) -> (PasskeyId, Vec<String>) {
    let id = stored_passkey(app, user, name);
    let mut conn = app.pool.get().unwrap();
    let codes = tokendesk::services::two_factor::codes_for_added_factor(
        &mut conn,
        &app.master_key,
        &user.user.id,
        false,
        app.clock.now(),
    )
    .unwrap()
    .expect("the first factor's codes");
    (id, codes.iter().map(|c| c.as_str().to_owned()).collect())
}

fn require_2fa(app: &TestApp, user: &TestUser) {
    let mut conn = app.pool.get().unwrap();
    let policy = tokendesk::domain::policy::AccountPolicy {
        require_2fa: true,
        ..Default::default()
    };
    tokendesk::db::accounts::set_policy(&mut conn, &user.account.id, &policy).unwrap();
}

fn passkeys_of(app: &TestApp, user: &TestUser) -> i64 {
    let mut conn = app.pool.get().unwrap();
    passkeys::table
        .filter(passkeys::user_id.eq(user.user.id.as_str()))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

async fn passkeys_are_listed_with_their_dates(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
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
    let app = spawn_app_with_passkeys(backend).await;
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
    let app = spawn_app_with_passkeys(backend).await;
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
    let app = spawn_app_with_passkeys(backend).await;
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
    let app = spawn_app_with_passkeys(backend).await;
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
    let remove = format!("{PASSKEYS}/{id}/remove");
    let response = app.post_raw(&remove, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(passkey_count(&app), 1, "nothing was removed");
}

async fn a_passkey_is_removed_by_its_owner_only(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
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
        let response = app.post(&format!("{PASSKEYS}/{id}/remove"), &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(passkey_count(&app), 3);
    let response = app
        .post(&format!("{PASSKEYS}/{robert_key}/remove"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), PAGE);
    let page = app.get_html(PAGE).await;
    assert_eq!(
        text(&page, ".alert-success"),
        "The passkey “Work laptop” was removed. It was your last second factor: signing in \
         asks for your password only, and your recovery codes no longer work."
    );
    assert_eq!(text(&page, "#passkeys-empty"), "You have no passkey yet.");
    assert_eq!(passkey_count(&app), 2);
    assert_eq!(
        events_of(&app, "user.passkey_removed"),
        [Some("Work laptop".to_owned())]
    );
    let again = app
        .post(&format!("{PASSKEYS}/{robert_key}/remove"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "removed once");
}

async fn the_sign_in_page_offers_a_passkey(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
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
    let app = spawn_app_with_passkeys(backend).await;
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
    let app = spawn_app_with_passkeys(backend).await;
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

async fn the_security_page_holds_the_passkeys_section(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
    app.signed_in_user().await;
    let page = app.get_html(PAGE).await;
    for section in ["#totp", "#recovery-codes", "#passkeys"] {
        assert_eq!(select_all(&page, section).len(), 1, "{section}");
    }
    assert_eq!(text(&page, "#passkeys h2"), "Passkeys");
    assert_eq!(
        app.get("/account/security/passkeys").await.status(),
        StatusCode::NOT_FOUND,
        "no page of its own"
    );
}

async fn a_passkey_only_user_is_asked_for_the_second_step(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
    let robert = app.robert();
    let (_, codes) = first_passkey(&app, &robert, "Work laptop");
    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(
        location(&response),
        "/login/2fa",
        "the passkey is a second factor"
    );
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in yet"
    );
    let page = app.get_html("/login/2fa").await;
    assert_eq!(text(&page, "#passkey-button"), "Use a passkey");
    assert!(
        attr(&page, "#passkey-button", "disabled").is_some(),
        "until the script finds WebAuthn"
    );
    assert!(attr(&page, "script[src='/static/passkeys.js']", "src").is_some());
    assert!(
        text(&page, ".second-step-hint")
            .contains("use your passkey, or enter one of your recovery codes"),
        "no app to ask a code of"
    );
    assert_eq!(text(&page, "label[for=code]"), "Recovery code");

    // The passkey's routes need the pending sign-in, and a ceremony started for it.
    let csrf = attr(&page, "input[name=csrf_token]", "value").unwrap();
    let (status, answer) = post_json(
        &app,
        "/login/2fa/passkey/finish",
        &json!({ "id": "x" }),
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // A recovery code finishes it, and the session says how it signed in.
    let response = app.post("/login/2fa", &[("code", &codes[0])]).await;
    assert_eq!(location(&response), "/integrations/tokens");
    let sessions = app.get_html("/account/sessions").await;
    assert_eq!(
        select_all(&sessions, ".session-method"),
        ["Password and recovery code"]
    );
    let users = app.get_html("/account/users").await;
    assert_eq!(
        select_all(&users, ".user-2fa"),
        ["Two-factor"],
        "the users list counts the passkey"
    );

    // Signed out, the second step's passkey routes send the script back to sign in.
    app.post("/logout", &[]).await;
    let csrf = app.csrf_token().await;
    let (status, answer) = post_json(
        &app,
        "/login/2fa/passkey/start",
        &json!({}),
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["redirect"], "/login?timed_out=1");
}

async fn a_passkey_satisfies_the_policy(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
    let robert = app.signed_in_user().await;
    require_2fa(&app, &robert);
    let response = app.get("/integrations/tokens").await;
    assert_eq!(
        location(&response),
        "/account/security",
        "no second factor yet"
    );
    // A passkey may be added (and removed) before enrolling: its routes are under the page.
    let csrf = app.csrf_token().await;
    let (status, _) = post_json(
        &app,
        "/account/security/passkeys/register/start",
        &json!({ "name": "Work laptop" }),
        Some(&csrf),
        Some(&public_origin(&app)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "open before enrolment");
    first_passkey(&app, &robert, "Work laptop");
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        StatusCode::OK,
        "a passkey is a second factor"
    );
    app.post("/logout", &[]).await;
    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(
        location(&response),
        "/login/2fa",
        "asked for it, not sent to enrol"
    );
}

async fn removing_the_last_passkey_under_the_policy_leads_back_to_enrolment(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
    let robert = app.signed_in_user().await;
    let (laptop, _) = first_passkey(&app, &robert, "Work laptop");
    let phone = stored_passkey(&app, &robert, "Phone");
    require_2fa(&app, &robert);

    // One of two: the other is still a second factor.
    let response = app.post(&format!("{PASSKEYS}/{phone}/remove"), &[]).await;
    assert_eq!(location(&response), "/account/security#passkeys");
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        StatusCode::OK
    );

    // The last one: removed (the user proved who they are), and the page says what now.
    let response = app.post(&format!("{PASSKEYS}/{laptop}/remove"), &[]).await;
    assert_eq!(location(&response), PAGE);
    let page = app.get_html(PAGE).await;
    let said = text(&page, ".flash");
    assert!(said.contains("policy requires one"), "{said}");
    assert!(text(&page, "#enrol-required").contains("policy"));
    assert!(
        select_all(&page, "#recovery-codes-left").is_empty(),
        "the recovery codes went with the last factor"
    );
    let response = app.get("/integrations/tokens").await;
    assert_eq!(
        location(&response),
        "/account/security",
        "enrol again to go on"
    );
    assert_eq!(passkeys_of(&app, &robert), 0);
}

async fn removing_a_passkey_is_a_sensitive_action(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
    let robert = app.signed_in_user().await;
    let (laptop, _) = first_passkey(&app, &robert, "Work laptop");
    app.clock.advance(chrono::Duration::minutes(11));
    let remove = format!("{PASSKEYS}/{laptop}/remove");
    let response = app.post(&remove, &[]).await;
    assert_eq!(response.status(), StatusCode::OK, "asks first");
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "Confirm it is you");
    assert_eq!(text(&page, "#passkey-button"), "Use a passkey");
    assert!(attr(&page, "script[src='/static/passkeys.js']", "src").is_some());
    assert_eq!(
        text(&page, "label[for=sudo_code]"),
        "Or a recovery code",
        "no app to ask a code of"
    );
    assert_eq!(passkeys_of(&app, &robert), 1);
    // The password alone gets a passkey-only user past it.
    let response = app.post(&remove, &[("sudo_password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(passkeys_of(&app, &robert), 0);
}

async fn an_admin_reset_removes_the_passkeys(backend: Backend) {
    let app = spawn_app_with_passkeys(backend).await;
    let robert = app.signed_in_user().await;
    let mia = app.mia();
    first_passkey(&app, &mia, "Mia's phone");
    stored_passkey(&app, &mia, "Mia's key");
    stored_passkey(&app, &robert, "Robert's laptop");
    let response = app
        .post(
            &format!("/account/users/{}/reset-2fa", mia.user.id),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(passkeys_of(&app, &mia), 0, "Mia's passkeys are gone");
    assert_eq!(passkeys_of(&app, &robert), 1, "nobody else's");
    let response = app.sign_in_with(&mia.email, PASSWORD).await;
    assert_eq!(
        location(&response),
        "/integrations/tokens",
        "the password alone"
    );

    // The command line's reset too.
    stored_passkey(&app, &mia, "Mia's new key");
    tokendesk::commands::reset_two_factor(app.config.clone(), &mia.email, None).unwrap();
    assert_eq!(passkeys_of(&app, &mia), 0);
}

/// The default `TOKENDESK_PUBLIC_URL` is the address the server listens on, `127.0.0.1`:
/// browsers refuse passkeys there, and the pages say why and what to set.
async fn by_default_passkeys_are_off_and_the_pages_say_why(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.state.passkeys.public_url().origin(), app.address);
    let port = app.address.rsplit(':').next().unwrap();
    let what_to_set = format!("TOKENDESK_PUBLIC_URL=http://localhost:{port}");
    let login = app.get_html("/login").await;
    assert!(
        select_all(&login, "#passkey-sign-in").is_empty(),
        "no passkey button"
    );
    let notice = text(&login, "#passkey-notice");
    assert!(notice.contains("IP address"), "{notice}");
    assert!(notice.contains(&what_to_set), "{notice}");
    assert!(
        notice.contains(&format!("tokendesk's address is {}", app.address)),
        "{notice}"
    );

    let robert = app.signed_in_user().await;
    let page = app.get_html(PAGE).await;
    let notice = text(&page, "#passkey-notice");
    assert!(notice.contains(&what_to_set), "{notice}");
    let csrf = app.csrf_token().await;
    let (status, answer) = post_json(
        &app,
        "/account/security/passkeys/register/start",
        &json!({ "name": "Phone" }),
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        answer["error"].as_str().unwrap().contains(&what_to_set),
        "{answer}"
    );

    // A passkey made before cannot be used here: the second step says why, and takes a
    // recovery code.
    let (_, codes) = first_passkey(&app, &robert, "Work laptop");
    app.post("/logout", &[]).await;
    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(location(&response), "/login/2fa");
    let step = app.get_html("/login/2fa").await;
    assert!(select_all(&step, "#passkey-button").is_empty());
    assert!(text(&step, "#passkey-notice").contains(&what_to_set));
    let response = app.post("/login/2fa", &[("code", &codes[1])]).await;
    assert_eq!(location(&response), "/integrations/tokens");
}

on_both_databases!(
    the_security_page_holds_the_passkeys_section,
    a_passkey_only_user_is_asked_for_the_second_step,
    a_passkey_satisfies_the_policy,
    removing_the_last_passkey_under_the_policy_leads_back_to_enrolment,
    removing_a_passkey_is_a_sensitive_action,
    an_admin_reset_removes_the_passkeys,
    by_default_passkeys_are_off_and_the_pages_say_why,
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
