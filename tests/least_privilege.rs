//! Least-privilege advice: every API request a token is let in with is counted against the
//! module of the endpoint; the Permissions tab shows when each module was last used and how much;
//! a token at least 30 days old holding modules it has not used for 90 days (or ever) is told so
//! and may be narrowed after a confirmation; the review counts the unused grants and filters on
//! `overgranted=1`. Days pass on the server's clock, and old use is written into the database.

use crate::common::{Backend, TestApp, TestUser, attr, location, select_all, spawn_app, text};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use reqwest::Method;
use scraper::{Html, Selector};
use std::collections::BTreeMap;
use tokendesk::db::schema::{events, token_module_usage, token_writes, tokens};
use tokendesk::db::tokens::Token;
use tokendesk::domain::api_key::{ApiKey, TokenSecret};
use tokendesk::domain::extension::Extension;
use tokendesk::domain::ids::TokenId;
use tokendesk::domain::token::StoredStatus;
use tokendesk::domain::user::Role;

const AGREEMENTS: &str = "MD-0002";
const ACCOUNT: &str = "MD-0001";
const INTEGRATIONS: &str = "MD-0007";

fn robert(app: &TestApp) -> TestUser {
    app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    )
}

async fn calls(app: &TestApp, key: &ApiKey, path: &str, times: usize, expected: u16) {
    for _ in 0..times {
        let answer = app.call(key, Method::GET, path, None).await;
        assert_eq!(answer.status, expected, "GET {path}: {:?}", answer.body);
    }
}

/// Makes the token look created at `at`.
fn created_at(app: &TestApp, id: &TokenId, at: NaiveDateTime) {
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(id.as_str()))
        .set(tokens::created_at.eq(at))
        .execute(&mut conn)
        .unwrap();
}

/// Records that the token used `module` once at `at`, as a flush long ago would have.
fn used_at(app: &TestApp, id: &TokenId, module: &str, at: NaiveDateTime) {
    let mut conn = app.pool.get().unwrap();
    diesel::insert_into(token_module_usage::table)
        .values((
            token_module_usage::token_id.eq(id.as_str()),
            token_module_usage::module_id.eq(module),
            token_module_usage::day.eq(at.date()),
            token_module_usage::requests.eq(1i64),
            token_module_usage::last_used_at.eq(at),
        ))
        .execute(&mut conn)
        .unwrap();
}

/// The ids of the modules the token holds.
fn held(app: &TestApp, id: &TokenId) -> Vec<String> {
    let mut conn = app.pool.get().unwrap();
    Token::permissions(&mut conn, id)
        .unwrap()
        .iter()
        .map(|m| m.id.to_owned())
        .collect()
}

fn permission_changes(app: &TestApp, id: &TokenId) -> i64 {
    let mut conn = app.pool.get().unwrap();
    events::table
        .filter(events::token_id.eq(id.as_str()))
        .filter(events::kind.eq("token.permissions_changed"))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

fn permissions_tab(id: &TokenId) -> String {
    format!("/integrations/tokens/{id}/permissions")
}

fn narrow_path(id: &TokenId) -> String {
    format!("/integrations/tokens/{id}/permissions/narrow")
}

/// The Permissions tab's use table: module name → (last used, requests in 30 days).
fn module_use(html: &Html) -> BTreeMap<String, (String, String)> {
    let rows = Selector::parse("#module-use-table tbody tr").unwrap();
    let cell = |row: scraper::ElementRef<'_>, css: &str| {
        let selector = Selector::parse(css).unwrap();
        row.select(&selector)
            .next()
            .map(|c| c.text().collect::<String>().trim().to_owned())
            .unwrap_or_default()
    };
    html.select(&rows)
        .map(|row| {
            (
                cell(row, "th"),
                (cell(row, "td.last-used"), cell(row, "td.requests")),
            )
        })
        .collect()
}

