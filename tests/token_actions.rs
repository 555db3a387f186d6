//! The ⋮ menu (disable, enable, delete with its confirmation) and the details page it leads to.

use crate::common::{Backend, attr, listed_names, location, select_all, spawn_app, text};
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

async fn disable_and_enable_from_the_menu(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );

    let html = app.get_html("/integrations/tokens?status=active").await;
    let form_action = attr(&html, "details.menu form", "action").unwrap();
    assert_eq!(
        form_action,
        format!("/integrations/tokens/{}/disable", token.id)
    );
    let return_to = attr(&html, "details.menu input[name=return_to]", "value").unwrap();
    assert_eq!(return_to, "/integrations/tokens?status=active");

    let response = app.post(&form_action, &[("return_to", &return_to)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        return_to,
        "back to the same filtered list"
    );
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(
        text(&html, ".alert-success"),
        "Token “Tutorial API Token” disabled."
    );
    assert_eq!(text(&html, ".status"), "Disabled");
    assert_eq!(select_all(&html, "details.menu button"), ["Enable"]);
    let after = app.find_token(&user, &token).unwrap();
    assert_eq!(after.stored_status, StoredStatus::Inactive);
    assert_eq!(after.updated.by.name, "Robert Balboa");
    assert!(after.updated.at >= token.updated.at);

    // The flash is shown once.
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(text(&html, ".flash"), "");

    let response = app
        .post(&format!("/integrations/tokens/{}/enable", token.id), &[])
        .await;
    assert_eq!(location(&response), "/integrations/tokens");
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(text(&html, ".status"), "Active");

    // Enabling an enabled token changes nothing and records nothing.
    app.post(&format!("/integrations/tokens/{}/enable", token.id), &[])
        .await;

    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    let history = select_all(&html, "table.history tbody tr td:first-child");
    assert_eq!(history, ["Enabled", "Disabled", "Created"]);
    let first = select_all(&html, "table.history tbody tr:first-child td");
    assert_eq!(first[1], "Robert Balboa");
    assert_eq!(first[3], "127.0.0.1", "the client address is kept");
}

async fn return_to_never_leaves_the_app(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/login",
        "/integrations/tokens\r\nX: y",
    ] {
        let response = app
            .post(
                &format!("/integrations/tokens/{}/disable", token.id),
                &[("return_to", evil)],
            )
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/integrations/tokens", "{evil:?}");
    }
}

async fn delete_asks_first_then_removes_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (keep, _) = app.add_token(&user, "Keep me", Extension::Zapier, StoredStatus::Active);
    let (token, _) = app.add_token(
        &user,
        "Delete me",
        Extension::Flowgear,
        StoredStatus::Inactive,
    );

    let html = app.get_html("/integrations/tokens?q=Delete").await;
    let confirm_link = attr(&html, "details.menu a[data-confirm-delete]", "href").unwrap();
    assert_eq!(
        confirm_link,
        format!(
            "/integrations/tokens/{}/delete?return_to=/integrations/tokens%3Fq%3DDelete",
            token.id
        )
    );

    // Without JavaScript the link opens a confirmation page; nothing is deleted by looking at it.
    let html = app.get_html(&confirm_link).await;
    assert_eq!(text(&html, "h1"), "Delete token?");
    assert!(text(&html, "main p").contains("Delete me"));
    assert_eq!(
        attr(&html, "a.button", "href").as_deref(),
        Some("/integrations/tokens?q=Delete"),
        "Cancel goes back"
    );
    assert!(app.find_token(&user, &token).is_some());

    let action = attr(&html, "form.form-actions", "action").unwrap();
    let return_to = attr(&html, "form.form-actions input[name=return_to]", "value").unwrap();
    let response = app.post(&action, &[("return_to", &return_to)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/integrations/tokens?q=Delete");

    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(text(&html, ".alert-success"), "Token “Delete me” deleted.");
    assert_eq!(listed_names(&html), ["Keep me"]);
    assert!(app.find_token(&user, &token).is_none());
    assert!(app.find_token(&user, &keep).is_some());
    assert_eq!(
        app.get(&format!("/integrations/tokens/{}", token.id))
            .await
            .status(),
        404
    );

    // A second delete finds nothing to delete.
    let response = app.post(&action, &[]).await;
    assert_eq!(response.status(), 404);

    // Deleting from the details page returns to the list, not to the page that is gone.
    let response = app
        .post(
            &format!("/integrations/tokens/{}/delete", keep.id),
            &[("return_to", &format!("/integrations/tokens/{}", keep.id))],
        )
        .await;
    assert_eq!(location(&response), "/integrations/tokens");
}

async fn the_details_page_shows_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, key) = app
        .token(&user, "Flowgear sync")
        .external_id("FG-1")
        .extension(Extension::Flowgear)
        .create();

    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    let facts = select_all(&html, ".facts dd");
    assert_eq!(
        facts,
        [
            "Active",
            &format!("Flowgear sync {}", token.id),
            "flowgear EXT-001"
        ]
    );
    let properties = select_all(&html, ".properties dt");
    assert_eq!(
        properties,
        [
            "Description",
            "External ID",
            "API Key/Handle",
            "Flowgear iPaaS",
            "Created",
            "Updated",
            "Expires",
            "Rate limit",
            "Allowed networks",
            "Last used"
        ]
    );
    assert_eq!(select_all(&html, "nav.tabs a"), ["General", "Permissions"]);
    assert_eq!(text(&html, "nav.tabs a[aria-current=page]"), "General");
    let masked = text(&html, "#api-key");
    assert!(masked.starts_with(&format!("{}:•", token.id)), "{masked}");
    let body = app
        .get(&format!("/integrations/tokens/{}", token.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains(key.secret.expose()),
        "the secret is not on the page until revealed"
    );
    assert_eq!(select_all(&html, "details.menu button"), ["Disable"]);
}

crate::on_both_databases!(
    disable_and_enable_from_the_menu,
    return_to_never_leaves_the_app,
    delete_asks_first_then_removes_the_token,
    the_details_page_shows_the_token,
);
