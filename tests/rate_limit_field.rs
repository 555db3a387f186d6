//! A token's rate limit as a field: set in the wizard's General step, on the edit page and
//! through the API, shown on the Summary, the details and in the token object, and refused
//! beside its field when it is not a whole number from 1 to 100 000. (Its enforcement is
//! tested elsewhere.)

use crate::common::{Backend, TestApp, attr, location, select_all, spawn_app, text};
use reqwest::Method;
use scraper::Html;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokendesk::db::tokens::Token;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::ids::TokenId;
use tokendesk::domain::lifecycle::RateLimit;

const GENERAL: &str = "/integrations/tokens/new/general";
const EXTENSION: &str = "/integrations/tokens/new/extension";
const PERMISSIONS: &str = "/integrations/tokens/new/permissions";
const SUMMARY: &str = "/integrations/tokens/new/summary";

const FORM_MESSAGE: &str =
    "Rate limit must be a whole number from 1 to 100 000, or empty for no limit";

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

/// Posts the General step with `rate_limit` typed as given.
async fn general_step(app: &TestApp, name: &str, rate_limit: &str) -> reqwest::Response {
    app.post(
        GENERAL,
        &[
            ("name", name),
            ("description", "Limited by the test."),
            ("expires", "never"),
            ("rate_limit", rate_limit),
        ],
    )
    .await
}

/// Goes on from an accepted General step to the Summary, and answers the new token's details
/// page path.
async fn finish_wizard(app: &TestApp) -> String {
    let response = app
        .post(EXTENSION, &[("extension", "custom"), ("action", "next")])
        .await;
    assert_eq!(location(&response), PERMISSIONS);
    let response = app
        .post(PERMISSIONS, &[("all_modules", "on"), ("action", "create")])
        .await;
    assert_eq!(location(&response), SUMMARY);
    let summary = app.get_html(SUMMARY).await;
    let id = &select_all(&summary, "dl.summary dd")[1];
    format!("/integrations/tokens/{id}")
}

fn stored_limit(app: &TestApp, details_path: &str) -> Option<u32> {
    let id = TokenId::parse(details_path.rsplit('/').next().unwrap()).unwrap();
    let mut conn = app.pool.get().unwrap();
    let holder = Token::for_key(&mut conn, &id)
        .unwrap()
        .expect("a live token");
    holder.token.rate_limit.map(RateLimit::get)
}

async fn the_wizard_sets_a_rate_limit_shown_on_the_summary_and_details(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;

    let form = app.get_html(GENERAL).await;
    assert_eq!(
        text(&form, "label[for=rate_limit]"),
        "Rate limit (requests per minute)"
    );
    assert_eq!(attr(&form, "#rate_limit", "value").as_deref(), Some(""));
    assert_eq!(
        attr(&form, "#rate_limit", "aria-describedby").as_deref(),
        Some("rate_limit-hint")
    );
    assert!(text(&form, "#rate_limit-hint").contains("Empty: no limit"));

    let response = general_step(&app, "Throttled", "60").await;
    assert_eq!(location(&response), EXTENSION);
    // Back to General: the draft kept it.
    let response = app
        .post(EXTENSION, &[("extension", "custom"), ("action", "back")])
        .await;
    assert_eq!(location(&response), GENERAL);
    let form = app.get_html(GENERAL).await;
    assert_eq!(attr(&form, "#rate_limit", "value").as_deref(), Some("60"));
    general_step(&app, "Throttled", " 60 ").await;

    let details = finish_wizard(&app).await;
    let summary = app.get_html(SUMMARY).await;
    assert_eq!(
        text(&summary, "dl.summary dd.rate-limit"),
        "60 requests per minute"
    );
    let html = app.get_html(&details).await;
    assert_eq!(text(&html, "dd.rate-limit"), "60 requests per minute");
    assert_eq!(
        stored_limit(&app, &details),
        Some(60),
        "what API auth reads"
    );
}

