//! End-to-end journeys in a real browser, one per part of the user guide. Each saves a full-page
//! screenshot per screen under target/e2e-screenshots/<journey>/ and fails on any script error.

mod browser;

use crate::common::{Backend, PASSWORD, TestApp, TestUser, spawn_app, spawn_app_with_passkeys};
use browser::Browser;
use fantoccini::key::Key;
use reqwest::Method;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

/// The list on screen shows `kept` active and every other token disabled.
async fn only_active_is(browser: &Browser, kept: &str) {
    let names = browser.texts("a.token-name").await;
    let statuses = browser.texts("td .status").await;
    for (name, status) in names.iter().zip(&statuses) {
        let expected = if name == kept { "Active" } else { "Disabled" };
        assert_eq!(status, expected, "{name}");
    }
}

/// The app with Robert Balboa's account, and a browser, unless the browser is missing.
async fn journey(name: &str) -> Option<(TestApp, TestUser, Browser)> {
    let browser = Browser::start(name).await?;
    let app = spawn_app(Backend::Sqlite).await;
    Some(with_robert(app, browser))
}

/// A journey whose app has passkeys on: its pages are opened at `TestApp::public_origin`.
async fn journey_with_passkeys(name: &str) -> Option<(TestApp, TestUser, Browser)> {
    let browser = Browser::start(name).await?;
    let app = spawn_app_with_passkeys(Backend::Sqlite).await;
    Some(with_robert(app, browser))
}

fn with_robert(app: TestApp, browser: Browser) -> (TestApp, TestUser, Browser) {
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    (app, user, browser)
}

async fn sign_in(app: &TestApp, browser: &mut Browser) {
    browser.goto(&app.url("/login")).await;
    browser.fill("#email", "robert@frontstreet.example").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.find("table.tokens-table, .empty-state").await;
    assert_eq!(browser.path().await, "/integrations/tokens");
}

/// The Summary's value for a label.
async fn summary_value(browser: &Browser, label: &str) -> String {
    // After Create the summary may still be loading.
    browser.find("dl.summary").await;
    let labels = browser.texts("dl.summary dt").await;
    let values = browser.texts("dl.summary dd").await;
    let at = labels
        .iter()
        .position(|l| l.eq_ignore_ascii_case(label))
        .unwrap_or_else(|| panic!("no {label} in {labels:?}"));
    values[at].clone()
}

/// The list's Create button: in the page's actions, or in the empty state of a new account.
const CREATE: &str =
    ".page-actions a.button.primary, .empty-state a[href='/integrations/tokens/new']";

/// Goes through the wizard's first two steps.
async fn general_and_extension(
    app: &TestApp,
    browser: &mut Browser,
    name: &str,
    extension: &str,
    shots: bool,
) {
    browser.goto(&app.url("/integrations/tokens")).await;
    browser.click(CREATE).await;
    browser.find("#name").await;
    assert_eq!(browser.path().await, "/integrations/tokens/new/general");
    browser.fill("#name", name).await;
    browser.fill("#external_id", "E2E-1").await;
    browser
        .fill("#description", "Created in a real browser")
        .await;
    if shots {
        browser.screen("general").await;
    }
    browser.click("button.primary").await;
    browser.find("input[name=extension]").await;
    browser
        .click(&format!("input[name=extension][value={extension}]"))
        .await;
    if shots {
        browser.screen("extension").await;
    }
    browser.click("button.primary").await;
    browser.find("fieldset.permissions").await;
}

#[tokio::test]
async fn signing_in_shows_the_tokens_list() {
    let Some((app, user, mut browser)) = journey("signing_in").await else {
        return;
    };
    app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );
    browser.goto(&app.url("/integrations/tokens")).await;
    assert!(
        browser.path().await.starts_with("/login"),
        "anonymous visitors are asked to sign in"
    );
    browser.screen("sign-in").await;
    browser.fill("#email", "robert@frontstreet.example").await;
    browser.fill("#password", "wrong password").await;
    browser.click("form button[type=submit]").await;
    assert_eq!(
        browser.text(".alert-error").await,
        "The e-mail or password is not correct."
    );
    browser.screen("wrong-password").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.find("table.tokens-table").await;
    assert_eq!(
        browser.text(".topbar .account-name").await,
        "Front Street Inc"
    );
    assert_eq!(browser.text("nav.sidebar a.active").await, "Tokens");
    assert_eq!(browser.texts("a.token-name").await, ["Tutorial API Token"]);
    browser.screen("tokens").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_tokens_list_pages_and_filters() {
    let Some((app, user, mut browser)) = journey("tokens_list").await else {
        return;
    };
    for n in 1..=12 {
        let status = if n % 4 == 0 {
            StoredStatus::Inactive
        } else {
            StoredStatus::Active
        };
        let extension = if n % 2 == 0 {
            Extension::Zapier
        } else {
            Extension::Flowgear
        };
        app.add_token(&user, &format!("Token {n:02}"), extension, status);
    }
    sign_in(&app, &mut browser).await;
    assert_eq!(browser.text(".pagination .range").await, "1-10 of 12");
    browser.screen("page-1").await;
    browser.click(".pagination a[rel=next]").await;
    browser.wait_for_path("page=2").await;
    assert_eq!(browser.text(".pagination .range").await, "11-12 of 12");
    browser.screen("page-2").await;

    browser.click("select#status").await;
    browser.click("select#status option[value=inactive]").await;
    browser.click(".filter-actions button").await;
    browser.wait_for_path("status=inactive").await;
    assert_eq!(
        browser.texts("a.token-name").await,
        ["Token 12", "Token 08", "Token 04"]
    );
    assert!(
        browser
            .texts(".status")
            .await
            .iter()
            .all(|s| s == "Disabled")
    );
    browser.screen("filtered-disabled").await;

    browser.fill("#q", "token 0").await;
    browser.click(".filter-actions button").await;
    browser.wait_for_path("q=token+0").await;
    assert_eq!(
        browser.texts("a.token-name").await,
        ["Token 08", "Token 04"]
    );
    browser.screen("searched").await;
    browser.finish().await;
}

#[tokio::test]
async fn creating_a_flowgear_token_through_every_step() {
    let Some((app, _user, mut browser)) = journey("create_flowgear").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    browser.click(CREATE).await;
    browser.find("#name").await;
    assert_eq!(
        browser.text(".wizard-steps li[aria-current=step]").await,
        "1 General"
    );

    // A validation error keeps what was typed and says what is wrong.
    browser.fill("#external_id", "FG-42").await;
    browser.click("button.primary").await;
    assert_eq!(browser.text("#name-error").await, "Name is required");
    assert_eq!(
        browser.text("#description-error").await,
        "Description is required"
    );
    assert_eq!(
        browser.prop("#external_id", "value").await.as_deref(),
        Some("FG-42")
    );
    browser.screen("general-errors").await;

    browser.fill("#name", "Flowgear order sync").await;
    browser
        .fill("#description", "Pushes orders to the ERP")
        .await;
    browser.click("button.primary").await;
    browser.click("input[name=extension][value=flowgear]").await;
    browser.screen("extension").await;

    // Back keeps the values of the step left and of the one returned to.
    browser.click("button[value=back]").await;
    assert_eq!(
        browser.prop("#name", "value").await.as_deref(),
        Some("Flowgear order sync")
    );
    browser.screen("back-to-general").await;
    browser.click("button.primary").await;
    assert_eq!(
        browser
            .prop("input[name=extension][value=flowgear]", "checked")
            .await
            .as_deref(),
        Some("true")
    );
    browser.click("button.primary").await;

    browser.click("input[name=modules][value=MD-0002]").await;
    browser.click("input[name=modules][value=MD-0010]").await;
    browser.screen("permissions").await;
    browser.click("button.primary").await;
    browser.find("dl.summary").await;
    assert_eq!(
        browser.text(".wizard-steps li[aria-current=step]").await,
        "4 Summary"
    );
    assert_eq!(summary_value(&browser, "Name").await, "Flowgear order sync");
    assert_eq!(
        summary_value(&browser, "Permissions").await,
        "Agreements, Products"
    );
    browser.screen("summary").await;
    browser.finish().await;
}

#[tokio::test]
async fn creating_a_reports_token_shows_its_fixed_permissions() {
    let Some((app, _user, mut browser)) = journey("create_reports").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    general_and_extension(&app, &mut browser, "Monthly reports", "reports", true).await;
    assert_eq!(
        browser.prop("#all_modules", "checked").await.as_deref(),
        Some("true")
    );
    assert!(
        browser
            .find("input[name=modules]")
            .await
            .attr("disabled")
            .await
            .unwrap()
            .is_some(),
        "read-only"
    );
    browser.screen("fixed-permissions").await;
    browser.click("button.primary").await;
    assert_eq!(summary_value(&browser, "Permissions").await, "All Modules");
    browser.screen("summary").await;
    browser.finish().await;
}

