//! Signing in and out, and what anonymous visitors and forged requests get.

use crate::common::{Backend, PASSWORD, attr, location, spawn_app, text};
use scraper::Html;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

async fn anonymous_visitors_are_sent_to_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.robert();
    let (token, _) = app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );

    for path in [
        "/integrations/tokens".to_owned(),
        "/integrations/tokens?page=2&status=active".to_owned(),
        format!("/integrations/tokens/{}", token.id),
        format!("/integrations/tokens/{}/delete", token.id),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 303, "{path}");
        let target = location(&response);
        assert!(target.starts_with("/login?next="), "{path} → {target}");
    }
    assert_eq!(location(&app.get("/").await), "/integrations/tokens");

    // After signing in, the visitor lands where they were going.
    let response = app.get(&format!("/integrations/tokens/{}", token.id)).await;
    let login = app.get(&location(&response)).await;
    let html = Html::parse_document(&login.text().await.unwrap());
    let next = attr(&html, "input[name=next]", "value").unwrap();
    assert_eq!(next, format!("/integrations/tokens/{}", token.id));
    let response = app
        .post(
            "/login",
            &[
                ("email", "robert@frontstreet.example"),
                ("password", PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), next);
}

async fn signing_in_shows_the_account_and_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.robert();
    app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );

    // The e-mail is matched whatever its case.
    let response = app
        .sign_in_with("  Robert@FrontStreet.example ", PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/integrations/tokens");

    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(text(&html, ".topbar .account-name"), "Front Street Inc");
    assert_eq!(text(&html, ".topbar .user-name"), "Vendor: Robert Balboa");
    assert_eq!(text(&html, "nav.sidebar a.active"), "Tokens");
    assert_eq!(crate::common::listed_names(&html), ["Tutorial API Token"]);

    // A signed-in visit to /login goes straight to the list.
    assert_eq!(location(&app.get("/login").await), "/integrations/tokens");
}

async fn a_wrong_password_is_refused_and_the_email_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.robert();

    for (email, password) in [
        ("robert@frontstreet.example", "not the password"),
        ("robert@frontstreet.example", ""),
        ("nobody@frontstreet.example", PASSWORD),
        ("not an e-mail", PASSWORD),
    ] {
        let response = app.sign_in_with(email, password).await;
        assert_eq!(response.status(), 401, "{email:?}/{password:?}");
        let html = Html::parse_document(&response.text().await.unwrap());
        assert_eq!(
            text(&html, ".alert-error"),
            "The e-mail or password is not correct."
        );
        assert_eq!(
            attr(&html, "input[name=email]", "value").as_deref(),
            Some(email)
        );
        assert_eq!(
            attr(&html, "input[name=password]", "value"),
            None,
            "the password is never sent back"
        );
    }
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        303,
        "still signed out"
    );
}

async fn signing_out_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    assert_eq!(app.get("/integrations/tokens").await.status(), 200);

    let response = app.post("/logout", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login?signed_out=1");
    let page = app.get_html(&location(&response)).await;
    assert_eq!(text(&page, "#login-notice"), "You have signed out.");
    assert_eq!(app.get("/integrations/tokens").await.status(), 303);
    let plain = app.get_html("/login").await;
    assert!(crate::common::select_all(&plain, "#login-notice").is_empty());
}

