//! The Tokens list: pages, filters, search, sort, the empty state, and whose tokens show.

use crate::common::{Backend, TestApp, TestUser, attr, listed_names, select_all, spawn_app, text};
use diesel::prelude::*;
use tokendesk::db::schema::tokens;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

/// 25 tokens "Token 01".."Token 25", created a minute apart in that order; every fifth is
/// disabled, extensions take turns, and every token has the external id "EXT-REF-<n>".
fn twenty_five_tokens(app: &TestApp, user: &TestUser) {
    let extensions = [
        Extension::Custom,
        Extension::Flowgear,
        Extension::Zapier,
        Extension::Reports,
    ];
    let base = chrono::Utc::now().naive_utc() - chrono::Duration::days(1);
    for n in 1..=25 {
        let status = if n % 5 == 0 {
            StoredStatus::Inactive
        } else {
            StoredStatus::Active
        };
        let (token, _) = app
            .token(user, &format!("Token {n:02}"))
            .external_id(&format!("EXT-REF-{n}"))
            .extension(extensions[(n - 1) % 4])
            .status(status)
            .create();
        let mut conn = app.pool.get().unwrap();
        diesel::update(tokens::table.find(token.id.as_str()))
            .set(tokens::created_at.eq(base + chrono::Duration::minutes(n as i64)))
            .execute(&mut conn)
            .unwrap();
    }
}

fn names(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|n| format!("Token {n:02}")).collect()
}

async fn the_list_pages_through_25_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    twenty_five_tokens(&app, &user);

    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(
        select_all(&html, "table.tokens-table thead th"),
        [
            "Label",
            "Extension",
            "Created",
            "Last used",
            "Status",
            "Actions"
        ]
    );
    assert!(
        select_all(&html, "td.last-used")
            .iter()
            .all(|cell| cell == "Never"),
        "none of them was used"
    );
    assert_eq!(
        listed_names(&html),
        names(16..=25).into_iter().rev().collect::<Vec<_>>(),
        "newest first"
    );
    assert_eq!(text(&html, ".pagination .range"), "1-10 of 25");
    assert_eq!(
        select_all(&html, ".pagination li a"),
        ["1", "2", "3", "Next ›"]
    );

    let html = app.get_html("/integrations/tokens?page=3").await;
    assert_eq!(text(&html, ".pagination .range"), "21-25 of 25");
    assert_eq!(
        listed_names(&html),
        names(1..=5).into_iter().rev().collect::<Vec<_>>()
    );
    assert_eq!(
        attr(&html, ".pagination a[rel=prev]", "href").as_deref(),
        Some("/integrations/tokens?page=2")
    );

    let html = app.get_html("/integrations/tokens?per_page=25").await;
    assert_eq!(listed_names(&html).len(), 25);
    assert_eq!(text(&html, ".pagination .range"), "1-25 of 25");
    assert!(
        select_all(&html, ".pagination li").is_empty(),
        "one page needs no page links"
    );

    // Past the end shows the last page rather than nothing.
    let html = app.get_html("/integrations/tokens?page=40").await;
    assert_eq!(text(&html, ".pagination .range"), "21-25 of 25");

    // A row shows the label with id, the extension with its id, creation and status.
    let html = app.get_html("/integrations/tokens?q=Token%2005").await;
    let row = select_all(&html, "table.tokens-table tbody tr td");
    assert!(row[0].starts_with("Token 05 SU-"), "{row:?}");
    assert_eq!(row[1], "Custom Integration EXT-000");
    assert!(row[2].ends_with("Robert Balboa"), "{row:?}");
    assert_eq!(row[3], "Never", "last used");
    assert_eq!(row[4], "Disabled");
}

async fn the_list_filters_by_status_and_extension(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    twenty_five_tokens(&app, &user);

    let html = app.get_html("/integrations/tokens?status=inactive").await;
    assert_eq!(
        listed_names(&html),
        ["Token 25", "Token 20", "Token 15", "Token 10", "Token 05"]
    );
    assert_eq!(text(&html, ".pagination .range"), "1-5 of 5");
    assert_eq!(
        attr(&html, "select[name=status] option[selected]", "value").as_deref(),
        Some("inactive")
    );

    let html = app
        .get_html("/integrations/tokens?status=active&per_page=50")
        .await;
    assert_eq!(listed_names(&html).len(), 20);
    assert!(select_all(&html, ".status").iter().all(|s| s == "Active"));

    let html = app
        .get_html("/integrations/tokens?extension=zapier&per_page=50")
        .await;
    assert_eq!(
        listed_names(&html),
        [
            "Token 23", "Token 19", "Token 15", "Token 11", "Token 07", "Token 03"
        ]
    );
    let html = app
        .get_html("/integrations/tokens?extension=EXT-001&status=inactive")
        .await;
    assert_eq!(listed_names(&html), ["Token 10"]);

    // Page links keep the filters.
    let html = app.get_html("/integrations/tokens?status=active").await;
    assert_eq!(
        attr(&html, ".pagination a[rel=next]", "href").as_deref(),
        Some("/integrations/tokens?page=2&status=active")
    );
}

