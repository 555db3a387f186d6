//! The create-token wizard walked as a person would: General → Extension → Permissions → Summary.

use crate::common::{Backend, TestApp, TestUser, attr, location, select_all, spawn_app, text};
use scraper::Html;

const GENERAL: &str = "/integrations/tokens/new/general";
const EXTENSION: &str = "/integrations/tokens/new/extension";
const PERMISSIONS: &str = "/integrations/tokens/new/permissions";
const SUMMARY: &str = "/integrations/tokens/new/summary";

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

/// Fills the General step and expects to be sent on to Extension.
async fn general_step(app: &TestApp, name: &str, external_id: &str, description: &str) {
    let response = app
        .post(
            GENERAL,
            &[
                ("name", name),
                ("external_id", external_id),
                ("description", description),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "General accepted");
    assert_eq!(location(&response), EXTENSION);
}

async fn extension_step(app: &TestApp, extension: &str) {
    let response = app
        .post(EXTENSION, &[("extension", extension), ("action", "next")])
        .await;
    assert_eq!(response.status(), 303, "Extension accepted");
    assert_eq!(location(&response), PERMISSIONS);
}

fn steps(html: &Html) -> (Vec<String>, String) {
    (
        select_all(html, ".wizard-steps li"),
        text(html, ".wizard-steps li[aria-current=step]"),
    )
}

async fn a_token_is_created_for_each_extension(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let cases = [
        (
            "flowgear",
            "Flowgear iPaaS",
            vec![("modules", "MD-0002"), ("modules", "MD-0010")],
            "Agreements, Products",
        ),
        ("reports", "Custom Reports", vec![], "All Modules"),
        (
            "zapier",
            "Zapier Integration",
            vec![("all_modules", "on")],
            "All Modules",
        ),
        (
            "custom",
            "Custom Integration",
            vec![("modules", "MD-0032")],
            "Leads",
        ),
    ];
    for (extension, title, modules, granted) in cases {
        let response = app.get("/integrations/tokens/new").await;
        assert_eq!(
            location(&response),
            GENERAL,
            "a new visit starts at General"
        );
        let html = app.get_html(GENERAL).await;
        assert_eq!(
            steps(&html),
            (
                vec![
                    "1 General".into(),
                    "2 Extension".into(),
                    "3 Permissions".into(),
                    "4 Summary".into()
                ],
                "1 General".into()
            )
        );
        assert_eq!(
            attr(&html, "input[name=name]", "value").as_deref(),
            Some(""),
            "a fresh draft"
        );

        let name = format!("{title} token");
        general_step(&app, &name, "EXT-42", "Made by the wizard test.").await;

        let html = app.get_html(EXTENSION).await;
        assert_eq!(steps(&html).1, "2 Extension");
        let titles = select_all(&html, ".extension-choice strong");
        assert_eq!(
            titles,
            [
                "Flowgear iPaaS",
                "Custom Reports",
                "Zapier Integration",
                "Custom Integration"
            ]
        );
        assert_eq!(
            select_all(&html, ".extension-choice .explanation").len(),
            4,
            "each with its explanation"
        );
        extension_step(&app, extension).await;

        let html = app.get_html(PERMISSIONS).await;
        assert_eq!(steps(&html).1, "3 Permissions");
        let boxes = select_all(&html, "fieldset.permissions label.check");
        assert_eq!(boxes.len(), 17, "All Modules and the 16 modules");
        assert_eq!(boxes[0], "All Modules");
        let read_only = attr(&html, "input[name=modules]", "disabled").is_some();
        assert_eq!(
            read_only,
            extension == "reports",
            "only Reports shows its fixed set read-only"
        );
        assert_eq!(
            select_all(&html, "#permissions-lead").is_empty(),
            extension == "reports",
            "Reports says only that it always reaches all modules"
        );
        if extension == "reports" {
            assert!(attr(&html, "input[name=all_modules]", "checked").is_some());
            assert_eq!(text(&html, "button.primary"), "Create");
        }

        let mut fields = modules.clone();
        fields.push(("action", "create"));
        let response = app.post(PERMISSIONS, &fields).await;
        assert_eq!(response.status(), 303, "{extension}");
        assert_eq!(location(&response), SUMMARY);

        let html = app.get_html(SUMMARY).await;
        assert_eq!(steps(&html).1, "4 Summary");
        let summary: Vec<String> = select_all(&html, "dl.summary dd");
        assert_eq!(summary[0], name);
        assert!(summary[1].starts_with("SU-"));
        assert_eq!(summary[2], "EXT-42");
        assert_eq!(summary[3], "Made by the wizard test.");
        assert!(summary[4].starts_with(title), "{summary:?}");
        assert_eq!(summary[5], granted, "{extension}");
        assert_eq!(summary[6], "Active");
        // The key, this once with Copy, and a line that tries it: it works as shown.
        let key = tokendesk::domain::api_key::ApiKey::parse(&text(&html, "#api-key"))
            .expect("the new key on the Summary");
        assert_eq!(key.token_id.to_string(), summary[1]);
        assert!(attr(&html, "#copy-button", "data-reveal-url").is_some());
        let try_it = text(&html, "#try-it");
        assert_eq!(
            try_it,
            format!(
                "curl -H \"Authorization: ApiKey {}\" {}/public/v1/auth/context",
                key.expose(),
                app.address
            )
        );
        let answer = app
            .call(&key, reqwest::Method::GET, "/auth/context", None)
            .await;
        assert_eq!(answer.status, 200, "the key shown works");
        let again = app.get_html(SUMMARY).await;
        assert_eq!(
            text(&again, "#api-key"),
            key.expose(),
            "a reload shows it again"
        );
        assert_eq!(
            select_all(&html, ".wizard-buttons a"),
            ["Close", "Go to Details"],
            "in the order they are seen"
        );
        assert_eq!(
            attr(&html, ".wizard-buttons a:first-child", "href").as_deref(),
            Some("/integrations/tokens")
        );

        // Go to Details.
        let details = attr(&html, ".wizard-buttons a.primary", "href").unwrap();
        assert_eq!(details, format!("/integrations/tokens/{}", summary[1]));
        let html = app.get_html(&details).await;
        assert_eq!(text(&html, ".facts .token-name"), name);

        assert_eq!(
            select_all(&html, "table.history td:first-child"),
            ["Created"]
        );
    }
    assert_eq!(app.token_count(&user), 4);
}

async fn back_and_forward_keep_every_value(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    general_step(&app, "Round trip", "RT-1", "Goes back and forth.").await;

    let response = app
        .post(EXTENSION, &[("extension", "zapier"), ("action", "back")])
        .await;
    assert_eq!(location(&response), GENERAL, "Back from Extension");
    let html = app.get_html(GENERAL).await;
    assert_eq!(
        attr(&html, "input[name=name]", "value").as_deref(),
        Some("Round trip")
    );
    assert_eq!(
        attr(&html, "input[name=external_id]", "value").as_deref(),
        Some("RT-1")
    );
    assert_eq!(
        text(&html, "textarea[name=description]"),
        "Goes back and forth."
    );

    general_step(&app, "Round trip 2", "RT-1", "Goes back and forth.").await;
    let html = app.get_html(EXTENSION).await;
    assert_eq!(
        attr(&html, "input[name=extension][checked]", "value").as_deref(),
        Some("zapier"),
        "the choice was kept"
    );
    extension_step(&app, "zapier").await;

    let response = app
        .post(
            PERMISSIONS,
            &[
                ("modules", "MD-0023"),
                ("modules", "MD-0004"),
                ("action", "back"),
            ],
        )
        .await;
    assert_eq!(location(&response), EXTENSION, "Back from Permissions");
    let html = app.get_html(EXTENSION).await;
    assert_eq!(
        attr(&html, "input[name=extension][checked]", "value").as_deref(),
        Some("zapier")
    );
    extension_step(&app, "zapier").await;
    let html = app.get_html(PERMISSIONS).await;
    let checked: Vec<_> = Html::parse_document(&html.html())
        .select(&scraper::Selector::parse("input[name=modules][checked]").unwrap())
        .map(|e| e.value().attr("value").unwrap().to_owned())
        .collect();
    assert_eq!(
        checked,
        ["MD-0004", "MD-0023"],
        "the ticked modules were kept"
    );

    let response = app
        .post(
            PERMISSIONS,
            &[
                ("modules", "MD-0023"),
                ("modules", "MD-0004"),
                ("action", "create"),
            ],
        )
        .await;
    assert_eq!(location(&response), SUMMARY);
    let html = app.get_html(SUMMARY).await;
    assert_eq!(
        select_all(&html, "dl.summary dd")[0],
        "Round trip 2",
        "the name as last typed"
    );
    assert_eq!(select_all(&html, "dl.summary dd")[5], "Customers, Helpdesk");
}

/// The three General fields as posted.
type Form<'a> = [(&'a str, &'a str); 3];

async fn every_validation_error_is_shown_beside_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let long_name = "n".repeat(129);
    let long_id = "i".repeat(129);
    let long_description = "d".repeat(256);
    let cases: Vec<(Form, Vec<(&str, &str)>)> = vec![
        (
            [("name", ""), ("external_id", ""), ("description", "")],
            vec![
                ("name", "Name is required"),
                ("description", "Description is required"),
            ],
        ),
        (
            [
                ("name", &long_name),
                ("external_id", &long_id),
                ("description", &long_description),
            ],
            vec![
                ("name", "Name must be at most 128 characters"),
                ("external_id", "External ID must be at most 128 characters"),
                ("description", "Description must be at most 255 characters"),
            ],
        ),
        (
            [
                ("name", "bell\u{7}"),
                ("external_id", "line\nbreak"),
                ("description", "ok"),
            ],
            vec![
                ("name", "Name must not contain control characters"),
                (
                    "external_id",
                    "External ID must not contain control characters",
                ),
            ],
        ),
    ];
    for (fields, expected) in cases {
        let response = app.post(GENERAL, &fields).await;
        assert_eq!(response.status(), 422);
        let html = html_of(response).await;
        for (field, message) in &expected {
            assert_eq!(text(&html, &format!("#{field}-error")), *message);
            assert_eq!(
                attr(&html, &format!("#{field}"), "aria-invalid").as_deref(),
                Some("true")
            );
        }
        assert_eq!(
            select_all(&html, ".field-error").len(),
            expected.len(),
            "no message on a good field"
        );
        assert_eq!(
            attr(&html, "input[name=name]", "value").as_deref(),
            Some(fields[0].1),
            "values kept"
        );
        assert_eq!(
            attr(&html, "input[name=external_id]", "value").as_deref(),
            Some(fields[1].1)
        );
    }
    // However long, what was typed comes back with a message (the session keeps valid values only).
    let huge = "n".repeat(5000);
    let response = app
        .post(
            GENERAL,
            &[
                ("name", &huge),
                ("external_id", &huge),
                ("description", &huge),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = html_of(response).await;
    assert_eq!(
        attr(&html, "input[name=name]", "value").map(|v| v.len()),
        Some(5000)
    );
    assert_eq!(
        text(&html, "#name-error"),
        "Name must be at most 128 characters"
    );
    // An invalid General keeps the later steps shut.
    assert_eq!(location(&app.get(EXTENSION).await), GENERAL);

    general_step(&app, "Valid", "", "Valid description").await;
    for (extension, message) in [
        (None, "Choose an extension"),
        (
            Some("teams"),
            "unknown extension \"teams\"; choose one of custom, flowgear, zapier, reports",
        ),
        (
            Some("EXT-999"),
            "unknown extension \"EXT-999\"; choose one of custom, flowgear, zapier, reports",
        ),
    ] {
        let mut fields = vec![("action", "next")];
        if let Some(extension) = extension {
            fields.push(("extension", extension));
        }
        let response = app.post(EXTENSION, &fields).await;
        assert_eq!(response.status(), 422, "{extension:?}");
        let html = html_of(response).await;
        assert_eq!(text(&html, "#extension-error"), message);
    }
    assert_eq!(
        location(&app.get(PERMISSIONS).await),
        EXTENSION,
        "Permissions stays shut"
    );

    extension_step(&app, "custom").await;
    for (fields, message) in [
        (
            vec![("action", "create")],
            "A token must hold at least one module, or All Modules",
        ),
        (
            vec![
                ("modules", "MD-0001"),
                ("modules", "MD-9999"),
                ("action", "create"),
            ],
            "Unknown module \"MD-9999\"; choose from the list",
        ),
        (
            vec![("modules", "'; DROP TABLE tokens;--"), ("action", "create")],
            "Unknown module \"'; DROP TABLE tokens;--\"; choose from the list",
        ),
    ] {
        let response = app.post(PERMISSIONS, &fields).await;
        assert_eq!(response.status(), 422);
        let html = html_of(response).await;
        assert_eq!(text(&html, "#modules-error"), message);
    }
    assert_eq!(app.token_count(&user), 0, "no token made half-way");
}

async fn steps_refuse_to_open_before_the_earlier_ones_are_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    for path in [EXTENSION, PERMISSIONS] {
        assert_eq!(location(&app.get(path).await), GENERAL, "{path}");
    }
    assert_eq!(
        location(&app.get(SUMMARY).await),
        "/integrations/tokens/new",
        "nothing created yet"
    );

    // A forged Create with no draft behind it creates nothing.
    let response = app
        .post(PERMISSIONS, &[("all_modules", "on"), ("action", "create")])
        .await;
    assert_eq!(location(&response), GENERAL);
    let response = app
        .post(EXTENSION, &[("extension", "custom"), ("action", "next")])
        .await;
    assert_eq!(location(&response), GENERAL);

    general_step(&app, "Ordered", "", "Step by step").await;
    assert_eq!(location(&app.get(PERMISSIONS).await), EXTENSION);
    let response = app
        .post(PERMISSIONS, &[("all_modules", "on"), ("action", "create")])
        .await;
    assert_eq!(location(&response), EXTENSION, "Extension still to do");
    assert_eq!(
        location(&app.get("/integrations/tokens/new").await),
        EXTENSION,
        "resumes where the draft stopped"
    );
    assert_eq!(app.token_count(&user), 0);
}

async fn cancel_discards_the_draft(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    general_step(&app, "Never mind", "", "Will be cancelled").await;
    extension_step(&app, "custom").await;

    let response = app
        .post("/integrations/tokens/new/cancel", &[("modules", "MD-0001")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/integrations/tokens");
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(text(&html, ".alert-info"), "Token creation cancelled.");
    assert_eq!(app.token_count(&user), 0);

    let html = app.get_html(GENERAL).await;
    assert_eq!(
        attr(&html, "input[name=name]", "value").as_deref(),
        Some(""),
        "the draft is gone"
    );
    assert_eq!(location(&app.get(PERMISSIONS).await), GENERAL);
}

async fn draft_for_create(app: &TestApp) {
    general_step(app, "Only once", "", "Created exactly once").await;
    extension_step(app, "custom").await;
}

async fn create_happens_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    draft_for_create(&app).await;
    let csrf = app.csrf_token().await;
    let before_create = app.session_cookie();
    let create = [
        ("all_modules", "on"),
        ("action", "create"),
        ("csrf_token", csrf.as_str()),
    ];

    // A double click: two Creates at once, from the same page.
    let (first, second) = tokio::join!(
        app.post_with_cookie(&before_create, PERMISSIONS, &create),
        app.post_with_cookie(&before_create, PERMISSIONS, &create),
    );
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (303, 303)
    );
    assert_eq!(location(&first), SUMMARY);
    assert_eq!(location(&second), SUMMARY);
    assert_eq!(app.token_count(&user), 1, "one token for two clicks");

    // The browser's own session moves on to the summary; a resubmit (reload) and Back find it.
    let response = app.post_raw(PERMISSIONS, &create).await;
    assert_eq!(location(&response), SUMMARY);
    let html = app.get_html(SUMMARY).await;
    let id = select_all(&html, "dl.summary dd")[1].clone();
    assert_eq!(
        location(&app.get(PERMISSIONS).await),
        SUMMARY,
        "Back to Permissions shows what was made"
    );
    let response = app.post_raw(PERMISSIONS, &create).await;
    assert_eq!(location(&response), SUMMARY);

    // Replaying the old session cookie, with the draft still in it, makes no twin either.
    let replay = app
        .post_with_cookie(&before_create, PERMISSIONS, &create)
        .await;
    assert_eq!(replay.status(), 303);
    assert_eq!(app.token_count(&user), 1);
    let html = app.get_html(SUMMARY).await;
    assert_eq!(select_all(&html, "dl.summary dd")[1], id);

    // A new visit after creating starts a fresh draft.
    assert_eq!(
        location(&app.get("/integrations/tokens/new").await),
        GENERAL
    );
    let html = app.get_html(GENERAL).await;
    assert_eq!(
        attr(&html, "input[name=name]", "value").as_deref(),
        Some("")
    );
    assert_eq!(
        location(&app.get(SUMMARY).await),
        "/integrations/tokens/new"
    );
}

async fn a_tampered_session_creates_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user: TestUser = app.signed_in_user().await;
    draft_for_create(&app).await;
    let csrf = app.csrf_token().await;
    let cookie = app.session_cookie();
    let (name, value) = cookie.split_once('=').unwrap();
    let mut bytes = value.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());

    let response = app
        .post_with_cookie(
            &tampered,
            PERMISSIONS,
            &[
                ("all_modules", "on"),
                ("action", "create"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        403,
        "the session, and its CSRF token, are gone"
    );
    assert_eq!(app.token_count(&user), 0);
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = anonymous
        .get(app.url(PERMISSIONS))
        .header("Cookie", tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login"));
}

async fn the_list_invites_to_create_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let html = app.get_html("/integrations/tokens").await;
    assert!(
        select_all(&html, ".page-actions").is_empty(),
        "one Create, in the empty state"
    );
    assert_eq!(
        attr(&html, ".empty-state a.button", "href").as_deref(),
        Some("/integrations/tokens/new")
    );
    assert_eq!(text(&html, ".empty-state a.button"), "Create token");
}

crate::on_both_databases!(
    a_token_is_created_for_each_extension,
    back_and_forward_keep_every_value,
    every_validation_error_is_shown_beside_its_field,
    steps_refuse_to_open_before_the_earlier_ones_are_valid,
    cancel_discards_the_draft,
    create_happens_exactly_once,
    a_tampered_session_creates_nothing,
    the_list_invites_to_create_a_token,
);
