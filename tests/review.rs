//! Admins reviewing permissions: the matrix of who reaches what, its CSV, and the activity log
//! that records every change, once.

use crate::common::{Backend, PASSWORD, TestApp, TestUser, attr, select_all, spawn_app, text};
use chrono::Duration;
use diesel::prelude::*;
use reqwest::Method;
use scraper::{Html, Selector};
use serde_json::json;
use std::collections::BTreeMap;
use tokendesk::db::events;
use tokendesk::db::schema::{token_permissions, token_writes, tokens};
use tokendesk::domain::activity::ActivityQuery;
use tokendesk::domain::module::MODULES;
use tokendesk::domain::token::StoredStatus;
use tokendesk::domain::user::Role;

/// Each row of the matrix: the token's name and, per module column, `all`, `yes` or `no`.
fn matrix(html: &Html) -> BTreeMap<String, Vec<&'static str>> {
    let rows = Selector::parse("table.review-table tbody tr").unwrap();
    let name = Selector::parse("a.token-name").unwrap();
    let cells = Selector::parse("td.reach").unwrap();
    html.select(&rows)
        .map(|row| {
            let token = row.select(&name).next().unwrap().text().collect::<String>();
            let reach = row
                .select(&cells)
                .map(|cell| {
                    let class = cell.value().attr("class").unwrap_or_default();
                    if class.contains("reach-all") {
                        "all"
                    } else if class.contains("reach-yes") {
                        "yes"
                    } else {
                        "no"
                    }
                })
                .collect();
            (token, reach)
        })
        .collect()
}

fn column_of(module: &str) -> usize {
    MODULES.iter().position(|m| m.id == module).unwrap()
}

async fn the_matrix_marks_exactly_what_each_token_reaches(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    app.token(&user, "Reports feed")
        .modules("MD-0002,MD-0013")
        .create();
    app.token(&user, "Everything").create();
    app.token(&user, "Helpdesk bot")
        .modules("MD-0023")
        .status(StoredStatus::Inactive)
        .create();

    let html = app.get_html("/integrations/tokens/review").await;
    let rows = matrix(&html);
    assert_eq!(rows.len(), 3);
    let expect = |granted: &[&str]| -> Vec<&'static str> {
        MODULES
            .iter()
            .map(|m| if granted.contains(&m.id) { "yes" } else { "no" })
            .collect()
    };
    assert_eq!(rows["Reports feed"], expect(&["MD-0002", "MD-0013"]));
    assert_eq!(rows["Everything"], vec!["all"; MODULES.len()]);
    assert_eq!(rows["Helpdesk bot"], expect(&["MD-0023"]));
    // The modules' columns come after what an admin acts on, All first.
    assert_eq!(
        select_all(&html, "table.review-table thead abbr")
            .get(1)
            .map(String::as_str),
        Some("All")
    );
    assert_eq!(
        attr(
            &html,
            "table.review-table thead abbr[title=Agreements]",
            "title"
        )
        .as_deref(),
        Some("Agreements"),
        "full names as tooltips"
    );
    assert_eq!(text(&html, "#active-count"), "2");
    assert_eq!(text(&html, "#all-count"), "1");

    // module= keeps the tokens that reach it, All-holders included.
    let html = app
        .get_html("/integrations/tokens/review?module=MD-0002")
        .await;
    let names: Vec<String> = matrix(&html).into_keys().collect();
    assert_eq!(names, ["Everything", "Reports feed"]);
    let html = app
        .get_html("/integrations/tokens/review?module=MD-0023&status=active")
        .await;
    assert_eq!(
        matrix(&html).into_keys().collect::<Vec<_>>(),
        ["Everything"]
    );
    assert_eq!(column_of("MD-0000"), 0);
}

/// Moves a token's last use and creation into the past.
fn age(app: &TestApp, id: &str, created_days: i64, used_days: Option<i64>) {
    let now = app.clock.now();
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(id))
        .set((
            tokens::created_at.eq(now - Duration::days(created_days)),
            tokens::last_used_at.eq(used_days.map(|d| now - Duration::days(d))),
        ))
        .execute(&mut conn)
        .unwrap();
}