async fn posts_without_a_valid_csrf_token_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.add_token(&user, "Keep me", Extension::Custom, StoredStatus::Active);
    let disable = format!("/integrations/tokens/{}/disable", token.id);
    let delete = format!("/integrations/tokens/{}/delete", token.id);

    for (path, fields) in [
        (disable.as_str(), vec![]),
        (disable.as_str(), vec![("csrf_token", "forged")]),
        (disable.as_str(), vec![("csrf_token", "")]),
        (delete.as_str(), vec![]),
        ("/logout", vec![]),
    ] {
        let response = app.post_raw(path, &fields).await;
        assert_eq!(response.status(), 403, "{path} {fields:?}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("This form has expired")
        );
    }
    assert_eq!(
        app.find_token(&user, &token).unwrap().stored_status,
        StoredStatus::Active,
        "nothing changed"
    );
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        200,
        "still signed in"
    );

    // Script calls send the token in a header instead.
    let csrf = app.csrf_token().await;
    let response = app
        .client
        .post(app.url(&disable))
        .header("X-CSRF-Token", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = app
        .client
        .post(app.url(&disable))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.find_token(&user, &token).unwrap().stored_status,
        StoredStatus::Inactive
    );

    // A sign-in form needs it too: a login CSRF would sign the victim into the attacker's account.
    let stranger = crate::common::new_client();
    let response = stranger
        .post(app.url("/login"))
        .form(&[
            ("email", "robert@frontstreet.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let health = response.json::<serde_json::Value>().await.unwrap();
    assert_eq!(health["status"], "ok");
    // The build it runs: `tokendesk <semver> (<commit>)`, as `tokendesk --version` says it.
    let version = health["version"].as_str().unwrap();
    assert_eq!(version, tokendesk::VERSION);
    let (semver, commit) = version
        .strip_prefix("tokendesk ")
        .and_then(|v| v.strip_suffix(')'))
        .and_then(|v| v.split_once(" ("))
        .unwrap_or_else(|| panic!("{version}"));
    assert_eq!(semver, env!("CARGO_PKG_VERSION"));
    assert!(!commit.is_empty() && !commit.contains(' '), "{version}");
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
}

async fn pages_carry_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/login").await;
    let csp = response
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(response.headers().get("x-frame-options").unwrap(), "DENY");
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");

    assert_eq!(app.get("/static/app.js").await.status(), 200);
    assert_eq!(app.get("/static/app.css").await.status(), 200);
    assert_eq!(app.get("/static/../Cargo.toml").await.status(), 404);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
}

async fn repeated_failures_hold_sign_in_back(backend: Backend) {
    let app = spawn_app(backend).await;
    app.robert();
    for _ in 0..5 {
        assert_eq!(
            app.sign_in_with("robert@frontstreet.example", "guess")
                .await
                .status(),
            401
        );
    }
    let response = app
        .sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    assert_eq!(response.status(), 429, "even the right password waits now");
    assert!(response.headers().contains_key("retry-after"));
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&html, ".alert-error"),
        "Too many sign-in attempts. Try again in 15 minutes."
    );
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        303,
        "not signed in"
    );
    // A quarter of an hour later the window is over.
    app.clock.advance(chrono::Duration::minutes(16));
    let response = app
        .sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
}

/// Anonymous visitors are given a sign-in form, and nothing is stored for them: its token
/// travels in a sealed cookie, and a session row is made only when someone signs in.
async fn anonymous_visitors_store_nothing(backend: Backend) {
    use diesel::prelude::*;
    use tokendesk::db::schema::sessions;
    let app = spawn_app(backend).await;
    app.robert();
    let rows = || -> i64 {
        let mut conn = app.pool.get().unwrap();
        sessions::table.count().get_result(&mut conn).unwrap()
    };
    let cookieless = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/login",
        "/login?next=/integrations/tokens",
        "/integrations/tokens",
    ] {
        for _ in 0..20 {
            let response = cookieless.get(app.url(path)).send().await.unwrap();
            assert!([200, 303].contains(&response.status().as_u16()), "{path}");
        }
    }
    assert_eq!(rows(), 0, "no session row for anyone who did not sign in");

    // A forged visitor cookie is worth nothing; the one the form came with signs in.
    let forged = cookieless
        .post(app.url("/login"))
        .header("Cookie", "tokendesk_csrf=made-up")
        .form(&[
            ("csrf_token", "made-up"),
            ("email", "robert@frontstreet.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let response = app
        .sign_in_with("robert@frontstreet.example", "a wrong one")
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(rows(), 0, "nor for a failed sign-in");
    app.sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    assert_eq!(app.get("/integrations/tokens").await.status(), 200);
    assert_eq!(rows(), 1);
}

/// A guess at the current password on the password page counts as a sign-in attempt: a
/// session left open does not let anyone try passwords faster.
async fn the_current_password_is_guessed_no_faster_than_a_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.robert();
    app.sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    let change = |current: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/account/password",
                &[
                    ("current_password", current),
                    ("new_password", "a brand new password"),
                    ("confirm_password", "a brand new password"),
                ],
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(change("a guess").await.status(), 422);
    }
    let response = change(PASSWORD).await;
    assert_eq!(response.status(), 429, "even the right one waits now");
    assert!(response.headers().contains_key("retry-after"));
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&html, "#current_password-error"),
        "Too many sign-in attempts. Try again in 15 minutes."
    );
    // Counted with the sign-ins of that e-mail: a new browser waits too.
    let elsewhere = app.another_instance();
    let response = elsewhere
        .sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    assert_eq!(response.status(), 429);

    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(change(PASSWORD).await.status(), 303);
    let response = elsewhere
        .sign_in_with("robert@frontstreet.example", "a brand new password")
        .await;
    assert_eq!(response.status(), 303);
}

crate::on_both_databases!(
    anonymous_visitors_store_nothing,
    the_current_password_is_guessed_no_faster_than_a_sign_in,
    repeated_failures_hold_sign_in_back,
    anonymous_visitors_are_sent_to_sign_in,
    signing_in_shows_the_account_and_user,
    a_wrong_password_is_refused_and_the_email_kept,
    signing_out_ends_the_session,
    posts_without_a_valid_csrf_token_are_refused,
    health_and_readiness,
    pages_carry_security_headers,
);