async fn the_general_step_refuses_a_bad_rate_limit_and_keeps_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    for typed in ["0", "100001", "abc", "1.5", "-5", "1 000"] {
        let response = general_step(&app, "Refused", typed).await;
        assert_eq!(response.status(), 422, "{typed:?}");
        let html = html_of(response).await;
        assert_eq!(text(&html, "#rate_limit-error"), FORM_MESSAGE, "{typed:?}");
        assert_eq!(
            attr(&html, "#rate_limit", "value").as_deref(),
            Some(typed),
            "kept as typed"
        );
        assert_eq!(
            attr(&html, "#rate_limit", "aria-describedby").as_deref(),
            Some("rate_limit-hint rate_limit-error")
        );
        assert_eq!(
            attr(&html, "#rate_limit", "aria-invalid").as_deref(),
            Some("true")
        );
        assert_eq!(
            attr(&html, "input[name=name]", "value").as_deref(),
            Some("Refused"),
            "the other fields are kept too"
        );
    }
    // A refused value is not kept in the draft: Extension does not open on it.
    let response = app.get(EXTENSION).await;
    assert_eq!(location(&response), GENERAL);

    // Empty: no limit.
    let response = general_step(&app, "Unlimited", "  ").await;
    assert_eq!(location(&response), EXTENSION);
    let details = finish_wizard(&app).await;
    let summary = app.get_html(SUMMARY).await;
    assert_eq!(text(&summary, "dl.summary dd.rate-limit"), "No limit");
    let html = app.get_html(&details).await;
    assert_eq!(text(&html, "dd.rate-limit"), "No limit");
    assert_eq!(stored_limit(&app, &details), None);
}

/// Saves the edit form of the token made by `app.token(…, "Edited")` with `rate_limit`.
async fn save_edit(app: &TestApp, edit: &str, rate_limit: &str) -> reqwest::Response {
    app.post(
        edit,
        &[
            ("name", "Edited"),
            ("description", "A token made by a test."),
            ("all_modules", "on"),
            ("expires", "never"),
            ("rate_limit", rate_limit),
        ],
    )
    .await
}

async fn the_edit_page_sets_changes_and_clears_the_rate_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.token(&user, "Edited").create();
    let details = format!("/integrations/tokens/{}", token.id);
    let edit = format!("{details}/edit");
    let save = |rate_limit| save_edit(&app, &edit, rate_limit);

    let form = app.get_html(&edit).await;
    assert_eq!(attr(&form, "#rate_limit", "value").as_deref(), Some(""));
    assert_eq!(
        text(&app.get_html(&details).await, "dd.rate-limit"),
        "No limit"
    );

    assert_eq!(location(&save("120").await), details);
    assert_eq!(
        text(&app.get_html(&details).await, "dd.rate-limit"),
        "120 requests per minute"
    );
    let form = app.get_html(&edit).await;
    assert_eq!(
        attr(&form, "#rate_limit", "value").as_deref(),
        Some("120"),
        "pre-filled"
    );
    assert_eq!(stored_limit(&app, &details), Some(120));

    let response = save("100001").await;
    assert_eq!(response.status(), 422);
    let html = html_of(response).await;
    assert_eq!(text(&html, "#rate_limit-error"), FORM_MESSAGE);
    assert_eq!(
        attr(&html, "#rate_limit", "value").as_deref(),
        Some("100001")
    );
    assert_eq!(stored_limit(&app, &details), Some(120), "nothing changed");

    assert_eq!(location(&save("1").await), details);
    assert_eq!(
        text(&app.get_html(&details).await, "dd.rate-limit"),
        "1 request per minute"
    );
    assert_eq!(location(&save("").await), details);
    assert_eq!(
        text(&app.get_html(&details).await, "dd.rate-limit"),
        "No limit"
    );
    assert_eq!(stored_limit(&app, &details), None);
}

async fn the_api_creates_changes_and_shows_the_rate_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (_, admin) = app.token(&user, "Automation").create();
    app.token(&user, "Preset").rate_limit(500).create();

    let answer = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Limited", "description": "x", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0002"}}], "rate_limit": 60}),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(answer.body["rate_limit"], json!(60));
    let path = format!("/auth/tokens/{}", answer.body["id"].as_str().unwrap());
    let answer = app.call(&admin, Method::GET, &path, None).await;
    assert_eq!(answer.body["rate_limit"], json!(60));

    // Left out: kept; another field changed meanwhile.
    let answer = app
        .call(&admin, Method::PUT, &path, json!({"name": "Renamed"}))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["rate_limit"], json!(60));
    let answer = app
        .call(&admin, Method::PUT, &path, json!({"rate_limit": 100000}))
        .await;
    assert_eq!(answer.body["rate_limit"], json!(100000));
    let answer = app
        .call(&admin, Method::PUT, &path, json!({"rate_limit": null}))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["rate_limit"], Value::Null, "null removes it");
    let answer = app.call(&admin, Method::GET, &path, None).await;
    assert_eq!(answer.body["rate_limit"], Value::Null);
    assert!(answer.body.as_object().unwrap().contains_key("rate_limit"));

    for body in [
        json!({"name": "Unlimited", "description": "x", "extension": {"name": "custom"},
               "permissions": [{"object": {"id": "MD-0002"}}]}),
        json!({"name": "Null", "description": "x", "extension": {"name": "custom"},
               "permissions": [{"object": {"id": "MD-0002"}}], "rate_limit": null}),
    ] {
        let answer = app.call(&admin, Method::POST, "/auth/tokens", body).await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        assert_eq!(answer.body["rate_limit"], Value::Null);
    }

    // Every answer that shows a token shows it.
    let answer = app
        .call(&admin, Method::GET, "/auth/tokens?eq(name,Preset)", None)
        .await;
    assert_eq!(
        answer.body[0]["rate_limit"],
        json!(500),
        "{:?}",
        answer.body
    );
    let limited = answer.body[0]["id"].as_str().unwrap().to_owned();
    let answer = app
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{limited}/deactivate"),
            None,
        )
        .await;
    assert_eq!(answer.body["rate_limit"], json!(500));
    let answer = app
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{limited}/rotate"),
            json!({}),
        )
        .await;
    assert_eq!(answer.body["rate_limit"], json!(500));
}