async fn stale_follows_its_definition_at_its_edges(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let cases = [
        (
            "Used 29 days ago",
            400,
            Some(29),
            StoredStatus::Active,
            false,
        ),
        (
            "Used 31 days ago",
            400,
            Some(31),
            StoredStatus::Active,
            true,
        ),
        (
            "Used 200 days ago",
            400,
            Some(200),
            StoredStatus::Active,
            true,
        ),
        ("Never used, old", 60, None, StoredStatus::Active, true),
        ("Never used, new", 1, None, StoredStatus::Active, false),
        ("Disabled and old", 400, None, StoredStatus::Inactive, false),
    ];
    for (name, created, used, status, _) in cases {
        let (token, _) = app.token(&user, name).status(status).create();
        age(&app, token.id.as_str(), created, used);
    }
    let html = app.get_html("/integrations/tokens/review?stale=30").await;
    let stale: Vec<String> = matrix(&html).into_keys().collect();
    let expected: Vec<&str> = {
        let mut names: Vec<&str> = cases
            .iter()
            .filter(|case| case.4)
            .map(|case| case.0)
            .collect();
        names.sort();
        names
    };
    assert_eq!(stale, expected);
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(
        text(&html, "#unused-count"),
        "1",
        "unused for 90 days: only the one used 200 days ago"
    );
}

async fn the_csv_has_the_pages_rows_and_neutralises_formulas(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    app.token(&user, "=cmd|' /C calc'!A0")
        .modules("MD-0002")
        .create();
    for n in 0..30 {
        app.token(&user, &format!("Token {n:02}"))
            .modules("MD-0013")
            .create();
    }
    let html = app
        .get_html("/integrations/tokens/review?module=MD-0013&per_page=100")
        .await;
    let on_page: Vec<String> = select_all(&html, "table.review-table tbody tr th .muted");
    assert_eq!(on_page.len(), 30);
    let href = attr(&html, ".page-actions a[download]", "href").unwrap();
    assert!(
        href.starts_with("/integrations/tokens/review.csv?"),
        "{href}"
    );
    assert!(href.contains("module=MD-0013"));

    let response = app.get(&href).await;
    assert_eq!(response.status(), 200);
    let today = app.clock.now().format("%Y-%m-%d").to_string();
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"tokens-review-{today}.csv\"").as_str()
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("Token,ID,Extension,Status,Created by,Last used,Last used from,Expires,Breaks policy,All,Account,Agreements"));
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids, on_page, "the page's rows, in its order");
    assert!(
        lines[1].ends_with("all,all,all,all,all,all,all,all,all,all,all,all,all,all,all,all,all")
            || lines[1].contains(",no,"),
        "a cell per module"
    );

    let everything = app
        .get("/integrations/tokens/review.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(everything.lines().count(), 32);
    let formula = everything.lines().find(|l| l.contains("calc")).unwrap();
    assert!(formula.starts_with("'=cmd|' /C calc'!A0,"), "{formula}");
    let agreements = column_of("MD-0002") + 9;
    assert_eq!(formula.split(',').nth(agreements), Some("yes"));
}