/// The review's rows: token name → its "Unused grants" cell.
async fn review(app: &TestApp, query: &str) -> (Html, BTreeMap<String, String>) {
    let html = app
        .get_html(&format!("/integrations/tokens/review?per_page=100{query}"))
        .await;
    let rows = Selector::parse("table.review-table tbody tr").unwrap();
    let name = Selector::parse("a.token-name").unwrap();
    let unused = Selector::parse("td.unused-grants").unwrap();
    let cells = html
        .select(&rows)
        .map(|row| {
            let of = |s: &Selector| {
                row.select(s)
                    .next()
                    .map(|e| e.text().collect::<Vec<_>>().join(" ").trim().to_owned())
                    .unwrap_or_default()
            };
            (of(&name), of(&unused))
        })
        .collect();
    (html, cells)
}

/// The confirmation's form, as the browser would send it.
fn confirmation_fields(html: &Html) -> Vec<(String, String)> {
    let inputs = Selector::parse("form.form-actions input[type=hidden]").unwrap();
    html.select(&inputs)
        .map(|i| {
            (
                i.value().attr("name").unwrap().to_owned(),
                i.value().attr("value").unwrap().to_owned(),
            )
        })
        .filter(|(name, _)| name != "csrf_token")
        .collect()
}

async fn confirm(app: &TestApp, id: &TokenId, fields: &[(String, String)]) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.post(&narrow_path(id), &fields).await
}

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

async fn the_permissions_tab_counts_use_per_module(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let (token, key) = app
        .token(&user, "Sync")
        .modules("MD-0001,MD-0002,MD-0007")
        .create();
    let (_, other_key) = app.token(&user, "Other").modules(AGREEMENTS).create();
    let before = app.clock.now();
    calls(&app, &key, "/agreements", 3, 200).await;
    calls(&app, &key, "/auth/tokens", 2, 200).await;
    // No module: counted for the token only.
    calls(&app, &key, "/auth/context", 4, 200).await;
    // Refused: not a use of the module.
    let wrong = ApiKey::new(token.id.clone(), TokenSecret::generate(&token.id));
    calls(&app, &wrong, "/agreements", 2, 401).await;
    // Another token's use is its own.
    calls(&app, &other_key, "/agreements", 5, 200).await;
    app.flush_usage();
    let after = app.clock.now();

    app.sign_in(&user).await;
    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert_eq!(
        select_all(&html, "#module-use-table thead th"),
        ["Module", "Last used", "Requests (30 days)"]
    );
    let used = module_use(&html);
    assert_eq!(
        used.keys().collect::<Vec<_>>(),
        ["Account", "Agreements", "Integrations"],
        "the modules it holds"
    );
    assert_eq!(used["Account"], ("Never".to_owned(), "0".to_owned()));
    assert_eq!(used["Agreements"].1, "3");
    assert_eq!(used["Integrations"].1, "2");
    let last = attr(
        &html,
        "#module-use-table tr[data-module=MD-0002] time",
        "datetime",
    )
    .unwrap();
    let last = NaiveDateTime::parse_from_str(&last, "%Y-%m-%dT%H:%M:%SZ").unwrap();
    assert!(
        last >= before - Duration::seconds(1) && last <= after,
        "{last}"
    );
    // Young: no advice yet, and the tab says when it starts.
    assert!(select_all(&html, "#advice").is_empty());
    assert!(text(&html, "section.module-use").contains("starts when the token is 30 days old"));
    // The Module/Status table is as it was.
    assert_eq!(
        select_all(&html, "table.permissions-table th"),
        ["Module", "Status"]
    );

    // Writes add to the day's count, and 31 days later the 30-day count is empty again.
    calls(&app, &key, "/agreements", 1, 200).await;
    app.flush_usage();
    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert_eq!(module_use(&html)["Agreements"].1, "4");
    app.clock.advance(Duration::days(31));
    app.sign_in(&user).await;
    let html = app.get_html(&permissions_tab(&token.id)).await;
    let used = module_use(&html);
    assert_eq!(used["Agreements"].1, "0");
    assert_ne!(used["Agreements"].0, "Never", "last use is kept");

    // An All-holder's table lists every module.
    let (all, all_key) = app.token(&user, "Everything").create();
    calls(&app, &all_key, "/accounts", 1, 200).await;
    app.flush_usage();
    let html = app.get_html(&permissions_tab(&all.id)).await;
    let used = module_use(&html);
    assert_eq!(used.len(), 16);
    assert!(!used.contains_key("All"));
    assert_eq!(used["Account"].1, "1");
}

