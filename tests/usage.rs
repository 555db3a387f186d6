//! Usage you can see: every API request counted against its token per UTC day (refusals too),
//! the details page's chart and totals, the usage endpoint, the warnings before stopping a key
//! in use, and acting on a selection of tokens at once. Days pass on the server's clock.

use crate::common::{Backend, TestApp, TestUser, attr, select_all, spawn_app, text};
use chrono::{Duration, NaiveDateTime};
use reqwest::Method;
use scraper::Html;
use serde_json::json;
use tokendesk::db::events;
use tokendesk::domain::api_key::{ApiKey, TokenSecret};
use tokendesk::domain::ids::TokenId;
use tokendesk::domain::token::StoredStatus;
use tokendesk::domain::user::Role;

/// Moves the server's clock to noon (UTC) tomorrow, so that hours can pass in a test without
/// crossing midnight. Sessions age on this clock: sign in after.
fn at_noon(app: &TestApp) -> NaiveDateTime {
    let now = app.clock.now();
    let noon = (now.date() + Duration::days(1))
        .and_hms_opt(12, 0, 0)
        .unwrap();
    app.clock.advance(noon - now);
    app.clock.now()
}

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

async fn calls(app: &TestApp, key: &ApiKey, path: &str, times: usize, expected: u16) {
    for _ in 0..times {
        let answer = app.call(key, Method::GET, path, None).await;
        assert_eq!(answer.status, expected, "GET {path}: {:?}", answer.body);
    }
}