/// How many events of each kind the account has.
fn kinds(app: &TestApp, user: &TestUser) -> BTreeMap<&'static str, usize> {
    let mut conn = app.pool.get().unwrap();
    let all = events::activity(
        &mut conn,
        &user.account.id,
        &ActivityQuery::default(),
        100_000,
        0,
        None,
    )
    .unwrap();
    let mut counts = BTreeMap::new();
    for event in all {
        *counts.entry(event.kind.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Runs `step` and asserts that it wrote exactly one event, of `kind`.
async fn one_event<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    user: &TestUser,
    kind: &str,
    step: F,
) {
    let before = kinds(app, user);
    step.await;
    let after = kinds(app, user);
    let mut added: BTreeMap<&str, isize> = BTreeMap::new();
    for (k, n) in &after {
        let diff = *n as isize - *before.get(k).unwrap_or(&0) as isize;
        if diff != 0 {
            added.insert(k, diff);
        }
    }
    assert_eq!(added, BTreeMap::from([(kind, 1)]), "{kind}");
}

async fn every_change_writes_exactly_one_event_of_its_kind(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    one_event(&app, &robert, "user.signed_in", async {
        app.sign_in(&robert).await;
    })
    .await;
    let stranger = app.another_instance();
    one_event(&app, &robert, "user.sign_in_failed", async {
        let status = stranger
            .sign_in_with("robert@frontstreet.example", "wrong guess!")
            .await
            .status();
        assert_eq!(status, 401);
    })
    .await;
    one_event(&app, &robert, "token.created", async {
        app.post(
            "/integrations/tokens/new/general",
            &[("name", "Walked"), ("description", "x")],
        )
        .await;
        app.post(
            "/integrations/tokens/new/extension",
            &[("extension", "custom")],
        )
        .await;
        let response = app
            .post(
                "/integrations/tokens/new/permissions",
                &[("modules", "MD-0002")],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    let html = app.get_html("/integrations/tokens?q=Walked").await;
    let base = attr(&html, "a.token-name", "href").unwrap();
    let edit = format!("{base}/edit");
    one_event(&app, &robert, "token.updated", async {
        let fields = [
            ("name", "Walked on"),
            ("description", "x"),
            ("modules", "MD-0002"),
        ];
        assert_eq!(app.post(&edit, &fields).await.status(), 303);
    })
    .await;
    one_event(&app, &robert, "token.permissions_changed", async {
        let fields = [
            ("name", "Walked on"),
            ("description", "x"),
            ("modules", "MD-0013"),
        ];
        assert_eq!(app.post(&edit, &fields).await.status(), 303);
    })
    .await;
    for (action, kind) in [("disable", "token.disabled"), ("enable", "token.enabled")] {
        one_event(&app, &robert, kind, async {
            assert_eq!(
                app.post(&format!("{base}/{action}"), &[]).await.status(),
                303
            );
        })
        .await;
    }
    one_event(&app, &robert, "token.revealed", async {
        assert_eq!(app.post(&format!("{base}/reveal"), &[]).await.status(), 200);
    })
    .await;
    one_event(&app, &robert, "token.rotated", async {
        let response = app.post(&format!("{base}/rotate"), &[("grace", "0")]).await;
        assert_eq!(response.status(), 303);
    })
    .await;
    let (_, key) = app.token(&robert, "Automation").create();
    one_event(&app, &robert, "token.renewed", async {
        let id = base.rsplit('/').next().unwrap();
        let answer = app
            .call(
                &key,
                Method::POST,
                &format!("/auth/tokens/{id}/renew"),
                json!({}),
            )
            .await;
        assert_eq!(answer.status, 200);
    })
    .await;
    one_event(&app, &robert, "token.deleted", async {
        assert_eq!(app.post(&format!("{base}/delete"), &[]).await.status(), 303);
    })
    .await;
    one_event(&app, &robert, "user.added", async {
        let response = app
            .post(
                "/account/users",
                &[
                    ("name", "Adrian"),
                    ("email", "adrian@frontstreet.example"),
                    ("role", "member"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    let users = app.get_html("/account/users").await;
    let adrian = select_all(&users, "table.users-table tbody tr")
        .iter()
        .position(|row| row.contains("Adrian"))
        .unwrap();
    let adrian_id = Html::parse_document(&app.get("/account/users").await.text().await.unwrap())
        .select(&Selector::parse("table.users-table tbody tr").unwrap())
        .nth(adrian)
        .unwrap()
        .value()
        .attr("data-user")
        .unwrap()
        .to_owned();
    let team = format!("/account/users/{adrian_id}");
    one_event(&app, &robert, "user.role_changed", async {
        let response = app
            .post(&format!("{team}/role"), &[("role", "admin")])
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    for (action, kind) in [
        ("deactivate", "user.deactivated"),
        ("activate", "user.activated"),
    ] {
        one_event(&app, &robert, kind, async {
            let confirmed = [("confirm", "yes"), ("tokens", "keep")];
            assert_eq!(
                app.post(&format!("{team}/{action}"), &confirmed)
                    .await
                    .status(),
                303
            );
        })
        .await;
    }
    one_event(&app, &robert, "user.password_changed", async {
        let response = app
            .post(
                "/account/password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "another good password"),
                    ("confirm_password", "another good password"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;

    // A passkey removed (one added earlier, as its ceremony would have stored it).
    let passkey = {
        let mut conn = app.pool.get().unwrap();
        tokendesk::db::passkeys::NewPasskey {
            user_id: robert.user.id.as_str(),
            name: "Work laptop",
            credential: "{}",
            credential_id: "AAAA",
            created_at: app.clock.now(),
        }
        .insert(&mut conn)
        .unwrap()
    };
    one_event(&app, &robert, "user.passkey_removed", async {
        let response = app
            .post(&format!("/account/security/passkeys/{passkey}/remove"), &[])
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;

    // A member deactivated, her token handed to Robert: one event each.
    let mia = app.add_user_as(
        "Front Street Inc",
        "mia@frontstreet.example",
        "Mia Wallace",
        tokendesk::domain::user::Role::Member,
    );
    app.token(&mia, "Mia's").create();
    let before = kinds(&app, &robert);
    let to = robert.user.id.to_string();
    let response = app
        .post(
            &format!("/account/users/{}/deactivate", mia.user.id),
            &[
                ("confirm", "yes"),
                ("tokens", "transfer"),
                ("to", to.as_str()),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let after = kinds(&app, &robert);
    for (kind, added) in [("user.deactivated", 1), ("token.transferred", 1)] {
        assert_eq!(
            after[kind] - before.get(kind).copied().unwrap_or(0),
            added,
            "{kind}"
        );
    }

    // The policy, and what a member asks for under it.
    one_event(&app, &robert, "account.policy_changed", async {
        let response = app
            .post("/account/policy", &[("approval_modules", "MD-0000")])
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    let ana = app.add_user_as(
        "Front Street Inc",
        "ana@frontstreet.example",
        "Ana Lucia",
        tokendesk::domain::user::Role::Member,
    );
    let (narrow, _) = app.token(&ana, "Ana's").modules("MD-0002").create();
    one_event(&app, &robert, "token.approval_requested", async {
        use tokendesk::services::tokens::{self as token_service, ModuleChange, TokenEdit};
        let all = tokendesk::domain::module::ModuleSet::parse(["MD-0000"]).unwrap();
        let edit = TokenEdit {
            modules: Some(ModuleChange::Grant(&all)),
            reason: Some("It grows."),
            ..TokenEdit::default()
        };
        let mut conn = app.pool.get().unwrap();
        let by = ana.user.offline(app.clock.now());
        let edited = token_service::update(&mut conn, &by, &narrow.id, &edit).unwrap();
        assert!(edited.awaiting_approval);
    })
    .await;
    one_event(&app, &robert, "token.denied", async {
        let response = app
            .post(
                &format!("/integrations/tokens/{}/deny", narrow.id),
                &[("note", "No.")],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    let (waiting, _) = app
        .token(&ana, "Ana's All")
        .reason("The sync reads everything.")
        .create();
    one_event(&app, &robert, "token.approved", async {
        let response = app
            .post(&format!("/integrations/tokens/{}/approve", waiting.id), &[])
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;

    // Second factors: set up, a recovery code used to confirm a sensitive action (making new
    // codes, which records nothing of its own), removed, and an admin's reset of another's.
    let mut codes = Vec::new();
    one_event(&app, &robert, "user.2fa_enabled", async {
        codes = crate::two_factor::enrol(&app).await.1;
    })
    .await;
    app.clock.advance(Duration::minutes(11));
    one_event(&app, &robert, "user.recovery_code_used", async {
        let response = app
            .post(
                "/account/security/recovery-codes",
                &[("sudo_code", &codes[0])],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    one_event(&app, &robert, "user.2fa_disabled", async {
        let response = app
            .post(
                "/account/security/totp/remove",
                &[("password", "another good password")],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;
    one_event(&app, &robert, "user.2fa_reset", async {
        let response = app
            .post(
                &format!("/account/users/{}/reset-2fa", ana.user.id),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), 303);
    })
    .await;

    // Every kind the log knows was walked, but adding a passkey: its ceremony needs an
    // authenticator, and the browser journey `adding_a_passkey_and_signing_in_with_it` walks it
    // (and counts its one event).
    let walked = kinds(&app, &robert);
    let elsewhere = [tokendesk::domain::event::EventKind::UserPasskeyAdded];
    for kind in tokendesk::domain::event::EventKind::ALL
        .into_iter()
        .filter(|kind| !elsewhere.contains(kind))
    {
        assert!(walked.contains_key(kind.as_str()), "{}", kind.as_str());
    }

    // The log shows them, filters them, and links each to what it is about.
    let html = app.get_html("/account/activity?kind=token.rotated").await;
    assert_eq!(select_all(&html, "table.activity-table tbody tr").len(), 1);
    let about = attr(&html, "a.subject", "href").unwrap();
    assert!(about.starts_with("/account/activity?token=SU-"), "{about}");
    let html = app.get_html(&about).await;
    let kinds_of_token = select_all(&html, "table.activity-table tbody tr td:nth-child(3)");
    assert_eq!(kinds_of_token.len(), 9, "{kinds_of_token:?}");
    let html = app
        .get_html(&format!("/account/activity?actor={}", robert.user.id))
        .await;
    assert!(!select_all(&html, "table.activity-table tbody tr").is_empty());
    let tomorrow = (app.clock.now() + Duration::days(1)).format("%Y-%m-%d");
    let html = app
        .get_html(&format!("/account/activity?from={tomorrow}"))
        .await;
    assert!(select_all(&html, "table.activity-table tbody tr").is_empty());
    let failed = app
        .get_html("/account/activity?kind=user.sign_in_failed")
        .await;
    assert_eq!(
        text(&failed, ".detail"),
        "robert@frontstreet.example",
        "the e-mail tried"
    );
}

/// Filters never fail silently: what was not understood is said, field by field, the values
/// typed are kept, and the page shows what the other filters select, with its total.
async fn filters_that_are_not_understood_say_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    app.token(&user, "One").create();
    app.token(&user, "Two").create();

    let response = app
        .get("/account/activity?kind=token.created&from=notadate&token=nope")
        .await;
    assert_eq!(response.status(), 400);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        select_all(&html, "#filter-errors li"),
        [
            "From: a date, written YYYY-MM-DD.",
            "Token id: a token's id, such as SU-160-984-311."
        ]
    );
    assert_eq!(
        attr(&html, "#token", "value").as_deref(),
        Some("nope"),
        "kept as typed"
    );
    assert_eq!(
        attr(&html, "#token", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        select_all(&html, "table.activity-table tbody tr").len(),
        2,
        "the rest applies"
    );
    assert_eq!(text(&html, "nav.pagination .range"), "1-2 of 2");

    let response = app
        .get("/account/activity?from=2026-12-08&to=2026-12-01")
        .await;
    assert_eq!(response.status(), 400);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        select_all(&html, "#filter-errors li"),
        ["To: 2026-12-01 is before From (2026-12-08)."]
    );

    let response = app.get("/integrations/tokens/review?stale=abc").await;
    assert_eq!(response.status(), 400);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        select_all(&html, "#filter-errors li"),
        ["Unused for: a whole number of days from 1 to 3650."]
    );
    assert_eq!(attr(&html, "#stale", "value").as_deref(), Some("abc"));
    assert_eq!(shown_total(&html), "2");

    let response = app
        .get("/integrations/tokens?status=deleted&sort=sideways")
        .await;
    assert_eq!(response.status(), 400);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        select_all(&html, "#filter-errors li"),
        [
            "Sort: choose one of the list.",
            "Status: choose one of the list."
        ]
    );
    assert_eq!(shown_total(&html), "2");
    // Understood filters say nothing.
    let html = app.get_html("/account/activity?kind=token.created").await;
    assert!(select_all(&html, "#filter-errors").is_empty());
    assert_eq!(text(&html, "nav.pagination .range"), "1-2 of 2");
}

async fn the_activity_is_for_admins_and_cannot_be_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    app.token(&robert, "Something").create();
    let response = app.get("/account/activity.csv?kind=user.signed_in").await;
    assert_eq!(response.status(), 200);
    let today = app.clock.now().format("%Y-%m-%d").to_string();
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"activity-{today}.csv\"").as_str()
    );
    let body = response.text().await.unwrap();
    assert_eq!(body.lines().count(), 2, "{body}");
    assert!(body.lines().nth(1).unwrap().contains(",user.signed_in,"));

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = app
            .client
            .request(method.clone(), app.url("/account/activity"))
            .header("X-CSRF-Token", app.csrf_token().await)
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&response.status().as_u16()),
            "{method}: {}",
            response.status()
        );
    }

    let member = app.add_user_as(
        "Front Street Inc",
        "adrian@frontstreet.example",
        "Adrian Pennino",
        Role::Member,
    );
    let other = app.another_instance();
    other.sign_in(&member).await;
    assert_eq!(other.get("/account/activity").await.status(), 403);
    assert_eq!(other.get("/account/activity.csv").await.status(), 403);
    assert_eq!(
        other.get("/integrations/tokens/review").await.status(),
        200,
        "everyone reviews"
    );
}

/// "1-20 of N": the total a list page shows.
fn shown_total(html: &Html) -> String {
    text(html, "nav.pagination .range")
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned()
}

/// The totals are kept between pages, but never past a write to the account's tokens (through
/// this instance, another one, or a statement typed into the database), nor past a move of the
/// clock that changes them.
async fn totals_follow_every_write_and_the_clock(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (feed, _) = app.token(&user, "Reports feed").modules("MD-0002").create();
    let (everything, _) = app.token(&user, "Everything").create();
    app.token(&user, "Helpdesk bot").modules("MD-0023").create();
    let summary = |html: &Html| {
        [
            text(html, "#active-count"),
            text(html, "#all-count"),
            text(html, "#unused-count"),
        ]
    };
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["3", "1", "0"]);
    let list = app.get_html("/integrations/tokens?status=active").await;
    assert_eq!(shown_total(&list), "3");

    // Written straight into the database: the next page counts again.
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(feed.id.as_str()))
        .set(tokens::status.eq("inactive"))
        .execute(&mut conn)
        .unwrap();
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["2", "1", "0"]);
    let list = app.get_html("/integrations/tokens?status=active").await;
    assert_eq!(shown_total(&list), "2");
    diesel::delete(
        token_permissions::table.filter(token_permissions::token_id.eq(everything.id.as_str())),
    )
    .execute(&mut conn)
    .unwrap();
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["2", "0", "0"]);

    // Another instance's write: this one's next page sees it.
    let other = app.another_instance();
    other.sign_in(&user).await;
    let response = other
        .post(&format!("/integrations/tokens/{}/enable", feed.id), &[])
        .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["3", "0", "0"]);
    assert_eq!(
        shown_total(&app.get_html("/integrations/tokens?status=active").await),
        "3"
    );

    // Many writes: the account's rows are merged, and what follows still counts.
    for round in 0..80 {
        diesel::update(tokens::table.find(feed.id.as_str()))
            .set(tokens::description.eq(format!("round {round}")))
            .execute(&mut conn)
            .unwrap();
    }
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["3", "0", "0"]);
    let rows: i64 = token_writes::table.count().get_result(&mut conn).unwrap();
    assert!(rows <= 2, "merged: {rows} rows");
    diesel::update(tokens::table.find(feed.id.as_str()))
        .set(tokens::status.eq("inactive"))
        .execute(&mut conn)
        .unwrap();
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["2", "0", "0"]);

    // Time alone: a token last used 89 days and 23 hours ago becomes unused for 90 days when the
    // clock moves two hours, with nothing written.
    age(&app, everything.id.as_str(), 400, Some(89));
    diesel::update(tokens::table.find(everything.id.as_str()))
        .set(tokens::last_used_at.eq(app.clock.now() - Duration::days(90) + Duration::hours(1)))
        .execute(&mut conn)
        .unwrap();
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["2", "0", "0"]);
    app.clock.advance(Duration::hours(2));
    app.sign_in(&user).await; // the session idled out meanwhile
    let html = app.get_html("/integrations/tokens/review").await;
    assert_eq!(summary(&html), ["2", "0", "1"]);
    assert_eq!(
        shown_total(&app.get_html("/integrations/tokens/review?stale=90").await),
        "1"
    );
}

crate::on_both_databases!(
    filters_that_are_not_understood_say_so,
    the_matrix_marks_exactly_what_each_token_reaches,
    stale_follows_its_definition_at_its_edges,
    the_csv_has_the_pages_rows_and_neutralises_formulas,
    every_change_writes_exactly_one_event_of_its_kind,
    the_activity_is_for_admins_and_cannot_be_changed,
    totals_follow_every_write_and_the_clock,
);
