//! Admins set the rules: the account's token policy (a maximum lifetime every way of setting an
//! expiry obeys, tokens made before it blocked until brought within), approval of what members
//! ask for, and the reminders before a key expires.

use crate::common::{Backend, TestApp, location, select_all, spawn_app, text};
use chrono::Duration;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;
use tokendesk::db::schema::events;
use tokendesk::domain::api_key::ApiKey;

/// Events of `kind` in the database, with their detail.
fn events_of(app: &TestApp, kind: &str) -> Vec<Option<String>> {
    let mut conn = app.pool.get().unwrap();
    events::table
        .filter(events::kind.eq(kind))
        .order(events::id)
        .select(events::detail)
        .load(&mut conn)
        .unwrap()
}

/// `days` from the app's now, as a date (`YYYY-MM-DD`).
fn date_in(app: &TestApp, days: i64) -> String {
    (app.clock.now() + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

async fn context(app: &TestApp, key: &ApiKey) -> (u16, String, String) {
    let answer = app.call(key, Method::GET, "/auth/context", None).await;
    let message = answer.errors().join(" ");
    (answer.status, answer.code().to_owned(), message)
}

async fn an_admin_sets_a_maximum_lifetime_and_every_way_in_obeys_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    // Made before the policy: one that never expires, one within it.
    let (forever, forever_key) = app.token(&robert, "Forever").create();
    let (_, admin_key) = app
        .token(&robert, "Admin automation")
        .expires_at(app.clock.now() + Duration::days(30))
        .create();
    assert_eq!(context(&app, &forever_key).await.0, 200);

    app.sign_in(&robert).await;
    let form = app.get_html("/account/policy").await;
    assert_eq!(text(&form, "h1"), "Token policy");

    // Bad values are said beside their fields, and kept.
    let refused = app
        .post(
            "/account/policy",
            &[("max_lifetime_days", "0"), ("default_rate_limit", "lots")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let page = scraper::Html::parse_document(&refused.text().await.unwrap());
    assert!(text(&page, "#max_lifetime_days-error").contains("1 to 3650"));
    assert!(text(&page, "#default_rate_limit-error").contains("requests per minute"));
    assert_eq!(
        crate::common::attr(&page, "#default_rate_limit", "value").as_deref(),
        Some("lots")
    );
    assert!(events_of(&app, "account.policy_changed").is_empty());

    let saved = app
        .post(
            "/account/policy",
            &[("max_lifetime_days", "90"), ("default_rate_limit", "600")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(location(&saved), "/account/policy");
    let details = events_of(&app, "account.policy_changed");
    assert_eq!(details.len(), 1);
    let detail = details[0].clone().unwrap();
    assert!(
        detail.contains("before: max lifetime: none")
            && detail.contains("after: max lifetime: 90 days")
            && detail.contains("default rate limit: 600/min"),
        "{detail}"
    );
    // A member may not see or set it.
    let as_mia = app.another_instance();
    as_mia.sign_in(&mia).await;
    assert_eq!(as_mia.get("/account/policy").await.status(), 403);
    assert_eq!(
        as_mia
            .post("/account/policy", &[("max_lifetime_days", "")])
            .await
            .status(),
        403
    );

    // The API reads it with a key holding Account.
    let policy = app
        .call(&admin_key, Method::GET, "/account/policy", None)
        .await;
    assert_eq!(policy.status, 200);
    assert_eq!(policy.body["max_lifetime_days"], 90);
    assert_eq!(policy.body["default_rate_limit"], 600);

    // The token made before is blocked, not changed, and says why.
    let (status, code, message) = context(&app, &forever_key).await;
    assert_eq!((status, code.as_str()), (401, "AUTH_009"));
    assert!(message.contains("lifetime over 90 days"), "{message}");
    assert_eq!(context(&app, &admin_key).await.0, 200, "within the policy");
    let list = app.get_html("/integrations/tokens?policy=broken").await;
    assert_eq!(crate::common::listed_names(&list), ["Forever"]);
    assert!(text(&list, ".policy-breach").contains("lifetime over 90 days"));
    let details = app
        .get_html(&format!("/integrations/tokens/{}", forever.id))
        .await;
    assert!(text(&details, "#policy-breach").contains("lifetime over 90 days"));
    let broken = app
        .call(
            &admin_key,
            Method::GET,
            "/auth/tokens?eq(policy,broken)",
            None,
        )
        .await;
    assert_eq!(broken.status, 200);
    let ids: Vec<&str> = broken
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [forever.id.as_str()]);
    assert_eq!(
        broken.body[0]["breaks_policy"].as_str(),
        Some("lifetime over 90 days")
    );
    let csv = app
        .get("/integrations/tokens/review.csv?policy=broken")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("Breaks policy") && csv.contains("lifetime over 90 days"),
        "{csv}"
    );
    let review = app.get_html("/integrations/tokens/review").await;
    assert_eq!(text(&review, "#breaking-count"), "1");

    // Every way of setting an expiry: the wizard…
    let wizard = app
        .post(
            "/integrations/tokens/new/general",
            &[
                ("name", "Too long"),
                ("description", "Long."),
                ("expires", "never"),
            ],
        )
        .await;
    assert_eq!(wizard.status(), 422);
    let page = scraper::Html::parse_document(&wizard.text().await.unwrap());
    assert!(text(&page, "#expires-error").contains("within 90 days"));
    let wizard = app
        .post(
            "/integrations/tokens/new/general",
            &[
                ("name", "Too long"),
                ("description", "Long."),
                ("expires", "date"),
                ("expires_on", &date_in(&app, 91)),
            ],
        )
        .await;
    assert_eq!(wizard.status(), 422);
    let fine = app
        .post(
            "/integrations/tokens/new/general",
            &[
                ("name", "Fine"),
                ("description", "Fine."),
                ("expires", "90"),
            ],
        )
        .await;
    assert_eq!(
        fine.status(),
        303,
        "90 days is within 90 days: {}",
        fine.text().await.unwrap()
    );

    // … the edit page …
    let edit = app
        .post(
            &format!("/integrations/tokens/{}/edit", forever.id),
            &[
                ("name", "Forever"),
                ("description", "x"),
                ("all_modules", "on"),
                ("expires", "date"),
                ("expires_on", &date_in(&app, 200)),
            ],
        )
        .await;
    assert_eq!(edit.status(), 422);
    let page = scraper::Html::parse_document(&edit.text().await.unwrap());
    assert!(
        select_all(&page, ".field-error")
            .join(" ")
            .contains("90 days")
    );

    // … the API's create, rotate and renew …
    let too_far = (app.clock.now() + Duration::days(200))
        .format("%Y-%m-%d")
        .to_string();
    let create = app
        .call(
            &admin_key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Via API", "description": "Made by the API.", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0002"}}],
                   "expiration_date": too_far}),
        )
        .await;
    assert_eq!((create.status, create.code()), (400, "VAL_001"));
    assert!(create.errors().join(" ").contains("expiration_date"));
    let create = app
        .call(
            &admin_key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Via API", "description": "Made by the API.", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0002"}}]}),
        )
        .await;
    assert_eq!(
        (create.status, create.code()),
        (400, "VAL_001"),
        "no expiry"
    );
    let create = app
        .call(
            &admin_key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Via API", "description": "Made by the API.", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0002"}}],
                   "expiration_date": date_in(&app, 60)}),
        )
        .await;
    assert_eq!(create.status, 201, "{:?}", create.body);
    assert_eq!(create.body["rate_limit"], 600, "the policy's default");
    for action in ["rotate", "renew"] {
        let path = format!("/auth/tokens/{}/{action}", forever.id);
        let answer = app
            .call(
                &admin_key,
                Method::POST,
                &path,
                json!({"expiration_date": too_far}),
            )
            .await;
        assert_eq!((answer.status, answer.code()), (400, "VAL_001"), "{action}");
        let answer = app.call(&admin_key, Method::POST, &path, json!({})).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "VAL_001"),
            "{action} keeping an expiry the policy refuses"
        );
    }

    // Renewing within the policy unblocks it.
    let renewed = app
        .call(
            &admin_key,
            Method::POST,
            &format!("/auth/tokens/{}/renew", forever.id),
            json!({"expiration_date": date_in(&app, 30)}),
        )
        .await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    let new_key = ApiKey::parse(renewed.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(context(&app, &new_key).await.0, 200);
    assert!(renewed.body["breaks_policy"].is_null());
    let list = app.get_html("/integrations/tokens?policy=broken").await;
    assert!(crate::common::listed_names(&list).is_empty());
}