async fn the_advice_starts_at_30_days_old_and_90_days_unused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let now = app.clock.now();
    // 30 days old in half a minute, its module never used.
    let (young, _) = app.token(&user, "Young").modules(ACCOUNT).create();
    created_at(
        &app,
        &young.id,
        now - Duration::days(30) + Duration::seconds(30),
    );
    // Old; its Account module unused for 90 days in half a minute, Agreements used yesterday.
    let (aging, _) = app
        .token(&user, "Aging")
        .modules("MD-0001,MD-0002")
        .create();
    created_at(&app, &aging.id, now - Duration::days(120));
    used_at(
        &app,
        &aging.id,
        ACCOUNT,
        now - Duration::days(90) + Duration::seconds(30),
    );
    used_at(&app, &aging.id, AGREEMENTS, now - Duration::days(1));
    app.sign_in(&user).await;

    for id in [&young.id, &aging.id] {
        let html = app.get_html(&permissions_tab(id)).await;
        assert!(select_all(&html, "#advice").is_empty(), "{id}");
    }
    let (_, rows) = review(&app, "").await;
    assert_eq!(rows["Young"], "— too new to tell");
    assert_eq!(rows["Aging"], "0");
    let (_, rows) = review(&app, "&overgranted=1").await;
    assert!(rows.is_empty(), "{rows:?}");

    app.clock.advance(Duration::minutes(1));
    app.sign_in(&user).await;
    for (id, unused) in [(&young.id, "Account"), (&aging.id, "Account")] {
        let html = app.get_html(&permissions_tab(id)).await;
        assert_eq!(
            attr(&html, "#advice", "role").as_deref(),
            Some("region"),
            "{id}"
        );
        assert_eq!(text(&html, "#advice h2"), "Unused permissions");
        assert_eq!(select_all(&html, "#advice ul.unused-modules li"), [unused]);
    }
    let html = app.get_html(&permissions_tab(&aging.id)).await;
    assert_eq!(text(&html, "#narrow-button"), "Remove unused modules");
    // Young holds nothing else: the advice cannot be taken (a token holds at least one module).
    let html = app.get_html(&permissions_tab(&young.id)).await;
    assert!(select_all(&html, "#narrow-button").is_empty());
    assert!(text(&html, ".advice-blocked").contains("at least one module"));
    let (_, rows) = review(&app, "").await;
    assert_eq!((rows["Young"].as_str(), rows["Aging"].as_str()), ("1", "1"));
    let (_, rows) = review(&app, "&overgranted=1").await;
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["Aging", "Young"]);
}

