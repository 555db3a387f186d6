//! The key cache: a change is refused at once on the instance that made it, within a second on
//! every other instance on the same database, and still after the listener's connection was
//! killed.

use crate::common::{Backend, TestApp, spawn_app};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use tokendesk::domain::api_key::ApiKey;

/// The status `key` gets from `GET /public/v1/agreements` on `app`.
async fn status(app: &TestApp, key: &ApiKey) -> u16 {
    app.api(Method::GET, "/agreements?limit=1", key)
        .send()
        .await
        .expect("API request")
        .status()
        .as_u16()
}

/// Asks `app` until `key` gets `expected`, for at most `limit`; how long it took.
async fn within(app: &TestApp, key: &ApiKey, expected: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = status(app, key).await;
        if got == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still {got} after {limit:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Both instances answer `key` from their caches (the listener is up and the key was read). A
/// read is not kept when a change was heard of meanwhile (the writes just made notify too), so
/// the key is asked for until it is.
async fn warm(apps: &[&TestApp], key: &ApiKey) {
    for app in apps {
        let started = Instant::now();
        loop {
            assert_eq!(status(app, key).await, 200);
            if app.keys().get(&key.token_id).is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the key is kept after a request"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const SECOND: Duration = Duration::from_secs(1);

async fn every_change_reaches_every_instance(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.another_instance();
    let user = a.signed_in_user().await;
    let (_, admin) = a.token(&user, "Admin").modules("MD-0000").create();
    let (target, key) = a.token(&user, "Target").modules("MD-0001,MD-0002").create();
    let path = |rest: &str| format!("/auth/tokens/{}{rest}", target.id);

    // Disabled on A: refused by A on the next request, by B within a second.
    warm(&[&a, &b], &key).await;
    let answer = a
        .call(&admin, Method::POST, &path("/deactivate"), None)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        status(&a, &key).await,
        401,
        "at once on the instance that wrote"
    );
    let took = within(&b, &key, 401, SECOND).await;
    println!("disabled: refused on the other instance after {took:?}");

    // Enabled again: accepted again on both at once (a refusal from memory is checked in the
    // database before it is answered; only acceptances come from the cache).
    let answer = a.call(&admin, Method::POST, &path("/activate"), None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(status(&a, &key).await, 200);
    assert_eq!(status(&b, &key).await, 200);

    // Narrowed (Agreements taken away): 403 on both.
    warm(&[&a, &b], &key).await;
    let answer = a
        .call(
            &admin,
            Method::DELETE,
            &path("/permissions"),
            json!([{"object": {"id": "MD-0002"}}]),
        )
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    assert_eq!(status(&a, &key).await, 403);
    within(&b, &key, 403, SECOND).await;
    let answer = a
        .call(
            &admin,
            Method::POST,
            &path("/permissions"),
            json!([{"object": {"id": "MD-0002"}}]),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(status(&b, &key).await, 200, "granted again: at once");

    // Limited to a network the requests do not come from: 403 on both.
    warm(&[&a, &b], &key).await;
    let answer = a
        .call(
            &admin,
            Method::PUT,
            &path(""),
            json!({"allowed_networks": ["10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(status(&a, &key).await, 403);
    within(&b, &key, 403, SECOND).await;
    let answer = a
        .call(
            &admin,
            Method::PUT,
            &path(""),
            json!({"allowed_networks": []}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    within(&b, &key, 200, SECOND).await;

    // Rotated with no grace: the old key is refused on both, the new one accepted.
    warm(&[&a, &b], &key).await;
    let answer = a
        .call(&admin, Method::POST, &path("/rotate"), json!({}))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let new_key = ApiKey::parse(answer.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(status(&a, &key).await, 401);
    within(&b, &key, 401, SECOND).await;
    assert_eq!(status(&b, &new_key).await, 200);

    // Deleted: refused on both.
    warm(&[&a, &b], &new_key).await;
    let answer = a.call(&admin, Method::DELETE, &path(""), None).await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    assert_eq!(status(&a, &new_key).await, 401);
    within(&b, &new_key, 401, SECOND).await;
}

/// A change through the web screens on one instance, with the other serving the key.
async fn a_token_disabled_in_the_browser_is_refused_everywhere(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.another_instance();
    let user = a.signed_in_user().await;
    let (target, key) = a.token(&user, "Target").modules("MD-0001,MD-0002").create();
    warm(&[&a, &b], &key).await;
    let response = a
        .post(
            &format!("/integrations/tokens/{}/disable", target.id),
            &[("confirm", "yes")],
        )
        .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(status(&a, &key).await, 401);
    within(&b, &key, 401, SECOND).await;
}

/// The listener's connection is killed; the instance stops trusting its cache at once, listens
/// again, forgets what it kept, and a change made meanwhile is refused within a second.
#[tokio::test]
async fn the_listener_comes_back_after_its_connection_is_killed() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.another_instance();
    let user = a.signed_in_user().await;
    let (_, admin) = a.token(&user, "Admin").modules("MD-0000").create();
    let (target, key) = a.token(&user, "Target").modules("MD-0001,MD-0002").create();
    warm(&[&a, &b], &key).await;

    let killed = kill_listeners(&a);
    assert_eq!(killed, 2, "one listener per instance");
    let answer = a
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{}/deactivate", target.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    let took = within(&b, &key, 401, SECOND).await;
    println!("refused after the listener was killed, within {took:?}");

    // Listening again, and the cache in use again.
    let started = Instant::now();
    while listeners(&a) < 2 || !b.keys().is_trusted() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "listening again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer = a
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{}/activate", target.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    within(&b, &key, 200, SECOND).await;
    // Kept again (a read is not kept while the activation's own notice is on its way).
    warm(&[&b], &key).await;
    let answer = a
        .call(
            &admin,
            Method::POST,
            &format!("/auth/tokens/{}/deactivate", target.id),
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    within(&b, &key, 401, SECOND).await;
}

fn listener_query(select: &str) -> String {
    format!(
        "SELECT {select} AS n FROM pg_stat_activity \
         WHERE application_name = '{}' AND datname = current_database()",
        tokendesk::db::key_changes::LISTENER_NAME
    )
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: String) -> i64 {
    use diesel::RunQueryDsl;
    let mut conn = app.pool.get().unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

fn kill_listeners(app: &TestApp) -> i64 {
    let kill = listener_query("pg_terminate_backend(pid)");
    count(
        app,
        format!("SELECT count(*) AS n FROM ({kill}) AS killed WHERE killed.n"),
    )
}

fn listeners(app: &TestApp) -> i64 {
    count(app, listener_query("count(*)"))
}

crate::on_both_databases!(
    every_change_reaches_every_instance,
    a_token_disabled_in_the_browser_is_refused_everywhere,
);