async fn the_api_sets_the_policy_with_an_admins_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    let (_, admin_key) = app.token(&robert, "Admin").create();
    let (_, member_key) = app.token(&mia, "Member").create();

    for body in [
        json!({"max_lifetime_days": 0}),
        json!({"max_lifetime_days": 4000}),
        json!({"max_lifetime_days": "ninety"}),
        json!({"approval_modules": ["MD-9999"]}),
        json!({"default_rate_limit": 0}),
        json!({"surprise": true}),
    ] {
        let refused = app
            .call(&admin_key, Method::PUT, "/account/policy", body.clone())
            .await;
        assert_eq!((refused.status, refused.code()), (400, "VAL_001"), "{body}");
    }
    let refused = app
        .call(
            &member_key,
            Method::PUT,
            "/account/policy",
            json!({"max_lifetime_days": 30}),
        )
        .await;
    assert_eq!(
        refused.status, 403,
        "a member's key does not set the policy"
    );
    let set = app
        .call(
            &admin_key,
            Method::PUT,
            "/account/policy",
            json!({"require_allowed_networks": true, "approval_modules": ["MD-0000"]}),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["require_allowed_networks"], true);
    assert_eq!(set.body["approval_modules"], json!(["MD-0000"]));
    assert_eq!(set.body["max_lifetime_days"], serde_json::Value::Null);

    // Every key without allowed networks is blocked now.
    let (status, code, message) = context(&app, &admin_key).await;
    assert_eq!((status, code.as_str()), (401, "AUTH_009"));
    assert!(message.contains("allowed networks"), "{message}");
    assert_eq!(events_of(&app, "account.policy_changed").len(), 1);
}