async fn removing_unused_modules_changes_only_those(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let (token, key) = app
        .token(&user, "Nightly sync")
        .modules("MD-0001,MD-0002,MD-0007")
        .create();
    created_at(&app, &token.id, app.clock.now() - Duration::days(100));
    calls(&app, &key, "/agreements", 2, 200).await;
    calls(&app, &key, "/accounts", 1, 200).await;
    app.flush_usage();
    // Account was last used 91 days ago: the clock moves on.
    app.clock.advance(Duration::days(91));
    calls(&app, &key, "/agreements", 1, 200).await;
    app.flush_usage();
    app.sign_in(&user).await;

    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert_eq!(
        select_all(&html, "#advice ul.unused-modules li"),
        ["Account", "Integrations"]
    );
    assert_eq!(
        attr(&html, "#advice form", "action").as_deref(),
        Some(narrow_path(&token.id).as_str())
    );

    // Without a CSRF token: refused, nothing changed.
    let response = app.post_raw(&narrow_path(&token.id), &[]).await;
    assert_eq!(response.status(), 403);
    // The button leads to a confirmation; nothing changes yet.
    let response = app.post(&narrow_path(&token.id), &[]).await;
    assert_eq!(response.status(), 200);
    let page = html_of(response).await;
    assert_eq!(text(&page, "h1"), "Remove unused modules?");
    assert_eq!(
        select_all(&page, "ul.removed-modules li"),
        ["Account", "Integrations"]
    );
    assert_eq!(
        attr(&page, "form.form-actions a.button", "href").as_deref(),
        Some(permissions_tab(&token.id).as_str())
    );
    assert_eq!(held(&app, &token.id), [ACCOUNT, AGREEMENTS, INTEGRATIONS]);
    assert_eq!(permission_changes(&app, &token.id), 0);
    let fields = confirmation_fields(&page);

    // A confirmation of something else than the advice now: back to it, nothing changed.
    let stale = [
        ("confirm".to_owned(), "yes".to_owned()),
        ("remove".to_owned(), ACCOUNT.to_owned()),
        ("keep".to_owned(), AGREEMENTS.to_owned()),
        ("keep".to_owned(), INTEGRATIONS.to_owned()),
    ];
    let response = confirm(&app, &token.id, &stale).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), permissions_tab(&token.id));
    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert!(text(&html, ".alert-info").contains("changed since the advice was shown"));
    assert_eq!(held(&app, &token.id), [ACCOUNT, AGREEMENTS, INTEGRATIONS]);

    // Confirmed: exactly those two go, with one event.
    let response = confirm(&app, &token.id, &fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), permissions_tab(&token.id));
    assert_eq!(held(&app, &token.id), [AGREEMENTS]);
    assert_eq!(permission_changes(&app, &token.id), 1);
    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert_eq!(
        text(&html, ".alert-success"),
        "Removed 2 unused modules from “Nightly sync”."
    );
    assert!(select_all(&html, "#advice").is_empty());
    let history = app
        .get_html(&format!("/integrations/tokens/{}", token.id))
        .await;
    assert!(select_all(&history, "table.history td").contains(&"Permissions changed".to_owned()));
    // The key is refused the removed modules from the next request on, and keeps the other.
    calls(&app, &key, "/accounts", 1, 403).await;
    calls(&app, &key, "/agreements", 1, 200).await;

    // The same confirmation again: nothing more to remove, nothing changed.
    let response = confirm(&app, &token.id, &fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(permission_changes(&app, &token.id), 1);
}