async fn the_api_refuses_a_bad_rate_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (_, admin) = app.token(&user, "Automation").create();
    let (target, _) = app.token(&user, "Target").rate_limit(30).create();
    let path = format!("/auth/tokens/{}", target.id);
    let before = app.token_count(&user);
    for bad in [
        json!(0),
        json!(100001),
        json!("60"),
        json!(1.5),
        json!(0.0),
        json!(-1),
        json!(true),
        json!([60]),
    ] {
        let answer = app
            .call(
                &admin,
                Method::POST,
                "/auth/tokens",
                json!({"name": "Bad", "description": "x", "extension": {"name": "custom"},
                       "permissions": [{"object": {"id": "MD-0002"}}],
                       "rate_limit": bad}),
            )
            .await;
        assert_eq!((answer.status, answer.code()), (400, "VAL_001"), "{bad}");
        assert_eq!(
            answer.errors(),
            [
                "rate_limit: must be an integer from 1 to 100000 (requests per minute), or null for no limit"
            ],
            "{bad}"
        );
        let answer = app
            .call(
                &admin,
                Method::PUT,
                &path,
                json!({"rate_limit": bad, "name": "Changed"}),
            )
            .await;
        assert_eq!((answer.status, answer.code()), (400, "VAL_001"), "{bad}");
        assert!(
            answer.errors()[0].starts_with("rate_limit: "),
            "{:?}",
            answer.errors()
        );
    }
    assert_eq!(app.token_count(&user), before, "nothing created");
    let answer = app.call(&admin, Method::GET, &path, None).await;
    assert_eq!(
        (answer.body["name"].as_str(), &answer.body["rate_limit"]),
        (Some("Target"), &json!(30)),
        "nothing changed"
    );

    // A JSON number is an integer by its value, as the OpenAPI document's `integer` says.
    let answer = app
        .call(&admin, Method::PUT, &path, json!({"rate_limit": 60.0}))
        .await;
    assert_eq!(
        (answer.status, &answer.body["rate_limit"]),
        (200, &json!(60))
    );
}

/// The limit `app` keeps in its key cache for token `id`, after using `key` until it keeps one.
async fn kept_after_use(app: &TestApp, key: &ApiKey, id: &TokenId) -> Option<u32> {
    let started = Instant::now();
    loop {
        if let Some(holder) = app.keys().get(id) {
            return holder.token.rate_limit.map(RateLimit::get);
        }
        let answer = app.call(key, Method::GET, "/auth/context", None).await;
        assert_eq!(answer.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the key is kept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The key cache keeps what `Token::for_key` read, the limit included: a change of the limit
/// is forgotten at once by the instance that made it and within a second by every other one.
async fn a_rate_limit_change_is_a_key_change(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.another_instance();
    let user = a.signed_in_user().await;
    let (_, admin) = a.token(&user, "Admin").create();
    let (target, key) = a.token(&user, "Target").create();
    let id = &target.id;
    assert_eq!(kept_after_use(&a, &key, id).await, None);
    assert_eq!(kept_after_use(&b, &key, id).await, None);

    let path = format!("/auth/tokens/{id}");
    let answer = a
        .call(&admin, Method::PUT, &path, json!({"rate_limit": 1000}))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(
        a.keys().get(id).is_none(),
        "forgotten at once where it was changed"
    );
    let started = Instant::now();
    while b.keys().get(id).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still kept by the other instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(kept_after_use(&a, &key, id).await, Some(1000));
    assert_eq!(kept_after_use(&b, &key, id).await, Some(1000));
}

crate::on_both_databases!(
    the_wizard_sets_a_rate_limit_shown_on_the_summary_and_details,
    the_general_step_refuses_a_bad_rate_limit_and_keeps_it,
    the_edit_page_sets_changes_and_clears_the_rate_limit,
    the_api_creates_changes_and_shows_the_rate_limit,
    the_api_refuses_a_bad_rate_limit,
    a_rate_limit_change_is_a_key_change,
);