async fn a_members_token_asking_for_all_waits_for_an_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    let (_, mias_key) = app.token(&mia, "Mia's tooling").create();
    let (_, roberts_key) = app.token(&robert, "Robert's tooling").create();
    let set = app
        .call(
            &roberts_key,
            Method::PUT,
            "/account/policy",
            json!({"approval_modules": ["MD-0000"]}),
        )
        .await;
    assert_eq!(set.status, 200);

    let new_token = |reason: Option<&str>| {
        let mut body = json!({"name": "Mia's All", "description": "Everything.", "extension": {"name": "custom"},
                              "permissions": [{"object": {"id": "MD-0000"}}]});
        if let Some(reason) = reason {
            body["reason"] = json!(reason);
        }
        body
    };
    let refused = app
        .call(&mias_key, Method::POST, "/auth/tokens", new_token(None))
        .await;
    assert_eq!((refused.status, refused.code()), (400, "VAL_001"));
    assert!(
        refused.errors().join(" ").contains("say why"),
        "{:?}",
        refused.body
    );
    let created = app
        .call(
            &mias_key,
            Method::POST,
            "/auth/tokens",
            new_token(Some("The nightly sync reads every module.")),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "pending");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let pending_key = ApiKey::parse(created.body["token"].as_str().unwrap()).unwrap();
    let (status, code, _) = context(&app, &pending_key).await;
    assert_eq!((status, code.as_str()), (401, "AUTH_008"));

    // An admin's own token never waits.
    let roberts = app
        .call(
            &roberts_key,
            Method::POST,
            "/auth/tokens",
            json!({"name": "Robert's All", "description": "Everything.", "extension": {"name": "custom"},
                   "permissions": [{"object": {"id": "MD-0000"}}]}),
        )
        .await;
    assert_eq!(roberts.body["status"], "active");

    // The admin sees the request, with its reason and a count in the navigation.
    app.sign_in(&robert).await;
    let queue = app.get_html("/integrations/tokens/requests").await;
    assert_eq!(text(&queue, "#waiting-count"), "1");
    assert!(text(&queue, "#requests").contains("The nightly sync reads every module."));
    let pending = app.get_html("/integrations/tokens?status=pending").await;
    assert_eq!(crate::common::listed_names(&pending), ["Mia's All"]);
    // A member cannot decide, in the UI or with a key.
    let as_mia = app.another_instance();
    as_mia.sign_in(&mia).await;
    assert_eq!(
        as_mia.get("/integrations/tokens/requests").await.status(),
        403
    );
    let denied = app
        .call(
            &mias_key,
            Method::POST,
            &format!("/auth/tokens/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(denied.status, 403);

    let approved = app
        .post(
            &format!("/integrations/tokens/{id}/approve"),
            &[("note", "Fine for the sync.")],
        )
        .await;
    assert_eq!(approved.status(), 303);
    assert_eq!(
        context(&app, &pending_key).await.0,
        200,
        "approved: it works"
    );
    let again = app
        .post(&format!("/integrations/tokens/{id}/deny"), &[("note", "")])
        .await;
    assert_eq!(again.status(), 422, "decided already");
    assert_eq!(events_of(&app, "token.approval_requested").len(), 1);
    assert_eq!(
        events_of(&app, "token.approved"),
        [Some("Fine for the sync.".to_owned())]
    );

    // The requester is told, in the app.
    let notes = as_mia.get_html("/account/notifications").await;
    assert_eq!(text(&notes, "#unread-count"), "1");
    assert!(text(&notes, "#notifications").contains("approved"));
    assert!(text(&notes, "#notifications").contains("Fine for the sync."));
    let read = as_mia.post("/account/notifications/read", &[]).await;
    assert_eq!(read.status(), 303);
    let notes = as_mia.get_html("/account/notifications").await;
    assert!(select_all(&notes, "#unread-count").is_empty());

    // More permissions for an existing token wait the same way; the old ones stay in force.
    let (agreements_only, narrow_key) = app
        .token(&mia, "Mia's agreements")
        .modules("MD-0002")
        .create();
    let asked = app
        .call(
            &mias_key,
            Method::POST,
            &format!("/auth/tokens/{}/permissions", agreements_only.id),
            json!([{"object": {"id": "MD-0000"}, "reason": "It grows."}]),
        )
        .await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    let agreements = app
        .call(&narrow_key, Method::GET, "/agreements?limit=1", None)
        .await;
    assert_eq!(agreements.status, 200, "the old permissions stay");
    let accounts = app.call(&narrow_key, Method::GET, "/accounts", None).await;
    assert_eq!(accounts.status, 403, "the new ones wait");
    let denied = app
        .call(
            &roberts_key,
            Method::POST,
            &format!("/auth/tokens/{}/deny", agreements_only.id),
            json!({"note": "Ask for Accounts only."}),
        )
        .await;
    assert_eq!(denied.status, 200, "{:?}", denied.body);
    assert_eq!(
        app.call(&narrow_key, Method::GET, "/accounts", None)
            .await
            .status,
        403
    );
    let details = as_mia
        .get_html(&format!("/integrations/tokens/{}", agreements_only.id))
        .await;
    assert!(text(&details, "#approval-note").contains("denied"));
    assert!(text(&details, "#approval-note").contains("Ask for Accounts only."));
}

/// Makes the reminders due at the app's now, as the server does twice a minute.
fn remind(app: &TestApp) -> usize {
    let mut conn = tokendesk::db::pool::checkout(&app.pool).unwrap();
    tokendesk::services::reminders::remind(&mut conn, app.clock.now()).unwrap()
}

async fn owners_and_admins_are_reminded_before_a_key_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    let expiry = app.clock.now() + Duration::days(10);
    let (all, _) = app.token(&mia, "Mia's All").expires_at(expiry).create();
    let (_, _) = app
        .token(&mia, "Mia's agreements")
        .modules("MD-0002")
        .expires_at(expiry - Duration::hours(1))
        .create();

    assert_eq!(remind(&app), 0, "ten days before: nothing yet");
    app.clock.advance(Duration::days(3) + Duration::minutes(1));
    // Mia for both, Robert for the token holding All.
    assert_eq!(remind(&app), 3);
    assert_eq!(remind(&app), 0, "once");
    let as_mia = app.another_instance();
    as_mia.sign_in(&mia).await;
    let notes = as_mia.get_html("/account/notifications").await;
    assert_eq!(text(&notes, "#unread-count"), "2");
    assert!(text(&notes, "#notifications").contains("expires in 7 days"));

    app.clock.advance(Duration::days(6));
    assert_eq!(remind(&app), 3, "a day before");
    app.clock.advance(Duration::days(2));
    assert_eq!(remind(&app), 3, "expired");
    assert_eq!(remind(&app), 0);
    app.sign_in(&robert).await;
    let notes = app.get_html("/account/notifications").await;
    let told = text(&notes, "#notifications");
    assert!(
        told.contains(&format!("“Mia's All” ({})", all.id)),
        "{told}"
    );
    assert!(
        !told.contains("Mia's agreements"),
        "admins hear of All only"
    );
    assert!(told.contains("expired on"));
}