async fn all_is_replaced_by_the_modules_used(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let long_ago = app.clock.now() - Duration::days(100);
    let (token, key) = app.token(&user, "Everything").create();
    created_at(&app, &token.id, long_ago);
    calls(&app, &key, "/agreements", 2, 200).await;
    calls(&app, &key, "/auth/tokens", 1, 200).await;
    app.flush_usage();
    // Custom Reports tokens always hold All; a token that used nothing has nothing to keep.
    let (reports, reports_key) = app
        .token(&user, "Reports")
        .extension(Extension::Reports)
        .create();
    created_at(&app, &reports.id, long_ago);
    calls(&app, &reports_key, "/agreements", 1, 200).await;
    app.flush_usage();
    let (idle, _) = app.token(&user, "Idle").create();
    created_at(&app, &idle.id, long_ago);
    app.sign_in(&user).await;

    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert!(text(&html, "#advice").contains("holds All modules"));
    assert_eq!(
        select_all(&html, "#advice ul.used-modules li"),
        ["Agreements", "Integrations"]
    );
    assert!(text(&html, "#advice").contains("the other 14"));
    assert_eq!(
        text(&html, "#narrow-button"),
        "Replace All by the 2 modules used"
    );

    let html = app.get_html(&permissions_tab(&reports.id)).await;
    assert_eq!(
        select_all(&html, "#advice ul.used-modules li"),
        ["Agreements"]
    );
    assert!(select_all(&html, "#narrow-button").is_empty());
    assert!(text(&html, ".advice-blocked").contains("Custom Reports tokens always hold All"));
    let response = app.post(&narrow_path(&reports.id), &[]).await;
    assert_eq!(response.status(), 409);
    let html = app.get_html(&permissions_tab(&idle.id)).await;
    assert!(text(&html, "#advice").contains("has used none of them"));
    assert!(select_all(&html, "#narrow-button").is_empty());

    let response = app.post(&narrow_path(&token.id), &[]).await;
    assert_eq!(response.status(), 200);
    let page = html_of(response).await;
    assert_eq!(text(&page, "h1"), "Replace All modules?");
    assert_eq!(
        select_all(&page, "ul.kept-modules li"),
        ["Agreements", "Integrations"]
    );
    assert_eq!(
        text(&page, "form.form-actions button"),
        "Replace All by the 2 modules used"
    );
    let response = confirm(&app, &token.id, &confirmation_fields(&page)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(held(&app, &token.id), [AGREEMENTS, INTEGRATIONS]);
    assert_eq!(permission_changes(&app, &token.id), 1);
    assert_eq!(held(&app, &reports.id), ["MD-0000"]);
    let html = app.get_html(&permissions_tab(&token.id)).await;
    assert_eq!(
        text(&html, ".alert-success"),
        "“Everything” now holds only the modules it used instead of All."
    );
    assert!(select_all(&html, "#advice").is_empty());
    calls(&app, &key, "/accounts", 1, 403).await;
}

async fn only_who_may_manage_the_token_narrows_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = robert(&app);
    let member = app.add_user_as(
        "Front Street Inc",
        "mia@frontstreet.example",
        "Mia Member",
        Role::Member,
    );
    let long_ago = app.clock.now() - Duration::days(100);
    let (admins, _) = app
        .token(&admin, "Admin's")
        .modules("MD-0001,MD-0002")
        .create();
    created_at(&app, &admins.id, long_ago);
    used_at(&app, &admins.id, AGREEMENTS, app.clock.now());
    let (mine, _) = app
        .token(&member, "Mia's")
        .modules("MD-0001,MD-0002")
        .create();
    created_at(&app, &mine.id, long_ago);
    used_at(&app, &mine.id, AGREEMENTS, app.clock.now());
    app.sign_in(&member).await;

    // The member sees the advice on the admin's token, without the button.
    let html = app.get_html(&permissions_tab(&admins.id)).await;
    assert_eq!(
        select_all(&html, "#advice ul.unused-modules li"),
        ["Account"]
    );
    assert!(select_all(&html, "#narrow-button").is_empty());
    assert!(text(&html, ".advice-blocked").contains("Only an admin or the token's owner"));
    let response = app.post(&narrow_path(&admins.id), &[]).await;
    assert_eq!(response.status(), 403);
    let forged = [
        ("confirm".to_owned(), "yes".to_owned()),
        ("remove".to_owned(), ACCOUNT.to_owned()),
        ("keep".to_owned(), AGREEMENTS.to_owned()),
    ];
    let response = confirm(&app, &admins.id, &forged).await;
    assert_eq!(response.status(), 403);
    assert_eq!(held(&app, &admins.id), [ACCOUNT, AGREEMENTS]);
    assert_eq!(permission_changes(&app, &admins.id), 0);

    // Their own token they narrow.
    let html = app.get_html(&permissions_tab(&mine.id)).await;
    assert_eq!(text(&html, "#narrow-button"), "Remove unused modules");
    let response = confirm(&app, &mine.id, &forged).await;
    assert_eq!(response.status(), 303);
    assert_eq!(held(&app, &mine.id), [AGREEMENTS]);

    // Another account's token does not exist.
    let other = app.add_user("Elsewhere Ltd", "eve@elsewhere.example", "Eve");
    let (theirs, _) = app
        .token(&other, "Theirs")
        .modules("MD-0001,MD-0002")
        .create();
    created_at(&app, &theirs.id, long_ago);
    let response = app.post(&narrow_path(&theirs.id), &[]).await;
    assert_eq!(response.status(), 404);
    let response = confirm(&app, &theirs.id, &forged).await;
    assert_eq!(response.status(), 404);
    assert_eq!(held(&app, &theirs.id), [ACCOUNT, AGREEMENTS]);
}