async fn the_list_searches_names_ids_and_external_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    twenty_five_tokens(&app, &user);
    let (special, _) = app.add_token(
        &user,
        "100% Coverage_Bot",
        Extension::Custom,
        StoredStatus::Active,
    );

    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "token 1".into(),
            vec![
                "Token 19", "Token 18", "Token 17", "Token 16", "Token 15", "Token 14", "Token 13",
                "Token 12", "Token 11", "Token 10",
            ],
        ),
        ("TOKEN 07".into(), vec!["Token 07"]),
        ("ext-ref-22".into(), vec!["Token 22"]),
        (
            special.id.to_string().to_lowercase(),
            vec!["100% Coverage_Bot"],
        ),
        ("100%".into(), vec!["100% Coverage_Bot"]),
        ("e_b".into(), vec!["100% Coverage_Bot"]),
        ("%".into(), vec!["100% Coverage_Bot"]),
        ("_".into(), vec!["100% Coverage_Bot"]),
        ("nothing like this".into(), vec![]),
    ];
    for (q, expected) in cases {
        let path = format!(
            "/integrations/tokens?{}",
            serde_urlencoded::to_string([("q", &q)]).unwrap()
        );
        let html = app.get_html(&path).await;
        assert_eq!(listed_names(&html), expected, "q={q:?}");
        assert_eq!(
            attr(&html, "input[name=q]", "value").as_deref(),
            Some(q.trim()),
            "the search box keeps the text"
        );
    }

    let html = app
        .get_html("/integrations/tokens?q=nothing+like+this")
        .await;
    assert_eq!(
        text(&html, ".empty-state h2"),
        "No tokens match these filters"
    );
    assert!(
        text(&html, ".empty-state p")
            .starts_with("Nothing is named “nothing like this” or has that id or external id."),
        "{}",
        text(&html, ".empty-state p")
    );
    assert!(select_all(&html, ".pagination").is_empty(), "no “0-0 of 0”");
    assert!(
        !select_all(&html, "form.filters").is_empty(),
        "the filters stay, to change"
    );
}

/// The Last used column says when, as people say it, with the time and place on hover.
async fn the_list_says_when_each_token_was_last_used(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (_, key) = app.token(&user, "Busy").create();
    app.token(&user, "Idle").create();
    app.call(&key, reqwest::Method::GET, "/auth/context", None)
        .await;
    app.flush_usage();
    app.clock.advance(chrono::Duration::hours(2));
    app.sign_in(&user).await;
    let html = app.get_html("/integrations/tokens?sort=name").await;
    assert_eq!(select_all(&html, "td.last-used"), ["2 hours ago", "Never"]);
    assert!(
        attr(&html, "td.last-used span", "title")
            .unwrap()
            .ends_with("from 127.0.0.1")
    );
}

async fn the_list_sorts_by_name_and_creation(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    for name in ["banana", "Apple", "cherry"] {
        app.add_token(&user, name, Extension::Custom, StoredStatus::Active);
    }
    let cases = [
        ("name", ["Apple", "banana", "cherry"]),
        ("-name", ["cherry", "banana", "Apple"]),
        ("created", ["banana", "Apple", "cherry"]),
        ("-created", ["cherry", "Apple", "banana"]),
    ];
    for (sort, expected) in cases {
        let html = app
            .get_html(&format!("/integrations/tokens?sort={sort}"))
            .await;
        assert_eq!(listed_names(&html), expected, "sort={sort}");
        assert_eq!(
            attr(&html, "select[name=sort] option[selected]", "value").as_deref(),
            Some(sort)
        );
    }
}

async fn a_new_account_sees_the_empty_state(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(text(&html, ".empty-state h2"), "No API tokens yet");
    assert!(select_all(&html, "table.tokens-table").is_empty());
    // One thing to do, said once: no filters over nothing, no second Create, no “0-0 of 0”.
    assert!(select_all(&html, "form.filters").is_empty());
    assert!(select_all(&html, ".pagination").is_empty());
    assert_eq!(
        select_all(&html, "a[href='/integrations/tokens/new']"),
        ["Create token"]
    );
}