#[tokio::test]
async fn creating_a_zapier_token_then_going_to_its_details() {
    let Some((app, _user, mut browser)) = journey("create_zapier_details").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    general_and_extension(&app, &mut browser, "Zapier alerts", "zapier", false).await;
    browser.click("#all_modules").await;
    browser.screen("all-modules").await;
    browser.click("button.primary").await;
    browser.find("dl.summary").await;
    browser.click(".wizard-buttons a.primary").await;
    browser.find(".facts").await;
    assert_eq!(browser.text(".facts .token-name").await, "Zapier alerts");
    assert_eq!(
        browser.text("nav.tabs a[aria-current=page]").await,
        "GENERAL"
    );
    browser.screen("details").await;
    browser.finish().await;
}

#[tokio::test]
async fn creating_a_custom_token_then_closing_the_summary() {
    let Some((app, user, mut browser)) = journey("create_custom_close").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    general_and_extension(&app, &mut browser, "Custom integration", "custom", false).await;
    browser.click("button.primary").await;
    assert_eq!(
        browser.text("#modules-error").await,
        "A token must hold at least one module, or All Modules"
    );
    browser.screen("permissions-error").await;
    browser.click("input[name=modules][value=MD-0032]").await;
    browser.click("button.primary").await;
    browser.find("dl.summary").await;
    browser.click(".wizard-buttons a:not(.primary)").await;
    browser.find("table.tokens-table").await;
    assert_eq!(browser.texts("a.token-name").await, ["Custom integration"]);
    assert_eq!(app.token_count(&user), 1);
    browser.screen("list").await;
    browser.finish().await;
}

#[tokio::test]
async fn revealing_the_key_gives_one_the_api_accepts() {
    let Some((app, user, mut browser)) = journey("reveal_key").await else {
        return;
    };
    let (token, made) = app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );
    sign_in(&app, &mut browser).await;
    browser.click("a.token-name").await;
    let masked = browser.text("#api-key").await;
    assert!(masked.contains('•'), "{masked}");
    browser.screen("masked").await;
    browser.click("#reveal-button").await;
    browser.wait_for_text("#api-key", &made.expose()).await;
    let shown = browser.text("#api-key").await;
    let key = ApiKey::parse(&shown).expect("the revealed key has the SPEC format");
    assert_eq!(key.token_id, token.id);
    browser.screen("revealed").await;

    let response = app
        .api(Method::GET, "/auth/context", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the key works against the API");

    browser.click("#reveal-button").await;
    assert!(
        browser.text("#api-key").await.contains('•'),
        "the eye hides it again"
    );
    browser.finish().await;
}

#[tokio::test]
async fn copying_the_key_puts_it_on_the_clipboard() {
    let Some((app, user, mut browser)) = journey("copy_key").await else {
        return;
    };
    let (token, key) = app.add_token(
        &user,
        "Tutorial API Token",
        Extension::Custom,
        StoredStatus::Active,
    );
    sign_in(&app, &mut browser).await;
    browser
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({"origin": app.address, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await;
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", token.id)))
        .await;
    browser.click("#copy-button").await;
    browser.wait_for_text("#copy-status", "Copied").await;
    browser.screen("copied").await;
    let pasted = browser
        .client
        .execute_async("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));", vec![])
        .await
        .unwrap();
    assert_eq!(pasted.as_str(), Some(key.expose().as_str()));
    browser.finish().await;
}

#[tokio::test]
async fn the_permissions_tab_lists_and_filters_modules() {
    let Some((app, user, mut browser)) = journey("permissions_tab").await else {
        return;
    };
    let (token, _) = app
        .token(&user, "Scoped")
        .extension(Extension::Zapier)
        .modules("MD-0002,MD-0023")
        .create();
    sign_in(&app, &mut browser).await;
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", token.id)))
        .await;
    browser.click("nav.tabs a:last-child").await;
    browser.find("table.permissions-table").await;
    let modules = browser.texts("td.module-name").await;
    assert_eq!(modules.len(), 17);
    assert_eq!(modules[0], "All");
    let statuses = browser
        .texts("table.permissions-table td:nth-child(2)")
        .await;
    let enabled: Vec<&str> = modules
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| *s == "Enabled")
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(enabled, ["Agreements", "Helpdesk"]);
    browser.screen("permissions").await;
    // Typing narrows the rows at once.
    browser
        .find("#module-filter")
        .await
        .send_keys("help")
        .await
        .unwrap();
    let visible = browser.eval("return [...document.querySelectorAll('#permissions-table tbody tr')].filter(r => !r.hidden).map(r => r.cells[0].textContent)").await;
    assert_eq!(visible, serde_json::json!(["Helpdesk"]));
    browser.screen("filtered").await;
    browser.finish().await;
}

#[tokio::test]
async fn editing_a_token() {
    let Some((app, user, mut browser)) = journey("edit_token").await else {
        return;
    };
    let (token, _) = app.add_token(&user, "Before", Extension::Custom, StoredStatus::Active);
    sign_in(&app, &mut browser).await;
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", token.id)))
        .await;
    browser.click(".page-actions a.button").await;
    browser.find("#name").await;
    browser.screen("edit-form").await;
    browser.fill("#name", "").await;
    browser.click("button.primary").await;
    assert_eq!(browser.text("#name-error").await, "Name is required");
    browser.screen("edit-error").await;
    browser.fill("#name", "After").await;
    browser.click("#all_modules").await;
    browser.click("input[name=modules][value=MD-0011]").await;
    browser.screen("edited").await;
    browser.click("button.primary").await;
    browser.find(".facts").await;
    assert_eq!(browser.text(".alert-success").await, "Token “After” saved.");
    assert_eq!(
        browser.texts("table.history td:first-child").await,
        ["Permissions changed", "Edited", "Created"]
    );
    browser.screen("details-after-edit").await;
    browser.finish().await;
}

#[tokio::test]
async fn disabling_and_enabling_through_the_menu() {
    let Some((app, user, mut browser)) = journey("disable_enable").await else {
        return;
    };
    app.add_token(&user, "Switchable", Extension::Custom, StoredStatus::Active);
    sign_in(&app, &mut browser).await;
    browser.click("details.menu summary").await;
    browser.screen("menu-open").await;
    browser.click("details.menu button.menu-item").await;
    browser.wait_for_text(".status", "Disabled").await;
    assert_eq!(
        browser.text(".alert-success").await,
        "Token “Switchable” disabled."
    );
    browser.screen("disabled").await;
    browser.click("details.menu summary").await;
    assert_eq!(
        browser.text("details.menu button.menu-item").await,
        "Enable"
    );
    browser.click("details.menu button.menu-item").await;
    browser.wait_for_text(".status", "Active").await;
    assert_eq!(
        browser.text(".alert-success").await,
        "Token “Switchable” enabled."
    );
    browser.screen("enabled").await;
    browser.finish().await;
}

#[tokio::test]
async fn deleting_a_token_after_confirming() {
    let Some((app, user, mut browser)) = journey("delete_token").await else {
        return;
    };
    app.add_token(&user, "Keep me", Extension::Custom, StoredStatus::Active);
    app.add_token(&user, "Delete me", Extension::Custom, StoredStatus::Active);
    sign_in(&app, &mut browser).await;
    // The newest is first: "Delete me".
    browser.click("details.menu summary").await;
    browser.click("details.menu a.danger").await;
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("Delete me"), "{question}");
    browser.client.dismiss_alert().await.unwrap();
    assert_eq!(app.token_count(&user), 2, "dismissed: nothing deleted");
    // The menu is still open.
    browser.click("details.menu a.danger").await;
    browser.client.accept_alert().await.unwrap();
    browser
        .wait_for_text(".alert-success", "Token “Delete me” deleted.")
        .await;
    assert_eq!(browser.texts("a.token-name").await, ["Keep me"]);
    browser.screen("deleted").await;
    browser.finish().await;
}

#[tokio::test]
async fn signing_out() {
    let Some((app, _user, mut browser)) = journey("signing_out").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    browser.click(".topbar form button").await;
    browser.find("#email").await;
    assert_eq!(browser.path().await, "/login?signed_out=1");
    assert_eq!(browser.text("#login-notice").await, "You have signed out.");
    browser.screen("signed-out").await;
    browser.goto(&app.url("/integrations/tokens")).await;
    assert!(
        browser.path().await.starts_with("/login"),
        "the session is gone"
    );
    browser.finish().await;
}