async fn the_review_counts_unused_grants_and_filters_the_overgranted(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let now = app.clock.now();
    let long_ago = now - Duration::days(100);
    let every_module = [
        "MD-0001", "MD-0002", "MD-0003", "MD-0004", "MD-0005", "MD-0006", "MD-0007", "MD-0008",
        "MD-0009", "MD-0010", "MD-0011", "MD-0012", "MD-0013", "MD-0023", "MD-0024", "MD-0032",
    ];
    let old = |name: &str, modules: &str| {
        let (token, key) = app.token(&user, name).modules(modules).create();
        created_at(&app, &token.id, long_ago);
        (token, key)
    };
    let (young, _) = app.token(&user, "Young").modules(ACCOUNT).create();
    created_at(&app, &young.id, now - Duration::days(10));
    let (tidy, _) = old("Tidy", AGREEMENTS);
    used_at(&app, &tidy.id, AGREEMENTS, now - Duration::days(5));
    let (idle, _) = old("Idle", "MD-0001,MD-0002");
    used_at(&app, &idle.id, AGREEMENTS, now - Duration::days(5));
    let (everything, _) = old("Everything", "all");
    used_at(&app, &everything.id, AGREEMENTS, now - Duration::days(5));
    let (busy, _) = old("Busy", "all");
    for module in every_module {
        used_at(&app, &busy.id, module, now - Duration::days(89));
    }
    let (lapsed, _) = old("Lapsed", AGREEMENTS);
    used_at(&app, &lapsed.id, AGREEMENTS, now - Duration::days(91));
    let (off, _) = old("Off", ACCOUNT);
    app.add_token(&user, "Off twin", Extension::Custom, StoredStatus::Inactive);
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(off.id.as_str()))
        .set(tokens::status.eq("inactive"))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    app.sign_in(&user).await;

    let (html, rows) = review(&app, "").await;
    // Among the columns an admin acts on, before the modules' (seen without scrolling).
    assert_eq!(
        select_all(&html, "table.review-table thead th")[..5],
        ["Token", "Status", "Last used", "Expires", "Unused grants"]
    );
    let expected = [
        ("Busy", "0"),
        ("Everything", "15"),
        ("Idle", "1"),
        ("Lapsed", "1"),
        ("Off", "1"),
        ("Off twin", "— too new to tell"),
        ("Tidy", "0"),
        ("Young", "— too new to tell"),
    ];
    assert_eq!(
        rows,
        expected
            .iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(
        attr(
            &html,
            &format!("tr[data-token='{}'] td.unused-grants a", idle.id),
            "href"
        )
        .as_deref(),
        Some(permissions_tab(&idle.id).as_str())
    );
    assert_eq!(
        attr(&html, "input#overgranted", "type").as_deref(),
        Some("checkbox")
    );
    assert_eq!(
        text(&html, "label[for=overgranted]"),
        "Only tokens with unused grants"
    );
    assert!(attr(&html, "input#overgranted", "checked").is_none());

    // The filter selects exactly the rows the rule counts unused grants in.
    let (html, filtered) = review(&app, "&overgranted=1").await;
    let flagged: Vec<&String> = rows
        .iter()
        .filter(|(_, c)| c.parse::<u32>().is_ok_and(|n| n > 0))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(filtered.keys().collect::<Vec<_>>(), flagged);
    assert_eq!(flagged, ["Everything", "Idle", "Lapsed", "Off"]);
    assert!(attr(&html, "input#overgranted", "checked").is_some());
    assert_eq!(text(&html, ".pagination .range"), "1-4 of 4");
    let csv_url = attr(&html, ".page-actions a[download]", "href").unwrap();
    assert!(csv_url.contains("overgranted=1"), "{csv_url}");
    let csv = app
        .get(&csv_url.replace("&amp;", "&"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let (_, narrowed) = review(&app, "&overgranted=1&status=active").await;
    assert_eq!(
        narrowed.keys().collect::<Vec<_>>(),
        ["Everything", "Idle", "Lapsed"]
    );

    // Using the unused module takes the token off at once (the total is counted again).
    let (idle_used, idle_key) = old("Idle again", "MD-0001,MD-0002");
    used_at(&app, &idle_used.id, AGREEMENTS, now);
    let (html, filtered) = review(&app, "&overgranted=1").await;
    assert_eq!(filtered.len(), 5);
    assert_eq!(text(&html, ".pagination .range"), "1-5 of 5");
    calls(&app, &idle_key, "/accounts", 1, 200).await;
    app.flush_usage();
    let (html, filtered) = review(&app, "&overgranted=1").await;
    assert!(!filtered.contains_key("Idle again"));
    assert_eq!(text(&html, ".pagination .range"), "1-4 of 4");
}

/// The filter's SQL against the rule itself, over many tokens near the edges: the tokens
/// `overgranted=1` lists are exactly those the rule flags, and the counts are the rule's.
async fn the_filter_agrees_with_the_rule(backend: Backend) {
    use tokendesk::domain::least_privilege::{Advice, LastUses};
    use tokendesk::domain::module::{Module, ModuleSet};
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let now = app.clock.now();
    let ages = [
        Duration::days(30) - Duration::minutes(1),
        Duration::days(30) + Duration::minutes(1),
        Duration::days(200),
    ];
    let last_uses = [
        None,
        Some(Duration::days(90) - Duration::minutes(1)),
        Some(Duration::days(90) + Duration::minutes(1)),
        Some(Duration::days(2)),
    ];
    let choices = ["all", ACCOUNT, "MD-0001,MD-0002", "MD-0002,MD-0007,MD-0010"];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        usize::try_from(seed >> 33).unwrap() % n
    };
    let mut expected = BTreeMap::new();
    for i in 0..30 {
        let name = format!("Token {i:02}");
        let modules = choices[next(choices.len())];
        let (token, _) = app.token(&user, &name).modules(modules).create();
        let created = now - ages[next(ages.len())];
        created_at(&app, &token.id, created);
        let mut uses = LastUses::new();
        for module in [ACCOUNT, AGREEMENTS, INTEGRATIONS, "MD-0010", "MD-0032"] {
            if let Some(ago) = last_uses[next(last_uses.len())] {
                used_at(&app, &token.id, module, now - ago);
                uses.insert(Module::find(module).unwrap(), now - ago);
            }
        }
        let held = ModuleSet::parse_list(modules).unwrap();
        // The pages are asked within the minute of margin the edges leave.
        let unused = Advice::of(created, &held, &uses, now).unused_count();
        expected.insert(name, unused);
    }
    app.sign_in(&user).await;
    let (_, rows) = review(&app, "").await;
    let shown: BTreeMap<String, Option<usize>> = rows
        .iter()
        .map(|(name, cell)| (name.clone(), cell.parse().ok()))
        .collect();
    assert_eq!(shown, expected);
    let (_, filtered) = review(&app, "&overgranted=1").await;
    let flagged: Vec<&String> = expected
        .iter()
        .filter(|(_, unused)| unused.is_some_and(|n| n > 0))
        .map(|(name, _)| name)
        .collect();
    assert!(!flagged.is_empty() && flagged.len() < expected.len());
    assert_eq!(filtered.keys().collect::<Vec<_>>(), flagged);
}

/// The review keeps totals while the account's token version stays the same: a write of module
/// use alone (no other change to the token) adds to it.
async fn module_use_adds_to_the_token_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = robert(&app);
    let (token, _) = app.token(&user, "Counted").modules(ACCOUNT).create();
    let version = || -> i64 {
        let mut conn = app.pool.get().unwrap();
        token_writes::table
            .filter(token_writes::account_id.eq(user.account.id.as_str()))
            .select(token_writes::weight)
            .load::<i64>(&mut conn)
            .unwrap()
            .into_iter()
            .sum()
    };
    let before = version();
    used_at(&app, &token.id, ACCOUNT, app.clock.now());
    assert!(version() > before, "an insert adds");
    let inserted = version();
    let mut conn = app.pool.get().unwrap();
    diesel::update(token_module_usage::table)
        .set(token_module_usage::requests.eq(token_module_usage::requests + 1))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    assert!(version() > inserted, "an update adds");
}

crate::on_both_databases!(
    the_permissions_tab_counts_use_per_module,
    the_advice_starts_at_30_days_old_and_90_days_unused,
    removing_unused_modules_changes_only_those,
    all_is_replaced_by_the_modules_used,
    only_who_may_manage_the_token_narrows_it,
    the_review_counts_unused_grants_and_filters_the_overgranted,
    the_filter_agrees_with_the_rule,
    module_use_adds_to_the_token_version,
);