/// The token's usage days as the API answers them, read with `reader`.
async fn usage(app: &TestApp, reader: &ApiKey, id: &TokenId, query: &str) -> serde_json::Value {
    let answer = app
        .call(
            reader,
            Method::GET,
            &format!("/auth/tokens/{id}/usage{query}"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
    answer.body
}

fn signed_up(app: &TestApp) -> TestUser {
    app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    )
}

async fn calls_are_counted_per_day_refusals_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let today = at_noon(&app).date();
    let user = signed_up(&app);
    let (reader, reader_key) = app.token(&user, "Reader").create();
    let (used, key) = app.token(&user, "Used").modules("MD-0010").create();
    let (off, off_key) = app
        .token(&user, "Off")
        .status(StoredStatus::Inactive)
        .create();

    calls(&app, &key, "/auth/context", 7, 200).await;
    // The module this token does not hold: counted, and refused.
    calls(&app, &key, "/agreements", 2, 403).await;
    // A secret that is not the token's (its checksum is valid): anyone who knows the id can
    // send one, so it is counted apart, as a failed authentication, never as a request.
    let wrong = ApiKey::new(used.id.clone(), TokenSecret::generate(&used.id));
    calls(&app, &wrong, "/auth/context", 3, 401).await;
    // A disabled token's key: the same.
    calls(&app, &off_key, "/auth/context", 4, 401).await;
    app.flush_usage();

    let day = today.format("%Y-%m-%d").to_string();
    assert_eq!(
        usage(&app, &reader_key, &used.id, "").await,
        json!([{"date": day, "requests": 9, "refused": 2, "failed_authentications": 3}])
    );
    assert_eq!(
        usage(&app, &reader_key, &off.id, "").await,
        json!([{"date": day, "requests": 0, "refused": 0, "failed_authentications": 4}])
    );
    // Refusals are not uses: the disabled token was never last used.
    app.sign_in(&user).await;
    let html = app
        .get_html(&format!("/integrations/tokens/{}", off.id))
        .await;
    assert!(select_all(&html, "dd").contains(&"Never".to_owned()));
    drop(reader);

    // Two days later, three more; a range picks the days asked for.
    app.clock.advance(Duration::days(2));
    let later = (today + Duration::days(2)).format("%Y-%m-%d").to_string();
    calls(&app, &key, "/auth/context", 3, 200).await;
    app.flush_usage();
    assert_eq!(
        usage(&app, &reader_key, &used.id, "").await,
        json!([
            {"date": day, "requests": 9, "refused": 2, "failed_authentications": 3},
            {"date": later, "requests": 3, "refused": 0, "failed_authentications": 0}
        ])
    );
    assert_eq!(
        usage(
            &app,
            &reader_key,
            &used.id,
            &format!("?from={later}&to={later}")
        )
        .await,
        json!([{"date": later, "requests": 3, "refused": 0, "failed_authentications": 0}])
    );
    assert_eq!(
        usage(&app, &reader_key, &used.id, &format!("?to={day}")).await,
        json!([{"date": day, "requests": 9, "refused": 2, "failed_authentications": 3}])
    );
    assert_eq!(
        usage(
            &app,
            &reader_key,
            &used.id,
            "?from=2001-01-01&to=2001-01-31"
        )
        .await,
        json!([])
    );

    // Bad ranges: 400 with the reason, as JSON.
    for (query, says) in [
        (format!("?from={later}&to={day}"), "after"),
        ("?from=yesterday".to_owned(), "not a date"),
        ("?from=2026-02-30".to_owned(), "not a date"),
        ("?since=2026-01-01".to_owned(), "unknown parameter"),
        (format!("?from={day}&from={day}"), "twice"),
    ] {
        let answer = app
            .call(
                &reader_key,
                Method::GET,
                &format!("/auth/tokens/{}/usage{query}", used.id),
                None,
            )
            .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.body["error_code"], "REQ_001");
        assert!(
            answer.body["errors"][0].as_str().unwrap().contains(says),
            "{query}: {:?}",
            answer.body
        );
    }
    // Another account's token does not exist for this key.
    let other = app.add_user("Elsewhere Ltd", "eve@elsewhere.example", "Eve");
    let (theirs, _) = app.token(&other, "Theirs").create();
    let answer = app
        .call(
            &reader_key,
            Method::GET,
            &format!("/auth/tokens/{}/usage", theirs.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 404);
    // The Integrations module is needed.
    let (_, limited) = app.token(&user, "Limited").modules("MD-0002").create();
    let answer = app
        .call(
            &limited,
            Method::GET,
            &format!("/auth/tokens/{}/usage", used.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 403);
}

async fn the_details_chart_shows_thirty_days_with_zeros(backend: Backend) {
    let app = spawn_app(backend).await;
    let start = at_noon(&app);
    let user = signed_up(&app);
    let (token, key) = app.token(&user, "Charted").modules("MD-0010").create();
    let wrong = ApiKey::new(token.id.clone(), TokenSecret::generate(&token.id));
    // 5 requests 20 days ago, 2 (one refused) 3 days ago, 4 today (the last 24 hours); and 3
    // days ago two failed authentications, shown apart.
    calls(&app, &key, "/auth/context", 5, 200).await;
    app.flush_usage();
    app.clock.advance(Duration::days(17));
    calls(&app, &key, "/auth/context", 1, 200).await;
    calls(&app, &key, "/agreements", 1, 403).await;
    calls(&app, &wrong, "/auth/context", 2, 401).await;
    app.flush_usage();
    app.clock.advance(Duration::days(3));
    calls(&app, &key, "/auth/context", 4, 200).await;
    app.flush_usage();
    let today = (start + Duration::days(20)).date();

    app.sign_in(&user).await;
    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert_eq!(text(&html, "h2#usage-heading"), "Usage — last 30 days");
    assert_eq!(text(&html, "#usage-24h"), "4");
    assert_eq!(text(&html, "#usage-7d"), "6");
    assert_eq!(text(&html, "#usage-30d"), "11");
    assert_eq!(text(&html, "#usage-refused"), "1");
    assert_eq!(text(&html, "#usage-failed"), "2");
    assert!(text(&html, "#usage-failed-note").starts_with("2 requests named this token without"));

    // The table: 30 days, oldest first, zeros included.
    let days = select_all(&html, "#usage-table tbody th time");
    assert_eq!(days.len(), 30);
    let dates: Vec<String> = {
        let selector = scraper::Selector::parse("#usage-table tbody time").unwrap();
        html.select(&selector)
            .map(|t| t.value().attr("datetime").unwrap().to_owned())
            .collect()
    };
    assert_eq!(dates[29], today.format("%Y-%m-%d").to_string());
    assert_eq!(
        dates[0],
        (today - Duration::days(29)).format("%Y-%m-%d").to_string()
    );
    let requests = select_all(&html, "#usage-table tbody td:nth-of-type(1)");
    let refused = select_all(&html, "#usage-table tbody td:nth-of-type(2)");
    assert_eq!(requests.len(), 30);
    assert_eq!(requests[29], "4");
    let failed = select_all(&html, "#usage-table tbody td:nth-of-type(3)");
    assert_eq!(
        (
            requests[26].as_str(),
            refused[26].as_str(),
            failed[26].as_str()
        ),
        ("2", "1", "2")
    );
    assert_eq!(requests[9], "5");
    assert_eq!(requests.iter().filter(|r| *r == "0").count(), 27);

    // The chart: one bar per day, each with its title, drawn on the server.
    let titles = select_all(&html, "figure.usage-chart svg g.bar > title");
    assert_eq!(titles.len(), 30);
    assert_eq!(
        titles[26],
        format!(
            "{}: 2 requests, 1 refused",
            (today - Duration::days(3)).format("%Y-%m-%d")
        )
    );
    assert_eq!(select_all(&html, "figure.usage-chart g.bar.zero").len(), 27);
    assert_eq!(
        attr(&html, "figure.usage-chart svg", "role").as_deref(),
        Some("img")
    );
    assert!(text(&html, "svg desc").starts_with("11 requests in the last 30 days, 1 refused"));
}

/// A token nobody used says so, instead of a blank chart over thirty rows of zeros.
async fn a_token_without_use_says_what_is_empty(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = signed_up(&app);
    let (token, _) = app.token(&user, "Quiet").create();
    app.sign_in(&user).await;
    let html = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert!(text(&html, "#usage-empty").starts_with("No requests in the last 30 days."));
    assert!(select_all(&html, "figure.usage-chart").is_empty());
    assert!(select_all(&html, "#usage-table").is_empty());
}

async fn warnings_before_stopping_a_key_in_use(backend: Backend) {
    let app = spawn_app(backend).await;
    at_noon(&app);
    let user = signed_up(&app);
    let (old, old_key) = app.token(&user, "Old job").create();
    let (recent, recent_key) = app.token(&user, "Nightly sync").create();
    calls(&app, &old_key, "/auth/context", 1, 200).await;
    app.flush_usage();
    app.clock.advance(Duration::days(8) - Duration::hours(1));
    calls(&app, &recent_key, "/auth/context", 3, 200).await;
    app.flush_usage();
    app.clock.advance(Duration::hours(1));
    app.sign_in(&user).await;

    // Used an hour ago: Disable shows what it is doing and changes nothing yet.
    let disable = format!("/integrations/tokens/{}/disable", recent.id);
    let response = app
        .post(&disable, &[("return_to", "/integrations/tokens")])
        .await;
    assert_eq!(response.status(), 200);
    let html = html_of(response).await;
    assert_eq!(text(&html, "h1"), "Disable token?");
    let warning = text(&html, ".in-use");
    assert!(warning.contains("last used 1 hour ago"), "{warning}");
    assert!(warning.contains("from 127.0.0.1"), "{warning}");
    assert!(
        warning.contains("3 requests in the last 24 hours"),
        "{warning}"
    );
    assert_eq!(
        attr(&html, "form.form-actions", "action").as_deref(),
        Some(disable.as_str())
    );
    assert_eq!(app.stored_status(&recent.id), StoredStatus::Active);
    let response = app
        .post(
            &disable,
            &[("return_to", "/integrations/tokens"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.stored_status(&recent.id), StoredStatus::Inactive);

    // Used 8 days ago: disabled at once, and its delete confirmation has no warning.
    let response = app
        .post(&format!("/integrations/tokens/{}/disable", old.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.stored_status(&old.id), StoredStatus::Inactive);
    let html = app
        .get_html(&format!("/integrations/tokens/{}/delete", old.id))
        .await;
    assert_eq!(text(&html, "h1"), "Delete token?");
    assert!(select_all(&html, ".in-use").is_empty());

    // Delete warns the same way, from the menu's page and on a direct POST.
    let html = app
        .get_html(&format!("/integrations/tokens/{}/delete", recent.id))
        .await;
    assert!(text(&html, ".in-use").contains("last used 1 hour ago"));
    let response = app
        .post(&format!("/integrations/tokens/{}/delete", recent.id), &[])
        .await;
    assert_eq!(response.status(), 200, "asks first");
    assert!(text(&html_of(response).await, ".in-use").contains("3 requests"));
    // The list's menu sends Delete of the token in use to that page, not to a script dialog.
    let html = app.get_html("/integrations/tokens").await;
    let menu_deletes = {
        let selector = scraper::Selector::parse("a.menu-item.danger").unwrap();
        html.select(&selector)
            .map(|a| {
                (
                    a.value().attr("href").unwrap().to_owned(),
                    a.value().attr("data-confirm-delete").is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(
        menu_deletes
            .iter()
            .any(|(href, scripted)| href.contains(recent.id.as_str()) && !scripted)
    );
    assert!(
        menu_deletes
            .iter()
            .any(|(href, scripted)| href.contains(old.id.as_str()) && *scripted)
    );
}

async fn bulk_actions_are_all_or_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = signed_up(&app);
    let member = app.add_user_as(
        "Front Street Inc",
        "mia@frontstreet.example",
        "Mia Member",
        Role::Member,
    );
    let (a, _) = app.token(&member, "Alpha").create();
    let (b, b_key) = app.token(&member, "Bravo").create();
    let (c, _) = app.token(&member, "Charlie").create();
    let (admins, _) = app.token(&admin, "Admin's own").create();
    calls(&app, &b_key, "/auth/context", 2, 200).await;
    app.flush_usage();
    app.sign_in(&member).await;

    // The list: a box per token the member may manage, tied to the bulk form.
    let html = app.get_html("/integrations/tokens").await;
    let boxes = select_all(&html, "input.select-token[form=bulk-form]");
    assert_eq!(boxes.len(), 3, "not the admin's token");
    assert_eq!(
        attr(&html, "#bulk-form", "action").as_deref(),
        Some("/integrations/tokens/bulk")
    );
    let html = app.get_html("/integrations/tokens?select=all").await;
    let selector = scraper::Selector::parse("input.select-token[checked]").unwrap();
    assert_eq!(
        html.select(&selector).count(),
        3,
        "select all without JavaScript"
    );

    // Disable three: a confirmation listing each, with Bravo's use; then all three.
    let ids = [a.id.as_str(), b.id.as_str(), c.id.as_str()];
    let mut form: Vec<(&str, &str)> = ids.iter().map(|id| ("ids", *id)).collect();
    form.push(("action", "disable"));
    form.push(("return_to", "/integrations/tokens"));
    let response = app.post("/integrations/tokens/bulk", &form).await;
    assert_eq!(response.status(), 200);
    let html = html_of(response).await;
    assert_eq!(text(&html, "h1"), "Disable 3 tokens?");
    let listed: Vec<String> = select_all(&html, "li.confirm-token > strong");
    assert_eq!(listed, ["Alpha", "Bravo", "Charlie"]);
    assert_eq!(select_all(&html, ".in-use").len(), 1);
    assert!(text(&html, ".in-use").contains("2 requests in the last 24 hours"));
    assert_eq!(
        select_all(&html, "form.form-actions input[name=ids]").len(),
        3
    );
    for id in [&a.id, &b.id, &c.id] {
        assert_eq!(app.stored_status(id), StoredStatus::Active, "nothing yet");
    }
    form.push(("confirm", "yes"));
    let response = app.post("/integrations/tokens/bulk", &form).await;
    assert_eq!(response.status(), 303);
    for id in [&a.id, &b.id, &c.id] {
        assert_eq!(app.stored_status(id), StoredStatus::Inactive);
    }
    let html = app.get_html("/integrations/tokens").await;
    assert!(text(&html, "p.alert-success").contains("3 tokens disabled"));
    let mut conn = app.pool.get().unwrap();
    for id in [&a.id, &b.id, &c.id] {
        let kinds: Vec<&str> = events::recent(&mut conn, id, 10)
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["token.disabled", "token.created"],
            "one event per token"
        );
    }

    // Delete three where one is the admin's: refused, naming it, nothing deleted (asked or
    // confirmed).
    for confirm in [None, Some("yes")] {
        let mut form: Vec<(&str, &str)> = vec![
            ("ids", a.id.as_str()),
            ("ids", admins.id.as_str()),
            ("ids", c.id.as_str()),
            ("action", "delete"),
        ];
        if let Some(yes) = confirm {
            form.push(("confirm", yes));
        }
        let response = app.post("/integrations/tokens/bulk", &form).await;
        assert_eq!(response.status(), 403, "{confirm:?}");
        let html = html_of(response).await;
        let refusals = select_all(&html, "#refusals li");
        assert_eq!(refusals.len(), 1);
        assert!(refusals[0].contains("Admin's own"), "{refusals:?}");
        assert!(refusals[0].contains(admins.id.as_str()));
        assert!(
            select_all(&html, "form.form-actions").is_empty(),
            "nothing to confirm"
        );
    }
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(
        crate::common::listed_names(&html).len(),
        4,
        "nothing deleted"
    );

    // No selection, or no action: said plainly, nothing changed.
    let response = app
        .post("/integrations/tokens/bulk", &[("action", "enable")])
        .await;
    assert_eq!(response.status(), 303);
    let html = app.get_html("/integrations/tokens").await;
    assert!(text(&html, "p.alert-info").contains("Select at least one token"));
    let response = app
        .post(
            "/integrations/tokens/bulk",
            &[("ids", a.id.as_str()), ("action", "explode")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = app
        .post(
            "/integrations/tokens/bulk",
            &[("ids", "SU-not-an-id"), ("action", "enable")],
        )
        .await;
    assert_eq!(response.status(), 400);

    // Enable two back: no warning for enabling, one event each.
    let response = app
        .post(
            "/integrations/tokens/bulk",
            &[
                ("ids", a.id.as_str()),
                ("ids", c.id.as_str()),
                ("action", "enable"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.stored_status(&a.id), StoredStatus::Active);
    assert_eq!(app.stored_status(&b.id), StoredStatus::Inactive);
}

/// A flush writes what was recorded before it, in one batch; what comes while it writes waits
/// for the next (a flush that went on while requests came wrote hundreds of batches a second
/// under load). Nothing is lost between the two.
async fn a_flush_writes_what_came_before_it_and_leaves_the_rest(backend: Backend) {
    use diesel::prelude::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokendesk::db::schema::{token_usage, usage_batches};
    use tokendesk::live::usage::{KeyUse, UsageBuffer};

    let app = spawn_app(backend).await;
    let user = signed_up(&app);
    let (token, _) = app.token(&user, "Busy").create();
    let now = app.clock.now();
    let used = move || KeyUse {
        at: now,
        client_ip: Some("203.0.113.9".into()),
        authenticated: true,
        refused: false,
        module: None,
    };
    let buffer = Arc::new(UsageBuffer::default());
    for _ in 0..10 {
        buffer.record(&token.id, used());
    }
    // Requests keep coming while the flush writes, for a while.
    let writing = Arc::new(AtomicBool::new(true));
    let recorder = {
        let (buffer, writing, id) = (buffer.clone(), writing.clone(), token.id.clone());
        std::thread::spawn(move || {
            let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
            let mut recorded = 0u64;
            while writing.load(Ordering::Relaxed) || std::time::Instant::now() < until {
                buffer.record(&id, used());
                recorded += 1;
                if std::time::Instant::now() >= until {
                    break;
                }
            }
            recorded
        })
    };
    let mut conn = app.pool.get().unwrap();
    let batches = |conn: &mut tokendesk::db::DbConnection| -> i64 {
        usage_batches::table.count().get_result(conn).unwrap()
    };
    let before = batches(&mut conn);
    let first = buffer.flush(&mut conn, now).unwrap();
    assert_eq!(batches(&mut conn) - before, 1, "one batch, however busy");
    assert!(first >= 10, "what came before it: {first}");
    writing.store(false, Ordering::Relaxed);
    let recorded = recorder.join().unwrap();
    let rest = buffer.flush(&mut conn, now).unwrap();
    assert_eq!(first + rest, 10 + recorded, "nothing lost");
    assert_eq!(buffer.pending(), 0);
    let counted: Vec<i64> = token_usage::table
        .filter(token_usage::token_id.eq(token.id.as_str()))
        .select(token_usage::requests)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        counted.iter().sum::<i64>(),
        i64::try_from(10 + recorded).unwrap()
    );
}

crate::on_both_databases!(
    a_token_without_use_says_what_is_empty,
    calls_are_counted_per_day_refusals_too,
    the_details_chart_shows_thirty_days_with_zeros,
    warnings_before_stopping_a_key_in_use,
    bulk_actions_are_all_or_nothing,
    a_flush_writes_what_came_before_it_and_leaves_the_rest,
);
