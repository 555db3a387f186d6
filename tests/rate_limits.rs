//! Per-key rate limits: a key limited to 60 requests a minute gets 60 answers and then 429 with
//! `Retry-After`, its `RateLimit-*` headers counting down; the next minute it is whole again; and
//! two instances on one database together let through at most 20% more. Minutes pass on the
//! server's clock.

use crate::common::{Backend, TestApp, spawn_app};
use chrono::{Duration, Timelike};
use diesel::prelude::*;
use reqwest::Method;
use std::time::Instant;
use tokendesk::db::schema::rate_instances;
use tokendesk::domain::api_key::ApiKey;

/// Moves the server's clock to five seconds into the next minute, so a test has 55 s of one
/// window; the seconds left until the next minute.
fn at_the_start_of_a_minute(app: &TestApp) -> u32 {
    let now = app.clock.now();
    let into = Duration::seconds(i64::from(now.second()))
        + Duration::nanoseconds(i64::from(now.nanosecond()));
    app.clock.advance(Duration::seconds(65) - into);
    55
}

fn header(response: &reqwest::Response, name: &str) -> Option<u32> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn get(app: &TestApp, key: &ApiKey) -> reqwest::Response {
    app.api(Method::GET, "/modules", key).send().await.unwrap()
}

async fn a_limited_key_gets_its_limit_and_then_429(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, limited) = app.token(&user, "Limited").rate_limit(60).create();
    let (_, unlimited) = app.token(&user, "Unlimited").create();
    let reset = at_the_start_of_a_minute(&app);

    for n in 1..=60u32 {
        let response = get(&app, &limited).await;
        assert_eq!(response.status(), 200, "request {n}");
        assert_eq!(header(&response, "ratelimit-limit"), Some(60));
        assert_eq!(header(&response, "ratelimit-remaining"), Some(60 - n));
        let left = header(&response, "ratelimit-reset").unwrap();
        assert!(left <= reset && left + 5 >= reset, "reset {left}");
    }
    let refused = get(&app, &limited).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert_eq!(Some(retry_after), header(&refused, "ratelimit-reset"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error_code"], "RATE_001");

    // Another key is not held back, and carries no rate headers.
    let response = get(&app, &unlimited).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("ratelimit-limit").is_none());

    // A refusal of the key (a module it does not hold) still counts and still says so.
    let (_, narrow) = app
        .token(&user, "Narrow")
        .modules("MD-0002")
        .rate_limit(2)
        .create();
    let answer = app
        .api(Method::GET, "/auth/tokens", &narrow)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!(header(&answer, "ratelimit-remaining"), Some(1));

    // The next minute the budget is whole again.
    app.clock.advance(Duration::seconds(i64::from(retry_after)));
    let response = get(&app, &limited).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit-remaining"), Some(59));
}

/// Waits (at most 5 s) until `count` instances say they are alive.
async fn until_alive(app: &TestApp, count: i64) {
    let started = Instant::now();
    loop {
        let alive: i64 = {
            let mut conn = app.pool.get().unwrap();
            rate_instances::table.count().get_result(&mut conn).unwrap()
        };
        if alive == count {
            return;
        }
        assert!(started.elapsed().as_secs() < 5, "{alive} instances alive");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Requests of `key` to `app`, as fast as they come back, for `seconds`: how many got through.
async fn hammer(app: &TestApp, key: &ApiKey, seconds: u64) -> (u32, u32) {
    let until = Instant::now() + std::time::Duration::from_secs(seconds);
    let (mut through, mut refused) = (0, 0);
    while Instant::now() < until {
        let answer = get(app, key).await;
        match answer.status().as_u16() {
            200 => through += 1,
            429 => {
                // When to come back, said the same way twice: the minute's end, or this
                // instance's next share.
                assert_eq!(
                    header(&answer, "retry-after"),
                    header(&answer, "ratelimit-reset")
                );
                refused += 1;
            }
            other => panic!("answered {other}"),
        }
    }
    (through, refused)
}

async fn two_instances_let_through_at_most_a_fifth_more(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, key) = app.token(&user, "Busy integration").rate_limit(60).create();
    let other = app.another_instance();
    until_alive(&app, 2).await;
    at_the_start_of_a_minute(&app);

    let (here, there) = tokio::join!(hammer(&app, &key, 4), hammer(&other, &key, 4));
    let through = here.0 + there.0;
    eprintln!("two instances: {through} let through ({here:?}, {there:?})");
    assert!(through <= 72, "{through} let through ({here:?}, {there:?})");
    assert!(through >= 48, "most of the budget is used: {through}");
    assert!(here.0 > 0 && there.0 > 0, "{here:?} {there:?}");
}

crate::on_both_databases!(
    a_limited_key_gets_its_limit_and_then_429,
    two_instances_let_through_at_most_a_fifth_more,
);
