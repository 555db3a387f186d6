//! The rules every token obeys, whichever way it is made or changed (wizard, edit page, API,
//! command line): each has one home in `domain`, and these tests fail if it is taken out.

use crate::common::{Backend, TestApp, TestUser, attr, spawn_app, text};
use reqwest::Method;
use scraper::Html;
use serde_json::json;
use tokendesk::db::tokens::Token;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::module::{ModuleError, ModuleSet};
use tokendesk::domain::text::{Description, ExternalId, TokenName};
use tokendesk::services::ServiceError;
use tokendesk::services::tokens::{self as token_service, ModuleChange, TokenEdit};

const AT_LEAST_ONE: &str = "a token must hold at least one module, or All Modules";
const REPORTS_HOLD_ALL: &str = "Custom Reports tokens always hold All Modules";

fn admin_key(app: &TestApp) -> (TestUser, ApiKey) {
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, key) = app.token(&user, "Admin automation").create();
    (user, key)
}

async fn a_token_holds_at_least_one_module(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let body = |permissions: Option<serde_json::Value>| {
        let mut body = json!({"name": "x", "description": "x", "extension": {"name": "custom"}});
        if let Some(permissions) = permissions {
            body["permissions"] = permissions;
        }
        body
    };

    for asked in [None, Some(json!([]))] {
        let answer = app
            .call(&key, Method::POST, "/auth/tokens", body(asked.clone()))
            .await;
        assert_eq!(answer.status, 400, "{asked:?}");
        assert_eq!(answer.code(), "VAL_001");
        assert_eq!(answer.errors(), [format!("permissions: {AT_LEAST_ONE}")]);
    }
    assert_eq!(app.token_count(&user), 1, "nothing was made");

    // Taking away the last module is refused with the same words, and changes nothing: a
    // request in conflict with the token as it is.
    let (target, _) = app.token(&user, "Target").modules("MD-0002").create();
    let path = format!("/auth/tokens/{}/permissions", target.id);
    let answer = app
        .call(
            &key,
            Method::DELETE,
            &path,
            json!([{"object": {"id": "MD-0002"}}]),
        )
        .await;
    assert_eq!((answer.status, answer.code()), (409, "REQ_004"));
    assert_eq!(answer.errors(), [format!("permissions: {AT_LEAST_ONE}")]);
    let held = app.call(&key, Method::GET, &path, None).await;
    assert_eq!(held.body[0]["object"]["id"], "MD-0002");

    // The wizard says it in its words: the same message beside the field.
    app.sign_in(&user).await;
    app.post(
        "/integrations/tokens/new/general",
        &[("name", "Wizard"), ("description", "x")],
    )
    .await;
    app.post(
        "/integrations/tokens/new/extension",
        &[("extension", "custom")],
    )
    .await;
    let response = app.post("/integrations/tokens/new/permissions", &[]).await;
    assert_eq!(response.status(), 422);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&html, "#modules-error"),
        "A token must hold at least one module, or All Modules"
    );
}

