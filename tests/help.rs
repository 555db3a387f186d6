//! Help, the version, the frame of every page a signed-in user sees, and answers a browser can
//! go back over.

use crate::common::{Backend, TestApp, attr, select_all, spawn_app, text};
use tokendesk::services::demo;

async fn signed_in(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    app
}

async fn help_serves_the_guide_of_these_screens(backend: Backend) {
    let app = signed_in(backend).await;
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(
        attr(&html, ".topbar a.topbar-link", "href").as_deref(),
        Some("/help")
    );
    assert_eq!(text(&html, ".footer .version"), tokendesk::VERSION);

    let response = app.get("/help").await;
    assert_eq!(response.status(), 200);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "main h1"), "tokendesk user guide");
    // Rendered from docs/user-guide.md as built: its sections, with the anchors its contents use.
    let guide = include_str!("../docs/user-guide.md");
    let sections: Vec<String> = guide
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::to_owned)
        .collect();
    assert_eq!(select_all(&html, ".help-doc h2"), sections);
    assert_eq!(
        attr(&html, ".help-doc h2", "id").as_deref(),
        Some("contents")
    );
    let anchors: Vec<String> = html
        .select(&scraper::Selector::parse(".help-doc a[href^='#']").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(anchors.len() > 10, "{anchors:?}");
    for anchor in anchors {
        let id = format!("[id='{}']", &anchor[1..]);
        assert_eq!(select_all(&html, &id).len(), 1, "{anchor} leads nowhere");
    }
    assert_eq!(
        text(&html, ".topbar a[aria-current=page]"),
        "Help",
        "the top bar marks where one is"
    );
    // The documents it links to are pages too.
    for path in ["/help/api", "/help/operations"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    assert_eq!(app.get("/help/secrets").await.status(), 404);
}

async fn error_pages_keep_the_frame_for_a_signed_in_user(backend: Backend) {
    let app = signed_in(backend).await;
    let response = app.get("/integrations/tokens/SU-000-000-000").await;
    assert_eq!(response.status(), 404);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "main h1"), "Not found");
    assert_eq!(text(&html, ".topbar .account-name"), "Front Street Inc");
    assert_eq!(select_all(&html, "nav.sidebar a").len(), 11);
    assert_eq!(text(&html, ".footer .version"), tokendesk::VERSION);

    // Someone not signed in gets the bare page: nothing of an account shows.
    let anonymous = crate::common::new_client();
    let response = anonymous
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "h1"), "Not found");
    assert!(select_all(&html, ".topbar").is_empty());

    // A member refused an admin's page keeps their own navigation, and is told why.
    let member = app.mia();
    app.sign_in(&member).await;
    let response = app.get("/account/users").await;
    assert_eq!(response.status(), 403);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "main h1"), "Not allowed");
    assert_eq!(text(&html, ".topbar .user-name"), "Vendor: Mia Wallace");
    assert_eq!(select_all(&html, "nav.sidebar a").len(), 7);
}

async fn a_refused_form_may_be_kept_for_back_and_nothing_else_is(backend: Backend) {
    let app = signed_in(backend).await;
    let refused = app
        .post(
            "/integrations/tokens/new/general",
            &[("name", "No description")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.headers()["cache-control"], "private, no-cache");
    let passed = app
        .post(
            "/integrations/tokens/new/general",
            &[("name", "Complete"), ("description", "Has one")],
        )
        .await;
    assert_eq!(passed.status(), 303);
    assert_eq!(passed.headers()["cache-control"], "no-store");
    let page = app.get("/integrations/tokens").await;
    assert_eq!(page.headers()["cache-control"], "no-store");
}

async fn the_demo_is_a_story_to_walk(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.robert();
    let mut conn = app.pool.get().unwrap();
    demo::seed_demo_data(&mut conn, &app.master_key, app.clock.now()).unwrap();
    // Seeding again changes nothing.
    demo::seed_demo_data(&mut conn, &app.master_key, app.clock.now()).unwrap();
    drop(conn);
    app.sign_in(&user).await;
    let list = app.get_html("/integrations/tokens?per_page=25").await;
    assert_eq!(select_all(&list, "a.token-name").len(), 12);
    assert_eq!(select_all(&list, ".expiring"), ["Expires in 5 days"]);
    let created_by = select_all(&list, "table.tokens-table tbody td:nth-child(3) .muted");
    assert!(created_by.iter().any(|by| by == demo::DEMO_MEMBER_NAME));
    assert!(created_by.iter().any(|by| by == demo::DEMO_ADMIN_NAME));

    let review = app
        .get_html("/integrations/tokens/review?overgranted=1")
        .await;
    let mut overgranted = select_all(&review, "table.review-table a.token-name");
    overgranted.sort();
    assert_eq!(
        overgranted,
        [
            "Flowgear order sync",
            "Monthly revenue reports",
            "Tutorial API Token"
        ]
    );
    let review = app.get_html("/integrations/tokens/review").await;
    assert_eq!(text(&review, "#unused-count"), "1");
    let used = select_all(&review, "table.review-table tbody td.last-used")
        .into_iter()
        .filter(|last| last != "Never")
        .count();
    assert!(used >= 5, "several tokens in use: {used}");
    assert!(
        select_all(&review, "table.review-table tbody td")
            .iter()
            .any(|cell| cell.starts_with("Disabled")),
    );

    let activity = app.get_html("/account/activity?kind=token.rotated").await;
    assert_eq!(select_all(&activity, ".activity-table tbody tr").len(), 1);
    let activity = app.get_html("/account/activity?kind=token.disabled").await;
    assert!(text(&activity, ".activity-table .detail").contains("reported as leaked"));
    let users = app.get_html("/account/users").await;
    assert!(select_all(&users, "td.user-name").contains(&demo::DEMO_MEMBER_NAME.to_owned()));
}

crate::on_both_databases!(
    help_serves_the_guide_of_these_screens,
    error_pages_keep_the_frame_for_a_signed_in_user,
    a_refused_form_may_be_kept_for_back_and_nothing_else_is,
    the_demo_is_a_story_to_walk,
);
