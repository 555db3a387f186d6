//! Storage full (SQLite, held at its size with `PRAGMA max_page_count`): every change is
//! refused clearly, 507 and "nothing was changed" (the API's `SRV_003`), pages and the API can
//! still be read, no answer is an empty 500, and once there is room again it all works, with no
//! restart.

use crate::common::{Backend, TestApp, spawn_app};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;

#[derive(QueryableByName)]
struct Pages {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    page_count: i64,
}

/// Holds the file at its size on every pooled connection, and fills what free room it has.
fn fill(app: &TestApp) {
    let mut held: Vec<_> = (0..app.pool.max_size())
        .map(|_| app.pool.get().unwrap())
        .collect();
    let pages = diesel::sql_query("PRAGMA page_count")
        .get_result::<Pages>(&mut held[0])
        .unwrap()
        .page_count;
    held[0]
        .batch_execute("CREATE TABLE IF NOT EXISTS ballast (x BLOB)")
        .unwrap();
    for conn in &mut held {
        conn.batch_execute(&format!("PRAGMA max_page_count = {}", pages + 1))
            .unwrap();
    }
    // Whatever room is left goes to ballast, small and then smaller, until none is.
    for size in [4000, 1000, 200, 50, 10] {
        while held[0]
            .batch_execute(&format!("INSERT INTO ballast VALUES (randomblob({size}))"))
            .is_ok()
        {}
    }
}

/// Room again: the limit lifted on every pooled connection.
fn free(app: &TestApp) {
    let mut held: Vec<_> = (0..app.pool.max_size())
        .map(|_| app.pool.get().unwrap())
        .collect();
    for conn in &mut held {
        conn.batch_execute("PRAGMA max_page_count = 1073741823")
            .unwrap();
    }
    held[0].batch_execute("DROP TABLE ballast").unwrap();
}

#[tokio::test]
async fn a_full_disk_refuses_changes_clearly_and_reads_keep_working() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app.signed_in_user().await;
    let (token, key) = app.token(&user, "Reader").create();
    fill(&app);

    let read = app.call(&key, Method::GET, "/auth/tokens", None).await;
    assert_eq!(read.status, 200, "reading works: {:?}", read.body);
    // What room the tables' own pages have left goes first; then it is full.
    let body = json!({
        "name": "Not now",
        "description": "The disk is full",
        "extension": {"id": "EXT-000"},
        "permissions": [{"object": {"id": "MD-0002"}}],
    });
    let refused = loop {
        let write = app
            .call(&key, Method::POST, "/auth/tokens", body.clone())
            .await;
        match write.status {
            201 => continue,
            _ => break write,
        }
    };
    assert_eq!(refused.status, 507, "{:?}", refused.body);
    assert_eq!(refused.code(), "SRV_003");
    assert!(refused.errors()[0].contains("nothing was changed"));
    let before = app.token_count(&user);
    let again = app.call(&key, Method::POST, "/auth/tokens", body).await;
    assert_eq!(again.status, 507);
    assert_eq!(app.token_count(&user), before, "nothing was changed");

    // Pages: read while the session cannot be saved, and the sign-in page for a newcomer.
    let list = app.get("/integrations/tokens").await;
    assert_eq!(list.status(), 200);
    let newcomer = crate::common::new_client();
    let login = newcomer.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("password"));

    // A change from a page: refused with a page that says so, headers and id included.
    let app = &app;
    let switch = |action: &'static str| {
        let path = format!("/integrations/tokens/{}/{action}", token.id);
        async move { app.post(&path, &[]).await }
    };
    let mut actions = ["disable", "enable"].into_iter().cycle();
    let refused = loop {
        let action = actions.next().unwrap();
        let answer = switch(action).await;
        if answer.status() != 303 {
            break (action, answer);
        }
    };
    let (action, refused) = refused;
    assert_eq!(refused.status(), 507);
    assert!(refused.headers().contains_key("content-security-policy"));
    assert!(refused.headers().contains_key("x-request-id"));
    let page = refused.text().await.unwrap();
    assert!(page.contains("nothing was changed"), "{page}");

    free(app);
    assert_eq!(
        switch(action).await.status(),
        303,
        "it recovers without a restart"
    );
}
