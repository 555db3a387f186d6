//! A key's life: expiry set and seen in the UI, rotation and renewal with a grace period (on the
//! server's clock, moved forward rather than waited for), and the networks a key may be used
//! from.

use crate::common::{
    Backend, TestApp, TestUser, attr, select_all, spawn_app, spawn_app_trusting, text,
};
use chrono::Duration;
use reqwest::Method;
use scraper::Html;
use serde_json::json;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::token::StoredStatus;

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

/// The status code of `/auth/context` called with `key`, from where the client is.
async fn works(app: &TestApp, key: &ApiKey) -> u16 {
    app.call(key, Method::GET, "/auth/context", None)
        .await
        .status
}

fn key_of(value: &str) -> ApiKey {
    ApiKey::parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"))
}

async fn expiry_is_set_in_the_wizard_badged_and_filtered(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let now = app.clock.now();
    app.token(&user, "Soon")
        .expires_at(now + Duration::days(5))
        .create();
    app.token(&user, "Later")
        .expires_at(now + Duration::days(40))
        .create();
    app.token(&user, "Gone")
        .expires_at(now - Duration::days(1))
        .create();
    app.token(&user, "Off")
        .expires_at(now + Duration::days(3))
        .status(StoredStatus::Inactive)
        .create();

    let html = app.get_html("/integrations/tokens?status=expiring").await;
    assert_eq!(crate::common::listed_names(&html), ["Soon"]);
    assert_eq!(text(&html, ".expiring"), "Expires in 5 days");
    let html = app.get_html("/integrations/tokens?status=expired").await;
    assert_eq!(crate::common::listed_names(&html), ["Gone"]);
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(
        select_all(&html, ".expiring"),
        ["Expires in 5 days"],
        "only Soon"
    );

    // The wizard's General step: 30 days from when the token is made.
    let response = app
        .post(
            "/integrations/tokens/new/general",
            &[
                ("name", "Trial"),
                ("description", "x"),
                ("expires", "date"),
                ("expires_on", "2001-01-01"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        text(&html_of(response).await, "#expires_on-error"),
        "Choose a date in the future"
    );
    let response = app
        .post(
            "/integrations/tokens/new/general",
            &[("name", "Trial"), ("description", "x"), ("expires", "30")],
        )
        .await;
    assert_eq!(response.status(), 303);
    app.post(
        "/integrations/tokens/new/extension",
        &[("extension", "custom")],
    )
    .await;
    let response = app
        .post(
            "/integrations/tokens/new/permissions",
            &[("all_modules", "on")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let html = app.get_html("/integrations/tokens?q=Trial").await;
    let details = attr(&html, "a.token-name", "href").unwrap();
    let html = app.get_html(&details).await;
    let in_30_days = (now + Duration::days(30)).format("%Y-%m-%d").to_string();
    assert!(
        text(&html, "dd.expires").starts_with(&in_30_days),
        "{}",
        text(&html, "dd.expires")
    );

    // The edit page keeps an expiry it did not change, and can remove it.
    let edit = format!("{details}/edit");
    let form = app.get_html(&edit).await;
    assert_eq!(
        attr(&form, "#expires option[selected]", "value").as_deref(),
        Some("date")
    );
    let response = app
        .post(
            &edit,
            &[
                ("name", "Trial"),
                ("description", "x"),
                ("all_modules", "on"),
                ("expires", "never"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(text(&app.get_html(&details).await, "dd.expires"), "Never");
}

async fn rotation_with_and_without_grace(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, old) = app.token(&user, "Rotated").create();
    let rotate = format!("/integrations/tokens/{}/rotate", token.id);
    let form = app.get_html(&rotate).await;
    assert_eq!(
        attr(&form, "input[name=grace][checked]", "value").as_deref(),
        Some("24h"),
        "a day's grace unless told otherwise"
    );

    // At once: the old key is refused from the next request on.
    let response = app.post_and_follow(&rotate, &[("grace", "0")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = html_of(response).await;
    let new = key_of(&text(&page, "#api-key"));
    assert_eq!(new.token_id, token.id, "same token");
    assert_eq!(
        text(&page, ".previous-key"),
        "The previous key no longer works."
    );
    assert_eq!(works(&app, &old).await, 401);
    assert_eq!(works(&app, &new).await, 200);

    // With an hour's grace both work, until the hour is over.
    let response = app.post_and_follow(&rotate, &[("grace", "1h")]).await;
    let newer = key_of(&text(&html_of(response).await, "#api-key"));
    assert_eq!(
        works(&app, &new).await,
        200,
        "the previous key, within its hour"
    );
    assert_eq!(works(&app, &newer).await, 200);
    let details = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert!(text(&details, ".previous-key").starts_with("Previous key works until"));
    app.clock.advance(Duration::minutes(61));
    assert_eq!(works(&app, &new).await, 401);
    assert_eq!(works(&app, &newer).await, 200);
    let details = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert!(select_all(&details, ".previous-key").is_empty());

    // Reveal shows the new key; the history says what happened. (An hour on, revealing asks
    // for the password again: signing in afresh proves it.)
    app.sign_in(&user).await;
    let csrf = app.csrf_token().await;
    let revealed: serde_json::Value = app
        .client
        .post(app.url(&format!("/integrations/tokens/{}/reveal", token.id)))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revealed["key"], newer.expose());
    let history = select_all(&details, "table.history td:first-child");
    assert_eq!(history.iter().filter(|e| *e == "Key rotated").count(), 2);
    let bad = app.post(&rotate, &[("grace", "2h")]).await;
    assert_eq!(bad.status(), 400);
}

async fn renew_and_rotate_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.robert();
    let (_, admin) = app.token(&user, "Automation").create();
    let (target, old) = app.token(&user, "Renewed").modules("MD-0002").create();
    let renew = format!("/auth/tokens/{}/renew", target.id);

    // Renewed without an expiry: the old key keeps working for a day.
    let answer = app.call(&admin, Method::POST, &renew, json!({})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let renewed = key_of(answer.body["token"].as_str().unwrap());
    assert!(answer.body["renewed_expiration_date"].is_string());
    assert!(answer.body["expiration_date"].is_null());
    assert_eq!(works(&app, &old).await, 200);
    assert_eq!(works(&app, &renewed).await, 200);
    app.clock.advance(Duration::hours(23));
    assert_eq!(works(&app, &old).await, 200);
    app.clock.advance(Duration::hours(2));
    assert_eq!(works(&app, &old).await, 401);

    // Rotated with a new expiry: the old key stops at once.
    let answer = app
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{}/rotate", target.id),
            json!({"expiration_date": "2099-01-01"}),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert!(answer.body["renewed_expiration_date"].is_null());
    assert!(
        answer.body["expiration_date"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01")
    );
    let rotated = key_of(answer.body["token"].as_str().unwrap());
    assert_eq!(works(&app, &renewed).await, 401);
    assert_eq!(works(&app, &rotated).await, 200);

    // Renewed with an expiry of its own: the old key works until its former expiry.
    let answer = app
        .call(
            &admin,
            Method::POST,
            &renew,
            json!({"expiration_date": null}),
        )
        .await;
    assert!(
        answer.body["renewed_expiration_date"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01")
    );
    assert!(answer.body["expiration_date"].is_null(), "null removes it");

    for (body, field) in [
        (json!({"expiration_date": "2001-01-01"}), "expiration_date"),
        (json!({"expires": "soon"}), "expires"),
    ] {
        let answer = app.call(&admin, Method::POST, &renew, body).await;
        assert_eq!(answer.status, 400);
        assert!(
            answer.errors()[0].starts_with(field),
            "{:?}",
            answer.errors()
        );
    }
    // A key that reaches less than the token does not rotate it.
    let (_, narrow) = app.token(&user, "Narrow").modules("MD-0007").create();
    let answer = app.call(&narrow, Method::POST, &renew, json!({})).await;
    assert_eq!((answer.status, answer.code()), (403, "AUTH_007"));
    let spec = app
        .client
        .get(app.url("/public/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(spec.contains("/auth/tokens/{id}/renew") && spec.contains("renewed_expiration_date"));
}

/// Only one previous key is kept: a second rotation within the first one's grace ends it, and
/// the rotate page, the page after it and the API answer say so before and when it happens.
async fn a_second_rotation_says_it_ends_the_first_grace(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, first) = app.token(&user, "Twice").create();
    let rotate = format!("/integrations/tokens/{}/rotate", token.id);
    assert!(
        select_all(&app.get_html(&rotate).await, "#rotate-ends-grace").is_empty(),
        "no earlier key to end"
    );
    let response = app.post_and_follow(&rotate, &[("grace", "1h")]).await;
    let page = html_of(response).await;
    let second = key_of(&text(&page, "#api-key"));
    assert!(
        select_all(&page, ".alert-info").is_empty(),
        "{:?}",
        select_all(&page, ".alert-info")
    );
    assert_eq!(works(&app, &first).await, 200, "within its hour");

    let warned = app.get_html(&rotate).await;
    assert!(
        text(&warned, "#rotate-ends-grace").contains("rotating again stops it now"),
        "{}",
        warned.html()
    );
    let response = app.post_and_follow(&rotate, &[("grace", "24h")]).await;
    let page = html_of(response).await;
    let third = key_of(&text(&page, "#api-key"));
    assert!(
        text(&page, ".alert-info").ends_with("it stopped now."),
        "{:?}",
        select_all(&page, ".alert-info")
    );
    assert_eq!(works(&app, &first).await, 401, "ended, as said");
    assert_eq!(
        works(&app, &second).await,
        200,
        "the previous key, for its day"
    );
    assert_eq!(works(&app, &third).await, 200);

    // The API says the same in its answer.
    let (_, admin) = app.token(&user, "Automation").create();
    let renew = format!("/auth/tokens/{}/renew", token.id);
    let answer = app.call(&admin, Method::POST, &renew, json!({})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(
        answer.body["ended_previous_grace"].is_string(),
        "{:?}",
        answer.body
    );
    assert_eq!(works(&app, &second).await, 401);
    let rotate = format!("/auth/tokens/{}/rotate", token.id);
    let answer = app.call(&admin, Method::POST, &rotate, json!({})).await;
    assert!(
        answer.body["ended_previous_grace"].is_string(),
        "the renewal's day"
    );
    let answer = app.call(&admin, Method::POST, &rotate, json!({})).await;
    assert!(
        answer.body["ended_previous_grace"].is_null(),
        "nothing left to end"
    );
}

/// A token past its expiry gets no new key that could not work: the API refuses (a conflict with
/// the token as it is) naming the field to give, the rotate page says what to do instead, the
/// CLI says it in a line.
async fn an_expired_token_is_not_renewed_into_a_dead_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (_, admin) = app.token(&user, "Automation").create();
    let soon = app.clock.now() + Duration::days(2);
    let (target, old) = app.token(&user, "Lapsed").expires_at(soon).create();
    app.clock.advance(Duration::days(3));
    assert_eq!(works(&app, &old).await, 401);

    for how in ["renew", "rotate"] {
        let path = format!("/auth/tokens/{}/{how}", target.id);
        let answer = app.call(&admin, Method::POST, &path, json!({})).await;
        assert_eq!((answer.status, answer.code()), (409, "REQ_004"), "{how}");
        assert!(
            answer.errors()[0].starts_with("expiration_date: the token expired on"),
            "{:?}",
            answer.errors()
        );
    }
    let events = app
        .call(
            &admin,
            Method::GET,
            &format!("/auth/tokens/{}", target.id),
            None,
        )
        .await;
    assert_eq!(events.body["status"], "expired", "nothing changed");

    app.sign_in(&user).await; // three days on, the session has lapsed
    let rotate = format!("/integrations/tokens/{}/rotate", target.id);
    let page = app.get_html(&rotate).await;
    assert!(text(&page, "#rotate-expired").starts_with("This token expired on"));
    assert!(
        select_all(&page, "form[action$='/rotate']").is_empty(),
        "no form to send"
    );
    let refused = app.post(&rotate, &[("grace", "0")]).await;
    assert_eq!(refused.status(), 400);

    // With a new expiry it is renewed, and the new key works.
    let renew = format!("/auth/tokens/{}/renew", target.id);
    let answer = app
        .call(
            &admin,
            Method::POST,
            &renew,
            json!({"expiration_date": "2099-06-30"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["status"], "active");
    assert!(
        answer.body["renewed_expiration_date"].is_null(),
        "the old key had expired"
    );
    let renewed = key_of(answer.body["token"].as_str().unwrap());
    assert_eq!(works(&app, &renewed).await, 200);
}

/// A date means the end of that day in UTC whichever way it comes in: the API's
/// `expiration_date`, the edit page and the wizard's date.
async fn a_date_means_the_end_of_that_day_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (_, admin) = app.token(&user, "Automation").create();
    let answer = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens",
            json!({"name": "By the API", "description": "d", "extension": {"id": "EXT-000"},
                   "permissions": [{"object": {"id": "MD-0002"}}], "expiration_date": "2030-01-01"}),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let by_api = answer.body["expiration_date"].as_str().unwrap().to_owned();
    assert!(by_api.starts_with("2030-01-01T23:59:59"), "{by_api}");

    let (edited, _) = app.token(&user, "By the edit page").create();
    let response = app
        .post(
            &format!("/integrations/tokens/{}/edit", edited.id),
            &[
                ("name", "By the edit page"),
                ("description", "d"),
                ("all_modules", "on"),
                ("expires", "date"),
                ("expires_on", "2030-01-01"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let answer = app
        .call(
            &admin,
            Method::GET,
            &format!("/auth/tokens/{}", edited.id),
            None,
        )
        .await;
    assert_eq!(
        answer.body["expiration_date"].as_str(),
        Some(by_api.as_str())
    );

    let answer = app
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{}/renew", edited.id),
            json!({"expiration_date": "2030-01-01T12:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(
        answer.body["expiration_date"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-01T12:00:00"),
        "a date-time is that instant"
    );
}

fn networks_of(answer: &crate::common::Answer) -> Vec<String> {
    answer.body["allowed_networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

async fn keys_work_only_from_their_networks(backend: Backend) {
    let app = spawn_app(backend).await;
    let user: TestUser = app.robert();
    let (_, admin) = app.token(&user, "Automation").create();
    let (limited, key) = app
        .token(&user, "Office only")
        .allowed("10.0.0.0/8")
        .create();
    let answer = app.call(&key, Method::GET, "/auth/context", None).await;
    assert_eq!((answer.status, answer.code()), (403, "AUTH_005"));
    assert!(
        answer.errors()[0].contains("127.0.0.1"),
        "{:?}",
        answer.errors()
    );

    // No proxy is trusted here: a forged X-Forwarded-For changes nothing.
    let forged = app
        .api(Method::GET, "/auth/context", &key)
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let path = format!("/auth/tokens/{}", limited.id);
    let answer = app
        .call(
            &admin,
            Method::PUT,
            &path,
            json!({"allowed_networks": ["10.0.0.0/8", "127.0.0.1/32"]}),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(networks_of(&answer), ["10.0.0.0/8", "127.0.0.1"]);
    assert_eq!(works(&app, &key).await, 200);

    let many: Vec<String> = (0..33).map(|n| format!("10.0.{n}.0/24")).collect();
    for (networks, message) in [
        (json!(many), "At most 32"),
        (json!(["300.1.2.3/8"]), "\"300.1.2.3/8\""),
    ] {
        let answer = app
            .call(
                &admin,
                Method::PUT,
                &path,
                json!({"allowed_networks": networks}),
            )
            .await;
        assert_eq!(answer.status, 400);
        assert!(answer.errors()[0].starts_with("allowed_networks: "));
        assert!(
            answer.errors()[0].contains(message),
            "{:?}",
            answer.errors()
        );
    }
    let answer = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Made limited", "description": "x", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0002"}}], "allowed_networks": ["192.0.2.0/24"]}),
        )
        .await;
    assert_eq!(answer.status, 201);
    assert_eq!(networks_of(&answer), ["192.0.2.0/24"]);
    let made = key_of(answer.body["token"].as_str().unwrap());
    assert_eq!(works(&app, &made).await, 403);

    // The edit page names the bad line.
    app.sign_in(&user).await;
    let edit = format!("/integrations/tokens/{}/edit", limited.id);
    let form = app.get_html(&edit).await;
    assert_eq!(text(&form, "#allowed_networks"), "10.0.0.0/8 127.0.0.1");
    let response = app
        .post(
            &edit,
            &[
                ("name", "Office only"),
                ("description", "x"),
                ("all_modules", "on"),
                ("allowed_networks", "10.0.0.0/8\n300.1.2.3/8"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = html_of(response).await;
    assert!(text(&html, "#allowed_networks-error").starts_with("Line 2: \"300.1.2.3/8\""));
    assert_eq!(
        text(&html, "#allowed_networks"),
        "10.0.0.0/8 300.1.2.3/8",
        "kept"
    );
    let response = app
        .post(
            &edit,
            &[
                ("name", "Office only"),
                ("description", "x"),
                ("all_modules", "on"),
                ("allowed_networks", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let details = app
        .get_html(&format!("/integrations/tokens/{}", limited.id))
        .await;
    assert_eq!(text(&details, "dd.networks"), "Anywhere");
}

async fn behind_a_trusted_proxy_the_forwarded_address_counts(backend: Backend) {
    let app = spawn_app_trusting(backend, &["127.0.0.1/32"]).await;
    let user = app.robert();
    let (_, v6) = app.token(&user, "IPv6 only").allowed("::1/128").create();
    let (_, v4) = app.token(&user, "Office").allowed("10.0.0.0/8").create();
    let from = |key: &ApiKey, forwarded: &'static str| {
        app.api(Method::GET, "/auth/context", key)
            .header("X-Forwarded-For", forwarded)
            .send()
    };
    assert_eq!(from(&v6, "::1").await.unwrap().status(), 200);
    assert_eq!(from(&v6, "2001:db8::1").await.unwrap().status(), 403);
    assert_eq!(from(&v4, "10.9.8.7").await.unwrap().status(), 200);
    // The right-most address the proxy did not add is the client's; what the client wrote
    // before it counts for nothing.
    assert_eq!(
        from(&v4, "10.9.8.7, 203.0.113.5").await.unwrap().status(),
        403
    );
    assert_eq!(
        works(&app, &v4).await,
        403,
        "the proxy itself is not in 10/8"
    );
    // A hop that cannot be read is where the walk ends: the client is unknown, and no network
    // admits it, not even through an allowed address written further left.
    for forwarded in ["10.1.2.3, junk", "junk", "10.1.2.3, "] {
        let response = from(&v4, forwarded).await.unwrap();
        assert_eq!(response.status(), 403, "{forwarded}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], "AUTH_005");
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap()
                .ends_with("came from an unknown address."),
            "{body}"
        );
    }
}

/// The statements a request sends that read a token's row (every column of it): the key
/// check's and any change's.
fn reads_of_token_rows(statements: &[String]) -> Vec<&String> {
    statements
        .iter()
        .filter(|sql| {
            let sql = sql.replace(['"', '`'], "");
            sql.trim_start().starts_with("SELECT")
                && sql.contains("FROM tokens")
                && sql.contains("tokens.name")
        })
        .collect()
}

/// A rotation through the API reads the rotated token's row once (and the caller's not at all,
/// its key being known): one locked read, one write, its event, its grants for the answer.
async fn an_api_rotation_reads_the_token_row_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.robert();
    let (caller, admin) = app.token(&user, "Automation").create();
    let (target, _) = app.token(&user, "Rotated").modules("MD-0002").create();
    let started = std::time::Instant::now();
    while app.keys().get(&caller.id).is_none() {
        assert!(started.elapsed().as_secs() < 5, "the key is kept");
        assert_eq!(works(&app, &admin).await, 200);
    }
    let statements = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = statements.clone();
    app.pool
        .on_statement(move |sql| seen.lock().unwrap().push(sql.to_owned()));
    let rotate = format!("/auth/tokens/{}/rotate", target.id);
    let answer = app.call(&admin, Method::POST, &rotate, json!({})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let statements = statements.lock().unwrap().clone();
    let reads = reads_of_token_rows(&statements);
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert!(
        reads[0].contains(target.id.as_str()),
        "the rotated one: {reads:?}"
    );
}

crate::on_both_databases!(
    an_api_rotation_reads_the_token_row_once,
    expiry_is_set_in_the_wizard_badged_and_filtered,
    rotation_with_and_without_grace,
    renew_and_rotate_through_the_api,
    a_second_rotation_says_it_ends_the_first_grace,
    an_expired_token_is_not_renewed_into_a_dead_key,
    a_date_means_the_end_of_that_day_everywhere,
    keys_work_only_from_their_networks,
    behind_a_trusted_proxy_the_forwarded_address_counts,
);