/// Everything with the keyboard alone, the focus order asserted step by step: sign in, create a
/// token through the wizard (Enter in a field submits the step), open its ⋮ menu, move in it and
/// leave it with the keys of a menu, disable the token, reveal and copy its key.
#[tokio::test]
async fn a_keyboard_user_creates_disables_reveals_and_copies() {
    let Some((app, user, mut browser)) = journey("keyboard_only").await else {
        return;
    };
    browser.goto(&app.url("/login")).await;
    browser.find("#email").await;
    browser
        .assert_focus_on("#email")
        .await
        .expect("the email field has the focus");
    browser.type_text("robert@frontstreet.example").await;
    browser.tab_through(&["#password"]).await;
    browser.type_text(PASSWORD).await;
    browser.tab_through(&["form button[type=submit]"]).await;
    browser.press(Key::Enter).await;
    browser.find(".empty-state").await;

    // The list: skip link, header, navigation, then the page's own actions, as they are seen.
    browser
        .tab_through(&[
            "a.skip-link",
            ".topbar a[href='/help']",
            "#notifications-link",
            ".topbar button",
            ".sidebar a[href='/integrations/tokens']",
            ".sidebar a[href='/integrations/tokens/review']",
            ".sidebar a[href='/integrations/tokens/requests']",
            ".sidebar a[href='/integrations/tokens/leaks']",
            ".sidebar a[href='/account/activity']",
            ".sidebar a[href='/account/policy']",
            ".sidebar a[href='/account/users']",
            ".sidebar a[href='/account/notifications']",
            ".sidebar a[href='/account/sessions']",
            ".sidebar a[href='/account/password']",
            ".sidebar a[href='/account/security']",
            ".empty-state a[href='/integrations/tokens/new']",
        ])
        .await;
    browser.press(Key::Enter).await;

    // General: Enter in a field submits the step (here with the description missing).
    browser.find("#name").await;
    browser.tab_to("#name").await;
    browser.type_text("Keyboard token").await;
    browser.tab_through(&["#external_id"]).await;
    browser.press(Key::Enter).await;
    browser.find("#description-error").await;
    assert_eq!(
        browser.prop("#name", "value").await.as_deref(),
        Some("Keyboard token")
    );
    browser.tab_to("#description").await;
    browser.type_text("Made without a mouse").await;
    browser.screen("general-focused").await;
    browser.tab_to("button[formaction$='/cancel']").await;
    browser.tab_through(&["button.primary"]).await;
    browser.press(Key::Enter).await;

    // Extension: the buttons in the order they are seen.
    browser.find("input[name=extension]").await;
    browser.tab_to("input[name=extension]").await;
    browser.press(Key::Space).await;
    browser
        .tab_through(&[
            "button[formaction$='/cancel']",
            "button[value=back]",
            "button[value=next]:not(.default-submit)",
        ])
        .await;
    browser.screen("extension-focused").await;
    browser.press(Key::Enter).await;

    browser.find("fieldset.permissions").await;
    browser.tab_to("input[name=modules][value=MD-0001]").await;
    browser.press(Key::Space).await;
    browser.screen("permissions-focused").await;
    browser.tab_to("button[formaction$='/cancel']").await;
    browser
        .tab_through(&[
            "button[value=back]",
            "button[value=create]:not(.default-submit)",
        ])
        .await;
    browser.press(Key::Enter).await;
    browser.find("dl.summary").await;
    assert_eq!(summary_value(&browser, "Name").await, "Keyboard token");
    assert_eq!(summary_value(&browser, "Permissions").await, "Account");
    assert_eq!(app.token_count(&user), 1);
    browser.screen("summary").await;
    browser.tab_to(".wizard-buttons a:not(.primary)").await;
    browser.tab_through(&[".wizard-buttons a.primary"]).await;
    browser.press(Key::Enter).await;

    // Details: back, Edit, Rotate key, then the ⋮ menu button.
    browser.find("#api-key").await;
    browser.tab_to("a.back").await;
    browser
        .tab_through(&[
            ".page-actions a[href$='/edit']",
            ".page-actions a[href$='/rotate']",
            ".page-actions summary",
        ])
        .await;
    let menu_button = ".page-actions summary[aria-haspopup=menu]";
    assert_eq!(
        browser.prop(menu_button, "ariaExpanded").await.as_deref(),
        Some("false")
    );
    let disable = ".page-actions form[action$='/disable'] button[role=menuitem]";
    let rotate = ".page-actions a.menu-item[href*='/rotate'][role=menuitem]";
    let delete = ".page-actions a.menu-item.danger[role=menuitem]";
    browser.press(Key::Enter).await;
    browser
        .assert_focus_on(disable)
        .await
        .expect("Enter opens on the first item");
    assert_eq!(
        browser.prop(menu_button, "ariaExpanded").await.as_deref(),
        Some("true")
    );
    browser.screen("menu-open").await;
    for (key, lands) in [
        (Key::Down, rotate),
        (Key::Down, delete),
        (Key::Down, disable),
        (Key::Up, delete),
        (Key::Home, disable),
        (Key::End, delete),
    ] {
        browser.press(key).await;
        browser
            .assert_focus_on(lands)
            .await
            .unwrap_or_else(|was| panic!("after {key:?} the focus is on {was}, not {lands}"));
    }
    browser.press(Key::Escape).await;
    browser
        .assert_focus_on(menu_button)
        .await
        .expect("Escape returns to the button");
    assert_eq!(
        browser
            .prop(".page-actions details.menu", "open")
            .await
            .as_deref(),
        Some("false")
    );
    browser.press(Key::Down).await;
    browser
        .assert_focus_on(disable)
        .await
        .expect("ArrowDown opens on the first item");
    browser.press(Key::Enter).await;
    browser
        .wait_for_text(".alert-success", "Token “Keyboard token” disabled.")
        .await;
    assert_eq!(browser.text(".token-summary .status").await, "Disabled");

    // Reveal, then copy: each says what it did, for those who cannot see it.
    browser.tab_to("#reveal-button").await;
    browser.press(Key::Enter).await;
    browser.wait_for_text("#copy-status", "Key shown").await;
    let shown = browser.text("#api-key").await;
    let key = ApiKey::parse(&shown).expect("the key is shown");
    assert_eq!(
        browser
            .prop("#reveal-button", "ariaPressed")
            .await
            .as_deref(),
        Some("true")
    );
    browser
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({"origin": app.address, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await;
    browser.tab_through(&["#copy-button"]).await;
    browser.press(Key::Enter).await;
    browser.wait_for_text("#copy-status", "Copied").await;
    let copied = browser
        .client
        .execute_async("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));", vec![])
        .await
        .unwrap();
    assert_eq!(copied.as_str(), Some(key.expose().as_str()));
    assert_eq!(
        browser.prop("#copy-status", "ariaLive").await.as_deref(),
        Some("polite")
    );
    browser.screen("revealed-and-copied").await;
    browser.finish().await;
}

/// Signs in as anyone, from the sign-in page.
async fn sign_in_as(app: &TestApp, browser: &mut Browser, email: &str, password: &str) {
    browser.goto(&app.url("/login")).await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/integrations/tokens").await;
}

#[tokio::test]
async fn an_admin_adds_a_member_who_manages_only_their_own_tokens() {
    let Some((app, user, mut browser)) = journey("team_member").await else {
        return;
    };
    app.token(&user, "Robert's integration").create();
    sign_in(&app, &mut browser).await;
    browser.click("a[href='/account/users']").await;
    browser.wait_for_path("/account/users").await;
    browser.fill("#name", "Adrian Pennino").await;
    browser.fill("#email", "adrian@frontstreet.example").await;
    browser.click(".add-user button[type=submit]").await;
    browser.find("#new-password").await;
    let password = browser.text("#new-password").await;
    assert_eq!(password.len(), 20);
    browser.screen("member-added").await;
    browser.click(".topbar form button").await;
    browser.find("#email").await;

    sign_in_as(&app, &mut browser, "adrian@frontstreet.example", &password).await;
    browser.screen("member-list").await;
    let menus = browser
        .find_all("table.tokens-table tbody tr details.menu")
        .await;
    assert!(
        menus.is_empty(),
        "no Disable or Delete on the admin's token"
    );
    assert!(
        browser
            .find_all("a[href='/account/users']")
            .await
            .is_empty(),
        "no Users page for a member"
    );
    browser.click("table.tokens-table a.token-name").await;
    browser.find(".facts").await;
    assert!(browser.find_all(".page-actions").await.is_empty());
    assert!(browser.find_all("#reveal-button").await.is_empty());
    browser.screen("admin-token-read-only").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_user_ends_another_of_their_sessions() {
    let Some((app, user, mut browser)) = journey("end_session").await else {
        return;
    };
    // Robert is also signed in on another computer.
    let laptop = app.another_instance();
    laptop.sign_in(&user).await;
    sign_in(&app, &mut browser).await;
    browser.click("a[href='/account/sessions']").await;
    browser.wait_for_path("/account/sessions").await;
    assert_eq!(
        browser
            .find_all("table.sessions-table tbody tr")
            .await
            .len(),
        2
    );
    browser.screen("two-sessions").await;
    browser
        .click("table.sessions-table tbody tr:not(.current-session) button")
        .await;
    browser
        .wait_for_text(
            ".alert-success",
            "The session was ended; that browser is signed out.",
        )
        .await;
    assert_eq!(
        browser
            .find_all("table.sessions-table tbody tr")
            .await
            .len(),
        1
    );
    browser.screen("one-session").await;
    assert_eq!(laptop.get("/integrations/tokens").await.status(), 303);
    browser.finish().await;
}

#[tokio::test]
async fn creating_a_token_that_expires_in_30_days() {
    let Some((app, _user, mut browser)) = journey("expiring_token").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    browser.goto(&app.url("/integrations/tokens/new")).await;
    browser.find("#name").await;
    browser.fill("#name", "Trial integration").await;
    browser.fill("#description", "For a thirty-day trial").await;
    browser
        .client
        .find(fantoccini::Locator::Css("#expires option[value='30']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.screen("general-with-expiry").await;
    browser.click("button.primary").await;
    browser.click("input[name=extension][value=custom]").await;
    browser.click("button.primary").await;
    browser.click("#all_modules").await;
    browser.click("button.primary").await;
    let expected = (app.clock.now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        summary_value(&browser, "Expires")
            .await
            .starts_with(&expected),
        "expires on {expected}"
    );
    browser.screen("summary").await;
    browser.finish().await;
}

#[tokio::test]
async fn rotating_a_key_with_a_day_of_grace_and_using_the_new_one() {
    let Some((app, user, mut browser)) = journey("rotate_key").await else {
        return;
    };
    let (token, old) = app.token(&user, "Warehouse sync").create();
    sign_in(&app, &mut browser).await;
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", token.id)))
        .await;
    browser.click(".page-actions a[href$='/rotate']").await;
    browser.find("input[name=grace][value='24h']").await;
    assert_eq!(
        browser
            .prop("input[name=grace][value='24h']", "checked")
            .await
            .as_deref(),
        Some("true")
    );
    browser.screen("rotate").await;
    browser.click("form button.primary").await;
    browser.find("#api-key").await;
    browser.screen("new-key").await;
    browser
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({"origin": app.address, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await;
    browser.click("#copy-button").await;
    browser.wait_for_text("#copy-status", "Copied").await;
    let copied = browser
        .client
        .execute_async("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));", vec![])
        .await
        .unwrap();
    let new = ApiKey::parse(copied.as_str().unwrap()).expect("a key on the clipboard");
    assert_eq!(new.token_id, token.id);
    assert_eq!(browser.text("#api-key").await, new.expose());
    for (key, what) in [(&new, "the new key"), (&old, "the old key, for a day")] {
        let response = app
            .api(Method::GET, "/auth/context", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{what}");
    }
    browser.finish().await;
}

/// Selects an option of a `<select>` by its value.
async fn choose(browser: &Browser, select: &str, value: &str) {
    browser
        .client
        .find(fantoccini::Locator::Css(&format!(
            "{select} option[value='{value}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_reviews_who_reaches_a_module_and_opens_a_token() {
    let Some((app, user, mut browser)) = journey("review").await else {
        return;
    };
    app.token(&user, "Agreements feed")
        .modules("MD-0002")
        .create();
    app.token(&user, "Helpdesk bot").modules("MD-0023").create();
    app.token(&user, "Everything").create();
    sign_in(&app, &mut browser).await;
    browser.click("a[href='/integrations/tokens/review']").await;
    browser.wait_for_path("/integrations/tokens/review").await;
    browser.find("table.review-table").await;
    browser.screen("matrix").await;
    choose(&browser, "#module", "MD-0002").await;
    browser.click(".filters button[type=submit]").await;
    browser.wait_for_path("module=MD-0002").await;
    let mut names = browser.texts("table.review-table tbody a.token-name").await;
    names.sort();
    assert_eq!(names, ["Agreements feed", "Everything"]);
    browser.screen("reaching-agreements").await;
    browser
        .click("table.review-table tbody tr[data-token] a.token-name")
        .await;
    browser.find(".facts").await;
    assert!(browser.path().await.starts_with("/integrations/tokens/SU-"));
    browser.finish().await;
}

#[tokio::test]
async fn an_admin_follows_a_token_in_the_activity_and_downloads_it() {
    let Some((app, user, mut browser)) = journey("activity").await else {
        return;
    };
    let (token, _) = app.token(&user, "Watched").create();
    app.token(&user, "Other").create();
    sign_in(&app, &mut browser).await;
    // Something happens to the token: it is disabled from its details page.
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", token.id)))
        .await;
    browser.click(".page-actions summary").await;
    browser
        .click(".page-actions form[action$='/disable'] button")
        .await;
    browser
        .wait_for_text(".alert-success", "Token “Watched” disabled.")
        .await;
    browser.click("a[href='/account/activity']").await;
    browser.wait_for_path("/account/activity").await;
    browser.find("table.activity-table").await;
    browser.screen("activity").await;
    browser.fill("#token", token.id.as_str()).await;
    browser.click(".filters button[type=submit]").await;
    browser.wait_for_path("token=SU-").await;
    let kinds = browser
        .texts("table.activity-table tbody td:nth-child(3)")
        .await;
    assert_eq!(kinds, ["Disabled", "Created"]);
    browser.screen("one-token").await;
    let href = browser
        .find("#activity-csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.contains(&format!("token={}", token.id)));
    // The download, as the browser gets it with its session.
    let csv = browser
        .client
        .execute_async(
            "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done, e => done('error: ' + e));",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains(",token.disabled,"));
    browser.finish().await;
}

#[tokio::test]
async fn selecting_three_tokens_and_disabling_them_from_the_confirmation() {
    let Some((app, user, mut browser)) = journey("bulk_disable").await else {
        return;
    };
    app.token(&user, "Stays on").create();
    let (_, busy) = app.token(&user, "Nightly sync").create();
    app.token(&user, "Old import").create();
    app.token(&user, "Zapier hook").create();
    for _ in 0..3 {
        let answer = app.call(&busy, Method::GET, "/auth/context", None).await;
        assert_eq!(answer.status, 200);
    }
    app.flush_usage();
    sign_in(&app, &mut browser).await;
    // Select all on the page, then untick the one that stays on.
    browser.click("#select-all").await;
    browser
        .wait_for_text("#selected-count", "4 tokens selected:")
        .await;
    let boxes = browser.find_all("input.select-token").await;
    let names = browser.texts("a.token-name").await;
    let keep = names.iter().position(|n| n == "Stays on").unwrap();
    boxes[keep].clone().click().await.unwrap();
    browser
        .wait_for_text("#selected-count", "3 tokens selected:")
        .await;
    browser.screen("selected").await;
    browser.click("#bulk-form button[value=disable]").await;
    browser.wait_for_path("/integrations/tokens/bulk").await;
    assert_eq!(browser.text("h1").await, "Disable 3 tokens?");
    let mut listed = browser.texts("li.confirm-token > strong").await;
    listed.sort();
    assert_eq!(listed, ["Nightly sync", "Old import", "Zapier hook"]);
    let warning = browser.text(".in-use").await;
    assert!(
        warning.contains("3 requests in the last 24 hours"),
        "{warning}"
    );
    browser.screen("confirmation").await;
    browser.click("form.form-actions button.danger").await;
    browser
        .wait_for_text(".alert-success", "3 tokens disabled.")
        .await;
    only_active_is(&browser, "Stays on").await;
    browser.screen("disabled").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_details_page_charts_thirty_days_of_use() {
    let Some((app, user, mut browser)) = journey("usage_chart").await else {
        return;
    };
    let (token, key) = app.token(&user, "Charted").modules("MD-0010").create();
    let wrong = ApiKey::new(
        token.id.clone(),
        tokendesk::domain::api_key::TokenSecret::generate(&token.id),
    );
    // A few weeks of use, some of it refused (a module it does not hold), with quiet days
    // between; and a wrong key now and then, counted apart.
    let mut today = 0;
    for (day, accepted, refused) in [
        (0, 12, 0),
        (4, 30, 2),
        (9, 7, 0),
        (15, 22, 5),
        (21, 3, 0),
        (27, 18, 1),
    ] {
        app.clock.advance(chrono::Duration::days(day - today));
        today = day;
        for _ in 0..accepted {
            app.call(&key, Method::GET, "/auth/context", None).await;
        }
        for _ in 0..refused {
            app.call(&key, Method::GET, "/agreements", None).await;
            app.call(&wrong, Method::GET, "/auth/context", None).await;
        }
        app.flush_usage();
    }
    sign_in(&app, &mut browser).await;
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", token.id)))
        .await;
    browser.find("figure.usage-chart svg").await;
    assert_eq!(
        browser.find_all("figure.usage-chart svg g.bar").await.len(),
        30
    );
    assert_eq!(browser.find_all("#usage-table tbody tr").await.len(), 30);
    assert_eq!(browser.text("#usage-30d").await, "100");
    assert_eq!(browser.text("#usage-refused").await, "8");
    assert_eq!(browser.text("#usage-failed").await, "8");
    browser.screen("chart").await;
    browser.finish().await;
}

#[tokio::test]
async fn pasting_a_ticket_with_two_live_keys_and_disabling_them() {
    let Some((app, user, mut browser)) = journey("leaks").await else {
        return;
    };
    let (_, first) = app.token(&user, "Billing export").create();
    let (_, second) = app.token(&user, "Support bot").create();
    app.token(&user, "Untouched").create();
    sign_in(&app, &mut browser).await;
    browser.click("a[href='/integrations/tokens/leaks']").await;
    browser.wait_for_path("/integrations/tokens/leaks").await;
    browser.screen("leaks-form").await;
    let ticket = format!(
        "Hi, our integration fails with {} and also {} - can you check? (ref SU-000-000-001:0000)",
        first.expose(),
        second.expose()
    );
    browser.fill("#text", &ticket).await;
    browser.click(".leaks-form button[type=submit]").await;
    browser
        .wait_for_text("#found-heading", "2 keys found")
        .await;
    assert_eq!(
        browser.texts("tr.leak.live td.verdict").await,
        ["Live: this key works", "Live: this key works"]
    );
    browser.screen("leaks-found").await;
    browser.click("#disable-live").await;
    browser
        .wait_for_path("/integrations/tokens/leaks/disable")
        .await;
    assert_eq!(browser.text("h1").await, "Disable 2 tokens?");
    browser.screen("leaks-confirm").await;
    browser.click("form.form-actions button.danger").await;
    browser
        .wait_for_text(".alert-success", "2 leaked keys disabled.")
        .await;
    only_active_is(&browser, "Untouched").await;
    browser.finish().await;
}

#[tokio::test]
async fn narrowing_a_token_from_the_advice_panel() {
    use diesel::prelude::*;
    use tokendesk::db::schema::tokens;
    let Some((app, user, mut browser)) = journey("narrow_token").await else {
        return;
    };
    let (token, key) = app
        .token(&user, "Nightly sync")
        .modules("MD-0001,MD-0002,MD-0007")
        .create();
    app.token(&user, "Fresh").create();
    // Made a hundred days ago; it has only ever read agreements.
    diesel::update(tokens::table.find(token.id.as_str()))
        .set(tokens::created_at.eq(app.clock.now() - chrono::Duration::days(100)))
        .execute(&mut app.pool.get().unwrap())
        .unwrap();
    for _ in 0..3 {
        let answer = app.call(&key, Method::GET, "/agreements", None).await;
        assert_eq!(answer.status, 200);
    }
    app.flush_usage();
    sign_in(&app, &mut browser).await;

    // The review points at it.
    browser.goto(&app.url("/integrations/tokens/review")).await;
    browser.click("#overgranted").await;
    browser.click(".filters button[type=submit]").await;
    browser.wait_for_path("overgranted=1").await;
    assert_eq!(
        browser.texts("table.review-table a.token-name").await,
        ["Nightly sync"]
    );
    assert_eq!(browser.text("td.unused-grants").await, "2");
    browser.screen("review-overgranted").await;
    browser.click("td.unused-grants a").await;
    browser
        .wait_for_path(&format!("/integrations/tokens/{}/permissions", token.id))
        .await;

    // The tab: its use per module, and the advice.
    assert_eq!(
        browser.texts("#advice ul.unused-modules li").await,
        ["Account", "Integrations"]
    );
    assert_eq!(
        browser.texts("#module-use-table tbody td.requests").await,
        ["0", "3", "0"]
    );
    assert_eq!(
        browser.texts("#module-use-table tbody td.last-used").await[0],
        "Never"
    );
    browser.screen("advice").await;
    browser.click("#narrow-button").await;
    browser.wait_for_path("/permissions/narrow").await;
    assert_eq!(browser.text("h1").await, "Remove unused modules?");
    assert_eq!(
        browser.texts("ul.removed-modules li").await,
        ["Account", "Integrations"]
    );
    browser.screen("confirm").await;
    browser.click("form.form-actions button.primary").await;
    browser
        .wait_for_text(
            ".alert-success",
            "Removed 2 unused modules from “Nightly sync”.",
        )
        .await;
    assert!(browser.find_all("#advice").await.is_empty());
    let modules = browser.texts("td.module-name").await;
    let statuses = browser
        .texts("table.permissions-table td:nth-child(2)")
        .await;
    let enabled: Vec<&str> = modules
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| *s == "Enabled")
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(enabled, ["Agreements"]);
    browser.screen("narrowed").await;
    // The key keeps what it uses and loses the rest at once.
    assert_eq!(
        app.call(&key, Method::GET, "/agreements", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&key, Method::GET, "/accounts", None).await.status,
        403
    );
    browser.finish().await;
}

/// The accessibility check itself: on a page made worse on purpose it reports the violations,
/// so a clean run means something.
#[tokio::test]
async fn the_accessibility_check_reports_what_is_wrong() {
    let Some((app, _user, mut browser)) = journey("axe_self_check").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    let Some(clean) = browser.axe_violations().await else {
        return;
    };
    assert_eq!(clean, serde_json::json!([]));
    // A field without a label, grey on grey, and an image without a text (styled through the
    // CSSOM: the page's CSP refuses style attributes).
    browser
        .eval(
            "const main = document.querySelector('main');
             main.insertAdjacentHTML('beforeend',
               '<input type=text id=unlabelled><p id=faint>Hard to read</p><img src=/static/favicon.svg>');
             const faint = document.getElementById('faint');
             faint.style.color = '#bbb';
             faint.style.background = '#ccc';",
        )
        .await;
    let found = browser.axe_violations().await.unwrap();
    let rules: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    for rule in ["label", "color-contrast", "image-alt"] {
        assert!(rules.contains(&rule), "{rule} not reported: {found:#}");
    }
    browser.finish().await;
}

/// The screens no other journey reaches: confirmations without JavaScript's help, a token in use,
/// the password page with its errors, and the error pages.
#[tokio::test]
async fn confirmations_errors_and_the_password_page_pass_the_checks() {
    let Some((app, user, mut browser)) = journey("other_screens").await else {
        return;
    };
    let (quiet, _) = app.token(&user, "Quiet").create();
    let (busy, key) = app.token(&user, "Busy").create();
    assert_eq!(
        app.call(&key, Method::GET, "/auth/context", None)
            .await
            .status,
        200
    );
    app.flush_usage();
    sign_in(&app, &mut browser).await;

    browser
        .goto(&app.url(&format!("/integrations/tokens/{}/delete", quiet.id)))
        .await;
    assert_eq!(browser.text("h1").await, "Delete token?");
    browser.screen("delete-confirmation").await;

    // Disabling the token in use asks first, saying how it is used.
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}", busy.id)))
        .await;
    browser.click(".page-actions summary").await;
    browser
        .click(".page-actions form[action$='/disable'] button")
        .await;
    browser.wait_for_text("h1", "Disable token?").await;
    assert!(
        browser
            .text(".in-use")
            .await
            .contains("1 request in the last 24 hours")
    );
    browser.screen("disable-in-use").await;

    browser.goto(&app.url("/account/password")).await;
    browser.screen("password").await;
    browser.fill("#current_password", "not my password").await;
    browser.click("form.form button.primary").await;
    browser.find(".field-error").await;
    browser.screen("password-errors").await;

    browser
        .goto(&app.url("/integrations/tokens/SU-000-000-000"))
        .await;
    browser.find("h1").await;
    browser.screen("not-found").await;
    browser.goto(&app.url("/no/such/page")).await;
    browser.find("h1").await;
    browser.screen("no-such-page").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_member_is_refused_the_admin_pages_with_a_page_that_says_why() {
    let Some((app, _admin, mut browser)) = journey("refused").await else {
        return;
    };
    app.add_user_as(
        "Front Street Inc",
        "mia@frontstreet.example",
        "Mia Member",
        tokendesk::domain::user::Role::Member,
    );
    sign_in_as(&app, &mut browser, "mia@frontstreet.example", PASSWORD).await;
    browser.goto(&app.url("/account/users")).await;
    browser.find("h1").await;
    browser.screen("forbidden").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_list_folds_its_filters_on_a_phone_and_shows_actions_once_a_row_is_ticked() {
    let Some((app, user, mut browser)) = journey("list_filters").await else {
        return;
    };
    for name in ["Alpha", "Beta", "Gamma"] {
        app.token(&user, name).create();
    }
    sign_in(&app, &mut browser).await;
    browser.goto(&app.url("/integrations/tokens")).await;
    browser.find(".tokens-table").await;
    assert_eq!(
        browser.prop("#bulk-form", "hidden").await.as_deref(),
        Some("true")
    );
    browser.click(".select-token").await;
    assert_eq!(
        browser.prop("#bulk-form", "hidden").await.as_deref(),
        Some("false")
    );
    assert_eq!(browser.text("#selected-count").await, "1 token selected:");
    browser.screen("list-selected").await;

    browser.on_a_phone(true).await;
    browser.goto(&app.url("/integrations/tokens")).await;
    browser.find(".tokens-table").await;
    assert_eq!(
        browser.prop("#filters-panel", "open").await.as_deref(),
        Some("false")
    );
    browser.goto(&app.url("/integrations/tokens?q=Beta")).await;
    browser.find(".tokens-table").await;
    assert_eq!(
        browser.prop("#filters-panel", "open").await.as_deref(),
        Some("true"),
        "a search in use stays in view"
    );
    browser.on_a_phone(false).await;
    browser.goto(&app.url("/integrations/tokens")).await;
    browser.find(".tokens-table").await;
    assert_eq!(
        browser.prop("#filters-panel", "open").await.as_deref(),
        Some("true")
    );
    let rows = browser
        .eval(
            "const tops = Array.from(document.querySelectorAll('form.filters > *'))
               .map(e => Math.round(e.getBoundingClientRect().bottom));
             return new Set(tops).size;",
        )
        .await;
    assert_eq!(
        rows,
        serde_json::json!(1),
        "the filters and Apply on one row"
    );
    browser.finish().await;
}

/// What the command line's `--external-id` accepts at most, in one unbroken word of 120.
fn unbroken(len: usize) -> String {
    "ExternalReference".chars().cycle().take(len).collect()
}

/// The page's width at `width` px, said for the record and checked: no sideways scrolling.
async fn fits(browser: &Browser, screen: &str, width: u32) {
    let (scroll_width, client_width) = browser.page_width_at(width).await;
    eprintln!("{screen}: scrollWidth {scroll_width} for {client_width} at {width} px");
    assert!(
        scroll_width <= client_width,
        "{screen} is {scroll_width} px wide at {width} px"
    );
}

#[tokio::test]
async fn wide_tables_and_long_values_keep_the_page_still_at_both_widths() {
    let Some((app, user, mut browser)) = journey("wide_pages").await else {
        return;
    };
    let long_name = format!("Nightly export of every subscription {}", unbroken(80));
    let (long, _) = app
        .token(&user, &long_name)
        .external_id(&unbroken(120))
        .modules("MD-0002,MD-0012")
        .create();
    app.token(&user, "Everything").create();
    app.token(&user, "Helpdesk bot").modules("MD-0023").create();
    app.add_user_as(
        "Front Street Inc",
        "a.member.with.a.rather.long.address@frontstreet.example",
        "Mia Member",
        tokendesk::domain::user::Role::Member,
    );
    // A second session of Robert's, so that Sessions lists two.
    app.sign_in(&user).await;
    sign_in(&app, &mut browser).await;

    for (path, screen) in [
        ("/integrations/tokens/review".to_owned(), "review"),
        ("/account/users".to_owned(), "users"),
        ("/account/sessions".to_owned(), "sessions"),
        (format!("/integrations/tokens/{}", long.id), "details"),
        ("/integrations/tokens".to_owned(), "list"),
    ] {
        browser.goto(&app.url(&path)).await;
        browser.find("h1").await;
        browser.screen(screen).await;
        fits(&browser, screen, browser::WIDE).await;
        fits(&browser, screen, browser::NARROW).await;
        // Ids read as one word wherever they are: never broken at their hyphens.
        browser.on_a_phone(true).await;
        let broken = browser
            .eval(
                "return Array.from(document.querySelectorAll('.token-id'))
                   .filter(e => e.getClientRects().length > 1).map(e => e.textContent);",
            )
            .await;
        browser.on_a_phone(false).await;
        assert_eq!(broken, serde_json::json!([]), "{screen}");
    }

    // The review: the matrix scrolls in its region, the token column stays, and what an admin
    // acts on is in sight at 1280 px without scrolling it.
    browser.goto(&app.url("/integrations/tokens/review")).await;
    browser.find("table.review-table").await;
    let layout = browser
        .eval(
            "const region = document.querySelector('.matrix-scroll').getBoundingClientRect();
             const heads = Array.from(document.querySelectorAll('.review-table thead th'));
             const right = name => heads.find(h => h.textContent.trim() === name).getBoundingClientRect().right;
             return {
               sticky: getComputedStyle(document.querySelector('.review-table th.sticky-col')).position,
               inSight: ['Status', 'Last used', 'Expires', 'Unused grants'].every(n => right(n) <= region.right),
               allTint: getComputedStyle(document.querySelector('td.reach-all')).backgroundColor,
             };",
        )
        .await;
    assert_eq!(layout["sticky"], "sticky");
    assert_eq!(layout["inSight"], true, "{layout}");
    // A quiet tint: the selection colour the navigation uses, not a loud bar of its own.
    let selected = browser
        .eval("return getComputedStyle(document.querySelector('nav.sidebar a.active')).backgroundColor;")
        .await;
    assert_eq!(layout["allTint"], selected);
    browser.finish().await;
}

#[tokio::test]
async fn a_date_is_typed_and_read_year_first_everywhere() {
    let Some((app, _user, mut browser)) = journey("dates").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    browser.goto(&app.url("/integrations/tokens/new")).await;
    browser.find("#name").await;
    // While the key never expires, no date is asked for.
    assert!(
        !browser
            .find("#expires_on")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    browser.fill("#name", "Fixed-date export").await;
    browser
        .fill("#description", "Stops on a day of our choosing")
        .await;
    choose(&browser, "#expires", "date").await;
    assert!(
        browser
            .find("#expires_on")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    let day = (app.clock.now() + chrono::Duration::days(40)).date();
    let typed = day.format("%Y-%m-%d").to_string();
    assert_eq!(
        browser.prop("#expires_on", "placeholder").await.as_deref(),
        Some("YYYY-MM-DD")
    );
    browser.fill("#expires_on", &typed).await;
    browser.screen("general-on-a-date").await;
    browser.click("button.primary").await;
    browser.click("input[name=extension][value=custom]").await;
    browser.click("button.primary").await;
    browser.click("#all_modules").await;
    browser.click("button.primary").await;
    assert!(summary_value(&browser, "Expires").await.starts_with(&typed));
    browser.click(".wizard-buttons a.primary").await;
    browser.find("dd.expires").await;
    assert!(browser.text("dd.expires").await.starts_with(&typed));
    // Created and Updated read the same way: year, month, day.
    let today = app.clock.now().format("%Y-%m-%d").to_string();
    assert!(
        browser
            .texts("dl.properties dd")
            .await
            .iter()
            .any(|value| value.starts_with(&today))
    );
    let details = browser.path().await;
    browser.goto(&app.url(&format!("{details}/edit"))).await;
    browser.find("#expires_on").await;
    assert_eq!(
        browser.prop("#expires_on", "value").await.as_deref(),
        Some(typed.as_str()),
        "the field shows the date as the pages write it"
    );
    assert_eq!(
        browser.prop("#expires_on", "type").await.as_deref(),
        Some("text")
    );
    browser.screen("edit-on-a-date").await;
    browser.finish().await;
}

#[tokio::test]
async fn going_back_over_a_refused_form_shows_it_again() {
    let Some((app, user, mut browser)) = journey("back_over_errors").await else {
        return;
    };
    let (token, _) = app.token(&user, "Before").create();
    sign_in(&app, &mut browser).await;

    // The edit page refuses an empty name, then saves a good one.
    browser
        .goto(&app.url(&format!("/integrations/tokens/{}/edit", token.id)))
        .await;
    browser.fill("#name", " ").await;
    browser.click(".wizard-buttons button.primary").await;
    browser.find("#name-error").await;
    browser.fill("#name", "After").await;
    browser.click(".wizard-buttons button.primary").await;
    browser
        .wait_for_text(".alert-success", "Token “After” saved.")
        .await;
    // Back: the refused form again, as it was, without sending it again.
    browser.client.back().await.unwrap();
    browser.find("#name-error").await;
    assert!(browser.path().await.ends_with("/edit"));
    assert_eq!(app.find_token(&user, &token).unwrap().name, "After");

    // The same in the wizard: a step refused, then passed, then Back over it.
    browser.goto(&app.url("/integrations/tokens/new")).await;
    browser.find("#name").await;
    browser.fill("#name", "Wizard").await;
    browser.click("button.primary").await;
    browser.find("#description-error").await;
    browser.fill("#description", "Now complete").await;
    browser.click("button.primary").await;
    browser.find("input[name=extension]").await;
    browser.client.back().await.unwrap();
    browser.find("#description-error").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_signed_in_user_keeps_the_navigation_on_error_pages_and_finds_help() {
    let Some((app, _user, mut browser)) = journey("frame_and_help").await else {
        return;
    };
    sign_in(&app, &mut browser).await;
    browser
        .goto(&app.url("/integrations/tokens/SU-000-000-000"))
        .await;
    assert_eq!(browser.text("main h1").await, "Not found");
    assert_eq!(
        browser.text(".topbar .account-name").await,
        "Front Street Inc"
    );
    assert_eq!(browser.find_all("nav.sidebar a").await.len(), 11);
    assert!(browser.find_all(".breadcrumbs").await.len() == 1);
    browser.screen("not-found-in-frame").await;

    browser.click(".topbar a[href='/help']").await;
    browser.wait_for_path("/help").await;
    assert_eq!(browser.text("main h1").await, "tokendesk user guide");
    // The guide's own contents link to its sections on the page.
    browser.click(".help-doc a[href='#sessions']").await;
    assert!(
        browser
            .find("#sessions")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert_eq!(browser.text(".footer .version").await, tokendesk::VERSION);
    browser.screen("help").await;
    browser.finish().await;
}

#[tokio::test]
async fn presenting_the_demo_story() {
    let Some((app, _user, mut browser)) = journey("demo_story").await else {
        return;
    };
    let mut conn = app.pool.get().unwrap();
    tokendesk::services::demo::seed_demo_data(&mut conn, &app.master_key, app.clock.now())
        .expect("the demo data is made by the rules");
    drop(conn);
    sign_in(&app, &mut browser).await;

    // The list: a token about to expire says so.
    browser
        .goto(&app.url("/integrations/tokens?per_page=25"))
        .await;
    let expiring = browser.texts("td .expiring").await;
    assert_eq!(expiring, ["Expires in 5 days"]);
    browser.screen("list").await;

    // The review: a token nobody used for 90 days, and two holding more than they use.
    browser.goto(&app.url("/integrations/tokens/review")).await;
    assert_eq!(browser.text("#unused-count").await, "1");
    browser.screen("review").await;
    browser
        .goto(&app.url("/integrations/tokens/review?overgranted=1"))
        .await;
    let mut overgranted = browser.texts("table.review-table a.token-name").await;
    overgranted.sort();
    assert_eq!(
        overgranted,
        [
            "Flowgear order sync",
            "Monthly revenue reports",
            "Tutorial API Token"
        ]
    );

    // A token in daily use: its chart, its totals, and a limit.
    browser
        .goto(&app.url("/integrations/tokens?q=Customer+portal"))
        .await;
    browser.click("a.token-name").await;
    browser.find("figure.usage-chart").await;
    assert_ne!(browser.text("#usage-30d").await, "0");
    assert_ne!(browser.text("#usage-refused").await, "0");
    assert_eq!(
        browser.text("dd.rate-limit").await,
        "600 requests per minute"
    );
    browser.screen("details-in-use").await;

    // A key rotated two hours ago: the previous one still works.
    browser
        .goto(&app.url("/integrations/tokens?q=Flowgear+order"))
        .await;
    browser.click("a.token-name").await;
    assert!(
        browser
            .text("dd.previous-key")
            .await
            .starts_with("Previous key works until")
    );

    // The token holding All while using two modules: the advice narrows it.
    browser
        .goto(&app.url("/integrations/tokens?q=Tutorial"))
        .await;
    browser.click("a.token-name").await;
    browser.find(".tabs").await;
    let details = browser.path().await;
    browser
        .goto(&app.url(&format!("{details}/permissions")))
        .await;
    browser.find("#advice").await;
    browser.screen("advice").await;
    browser.click("#narrow-button").await;
    browser.wait_for_path("/permissions/narrow").await;
    browser.click("form.form-actions button.primary").await;
    browser
        .wait_for_text(
            ".alert-success",
            "“Tutorial API Token” now holds only the modules it used instead of All.",
        )
        .await;
    browser.screen("narrowed").await;

    // The team: a member, who made tokens of their own; and a key disabled as leaked.
    browser.goto(&app.url("/account/users")).await;
    assert!(
        browser
            .texts("td.user-name")
            .await
            .iter()
            .any(|name| name == "Adrian Quinn")
    );
    browser
        .goto(&app.url("/account/activity?kind=token.disabled"))
        .await;
    assert!(
        browser
            .texts(".activity-table .detail")
            .await
            .iter()
            .any(|detail| detail.contains("reported as leaked"))
    );
    browser.screen("activity").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_members_all_token_waits_until_an_admin_approves_it() {
    let Some((app, robert, mut browser)) = journey("approval").await else {
        return;
    };
    app.token(&robert, "Robert's integration").create();
    app.add_user_as(
        "Front Street Inc",
        "mia@frontstreet.example",
        "Mia Wallace",
        tokendesk::domain::user::Role::Member,
    );

    // The admin sets the rules.
    sign_in(&app, &mut browser).await;
    browser.click("a[href='/account/policy']").await;
    browser.wait_for_path("/account/policy").await;
    browser.fill("#max_lifetime_days", "90").await;
    browser
        .click("input[name=approval_modules][value=MD-0000]")
        .await;
    browser.screen("policy").await;
    browser.click("#policy-form button[type=submit]").await;
    browser
        .wait_for_text(
            ".alert-success",
            "The policy was saved. It applies from now on.",
        )
        .await;
    browser.click(".topbar form button").await;
    browser.find("#email").await;

    // A member asks for All, saying why.
    sign_in_as(&app, &mut browser, "mia@frontstreet.example", PASSWORD).await;
    browser.click(CREATE).await;
    browser.fill("#name", "Nightly sync").await;
    browser
        .fill("#description", "Reads every module at night")
        .await;
    assert!(
        browser
            .text("#expires-hint")
            .await
            .contains("within 90 days"),
        "the policy is said beside the expiry"
    );
    choose(&browser, "#expires", "30").await;
    browser.click("button.primary").await;
    browser.click("input[name=extension][value=custom]").await;
    browser.click("button.primary").await;
    browser.find("fieldset.permissions").await;
    browser.click("#all_modules").await;
    browser.click("button.primary").await;
    browser.find("#reason-error").await;
    browser.screen("reason-asked").await;
    browser
        .fill("#reason", "The nightly sync reads every module.")
        .await;
    browser.click("button.primary").await;
    browser.find("#pending-notice").await;
    assert_eq!(summary_value(&browser, "Status").await, "Pending");
    browser.screen("pending-summary").await;
    browser.click(".topbar form button").await;
    browser.find("#email").await;

    // The admin sees the request counted in the navigation, and approves it with a note.
    sign_in(&app, &mut browser).await;
    assert_eq!(browser.text("#waiting-count").await, "1");
    browser
        .click("a[href='/integrations/tokens/requests']")
        .await;
    browser.wait_for_path("/integrations/tokens/requests").await;
    assert!(
        browser
            .text("#requests")
            .await
            .contains("The nightly sync reads every module.")
    );
    browser.fill("#note-1", "Fine for the sync.").await;
    browser.screen("requests").await;
    browser.click(".request-actions button.primary").await;
    browser.find("#requests-empty").await;
    assert!(browser.find_all("#waiting-count").await.is_empty());
    browser.click(".topbar form button").await;
    browser.find("#email").await;

    // The member is told, and the token is active.
    sign_in_as(&app, &mut browser, "mia@frontstreet.example", PASSWORD).await;
    assert_eq!(browser.text("#unread-count").await, "1");
    browser.click("#notifications-link").await;
    browser.wait_for_path("/account/notifications").await;
    assert!(
        browser
            .text("#notifications")
            .await
            .contains("Fine for the sync.")
    );
    browser.screen("notifications").await;
    browser.goto(&app.url("/integrations/tokens")).await;
    let names = browser.texts("a.token-name").await;
    let statuses = browser.texts("td .status").await;
    let at = names.iter().position(|n| n == "Nightly sync").unwrap();
    assert_eq!(statuses[at], "Active");
    browser.finish().await;
}

/// The code an authenticator app holding `secret` (base32) shows now, by the server's clock,
/// which is first moved to the middle of a 30-second step so that the code is still good when
/// the form arrives.
fn authenticator_code(app: &TestApp, secret: &str) -> String {
    let seconds = app.clock.now().and_utc().timestamp().rem_euclid(30);
    app.clock
        .advance(chrono::Duration::seconds((45 - seconds) % 30));
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .generate(app.clock.now().and_utc().timestamp() as u64)
}

#[tokio::test]
async fn a_member_under_require_2fa_enrols_and_reaches_the_tokens() {
    let Some((app, robert, mut browser)) = journey("two_factor").await else {
        return;
    };
    let mia = app.mia();
    app.add_token(
        &robert,
        "Shop sync",
        Extension::Custom,
        StoredStatus::Active,
    );
    {
        let mut conn = app.pool.get().unwrap();
        let policy = tokendesk::domain::policy::AccountPolicy {
            require_2fa: true,
            ..Default::default()
        };
        tokendesk::db::accounts::set_policy(&mut conn, &mia.account.id, &policy).unwrap();
    }

    // Signing in leads to the Security page, and nothing else opens until a factor is set up.
    browser.goto(&app.url("/login")).await;
    browser.fill("#email", &mia.email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/account/security").await;
    assert!(browser.text("#enrol-required").await.contains("policy"));
    browser.goto(&app.url("/integrations/tokens")).await;
    browser.wait_for_path("/account/security").await;
    browser.screen("enrol").await;

    // A wrong code first: the page says so beside the field.
    let secret = browser.text("#totp-secret").await;
    let right = authenticator_code(&app, &secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    browser.fill("#code", wrong).await;
    browser.click("#enable-totp-form button[type=submit]").await;
    assert!(browser.text("#code-error").await.contains("not right"));
    browser.screen("wrong-code").await;
    browser
        .fill("#code", &authenticator_code(&app, &secret))
        .await;
    browser.click("#enable-totp-form button[type=submit]").await;
    browser.find("#new-recovery-codes").await;
    assert_eq!(browser.texts("#new-recovery-codes code").await.len(), 10);
    browser.screen("recovery-codes").await;
    browser
        .click("#recovery-codes form button[type=submit]")
        .await;
    browser.find("#recovery-codes-left").await;

    // In: the tokens.
    browser.goto(&app.url("/integrations/tokens")).await;
    browser.find("table.tokens-table").await;
    assert_eq!(browser.path().await, "/integrations/tokens");
    assert_eq!(browser.texts("a.token-name").await, ["Shop sync"]);

    // Next time, the second step asks for a code.
    browser.click(".topbar form button").await;
    browser.find("#email").await;
    app.clock.advance(chrono::Duration::seconds(30));
    browser.fill("#email", &mia.email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/login/2fa").await;
    browser.screen("second-step").await;
    browser
        .fill("#code", &authenticator_code(&app, &secret))
        .await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/integrations/tokens").await;
    browser.goto(&app.url("/account/sessions")).await;
    assert_eq!(
        browser.texts(".session-method").await,
        ["Password and authenticator code"]
    );
    browser.screen("sessions").await;
    browser.finish().await;
}

/// Waits until the script has enabled `css` (a button that needs WebAuthn).
async fn enabled(browser: &Browser, css: &str) {
    let script = format!("var b = document.querySelector({css:?}); return !!b && !b.disabled;");
    for _ in 0..100 {
        if browser.eval(&script).await == true {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} was never enabled");
}

#[tokio::test]
async fn adding_a_passkey_and_signing_in_with_it() {
    let Some((app, _user, mut browser)) = journey_with_passkeys("passkeys").await else {
        return;
    };
    // Passkeys belong to the app's public address, localhost (never an IP address).
    let site = app.public_origin();
    browser.add_virtual_authenticator().await;
    browser.goto(&format!("{site}/login")).await;
    browser.fill("#email", "robert@frontstreet.example").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/integrations/tokens").await;

    // Added with a name on the Security page: without one, the field says so.
    browser.goto(&format!("{site}/account/security")).await;
    browser.find("#passkeys-empty").await;
    enabled(&browser, "#add-passkey button[type=submit]").await;
    browser.screen("no-passkey").await;
    browser.click("#add-passkey button[type=submit]").await;
    browser
        .wait_for_text("#passkey-name-error", "Name is required")
        .await;
    browser.screen("name-required").await;
    browser.fill("#passkey-name", "Work laptop").await;
    browser.click("#add-passkey button[type=submit]").await;
    browser
        .wait_for_text(".passkeys-table td.passkey-name", "Work laptop")
        .await;
    assert!(browser.text(".alert-success").await.starts_with(
        "The passkey “Work laptop” was added: signing in with your password now asks for it too."
    ),);
    let cells = browser.texts(".passkeys-table tbody td").await;
    assert_eq!(cells[2], "Never", "not used yet");
    // The first second factor comes with recovery codes, shown once.
    assert_eq!(browser.texts("#new-recovery-codes code").await.len(), 10);
    browser.screen("passkey-added").await;
    browser
        .click("#recovery-codes form button[type=submit]")
        .await;
    browser.find("#recovery-codes-left").await;

    // It works as a second factor of the signed-in user.
    enabled(&browser, "[data-passkey-check]").await;
    browser.click("[data-passkey-check]").await;
    browser
        .wait_for_text("#passkey-message", "Your passkey works: it was accepted.")
        .await;

    // Signed out, the password then asks for the passkey as the second step.
    browser.click(".topbar form button").await;
    browser.wait_for_path("/login").await;
    browser.fill("#email", "robert@frontstreet.example").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/login/2fa").await;
    enabled(&browser, "#passkey-button").await;
    assert_eq!(
        browser.text("#passkey-button").await.to_lowercase(),
        "use a passkey"
    );
    browser.screen("second-step-passkey").await;
    browser.click("#passkey-button").await;
    browser.wait_for_path("/integrations/tokens").await;
    browser.goto(&format!("{site}/account/sessions")).await;
    assert_eq!(
        browser.texts(".session-method").await,
        ["Password and passkey"]
    );

    // Signed out, the passkey alone signs in.
    browser.click(".topbar form button").await;
    browser.wait_for_path("/login").await;
    browser.find("#passkey-button").await;
    enabled(&browser, "#passkey-button").await;
    browser.screen("sign-in-with-passkey").await;
    browser.click("#passkey-button").await;
    browser.wait_for_path("/integrations/tokens").await;

    // Its last use shows, and it is removed.
    browser.goto(&format!("{site}/account/security")).await;
    let cells = browser.texts(".passkeys-table tbody td").await;
    assert_ne!(cells[2], "Never", "used to sign in");
    browser
        .click(".passkeys-table form[action$='/remove'] button")
        .await;
    browser.find("#passkeys-empty").await;
    assert!(
        browser
            .text(".alert-success")
            .await
            .starts_with("The passkey “Work laptop” was removed. It was your last second factor"),
    );
    browser.screen("passkey-removed").await;

    // Without it, the passkey sign-in is refused with a clear message.
    browser.click(".topbar form button").await;
    browser.wait_for_path("/login").await;
    enabled(&browser, "#passkey-button").await;
    browser.click("#passkey-button").await;
    browser.find("#passkey-message:not([hidden])").await;
    let refused = browser.text("#passkey-message").await;
    assert!(
        refused == "No passkey was used: the request was cancelled or timed out."
            || refused == "The passkey was not accepted.",
        "{refused}"
    );
    browser.screen("passkey-refused").await;
    assert!(
        browser.path().await.starts_with("/login"),
        "still signed out"
    );

    // Adding and removing are one event each (the review test leaves adding to this journey:
    // it needs an authenticator).
    let count = |kind: &'static str| {
        use diesel::prelude::*;
        use tokendesk::db::schema::events;
        let mut conn = app.pool.get().unwrap();
        events::table
            .filter(events::kind.eq(kind))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    };
    assert_eq!(count("user.passkey_added"), 1);
    assert_eq!(count("user.passkey_removed"), 1);
    browser.finish().await;
}