async fn a_reports_token_holds_all_modules_whatever_the_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);

    let answer = app
        .call(
            &key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Reports", "description": "x", "extension": {"name": "reports"}}),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(answer.body["permissions"][0]["object"]["id"], "MD-0000");
    let id = answer.body["id"].as_str().unwrap().to_owned();

    let answer = app
        .call(
            &key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Narrow reports", "description": "x", "extension": {"name": "reports"},
                   "permissions": [{"object": {"id": "MD-0002"}}]}),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.errors(),
        [format!("permissions: {REPORTS_HOLD_ALL}")]
    );

    let path = format!("/auth/tokens/{id}/permissions");
    for (method, module) in [(Method::DELETE, "MD-0000"), (Method::POST, "MD-0002")] {
        let answer = app
            .call(
                &key,
                method.clone(),
                &path,
                json!([{"object": {"id": module}}]),
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (409, "REQ_004"),
            "{method} {module}: the token's extension refuses it"
        );
        assert_eq!(
            answer.errors(),
            [format!("permissions: {REPORTS_HOLD_ALL}")]
        );
    }

    // The rule lives below every screen and endpoint: an update asking to narrow it fails.
    let (reports, _) = app
        .token(&user, "Stored reports")
        .extension(Extension::Reports)
        .create();
    let mut conn = app.pool.get().unwrap();
    let narrow = ModuleSet::parse(["MD-0002"]).unwrap();
    let edit = TokenEdit {
        modules: Some(ModuleChange::Set(&narrow)),
        ..TokenEdit::default()
    };
    let by = user.user.offline(app.clock.now());
    let narrowed = token_service::update(&mut conn, &by, &reports.id, &edit);
    assert!(
        matches!(
            narrowed,
            Err(ServiceError::Modules(ModuleError::Fixed("Custom Reports")))
        ),
        "{narrowed:?}"
    );
    assert!(
        Token::permissions(&mut conn, &reports.id)
            .unwrap()
            .has_all()
    );
}

async fn general_fields_get_the_wizards_messages_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    let answer = app
        .call(
            &key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "bad\u{7}bell", "description": "d".repeat(256),
                   "external_id": "e".repeat(129), "extension": {"name": "zapier"},
                   "permissions": [{"object": {"id": "MD-0002"}}]}),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.errors(),
        [
            "description: Description must be at most 255 characters",
            "external_id: External ID must be at most 128 characters",
            "name: Name must not contain control characters",
        ]
    );
    let (token, _) = app.token(&user, "Kept").create();
    let answer = app
        .call(
            &key,
            Method::PUT,
            &format!("/auth/tokens/{}", token.id),
            json!({"name": " "}),
        )
        .await;
    assert_eq!(answer.errors(), ["name: Name is required"]);

    // The form's limits are the parsers' own.
    app.sign_in(&user).await;
    let html = app.get_html("/integrations/tokens/new/general").await;
    let limits = [
        ("input[name=name]", TokenName::MAX_CHARS),
        ("input[name=external_id]", ExternalId::MAX_CHARS),
        ("textarea[name=description]", Description::MAX_CHARS),
    ];
    for (field, max) in limits {
        assert_eq!(
            attr(&html, field, "maxlength"),
            Some(max.to_string()),
            "{field}"
        );
    }
    assert_eq!(text(&html, "#name-hint"), "Required; up to 128 characters.");
}

async fn names_sort_alike_in_the_list_and_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, key) = admin_key(&app);
    for name in ["beta", "Alpha", "charlie", "Delta"] {
        app.token(&user, name).create();
    }
    let answer = app
        .call(&key, Method::GET, "/auth/tokens?ordering(name)", None)
        .await;
    let from_api: Vec<&str> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        from_api,
        ["Admin automation", "Alpha", "beta", "charlie", "Delta"]
    );
    app.sign_in(&user).await;
    let html = app.get_html("/integrations/tokens?sort=name").await;
    assert_eq!(crate::common::listed_names(&html), from_api);
}

async fn a_secret_that_does_not_decrypt_is_an_internal_error(backend: Backend) {
    use diesel::prelude::*;
    use tokendesk::db::schema::tokens;
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.token(&user, "Damaged").create();
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(token.id.as_str()))
        .set(tokens::secret_ciphertext.eq(vec![1u8; 40]))
        .execute(&mut conn)
        .unwrap();
    let csrf = app.csrf_token().await;
    let response = app
        .client
        .post(app.url(&format!("/integrations/tokens/{}/reveal", token.id)))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        500,
        "not a conflict the user could resolve"
    );
}

crate::on_both_databases!(
    a_token_holds_at_least_one_module,
    a_reports_token_holds_all_modules_whatever_the_path,
    general_fields_get_the_wizards_messages_everywhere,
    names_sort_alike_in_the_list_and_the_api,
    a_secret_that_does_not_decrypt_is_an_internal_error,
);
