//! A token's details: revealing the key, the Permissions tab, editing, and the history.

use crate::common::{Backend, attr, location, select_all, spawn_app, text};
use scraper::Html;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

async fn reveal_returns_the_key_in_the_spec_format(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, key) = app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );
    let reveal = format!("/integrations/tokens/{}/reveal", token.id);

    let csrf = app.csrf_token().await;
    let response = app
        .client
        .post(app.url(&reveal))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    let revealed = body["key"].as_str().unwrap();
    let parsed = ApiKey::parse(revealed).expect("SU-…:<32 hex><CRC-32>");
    assert_eq!(parsed.token_id, token.id);
    assert_eq!(revealed, key.expose(), "the key made at creation");

    // Without JavaScript: the form answers with the page showing the key, never cached.
    let response = app.post(&reveal, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "#api-key"), key.expose());

    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert_eq!(
        select_all(&html, "table.history td:first-child"),
        ["Key revealed", "Key revealed", "Created"]
    );
    assert!(
        text(&html, "#api-key").contains('•'),
        "masked again on the next visit"
    );
}

async fn reveal_is_refused_without_csrf_or_for_another_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let rival = app.add_user("Rival Corp", "mallory@rival.example", "Mallory");
    let (ours, _) = app.add_token(&user, "Ours", Extension::Custom, StoredStatus::Active);
    let (theirs, _) = app.add_token(&rival, "Theirs", Extension::Custom, StoredStatus::Active);

    let response = app
        .client
        .post(app.url(&format!("/integrations/tokens/{}/reveal", ours.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "no CSRF header");
    let response = app
        .client
        .post(app.url(&format!("/integrations/tokens/{}/reveal", ours.id)))
        .header("X-CSRF-Token", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a wrong CSRF header");

    let csrf = app.csrf_token().await;
    let response = app
        .client
        .post(app.url(&format!("/integrations/tokens/{}/reveal", theirs.id)))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "another account's token");

    let html = app
        .get_html(&format!("/integrations/tokens/{}", ours.id))
        .await;
    assert_eq!(
        select_all(&html, "table.history td:first-child"),
        ["Created"],
        "no reveal was recorded"
    );

    app.post("/logout", &[]).await;
    let response = app
        .post_raw(&format!("/integrations/tokens/{}/reveal", ours.id), &[])
        .await;
    assert_eq!(
        response.status(),
        403,
        "signed out: no session, no CSRF token"
    );
}

async fn the_permissions_tab_lists_every_module(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.add_token(&user, "Scoped", Extension::Zapier, StoredStatus::Active);
    app.post(
        &format!("/integrations/tokens/{}/edit", token.id),
        &[
            ("name", "Scoped"),
            ("description", "A token made by a test."),
            ("modules", "MD-0002"),
            ("modules", "MD-0013"),
        ],
    )
    .await;

    let html = app
        .get_html(&format!("/integrations/tokens/{}/permissions", token.id))
        .await;
    assert_eq!(text(&html, "nav.tabs a[aria-current=page]"), "Permissions");
    assert_eq!(
        select_all(&html, "table.permissions-table th"),
        ["Module", "Status"]
    );
    let modules = select_all(&html, "table.permissions-table td.module-name");
    assert_eq!(modules.len(), 17);
    assert_eq!(modules[0], "All");
    let rows: Vec<(String, String)> = modules
        .into_iter()
        .zip(select_all(&html, "table.permissions-table td:nth-child(2)"))
        .collect();
    let enabled: Vec<&str> = rows
        .iter()
        .filter(|(_, s)| s == "Enabled")
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(enabled, ["Agreements", "Usage"]);
    assert!(rows.iter().all(|(_, s)| s == "Enabled" || s == "Disabled"));

    let html = app
        .get_html(&format!(
            "/integrations/tokens/{}/permissions?q=agree",
            token.id
        ))
        .await;
    assert_eq!(select_all(&html, "td.module-name"), ["Agreements"]);
    assert_eq!(
        attr(&html, "#module-filter", "value").as_deref(),
        Some("agree")
    );

    let (all, _) = app.add_token(
        &user,
        "Everything",
        Extension::Reports,
        StoredStatus::Active,
    );
    let html = app
        .get_html(&format!("/integrations/tokens/{}/permissions", all.id))
        .await;
    assert!(
        select_all(&html, "table.permissions-table td:nth-child(2)")
            .iter()
            .all(|s| s == "Enabled")
    );
}

async fn edit_changes_properties_and_permissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app
        .token(&user, "Before")
        .external_id("OLD-1")
        .extension(Extension::Flowgear)
        .create();
    let edit = format!("/integrations/tokens/{}/edit", token.id);

    let html = app.get_html(&edit).await;
    assert_eq!(
        attr(&html, "input[name=name]", "value").as_deref(),
        Some("Before")
    );
    assert_eq!(
        attr(&html, "input[name=external_id]", "value").as_deref(),
        Some("OLD-1")
    );
    assert_eq!(
        text(&html, "textarea[name=description]"),
        "A token made by a test."
    );
    assert!(attr(&html, "input[name=all_modules]", "checked").is_some());

    // Invalid input: messages per field, values kept, nothing changed.
    let response = app
        .post(
            &edit,
            &[
                ("name", ""),
                ("external_id", "OLD-1"),
                ("description", &"d".repeat(300)),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "#name-error"), "Name is required");
    assert_eq!(
        text(&html, "#description-error"),
        "Description must be at most 255 characters"
    );
    assert_eq!(
        text(&html, "#modules-error"),
        "A token must hold at least one module, or All Modules"
    );
    assert_eq!(text(&html, "textarea[name=description]"), "d".repeat(300));
    assert_eq!(app.find_token(&user, &token).unwrap().name, "Before");

    let response = app
        .post(
            &edit,
            &[
                ("name", "After"),
                ("external_id", ""),
                ("description", "Edited description"),
                ("modules", "MD-0010"),
                ("modules", "MD-0005"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/integrations/tokens/{}", token.id)
    );

    let after = app.find_token(&user, &token).unwrap();
    assert_eq!(
        (
            after.name.as_str(),
            after.external_id.as_str(),
            after.description.as_str()
        ),
        ("After", "", "Edited description")
    );
    assert!(after.updated.at > token.updated.at, "updated time moved");

    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert_eq!(text(&html, ".alert-success"), "Token “After” saved.");
    assert_eq!(text(&html, ".facts .token-name"), "After");
    assert_eq!(
        select_all(&html, "table.history td:first-child"),
        ["Permissions changed", "Edited", "Created"]
    );
    let html = app
        .get_html(&format!("/integrations/tokens/{}/permissions", token.id))
        .await;
    let statuses = select_all(&html, "table.permissions-table td:nth-child(2)");
    let names = select_all(&html, "td.module-name");
    let enabled: Vec<_> = names
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| *s == "Enabled")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(enabled, ["Listings", "Products"]);

    // Saving without a change records nothing and leaves "updated" alone.
    app.post(
        &edit,
        &[
            ("name", "After"),
            ("description", "Edited description"),
            ("modules", "MD-0010"),
            ("modules", "MD-0005"),
        ],
    )
    .await;
    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert_eq!(select_all(&html, "table.history td:first-child").len(), 3);
    assert_eq!(
        app.find_token(&user, &token).unwrap().updated,
        after.updated
    );
}

async fn a_reports_token_keeps_all_modules(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.add_token(&user, "Reports", Extension::Reports, StoredStatus::Active);
    let edit = format!("/integrations/tokens/{}/edit", token.id);
    let html = app.get_html(&edit).await;
    assert!(
        attr(&html, "input[name=modules]", "disabled").is_some(),
        "shown read-only"
    );
    let response = app
        .post(
            &edit,
            &[
                ("name", "Reports 2"),
                ("description", "Still all"),
                ("modules", "MD-0001"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let html = app
        .get_html(&format!("/integrations/tokens/{}/permissions", token.id))
        .await;
    assert!(
        select_all(&html, "table.permissions-table td:nth-child(2)")
            .iter()
            .all(|s| s == "Enabled")
    );
}

async fn another_accounts_token_cannot_be_edited(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let rival = app.add_user("Rival Corp", "mallory@rival.example", "Mallory");
    let (theirs, _) = app.add_token(&rival, "Theirs", Extension::Custom, StoredStatus::Active);
    let edit = format!("/integrations/tokens/{}/edit", theirs.id);
    assert_eq!(app.get(&edit).await.status(), 404);
    assert_eq!(
        app.get(&format!("/integrations/tokens/{}/permissions", theirs.id))
            .await
            .status(),
        404
    );
    let response = app
        .post(
            &edit,
            &[
                ("name", "Mine now"),
                ("description", "x"),
                ("all_modules", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(app.find_token(&rival, &theirs).unwrap().name, "Theirs");
}

crate::on_both_databases!(
    reveal_returns_the_key_in_the_spec_format,
    reveal_is_refused_without_csrf_or_for_another_account,
    the_permissions_tab_lists_every_module,
    edit_changes_properties_and_permissions,
    a_reports_token_keeps_all_modules,
    another_accounts_token_cannot_be_edited,
);