async fn bad_query_parameters_never_break_the_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    app.add_token(&user, "Only token", Extension::Custom, StoredStatus::Active);
    for query in [
        "page=-1",
        "page=abc",
        "page=0",
        "page=99999999999999999999",
        "page=4294967295",
        "per_page=0",
        "per_page=1000000",
        "per_page=-10",
        "status=deleted",
        "status=",
        "extension=%3Cscript%3E",
        "extension=EXT-999",
        "sort=%27%3B%20DROP%20TABLE%20tokens%3B--",
        "q=%27%20OR%201%3D1%20--",
        "q=%00%01",
        "q=%FF%FE",
        "page=1&page=2",
        "unknown=1",
        "q=",
    ] {
        let response = app.get(&format!("/integrations/tokens?{query}")).await;
        let status = response.status();
        assert!(status == 200 || status == 400, "{query}: {status}");
    }
    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(
        listed_names(&html),
        ["Only token"],
        "and the data is intact"
    );
}

async fn names_are_escaped_in_the_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    app.add_token(
        &user,
        "<script>alert('x')</script>",
        Extension::Custom,
        StoredStatus::Active,
    );
    let body = app.get("/integrations/tokens").await.text().await.unwrap();
    assert!(!body.contains("<script>alert"), "the name is never markup");
    assert!(
        body.contains("&#60;script&#62;alert(") || body.contains("&lt;script&gt;alert("),
        "escaped"
    );
    let html = scraper::Html::parse_document(&body);
    assert_eq!(
        listed_names(&html),
        ["<script>alert('x')</script>"],
        "and reads as typed"
    );
}

async fn each_account_sees_only_its_own_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let rival = app.add_user("Rival Corp", "mallory@rival.example", "Mallory");
    app.add_token(&user, "Ours", Extension::Custom, StoredStatus::Active);
    let (theirs, _) = app.add_token(&rival, "Theirs", Extension::Custom, StoredStatus::Active);

    let html = app.get_html("/integrations/tokens").await;
    assert_eq!(listed_names(&html), ["Ours"]);
    let html = app
        .get_html(&format!("/integrations/tokens?q={}", theirs.id))
        .await;
    assert!(listed_names(&html).is_empty());

    let paths = [
        format!("/integrations/tokens/{}", theirs.id),
        format!("/integrations/tokens/{}/delete", theirs.id),
    ];
    for path in paths {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
    for action in ["disable", "enable", "delete"] {
        let response = app
            .post(&format!("/integrations/tokens/{}/{action}", theirs.id), &[])
            .await;
        assert_eq!(response.status(), 404, "{action}");
    }
    let untouched = app.find_token(&rival, &theirs).expect("still there");
    assert_eq!(untouched.stored_status, StoredStatus::Active);
    assert_eq!(untouched.updated, theirs.updated);

    // Malformed and unknown ids are simply not found.
    for path in [
        "/integrations/tokens/SU-000-000-000",
        "/integrations/tokens/nope",
        "/integrations/tokens/%00",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
}

/// The names of the account's live tokens that the search of `q` must find, by a scan of every
/// token with the test the list applies (`lower(column) LIKE '%q%'`), no index involved.
fn found_by_a_scan(app: &TestApp, user: &TestUser, q: &str) -> Vec<String> {
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let pattern = tokendesk::db::query::contains_pattern(q);
    let sql = "SELECT name FROM tokens WHERE account_id = $1 AND deleted_at IS NULL AND \
               (lower(name) LIKE $2 ESCAPE '\\' OR lower(id) LIKE $2 ESCAPE '\\' \
               OR lower(external_id) LIKE $2 ESCAPE '\\') ORDER BY name";
    let mut conn = app.pool.get().unwrap();
    let sql = match app.backend {
        Backend::Sqlite => sql.replace('$', "?"),
        Backend::Postgres => sql.to_owned(),
    };
    diesel::sql_query(sql)
        .bind::<Text, _>(user.account.id.as_str())
        .bind::<Text, _>(&pattern)
        .load::<Found>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|found| found.name)
        .collect()
}

