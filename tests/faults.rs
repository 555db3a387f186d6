//! tokendesk under faults, as an operator meets them: PostgreSQL stopped and started again, or
//! frozen; many instances started at once; SIGTERM under load; SIGKILL during writes on SQLite;
//! exit with TLS connections open; HAProxy (deploy/haproxy.cfg) with no instance up. The database
//! a fault needs to stop or freeze is a private cluster of the test's own (see
//! crate::common::cluster), never the shared server. Each test prints
//! its figures (`cargo nextest run --test faults --no-capture`).

use crate::common::binary::{Running, base_url, run_to_end, start_command, tokendesk_in};
use crate::common::cluster::Cluster;
use crate::common::{Backend, TestDatabase, attr};
use diesel::prelude::*;
use scraper::Html;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokendesk::db::accounts::Account;
use tokendesk::db::tokens::Token;
use tokendesk::db::{self, DatabaseUrl};
use tokendesk::domain::ids::TokenId;

/// TOKENDESK_DB_TIMEOUT for these tests: no request may wait longer than twice this.
const DB_TIMEOUT_SECS: u64 = 2;
/// The longest an answer may take while the database is away: twice the timeout, and a second
/// for a busy machine.
const LONGEST_ANSWER: Duration = Duration::from_secs(2 * DB_TIMEOUT_SECS + 1);
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);

fn serve(folder: &Path, url: &str, args: &[&str]) -> (Running, String, Vec<String>) {
    let mut command = tokendesk_in(folder, url);
    command
        .env("TOKENDESK_DB_TIMEOUT", DB_TIMEOUT_SECS.to_string())
        .args(args);
    let (running, lines) = start_command(command);
    let base = base_url(&lines);
    (running, base, lines)
}

/// A key of the demo account holding every module, made by the command line.
fn make_key(folder: &Path, url: &str) -> String {
    create_key(tokendesk_in(folder, url))
}

/// `make_key` with a command of the caller's (its environment, say).
fn create_key(mut command: Command) -> String {
    command.args([
        "token",
        "create",
        "--account",
        "Front Street Inc",
        "--name",
        "Fault test",
        "--modules",
        "all",
    ]);
    let (code, stdout, stderr) = run_to_end(command, Duration::from_secs(60), None);
    assert_eq!(code, Some(0), "{stderr}");
    stdout.trim().to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Signs the demo admin in with the password the first start printed.
async fn sign_in(client: &reqwest::Client, base: &str, lines: &[String]) {
    let password = crate::common::binary::after(lines, "password:");
    let login = Html::parse_document(
        &client
            .get(format!("{base}/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let csrf = attr(&login, "input[name=csrf_token]", "value").unwrap();
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("email", "robert@frontstreet.example"),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

/// One answer seen by the load.
#[derive(Debug, Clone)]
struct Sample {
    what: &'static str,
    sent: Instant,
    took: Duration,
    status: u16,
    error_code: String,
    retry_after: bool,
}

/// Requests sent in a loop by a few tasks until stopped: the API, a page of the UI, /readyz.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

impl Load {
    fn start(base: &str, key: &str, ui: reqwest::Client) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let api = client();
        let targets: Vec<(&'static str, reqwest::RequestBuilder)> = vec![
            (
                "api",
                api.get(format!("{base}/public/v1/agreements?limit=10"))
                    .header("Authorization", format!("ApiKey {key}")),
            ),
            (
                "api",
                api.get(format!("{base}/public/v1/auth/tokens?limit=5"))
                    .header("Authorization", format!("ApiKey {key}")),
            ),
            ("ui", ui.get(format!("{base}/integrations/tokens"))),
            ("readyz", api.get(format!("{base}/readyz"))),
        ];
        let tasks = targets
            .into_iter()
            .map(|(what, request)| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let response = request.try_clone().unwrap().send().await;
                        let took = sent.elapsed();
                        let Ok(response) = response else {
                            samples.push(Sample {
                                what,
                                sent,
                                took,
                                status: 0,
                                error_code: String::new(),
                                retry_after: false,
                            });
                            continue;
                        };
                        let status = response.status().as_u16();
                        let retry_after = response.headers().contains_key("retry-after");
                        let body = response.text().await.unwrap_or_default();
                        let error_code = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["error_code"].as_str().map(str::to_owned))
                            .unwrap_or_default();
                        samples.push(Sample {
                            what,
                            sent,
                            took,
                            status,
                            error_code,
                            retry_after,
                        });
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    samples
                })
            })
            .collect();
        Load { stop, tasks }
    }

    async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap());
        }
        all.sort_by_key(|s| s.sent);
        all
    }
}

fn by_status(samples: &[&Sample]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for sample in samples {
        *counts.entry(sample.status).or_insert(0) += 1;
    }
    counts
}

