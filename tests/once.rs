//! A form that acts, sent twice (a reload of its answer, a double click, the browser's
//! resubmission), acts once: every successful POST leads to a GET page, and the second sending
//! lands on it with a line saying it was already done.

use crate::common::{Backend, TestApp, attr, location, spawn_app, text};
use diesel::prelude::*;
use reqwest::Method;
use scraper::Html;
use tokendesk::db::schema::{events, users};
use tokendesk::domain::api_key::ApiKey;

const ALREADY_DONE: &str = "This was already done; nothing was done twice.";

/// How many events of `kind` the database holds.
fn events_of(app: &TestApp, kind: &str) -> i64 {
    let mut conn = app.pool.get().unwrap();
    events::table
        .filter(events::kind.eq(kind))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

/// The one-time id of the form `selector` on the page at `path`.
async fn form_id(app: &TestApp, path: &str, selector: &str) -> String {
    let page = app.get_html(path).await;
    attr(&page, &format!("{selector} input[name=form_id]"), "value")
        .unwrap_or_else(|| panic!("a one-time form id on {path}"))
}

async fn works(app: &TestApp, key: &ApiKey) -> u16 {
    app.api(Method::GET, "/auth/context", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_resubmitted_rotation_rotates_once_and_keeps_the_grace(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, k0) = app.token(&user, "Rotated once").create();
    let rotate = format!("/integrations/tokens/{}/rotate", token.id);
    let id = form_id(&app, &rotate, "form[action$='/rotate']").await;
    let fields = [("grace", "24h"), ("form_id", id.as_str())];

    let first = app.post(&rotate, &fields).await;
    assert_eq!(first.status(), 303);
    let shown = location(&first);
    assert_eq!(shown, format!("/integrations/tokens/{}/rotated", token.id));
    let page = app.get_html(&shown).await;
    let k1 = ApiKey::parse(&text(&page, "#api-key")).expect("the new key, shown once");
    // Reloading the page shows it no more.
    let again = app.get_html(&shown).await;
    assert!(text(&again, "#api-key").is_empty());
    assert!(text(&again, ".shown-once").contains("shown once"));

    // The browser resubmits the form: nothing rotates, and it lands where the first went.
    let second = app.post(&rotate, &fields).await;
    assert_eq!(second.status(), 303);
    assert_eq!(location(&second), shown);
    let page = app.get_html(&shown).await;
    assert!(page.html().contains(ALREADY_DONE), "{}", page.html());
    assert_eq!(events_of(&app, "token.rotated"), 1);
    assert_eq!(works(&app, &k0).await, 200, "the grace chosen holds");
    assert_eq!(works(&app, &k1).await, 200);
}

async fn a_resubmitted_confirmation_acts_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (a, _) = app.token(&user, "First").create();
    let (b, _) = app.token(&user, "Second").create();
    let confirm = app
        .post(
            "/integrations/tokens/bulk",
            &[
                ("action", "delete"),
                ("ids", a.id.as_str()),
                ("ids", b.id.as_str()),
            ],
        )
        .await;
    assert_eq!(confirm.status(), 200);
    let page = Html::parse_document(&confirm.text().await.unwrap());
    let id = attr(&page, "form input[name=form_id]", "value").expect("a one-time form id");
    let fields = [
        ("action", "delete"),
        ("ids", a.id.as_str()),
        ("ids", b.id.as_str()),
        ("confirm", "yes"),
        ("form_id", id.as_str()),
    ];
    let first = app.post("/integrations/tokens/bulk", &fields).await;
    assert_eq!(first.status(), 303);
    let second = app.post("/integrations/tokens/bulk", &fields).await;
    assert_eq!(second.status(), 303, "not a refusal of tokens gone");
    assert_eq!(location(&second), location(&first));
    let list = app.get_html(&location(&second)).await;
    assert!(list.html().contains(ALREADY_DONE));
    assert_eq!(events_of(&app, "token.deleted"), 2);
}

async fn a_resubmitted_new_user_is_added_once_and_the_password_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let id = form_id(&app, "/account/users", "form[action='/account/users']").await;
    let fields = [
        ("name", "Mia Wallace"),
        ("email", "mia@frontstreet.example"),
        ("role", "member"),
        ("form_id", id.as_str()),
    ];
    let first = app.post("/account/users", &fields).await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), "/account/users");
    let page = app.get_html("/account/users").await;
    assert!(
        !text(&page, "#new-password").is_empty(),
        "the password, once"
    );
    let page = app.get_html("/account/users").await;
    assert!(text(&page, "#new-password").is_empty(), "and no more");

    let second = app.post("/account/users", &fields).await;
    assert_eq!(second.status(), 303, "not “this e-mail exists already”");
    let page = app.get_html(&location(&second)).await;
    assert!(page.html().contains(ALREADY_DONE));
    let mut conn = app.pool.get().unwrap();
    let added: i64 = users::table
        .filter(users::email.eq("mia@frontstreet.example"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(added, 1);
    assert_eq!(events_of(&app, "user.added"), 1);
}

async fn a_resubmitted_password_change_changes_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let id = form_id(
        &app,
        "/account/password",
        "form[action='/account/password']",
    )
    .await;
    let fields = [
        ("current_password", crate::common::PASSWORD),
        ("new_password", "a brand new passphrase"),
        ("confirm_password", "a brand new passphrase"),
        ("form_id", id.as_str()),
    ];
    let first = app.post("/account/password", &fields).await;
    assert_eq!(first.status(), 303);
    // The current password has changed since: the form is not checked again, nor refused.
    let second = app.post("/account/password", &fields).await;
    assert_eq!(second.status(), 303);
    let page = app.get_html(&location(&second)).await;
    assert!(page.html().contains(ALREADY_DONE));
    assert_eq!(events_of(&app, "user.password_changed"), 1);
}

async fn a_resubmitted_deletion_deletes_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.token(&user, "Deleted once").create();
    let confirm = format!("/integrations/tokens/{}/delete", token.id);
    let id = form_id(&app, &confirm, "form").await;
    let fields = [("confirm", "yes"), ("form_id", id.as_str())];
    let first = app.post(&confirm, &fields).await;
    assert_eq!(first.status(), 303);
    let second = app.post(&confirm, &fields).await;
    assert_eq!(second.status(), 303, "not “it does not exist”");
    let page = app.get_html(&location(&second)).await;
    assert!(page.html().contains(ALREADY_DONE));
    assert_eq!(events_of(&app, "token.deleted"), 1);
}

crate::on_both_databases!(
    a_resubmitted_rotation_rotates_once_and_keeps_the_grace,
    a_resubmitted_confirmation_acts_once,
    a_resubmitted_new_user_is_added_once_and_the_password_shown_once,
    a_resubmitted_password_change_changes_it_once,
    a_resubmitted_deletion_deletes_once,
);
