//! Prometheus metrics: served on their own address only, in a text Prometheus' own `promtool`
//! accepts, scraped by a real Prometheus server that then finds the requests made; and the
//! logs as JSON, one object a line with the request's id.

use crate::common::binary::{self, Running};
use crate::common::proxies::{self, PROMETHEUS, PROMTOOL, free_port, wait_for_port};
use crate::common::{Backend, TestApp, TestDatabase, spawn_app_configured};
use reqwest::Method;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokendesk::domain::routes::RouteTable;

async fn with_metrics(backend: Backend) -> TestApp {
    spawn_app_configured(backend, |config| {
        config.metrics_bind = Some("127.0.0.1:0".into());
        config.routes = RouteTable::parse("/catalog MD-0010\n").unwrap();
    })
    .await
}

/// Some API calls and forward-auth checks, accepted and refused.
async fn some_traffic(app: &TestApp) {
    let user = app.robert();
    let (_, key) = app.token(&user, "Catalog").modules("MD-0010").create();
    for _ in 0..3 {
        let answer = app.call(&key, Method::GET, "/auth/context", None).await;
        assert_eq!(answer.status, 200);
    }
    let answer = app.call(&key, Method::GET, "/agreements", None).await;
    assert_eq!(answer.status, 403);
    for (uri, expected) in [("/catalog/1", 200), ("/admin", 403)] {
        let response = app
            .client
            .get(app.url("/auth/verify"))
            .header("Authorization", format!("ApiKey {}", key.expose()))
            .header("X-Original-URI", uri)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{uri}");
    }
    let response = app
        .client
        .get(app.url("/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

async fn scrape(app: &TestApp) -> String {
    let address = app.metrics_address.as_deref().expect("metrics served");
    let response = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

async fn metrics_are_served_apart_and_promtool_accepts_them(backend: Backend) {
    let app = with_metrics(backend).await;
    some_traffic(&app).await;
    // Not beside the UI and the API.
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status().as_u16(), 404);

    let text = scrape(&app).await;
    for expected in [
        r#"tokendesk_http_requests_total{method="GET",route="/public/v1/auth/context",status="200"} 3"#,
        r#"tokendesk_key_checks_total{outcome="ok",source="api"} 3"#,
        r#"tokendesk_key_checks_total{outcome="forbidden",source="api"} 1"#,
        r#"tokendesk_key_checks_total{outcome="ok",source="verify"} 1"#,
        r#"tokendesk_key_checks_total{outcome="forbidden",source="verify"} 1"#,
        r#"tokendesk_key_checks_total{outcome="unauthenticated",source="verify"} 1"#,
        "tokendesk_http_request_duration_seconds_bucket{route=\"/auth/verify\",le=\"0.001\"}",
        "tokendesk_key_cache_hits_total",
        "tokendesk_key_cache_misses_total",
        "tokendesk_db_pool_connections_in_use",
        "tokendesk_db_pool_waiting 0",
        "tokendesk_usage_pending_requests",
        "tokendesk_rate_instances 1",
        r#"tokendesk_worker_runs_total{job="usage flush"}"#,
        r#"tokendesk_worker_last_run_timestamp_seconds{job="key watch"}"#,
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }

    if !proxies::installed(PROMTOOL, "prometheus") {
        return;
    }
    let mut promtool = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn prometheus_scrapes_and_finds_the_requests(backend: Backend) {
    if !proxies::installed(PROMETHEUS, "prometheus") {
        return;
    }
    let app = with_metrics(backend).await;
    some_traffic(&app).await;
    let target = app
        .metrics_address
        .as_deref()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let port = free_port();
    let prometheus = proxies::prometheus(port, &target);
    let query = r#"sum(tokendesk_key_checks_total{source="api",outcome="ok"})"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Until it is ready, Prometheus answers 503 in plain text.
        let answer: serde_json::Value = match reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let value = answer["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_owned);
        if let Some(value) = value {
            assert_eq!(value, "3", "{answer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus found nothing in 30 s: {answer}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `TOKENDESK_LOG_FORMAT=json`: every line is a JSON object, and a request's lines carry its id.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let database = TestDatabase::new(Backend::Sqlite);
    let metrics_port = free_port();
    let mut command = binary::tokendesk(&database);
    command
        .env("TOKENDESK_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env(
            "TOKENDESK_METRICS_BIND",
            format!("127.0.0.1:{metrics_port}"),
        )
        .arg("serve");
    let (mut server, printed): (Running, _) = binary::start_command(command);
    let base = binary::base_url(&printed);
    let answer = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(wait_for_port(metrics_port, Duration::from_secs(5)));
    server.signal("TERM");
    server
        .wait_for_exit(Duration::from_secs(30))
        .expect("stopped");
    let logs = server.stderr();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let served = lines
        .iter()
        .find(|line| line["fields"]["message"] == "served")
        .unwrap_or_else(|| panic!("no served line in {logs}"));
    assert_eq!(served["span"]["id"], id.as_str(), "{served}");
    assert_eq!(served["fields"]["path"], "/healthz");
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "serving /metrics"),
        "{logs}"
    );
}

crate::on_both_databases!(
    metrics_are_served_apart_and_promtool_accepts_them,
    prometheus_scrapes_and_finds_the_requests,
);