crate::on_both_databases!(
    an_admin_sets_a_maximum_lifetime_and_every_way_in_obeys_it,
    the_api_sets_the_policy_with_an_admins_key,
    a_members_token_asking_for_all_waits_for_an_admin,
    owners_and_admins_are_reminded_before_a_key_expires,
);

/// The command line obeys the policy too, with one plain line naming the option.
async fn the_command_line_obeys_the_policy(backend: Backend) {
    use crate::common::TestDatabase;
    use crate::common::binary::{run_to_end, tokendesk};
    let database = TestDatabase::new(backend);
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut command = tokendesk(&database);
        command.args(args);
        run_to_end(command, std::time::Duration::from_secs(30), stdin)
    };
    let (code, _, stderr) = run(
        &[
            "user",
            "add",
            "--account",
            "Acme Corp",
            "--email",
            "ann@acme.example",
            "--name",
            "Ann",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let create = |days: &str| {
        run(
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                "Nightly",
                "--modules",
                "MD-0002",
                "--expires-in-days",
                days,
            ],
            None,
        )
    };
    let (code, stdout, _) = create("400");
    assert_eq!(code, Some(0), "no policy yet");
    let old_key = ApiKey::parse(stdout.trim()).unwrap();

    let pool = tokendesk::db::connect(&database.url, tokendesk::db::pool::DEFAULT_TIMEOUT).unwrap();
    let mut conn = tokendesk::db::pool::checkout(&pool).unwrap();
    let account = tokendesk::db::accounts::Account::find_by_name(&mut conn, "Acme Corp")
        .unwrap()
        .unwrap();
    let policy = tokendesk::domain::policy::AccountPolicy {
        max_lifetime_days: Some(90),
        ..Default::default()
    };
    tokendesk::db::accounts::set_policy(&mut conn, &account.id, &policy).unwrap();
    drop(conn);

    let (code, stdout, stderr) = create("200");
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "tokendesk: --expires-in-days: The account's policy: a key expires within 90 days"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = create("30");
    assert_eq!(code, Some(0), "{stderr}");

    // The token made before breaks it: a rotation keeping its expiry is refused, one with an
    // expiry within the policy is made.
    let id = old_key.expose().split(':').next().unwrap().to_owned();
    let (code, _, stderr) = run(&["token", "rotate", "--id", &id], None);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("lifetime over 90 days"), "{stderr}");
    let (code, _, stderr) = run(
        &["token", "rotate", "--id", &id, "--expires-in-days", "120"],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("--expires-in-days: The account's policy"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(
        &["token", "rotate", "--id", &id, "--expires-in-days", "60"],
        None,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(ApiKey::parse(stdout.trim()).is_ok());
}

crate::on_both_databases!(the_command_line_obeys_the_policy);