/// While the database is away every answer is 503 (with Retry-After, and SRV_002 from the API)
/// or a success that was under way, never a 500, and none takes longer than the timeout allows.
/// On failure the server's log is printed: that is where a 500 says what it was.
fn assert_outage_answers(samples: &[&Sample], server: &crate::common::binary::Running) {
    let unexpected = samples.iter().any(|s| ![200, 503].contains(&s.status));
    if unexpected || samples.iter().any(|s| s.took > LONGEST_ANSWER) {
        eprintln!("the server's log:\n{}", server.stderr());
    }
    for sample in samples {
        assert!(
            sample.took <= LONGEST_ANSWER,
            "an answer took {:?}: {sample:?}",
            sample.took
        );
        match sample.status {
            200 => {}
            503 => {
                assert!(sample.retry_after, "503 without Retry-After: {sample:?}");
                if sample.what == "api" {
                    assert_eq!(sample.error_code, "SRV_002", "{sample:?}");
                }
            }
            _ => panic!("while the database was away: {sample:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_stopped_and_started_again() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    let folder = tempfile::tempdir().unwrap();
    let (mut server, base, lines) = serve(folder.path(), &url, &["serve", "--demo"]);
    let key = make_key(folder.path(), &url);
    let ui = client();
    sign_in(&ui, &base, &lines).await;

    let load = Load::start(&base, &key, ui);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let down_at = Instant::now();
    cluster.down();
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.up();
    let up_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let samples = load.stop().await;

    // Answered before the stop began; sent while it was coming or the database was away.
    let before: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.sent + s.took < down_at)
        .collect();
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.sent + s.took >= down_at && s.sent < up_at)
        .collect();
    let after: Vec<&Sample> = samples.iter().filter(|s| s.sent >= up_at).collect();
    assert!(
        before.iter().all(|s| s.status == 200),
        "{:?}",
        by_status(&before)
    );
    assert!(
        during.iter().any(|s| s.status == 503 && s.what == "api")
            && during.iter().any(|s| s.status == 503 && s.what == "ui")
            && during.iter().any(|s| s.status == 503 && s.what == "readyz"),
        "the outage was noticed everywhere: {during:?}"
    );
    assert_outage_answers(&during, &server);
    let first_success = after
        .iter()
        .find(|s| s.status == 200 && s.what == "api")
        .map(|s| s.sent + s.took - up_at)
        .expect("the API works again");
    assert!(
        first_success < RECOVERY_LIMIT,
        "recovered in {first_success:?}"
    );
    let settled: Vec<&Sample> = after
        .iter()
        .copied()
        .filter(|s| s.sent >= up_at + RECOVERY_LIMIT)
        .collect();
    assert!(!settled.is_empty());
    assert!(
        settled.iter().all(|s| s.status == 200),
        "{:?}",
        by_status(&settled)
    );
    assert!(
        samples.iter().all(|s| s.status != 500),
        "never a 500: {:?}",
        by_status(&samples.iter().collect::<Vec<_>>())
    );
    let longest = samples.iter().map(|s| s.took).max().unwrap_or_default();
    eprintln!(
        "FIGURES restart: first API success {first_success:?} after PostgreSQL was back; \
         answers during the 5 s outage by status {:?}; after it {:?}; longest answer {longest:?}",
        by_status(&during),
        by_status(&after)
    );

    server.signal("TERM");
    let exit = server
        .wait_for_exit(Duration::from_secs(40))
        .expect("it stops");
    assert!(exit.success(), "{exit:?}\n{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_frozen_then_thawed() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    let folder = tempfile::tempdir().unwrap();
    let (mut server, base, lines) = serve(folder.path(), &url, &["serve", "--demo"]);
    let key = make_key(folder.path(), &url);
    let ui = client();
    sign_in(&ui, &base, &lines).await;

    let load = Load::start(&base, &key, ui);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen_at = Instant::now();
    cluster.freeze();
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.thaw();
    let thawed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let samples = load.stop().await;

    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.sent + s.took >= frozen_at && s.sent < thawed_at)
        .collect();
    assert!(
        during.iter().any(|s| s.status == 503 && s.what == "api")
            && during.iter().any(|s| s.status == 503 && s.what == "readyz"),
        "the freeze was noticed: {during:?}"
    );
    assert_outage_answers(&during, &server);
    let first_success = samples
        .iter()
        .filter(|s| s.sent >= thawed_at && s.status == 200 && s.what == "api")
        .map(|s| s.sent + s.took - thawed_at)
        .next()
        .expect("the API works again");
    assert!(
        first_success < RECOVERY_LIMIT,
        "recovered in {first_success:?}"
    );
    assert!(samples.iter().all(|s| s.status != 500));
    let longest = during.iter().map(|s| s.took).max().unwrap_or_default();
    eprintln!(
        "FIGURES freeze: answers while frozen (6 s) by status {:?}, longest {longest:?}; \
         first API success {first_success:?} after the thaw",
        by_status(&during)
    );

    server.signal("TERM");
    let exit = server
        .wait_for_exit(Duration::from_secs(40))
        .expect("it stops");
    assert!(exit.success(), "{exit:?}\n{}", server.stderr());
}

/// SIGTERM ends the process within 30 s even while PostgreSQL is frozen: every job blocked on
/// the database (the watchdog's ping, the key watch, the rate exchange, the last usage flush) is
/// left behind at its deadline, and the log says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_returns_within_30_s_while_postgresql_is_frozen() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    let folder = tempfile::tempdir().unwrap();
    let (mut server, base, _) = serve(folder.path(), &url, &["serve"]);
    let key = make_key(folder.path(), &url);
    // Some use recorded, for the final flush to have something to write.
    let api = client();
    for _ in 0..5 {
        let answer = api
            .get(format!("{base}/public/v1/auth/context"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    cluster.freeze();
    // A request caught by the freeze: answered 503 in time, its database work stuck on.
    let answer = api
        .get(format!("{base}/public/v1/agreements"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    // Long enough for every job to be caught waiting on the frozen server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    server.signal("TERM");
    let exit = server.wait_for_exit(Duration::from_secs(30));
    let took = stopping.elapsed();
    cluster.thaw();
    let exit = exit.unwrap_or_else(|| panic!("no exit within 30 s\n{}", server.stderr()));
    assert!(exit.success(), "{exit:?}\n{}", server.stderr());
    assert!(
        server.stderr().contains("did not stop in time"),
        "the jobs left behind are named: {}",
        server.stderr()
    );
    eprintln!("FIGURES stop: SIGTERM to exit with PostgreSQL frozen: {took:?}");
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The requests of token `id` the database holds.
fn stored_requests(url: &str, id: &str) -> i64 {
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query(format!(
        "SELECT COALESCE(SUM(requests), 0)::bigint AS n FROM token_usage WHERE token_id = '{id}'"
    ))
    .get_result::<Total>(&mut conn)
    .unwrap()
    .n
}

/// Waits (at most `limit`) until the database holds `expected` requests of token `id`.
async fn until_stored(url: &str, id: &str, expected: i64, limit: Duration) {
    let started = Instant::now();
    loop {
        let stored = stored_requests(url, id);
        if stored == expected {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{stored} requests stored, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spooled(folder: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(folder.join("data/spool"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// API use recorded while PostgreSQL is frozen, then a stop: the use cannot be written, so it
/// is spooled, and the next start writes it; whatever the frozen database finishes on its own
/// after the thaw, every request is counted exactly once, and a third start adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn use_recorded_before_a_stop_with_postgresql_frozen_is_spooled_and_written_once() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    let folder = tempfile::tempdir().unwrap();
    let (mut server, base, _) = serve(folder.path(), &url, &["serve"]);
    let key = make_key(folder.path(), &url);
    let id = key.split(':').next().unwrap().to_owned();
    let api = client();
    let call = || {
        api.get(format!("{base}/public/v1/auth/context"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
    };
    // Written by a flush: the next one is two seconds away.
    assert_eq!(call().await.unwrap().status(), 200);
    until_stored(&url, &id, 1, Duration::from_secs(10)).await;
    for _ in 0..50 {
        assert_eq!(call().await.unwrap().status(), 200);
    }
    cluster.freeze();
    server.signal("TERM");
    let exit = server.wait_for_exit(Duration::from_secs(30));
    cluster.thaw();
    assert!(exit.is_some_and(|e| e.success()), "{}", server.stderr());
    assert!(
        server.stderr().contains("spooled for the next start"),
        "{}",
        server.stderr()
    );
    assert_eq!(spooled(folder.path()).len(), 1, "one batch waits");

    // Its replay is said at the info level.
    let mut command = tokendesk_in(folder.path(), &url);
    command.env("RUST_LOG", "info").arg("serve");
    let (mut again, _) = start_command(command);
    until_stored(&url, &id, 51, Duration::from_secs(10)).await;
    assert!(spooled(folder.path()).is_empty(), "the spool was emptied");
    again.signal("TERM");
    again
        .wait_for_exit(Duration::from_secs(30))
        .expect("it stops");
    let said = again.stderr();
    assert!(
        said.contains("wrote the API use a stop had spooled")
            || said.contains("found spooled API use written already"),
        "{said}"
    );

    let (mut third, _, _) = serve(folder.path(), &url, &["serve"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stored_requests(&url, &id), 51, "exactly once");
    third.signal("TERM");
    third
        .wait_for_exit(Duration::from_secs(30))
        .expect("it stops");
}

/// A token disabled through one instance is refused by another within a second, even while
/// that other instance's key-change listener hangs (its backend stopped, the connection open):
/// the listener proves it hears every 250 ms, and past 750 ms without proof the instance asks
/// the database instead of its memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disable_reaches_an_instance_whose_listener_hangs_within_a_second() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, base_a, _) = serve(first.path(), &url, &["serve"]);
    let (_b, base_b, _) = serve(second.path(), &url, &["serve"]);
    let admin = make_key(first.path(), &url);
    let target = make_key(first.path(), &url);
    let api = client();
    let context = |base: &str, key: &str| {
        api.get(format!("{base}/public/v1/auth/context"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(context(&base_b, &target).await.unwrap().status(), 200);
    }
    let listeners: Vec<i32> = {
        let mut conn = PgConnection::establish(&url).unwrap();
        diesel::sql_query(format!(
            "SELECT pid FROM pg_stat_activity WHERE application_name = '{}'",
            tokendesk::db::key_changes::LISTENER_NAME
        ))
        .load::<Pid>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|row| row.pid)
        .collect()
    };
    assert_eq!(listeners.len(), 2, "one listener per instance");
    let signal = |name: &str| {
        for pid in &listeners {
            let done = Command::new("kill")
                .args([format!("-{name}"), pid.to_string()])
                .status()
                .unwrap();
            assert!(done.success(), "kill -{name} {pid}");
        }
    };
    signal("STOP");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = target.split(':').next().unwrap();
    let disabled = api
        .post(format!("{base_a}/public/v1/auth/tokens/{id}/deactivate"))
        .header("Authorization", format!("ApiKey {admin}"))
        .send()
        .await
        .unwrap();
    let at = Instant::now();
    assert_eq!(disabled.status(), 200);
    let mut let_in = 0;
    let refused_after = loop {
        let status = context(&base_b, &target).await.unwrap().status();
        if status == 401 {
            break at.elapsed();
        }
        assert_eq!(status, 200);
        let_in += 1;
        assert!(at.elapsed() < Duration::from_secs(5), "never refused");
    };
    signal("CONT");
    eprintln!(
        "FIGURES revocation: refused by the other instance {refused_after:?} after the disable, \
         with its listener hung; {let_in} requests let in meanwhile"
    );
    assert!(refused_after < Duration::from_secs(1), "{refused_after:?}");
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The resident memory of process `pid`, in MB.
fn resident_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS");
    kb / 1024
}

/// Every sign-in checks a password with argon2, which works in 19 MiB; that memory goes back
/// when the check ends, whichever thread made it. (It stayed in each thread's arena before:
/// 20 sign-ins, 4 at a time, left the process above 150 MB.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_stays_flat_across_sign_ins() {
    let database = TestDatabase::new(Backend::Sqlite);
    let url = crate::common::binary::database_url(&database);
    let (server, base, lines) = serve(database.dir(), &url, &["serve"]);
    let idle = resident_mb(server.pid());
    for _ in 0..5 {
        let rounds = (0..4).map(|_| {
            let (base, lines) = (base.clone(), lines.clone());
            async move { sign_in(&client(), &base, &lines).await }
        });
        futures_util::future::join_all(rounds).await;
    }
    let after = resident_mb(server.pid());
    eprintln!("FIGURES memory: {idle} MB idle, {after} MB after 20 sign-ins (4 at a time)");
    assert!(after < 60, "{after} MB after 20 sign-ins ({idle} MB idle)");
}

/// How long one API request and one readiness check take while PostgreSQL is away, and what
/// they answer.
async fn outage_answers(base: &str, key: &str) -> (Vec<(u16, Duration)>, (u16, Duration)) {
    let api = client();
    let mut answers = Vec::new();
    for _ in 0..10 {
        let sent = Instant::now();
        let answer = api
            .get(format!("{base}/public/v1/agreements"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        let took = sent.elapsed();
        assert!(answer.headers().contains_key("retry-after"));
        let status = answer.status().as_u16();
        if status == 503 {
            let body: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(body["error_code"], "SRV_002");
        }
        answers.push((status, took));
    }
    let sent = Instant::now();
    let ready = api.get(format!("{base}/readyz")).send().await.unwrap();
    (answers, (ready.status().as_u16(), sent.elapsed()))
}

/// While PostgreSQL is away, stopped or frozen, every answer is a 503 within a second and
/// `/readyz` says so within 200 ms (the watch's last word, not a question that hangs); when it is
/// back, requests succeed again within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_come_at_once_while_postgresql_is_away() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    let folder = tempfile::tempdir().unwrap();
    let (_server, base, _) = serve(folder.path(), &url, &["serve"]);
    let key = make_key(folder.path(), &url);
    let works = |base: String, key: String| async move {
        let started = Instant::now();
        loop {
            let answer = client()
                .get(format!("{base}/public/v1/agreements"))
                .header("Authorization", format!("ApiKey {key}"))
                .send()
                .await
                .unwrap();
            if answer.status() == 200 {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "not back in 5 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    works(base.clone(), key.clone()).await;

    for (outage, begin, end) in [
        (
            "stopped",
            Cluster::down as fn(&Cluster),
            Cluster::up as fn(&Cluster),
        ),
        ("frozen", Cluster::freeze, Cluster::thaw),
    ] {
        begin(&cluster);
        // The watch asks every 250 ms, and takes silence for gone after 750 ms.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (answers, (ready, ready_took)) = outage_answers(&base, &key).await;
        end(&cluster);
        let back = works(base.clone(), key.clone()).await;
        let longest = answers.iter().map(|(_, took)| *took).max().unwrap();
        eprintln!(
            "FIGURES outage ({outage}): API answers {:?}, longest {longest:?}; /readyz {ready} in \
             {ready_took:?}; 200 again {back:?} after it was back",
            answers.iter().map(|(status, _)| status).collect::<Vec<_>>()
        );
        assert!(
            answers.iter().all(|(status, _)| *status == 503),
            "{answers:?}"
        );
        assert!(longest < Duration::from_secs(1), "{outage}: {answers:?}");
        assert_eq!(ready, 503);
        assert!(ready_took < Duration::from_millis(200), "{ready_took:?}");
    }
}

const INSTANCES: usize = 8;

/// Starts `INSTANCES` servers at the same moment on one database; all must come up, exactly one
/// seeds (and shows the first password), and the demo data is there once.
fn start_together(url: &str, database: &DatabaseUrl) {
    let folder = tempfile::tempdir().unwrap();
    // All share one folder, hence one set of keys (which the first to get there generates), as
    // instances behind a balancer must.
    let commands: Vec<Command> = (0..INSTANCES)
        .map(|_| {
            let mut command = tokendesk_in(folder.path(), url);
            command.args(["serve", "--demo"]);
            command
        })
        .collect();
    let started = Instant::now();
    let handles: Vec<_> = commands
        .into_iter()
        .map(|command| std::thread::spawn(move || start_command(command)))
        .collect();
    let mut servers: Vec<(Running, Vec<String>)> = handles
        .into_iter()
        .map(|h| h.join().expect("every instance comes up"))
        .collect();
    let all_up = started.elapsed();
    let seeded = servers
        .iter()
        .filter(|(_, lines)| lines.iter().any(|l| l.contains("password:")))
        .count();
    assert_eq!(seeded, 1, "exactly one instance made the demo admin");

    let mut conn = db::connect_one(database, Duration::from_secs(10)).unwrap();
    let account = Account::find_by_name(&mut conn, "Front Street Inc")
        .unwrap()
        .expect("the demo account");
    let query = tokendesk::domain::query::Query {
        limit: 1000,
        ..Default::default()
    };
    let now = chrono::Utc::now().naive_utc();
    let tokens = Token::query(&mut conn, &account.id, &query, now).unwrap();
    let mut names: Vec<&str> = tokens.items.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert!(!names.is_empty(), "the demo tokens were seeded");
    assert_eq!(names.len() as u64, tokens.total, "and seeded once");
    drop(conn);

    for (server, _) in &servers {
        server.signal("TERM");
    }
    for (server, _) in &mut servers {
        let exit = server
            .wait_for_exit(Duration::from_secs(40))
            .expect("each stops");
        assert!(exit.success(), "{exit:?}\n{}", server.stderr());
    }
    eprintln!(
        "FIGURES starts: {INSTANCES} instances started at once on {} all came up in {all_up:?}; \
         one seeded {} demo tokens",
        match database {
            DatabaseUrl::Sqlite(_) => "SQLite",
            DatabaseUrl::Postgres(_) => "PostgreSQL",
        },
        tokens.total
    );
}

#[test]
fn eight_instances_start_at_once_on_postgresql() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // A fresh database, and one that is migrated but empty.
    let fresh = cluster.create_database("fresh");
    start_together(&fresh, &DatabaseUrl::parse(&fresh).unwrap());
    let migrated = cluster.create_database("migrated");
    db::connect_one(
        &DatabaseUrl::parse(&migrated).unwrap(),
        Duration::from_secs(10),
    )
    .unwrap();
    start_together(&migrated, &DatabaseUrl::parse(&migrated).unwrap());
}

#[test]
fn eight_instances_start_at_once_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("shared.db");
    let url = path.display().to_string();
    start_together(&url, &DatabaseUrl::Sqlite(path));
}

/// SIGTERM while keys are being used: the server finishes what is under way and writes every
/// use it recorded before it exits: the last uses, and every request in the day's counts (500
/// sent by one key just before the signal are all there after a restart).
async fn sigterm_under_load_loses_no_recorded_use(backend: Backend) {
    let database = TestDatabase::new(backend);
    let url = crate::common::binary::database_url(&database);
    let (mut server, base, _) = serve(database.dir(), &url, &["serve"]);
    let key = make_key(database.dir(), &url);
    let api = client();
    let mut keys = Vec::new();
    for n in 0..25 {
        let created: serde_json::Value = api
            .post(format!("{base}/public/v1/auth/tokens"))
            .header("Authorization", format!("ApiKey {key}"))
            .json(
                &serde_json::json!({"name": format!("Used {n}"), "description": "x",
                "extension": {"name": "custom"}, "permissions": [{"object": {"id": "MD-0002"}}]}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.push(created["token"].as_str().unwrap().to_owned());
    }
    // Background load, then one use of each key, then SIGTERM at once (well within the 2 s in
    // which the buffer would otherwise have been written).
    let stop = Arc::new(AtomicBool::new(false));
    let background: Vec<_> = (0..3)
        .map(|_| {
            let (api, base, key, stop) = (api.clone(), base.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match api
                        .get(format!("{base}/public/v1/agreements"))
                        .header("Authorization", format!("ApiKey {key}"))
                        .send()
                        .await
                    {
                        Ok(response) => statuses.push(response.status().as_u16()),
                        Err(_) => break,
                    }
                }
                statuses
            })
        })
        .collect();
    let uses = keys.iter().map(|key| {
        api.get(format!("{base}/public/v1/auth/context"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
    });
    for response in futures_util::future::join_all(uses).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    const COUNTED: usize = 500;
    for _ in 0..COUNTED / 20 {
        let burst = (0..20).map(|_| {
            api.get(format!("{base}/public/v1/auth/context"))
                .header("Authorization", format!("ApiKey {}", keys[0]))
                .send()
        });
        for response in futures_util::future::join_all(burst).await {
            assert_eq!(response.unwrap().status(), 200);
        }
    }
    server.signal("TERM");
    // A client that keeps its connection busy would keep a graceful stop waiting to its limit.
    stop.store(true, Ordering::Relaxed);
    let exit = server
        .wait_for_exit(Duration::from_secs(40))
        .expect("it stops");
    let mut served = 0;
    for task in background {
        let statuses = task.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        served += statuses.len();
    }
    assert!(exit.success(), "{exit:?}\n{}", server.stderr());

    let mut conn = db::connect_one(&database.url, Duration::from_secs(10)).unwrap();
    let account = Account::find_by_name(&mut conn, "Front Street Inc")
        .unwrap()
        .unwrap();
    let lost = keys
        .iter()
        .filter(|key| {
            let id = TokenId::parse(key.split(':').next().unwrap()).unwrap();
            Token::find(&mut conn, &account.id, &id)
                .unwrap()
                .last_used_at
                .is_none()
        })
        .count();
    assert_eq!(lost, 0, "every use recorded before the stop was written");
    drop(conn);

    // Restarted, the server answers the counts: every request of the first key, and at least
    // every background request that was answered.
    let (mut again, base, _) = serve(database.dir(), &url, &["serve"]);
    let requests = |id: &str| {
        let (api, base, key) = (api.clone(), base.clone(), key.clone());
        let id = id.to_owned();
        async move {
            let days: Vec<serde_json::Value> = api
                .get(format!("{base}/public/v1/auth/tokens/{id}/usage"))
                .header("Authorization", format!("ApiKey {key}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            days.iter()
                .map(|d| d["requests"].as_u64().unwrap())
                .sum::<u64>()
        }
    };
    let first = keys[0].split(':').next().unwrap();
    let counted = requests(first).await;
    assert_eq!(counted, 1 + COUNTED as u64, "one use, then {COUNTED}");
    let admin = requests(key.split(':').next().unwrap()).await;
    assert!(
        admin >= 25 + served as u64,
        "{admin} counted for {served} background requests and 25 creations"
    );
    again.signal("TERM");
    assert!(
        again
            .wait_for_exit(Duration::from_secs(40))
            .unwrap()
            .success()
    );
    eprintln!(
        "FIGURES sigterm ({backend:?}): {} uses and {COUNTED} counted requests just before \
         SIGTERM, {served} background requests all answered 200, records lost: {lost}, \
         requests counted after restart: {counted}",
        keys.len()
    );
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

/// SIGKILL while tokens are being created on SQLite: every creation that was acknowledged (201)
/// is in the database afterwards, and the file is sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_writes_loses_no_acknowledged_write_on_sqlite() {
    let database = TestDatabase::new(Backend::Sqlite);
    let url = crate::common::binary::database_url(&database);
    let (mut server, base, _) = serve(database.dir(), &url, &["serve"]);
    let key = make_key(database.dir(), &url);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (api, base, key, stop) = (client(), base.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let sent = api
                        .post(format!("{base}/public/v1/auth/tokens"))
                        .header("Authorization", format!("ApiKey {key}"))
                        .json(&serde_json::json!({"name": format!("Writer {writer} #{n}"),
                            "description": "x", "extension": {"name": "zapier"},
                            "permissions": [{"object": {"id": "MD-0002"}}]}))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() != 201 {
                        continue;
                    }
                    let Ok(body) = response.json::<serde_json::Value>().await else {
                        break;
                    };
                    acknowledged.push(body["id"].as_str().unwrap().to_owned());
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    server
        .wait_for_exit(Duration::from_secs(10))
        .expect("killed");
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() > 10, "writes were under way");

    let DatabaseUrl::Sqlite(path) = &database.url else {
        unreachable!()
    };
    let mut conn = diesel::SqliteConnection::establish(&path.display().to_string()).unwrap();
    let check: Vec<IntegrityCheck> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        check
            .iter()
            .map(|c| c.integrity_check.as_str())
            .collect::<Vec<_>>(),
        ["ok"]
    );
    drop(conn);
    let mut conn = db::connect_one(&database.url, Duration::from_secs(10)).unwrap();
    let account = Account::find_by_name(&mut conn, "Front Street Inc")
        .unwrap()
        .unwrap();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| Token::find(&mut conn, &account.id, &TokenId::parse(id).unwrap()).is_err())
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    eprintln!(
        "FIGURES sigkill (SQLite): {} creations acknowledged before kill -9, lost 0, \
         integrity_check ok",
        acknowledged.len()
    );
}

/// With TLS to PostgreSQL (sslmode=prefer, the default) the process exits cleanly, again and
/// again: no connection is half-open in libpq's TLS code when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exits_cleanly_with_tls_connections() {
    let database = TestDatabase::new(Backend::Postgres);
    let DatabaseUrl::Postgres(url) = &database.url else {
        unreachable!()
    };
    // The test server's own settings, but TLS as libpq prefers it.
    let prefer = url.split('?').next().unwrap().to_owned();
    let api = client();
    let mut key = String::new();
    for round in 0..3 {
        let (mut server, base, _) = serve(database.dir(), &prefer, &["serve"]);
        if key.is_empty() {
            key = make_key(database.dir(), &prefer);
        }
        let requests = (0..40).map(|_| {
            api.get(format!("{base}/public/v1/agreements"))
                .header("Authorization", format!("ApiKey {key}"))
                .send()
        });
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.unwrap().status(), 200);
        }
        server.signal(if round % 2 == 0 { "TERM" } else { "INT" });
        let exit = server
            .wait_for_exit(Duration::from_secs(40))
            .expect("it stops");
        let log = server.stderr();
        assert!(exit.success(), "round {round}: {exit:?}\n{log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}

crate::on_both_databases!(sigterm_under_load_loses_no_recorded_use);

/// Debian's HAProxy, which the shipped deploy/haproxy.cfg is written for.
const HAPROXY: &str = "/usr/sbin/haproxy";
/// A sentence only the balancer's page (deploy/haproxy-503.html) says.
const BALANCER_PAGE: &str = "tokendesk is temporarily unavailable. Please try again shortly.";

/// Free ports, all different: each is held until every one is chosen.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|n| listeners[n].local_addr().unwrap().port())
}

/// HAProxy run from deploy/haproxy.cfg, its ports replaced by free ones and its page beside it,
/// as a child in a process group of its own; killed, group and all, when dropped.
struct Balancer {
    child: std::process::Child,
    log: std::path::PathBuf,
    _folder: tempfile::TempDir,
}

impl Balancer {
    fn start(port: u16, instance_a: u16, instance_b: u16) -> Balancer {
        use std::os::unix::process::CommandExt;
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let shipped = std::fs::read_to_string(deploy.join("haproxy.cfg")).unwrap();
        let mut config = shipped.clone();
        for (address, port) in [
            ("127.0.0.1:8000", port),
            ("127.0.0.1:8081", instance_a),
            ("127.0.0.1:8082", instance_b),
        ] {
            assert!(shipped.contains(address), "haproxy.cfg names {address}");
            config = config.replace(address, &format!("127.0.0.1:{port}"));
        }
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        std::fs::copy(
            deploy.join("haproxy-503.html"),
            folder.path().join("haproxy-503.html"),
        )
        .unwrap();
        let mut check = Command::new(HAPROXY);
        check.args(["-c", "-q", "-f"]).arg(&file);
        let (code, stdout, stderr) = run_to_end(check, Duration::from_secs(30), None);
        assert_eq!(code, Some(0), "haproxy -c: {stdout}{stderr}");

        let log = folder.path().join("haproxy.log");
        let output = std::fs::File::create(&log).unwrap();
        // Started from elsewhere than its folder: the page is found beside the file all the same.
        let child = Command::new(HAPROXY)
            .arg("-f")
            .arg(&file)
            .arg("-db")
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .process_group(0)
            .spawn()
            .expect("haproxy starts");
        let mut balancer = Balancer {
            child,
            log,
            _folder: folder,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = balancer.child.try_wait().unwrap() {
                panic!("haproxy ended ({status}): {}", balancer.log());
            }
            assert!(
                Instant::now() < deadline,
                "haproxy does not listen: {}",
                balancer.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        balancer
    }

    /// What HAProxy wrote so far (server state changes among it).
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many times HAProxy said that `backend` had no server left.
    fn emptied(&self, backend: &str) -> usize {
        self.log()
            .matches(&format!("backend '{backend}' has no server available!"))
            .count()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// One answer seen through the balancer, sorted by what gave it.
#[derive(Debug)]
struct Seen {
    path: &'static str,
    api: bool,
    sent: Instant,
    status: u16,
    content_type: String,
    retry_after: bool,
    /// Every answer of an instance carries one; the balancer's own do not.
    request_id: bool,
    error_code: String,
    body: String,
}

impl Seen {
    async fn of(
        path: &'static str,
        sent: Instant,
        answer: reqwest::Result<reqwest::Response>,
    ) -> Seen {
        let api = path.starts_with("/public/v1") || path.starts_with("/auth/verify");
        let Ok(response) = answer else {
            return Seen {
                path,
                api,
                sent,
                status: 0,
                content_type: String::new(),
                retry_after: false,
                request_id: false,
                error_code: String::new(),
                body: String::new(),
            };
        };
        let headers = response.headers();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let retry_after = headers.contains_key("retry-after");
        let request_id = headers.contains_key("x-request-id");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let error_code = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error_code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Seen {
            path,
            api,
            sent,
            status,
            content_type,
            retry_after,
            request_id,
            error_code,
            body,
        }
    }

    /// HAProxy's built-in error pages (`<html><body><h1>503 Service Unavailable</h1>…`).
    fn haproxy_default(&self) -> bool {
        self.body.starts_with("<html><body><h1>")
            || self
                .body
                .contains("No server is available to handle this request")
    }

    /// The balancer's answer for the API: the contract's 503 in JSON.
    fn balancer_json(&self) -> bool {
        self.status == 503
            && !self.request_id
            && self.retry_after
            && self.content_type.starts_with("application/json")
            && self.error_code == "SRV_002"
            && serde_json::from_str::<serde_json::Value>(&self.body).is_ok_and(|v| {
                v["errors"]
                    .as_array()
                    .is_some_and(|e| e.len() == 1 && e[0].is_string())
            })
    }

    /// The balancer's answer for the UI: our page.
    fn balancer_page(&self) -> bool {
        self.status == 503
            && !self.request_id
            && self.retry_after
            && self.content_type.starts_with("text/html")
            && self.body.contains(BALANCER_PAGE)
    }

    fn kind(&self) -> String {
        if self.haproxy_default() {
            "HAProxy's own page".to_owned()
        } else if self.balancer_json() {
            "balancer JSON 503".to_owned()
        } else if self.balancer_page() {
            "balancer page 503".to_owned()
        } else if self.status == 0 {
            "no answer".to_owned()
        } else if self.request_id {
            format!("instance {}", self.status)
        } else {
            format!("other {}", self.status)
        }
    }
}

/// The requests a client and a browser make, through the balancer.
fn outage_requests(
    client: &reqwest::Client,
    lb: &str,
    key: &str,
) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    let api_key = format!("ApiKey {key}");
    [
        "/public/v1/agreements?limit=10",
        "/public/v1/modules",
        "/integrations/tokens",
        "/login",
    ]
    .into_iter()
    .map(|path| {
        let request = client.get(format!("{lb}{path}"));
        let request = if path.starts_with("/public/v1/agreements") {
            request.header("Authorization", &api_key)
        } else {
            request
        };
        (path, request)
    })
    .collect()
}

/// deploy/haproxy.cfg in front of two instances on one PostgreSQL database, which stops: once
/// HAProxy has taken both instances out, the API answers the contract's 503 SRV_002 in JSON with
/// Retry-After and the UI our page (deploy/haproxy-503.html), never HAProxy's own page; when the
/// database is back, the API answers through the balancer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn haproxy_answers_our_503_when_no_instance_is_up() {
    if !Path::new(HAPROXY).exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but {HAPROXY} is missing: apt-get install haproxy"
        );
        eprintln!("skipped: no {HAPROXY}");
        return;
    }
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("tokendesk");
    // The keys every instance shares (docs/operations.md, "Several instances"), and the command line too.
    let encode = |n: usize| {
        use base64::Engine;
        use rand::Rng;
        let mut bytes = vec![0u8; n];
        rand::thread_rng().fill(&mut bytes[..]);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let (session_key, master_key) = (encode(64), encode(32));
    let shared = |command: &mut Command| {
        command
            .env("TOKENDESK_SESSION_KEY", &session_key)
            .env("TOKENDESK_MASTER_KEY", &master_key)
            .env("TOKENDESK_TRUSTED_PROXIES", "127.0.0.1/32")
            .env("TOKENDESK_DB_TIMEOUT", DB_TIMEOUT_SECS.to_string());
    };
    let [port_a, port_b, port_lb] = free_ports();
    let folders = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut instances: Vec<Running> = [port_a, port_b]
        .into_iter()
        .zip(&folders)
        .map(|(port, folder)| {
            let mut command = tokendesk_in(folder.path(), &url);
            shared(&mut command);
            command
                .env("TOKENDESK_BIND", format!("127.0.0.1:{port}"))
                .arg("serve");
            start_command(command).0
        })
        .collect();
    let mut command = tokendesk_in(folders[0].path(), &url);
    shared(&mut command);
    let key = create_key(command);
    let balancer = Balancer::start(port_lb, port_a, port_b);
    let lb = format!("http://127.0.0.1:{port_lb}");
    let api = client();
    let agreements = |api: &reqwest::Client| {
        api.get(format!("{lb}/public/v1/agreements?limit=10"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
    };

    // The database up: the API answers through the balancer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = agreements(&api).await.map(|r| r.status().as_u16());
        if status.as_ref().is_ok_and(|s| *s == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no 200 through the balancer: {status:?}\n{}",
            balancer.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The database stops; what clients see meanwhile, as they keep asking.
    let emptied = (
        balancer.emptied("tokendesk"),
        balancer.emptied("tokendesk-api"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, requests) = (stop.clone(), outage_requests(&api, &lb, &key));
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (path, request) in &requests {
                    let sent = Instant::now();
                    let answer = request.try_clone().unwrap().send().await;
                    seen.push(Seen::of(path, sent, answer).await);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    };
    let down_at = Instant::now();
    cluster.down();
    let deadline = down_at + Duration::from_secs(10);
    while balancer.emptied("tokendesk") == emptied.0
        || balancer.emptied("tokendesk-api") == emptied.1
    {
        assert!(
            Instant::now() < deadline,
            "HAProxy did not take both instances out within 10 s:\n{}",
            balancer.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_down_at = Instant::now();
    let all_down = all_down_at - down_at;

    // Every instance out: each kind of request, once, checked in full.
    let mut checked = Vec::new();
    for (path, request) in outage_requests(&api, &lb, &key).into_iter().chain([(
        "/auth/verify",
        api.get(format!("{lb}/auth/verify"))
            .header("Authorization", format!("ApiKey {key}")),
    )]) {
        let seen = Seen::of(path, Instant::now(), request.send().await).await;
        assert!(!seen.haproxy_default(), "HAProxy's own page: {seen:?}");
        assert_eq!(seen.status, 503, "{seen:?}");
        assert!(seen.retry_after, "Retry-After: {seen:?}");
        if seen.api {
            assert!(
                seen.content_type.starts_with("application/json"),
                "{seen:?}"
            );
            assert_eq!(seen.error_code, "SRV_002", "{seen:?}");
            assert!(seen.balancer_json(), "{seen:?}");
        } else {
            assert!(seen.content_type.starts_with("text/html"), "{seen:?}");
            assert!(seen.body.contains(BALANCER_PAGE), "{seen:?}");
            let page = Html::parse_document(&seen.body);
            for part in ["html[lang=en]", "title", "main", "main h1"] {
                let selector = scraper::Selector::parse(part).unwrap();
                assert!(page.select(&selector).next().is_some(), "{part}: {seen:?}");
            }
        }
        checked.push(seen);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = sampler.await.unwrap();

    // Everything seen while the database was away: never HAProxy's page, nor a failed
    // connection. Until HAProxy took both instances out they answered themselves (the API 503
    // SRV_002 with Retry-After, or what needs no database; the UI is the app's business, and
    // counted); once it had, the balancer answered every request, in our form.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for sample in seen.iter().filter(|s| s.sent >= down_at) {
        *kinds.entry(sample.kind()).or_insert(0) += 1;
        assert!(!sample.haproxy_default(), "HAProxy's own page: {sample:?}");
        assert!(sample.status != 0, "no answer: {sample:?}");
        if sample.api {
            assert!(
                sample.status < 500 || sample.status == 503,
                "while the database was away: {sample:?}"
            );
            if sample.status == 503 {
                assert!(
                    sample.retry_after
                        && sample.content_type.starts_with("application/json")
                        && sample.error_code == "SRV_002",
                    "{sample:?}"
                );
            }
        }
        if sample.sent >= all_down_at {
            assert!(
                if sample.api {
                    sample.balancer_json()
                } else {
                    sample.balancer_page()
                },
                "with every instance out: {sample:?}"
            );
        }
    }
    assert!(
        kinds.contains_key("balancer JSON 503") && kinds.contains_key("balancer page 503"),
        "{kinds:?}"
    );

    // The database back: the API answers through the balancer again.
    cluster.up();
    let up_at = Instant::now();
    let deadline = up_at + Duration::from_secs(10);
    loop {
        let answer = Seen::of(
            "/public/v1/agreements",
            Instant::now(),
            agreements(&api).await,
        )
        .await;
        if answer.status == 200 {
            break;
        }
        assert!(!answer.haproxy_default(), "HAProxy's own page: {answer:?}");
        assert!(
            Instant::now() < deadline,
            "no 200 within 10 s of PostgreSQL's return: {answer:?}\n{}",
            balancer.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = up_at.elapsed();
    eprintln!(
        "FIGURES haproxy: both instances out {all_down:?} after PostgreSQL stopped; answers \
         while it was away ({} requests) by kind {kinds:?}; with both out each of {:?} answered \
         503 of ours; API 200 again {recovered:?} after it was back",
        kinds.values().sum::<usize>(),
        checked.iter().map(|s| s.path).collect::<Vec<_>>()
    );

    drop(balancer);
    for instance in &instances {
        instance.signal("TERM");
    }
    for instance in &mut instances {
        let exit = instance
            .wait_for_exit(Duration::from_secs(40))
            .expect("it stops");
        assert!(exit.success(), "{exit:?}\n{}", instance.stderr());
    }
}