/// The indexed search (FTS5 trigrams on SQLite, pg_trgm on PostgreSQL) finds exactly what a scan
/// finds: wildcards and quotes are literal, case is ignored as before, renamed and deleted tokens
/// are found by what they are now.
async fn the_indexed_search_finds_what_a_scan_finds(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let names = [
        ("100% Coverage_Bot", "PCT-1"),
        ("50%_off sync", "under_score"),
        ("O'Brien's \"quoted\" feed", "q'1"),
        ("Back\\slash relay", "b\\s"),
        ("Café Größe Ærø", "ÉCOLE-7"),
        ("ÉCOLE naïve ünïcode", "café"),
        ("日本語トークン", "東京-01"),
        ("Emoji 🚀 launcher", "🚀🚀🚀"),
        ("plain zapier alerts", "ZAP-9"),
        ("Stays then goes", "GONE-1"),
        ("Old name", "RENAME-1"),
    ];
    let mut made = Vec::new();
    for (name, external_id) in names {
        let (token, _) = app.token(&user, name).external_id(external_id).create();
        made.push(token);
    }
    // One renamed, one deleted: the index follows both.
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(made[10].id.as_str()))
        .set(tokens::name.eq("Brand new title"))
        .execute(&mut conn)
        .unwrap();
    diesel::update(tokens::table.find(made[9].id.as_str()))
        .set(tokens::deleted_at.eq(Some(chrono::Utc::now().naive_utc())))
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    let queries = [
        "%",
        "_",
        "%_",
        "100%",
        "0% c",
        "e_b",
        "_off",
        "'",
        "o'brien",
        "\"quoted\"",
        "\"",
        "\\",
        "k\\sl",
        "café",
        "CAFÉ",
        "größe",
        "ærø",
        "école",
        "École",
        "ÉCOLE",
        "naïve",
        "日本",
        "トークン",
        "東京",
        "🚀",
        "🚀🚀",
        "zap",
        "ZAPIER",
        "zap-9",
        "pct-1",
        "rename",
        "old name",
        "brand new",
        "stays then",
        "gone-1",
        "su-",
        "a",
        "ab",
        "nothing like this",
    ];
    for q in queries {
        let path = format!(
            "/integrations/tokens?{}",
            serde_urlencoded::to_string([("q", q), ("per_page", "100"), ("sort", "name")]).unwrap()
        );
        let html = app.get_html(&path).await;
        let mut listed = listed_names(&html);
        listed.sort();
        let mut scanned = found_by_a_scan(&app, &user, q);
        scanned.sort();
        assert_eq!(listed, scanned, "q={q:?}");
    }
    // Some answers spelt out, so that the comparison is not of two empty lists.
    let found = |q: &str| {
        let mut names = found_by_a_scan(&app, &user, q);
        names.sort();
        names
    };
    assert_eq!(found("%"), ["100% Coverage_Bot", "50%_off sync"]);
    assert_eq!(found("o'brien"), ["O'Brien's \"quoted\" feed"]);
    assert_eq!(found("brand new"), ["Brand new title"]);
    assert!(found("old name").is_empty() && found("stays then").is_empty());
    assert_eq!(found("東京"), ["日本語トークン"]);
    assert_eq!(found("🚀🚀"), ["Emoji 🚀 launcher"]);
    assert_eq!(found("café"), ["Café Größe Ærø", "ÉCOLE naïve ünïcode"]);
}

/// Pages in the second half are read from the end, in the reverse order: whatever the sort,
/// with names equal but for case and tokens created at the same instant, the pages put together
/// are the one long page, and loading them again (their total kept) changes nothing.
async fn every_page_holds_what_one_long_page_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let same_time = chrono::Utc::now().naive_utc() - chrono::Duration::days(3);
    for n in 0..43 {
        let name = match n % 3 {
            0 => "Same name".to_owned(),
            1 => "same NAME".to_owned(),
            _ => format!("Token {n:02}"),
        };
        let status = if n % 4 == 0 {
            StoredStatus::Inactive
        } else {
            StoredStatus::Active
        };
        let (token, _) = app.token(&user, &name).status(status).create();
        if n % 2 == 0 {
            let mut conn = app.pool.get().unwrap();
            diesel::update(tokens::table.find(token.id.as_str()))
                .set(tokens::created_at.eq(same_time))
                .execute(&mut conn)
                .unwrap();
        }
    }
    let ids = |html: &scraper::Html| select_all(html, "table.tokens-table tbody tr td .token-id");
    for filter in ["", "&status=inactive", "&status=active"] {
        for sort in ["-created", "created", "name", "-name"] {
            let long = app
                .get_html(&format!(
                    "/integrations/tokens?per_page=100&sort={sort}{filter}"
                ))
                .await;
            let whole = ids(&long);
            assert!(whole.len() >= 5, "{filter} {sort}: {whole:?}");
            for round in 0..2 {
                let mut paged = Vec::new();
                for page in 1..=whole.len().div_ceil(10) {
                    let html = app
                        .get_html(&format!(
                            "/integrations/tokens?per_page=10&page={page}&sort={sort}{filter}"
                        ))
                        .await;
                    paged.extend(ids(&html));
                }
                assert_eq!(paged, whole, "{filter} sort={sort}, round {round}");
            }
        }
    }
}

crate::on_both_databases!(
    the_list_says_when_each_token_was_last_used,
    every_page_holds_what_one_long_page_holds,
    the_indexed_search_finds_what_a_scan_finds,
    the_list_pages_through_25_tokens,
    the_list_filters_by_status_and_extension,
    the_list_searches_names_ids_and_external_ids,
    the_list_sorts_by_name_and_creation,
    a_new_account_sees_the_empty_state,
    bad_query_parameters_never_break_the_page,
    names_are_escaped_in_the_page,
    each_account_sees_only_its_own_tokens,
);
