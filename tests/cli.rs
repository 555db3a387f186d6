//! The binary as an operator runs it: first start, bad configuration, and the commands.

use crate::common::binary::{after, run_to_end, start, start_command, tokendesk};
use crate::common::{Backend, TestDatabase, attr, listed_names, new_client};
use scraper::Html;
use std::time::Duration;
use tokendesk::db::DatabaseUrl;
use tokendesk::domain::api_key::ApiKey;

async fn first_start_prints_how_to_sign_in_to_the_demo(backend: Backend) {
    let database = TestDatabase::new(backend);
    let (server, lines) = start(&database, &["serve", "--demo"]);
    let url = after(&lines, "tokendesk is ready. Sign in at");
    assert_eq!(after(&lines, "e-mail:"), "robert@frontstreet.example");
    let password = after(&lines, "password:").to_owned();
    assert!(password.len() >= 12);
    for key in ["session.key", "master.key"] {
        assert!(
            database.dir().join("data").join(key).exists(),
            "{key} generated into data/"
        );
    }
    if let DatabaseUrl::Sqlite(path) = &database.url {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the database is its owner's only");
    }

    let client = new_client();
    let login = Html::parse_document(&client.get(url).send().await.unwrap().text().await.unwrap());
    let csrf = attr(&login, "input[name=csrf_token]", "value").unwrap();
    let response = client
        .post(url)
        .form(&[
            ("email", "robert@frontstreet.example"),
            ("password", password.as_str()),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let base = url.trim_end_matches("/login");
    let list = client
        .get(format!("{base}/integrations/tokens?per_page=50"))
        .send()
        .await
        .unwrap();
    let html = Html::parse_document(&list.text().await.unwrap());
    let names = listed_names(&html);
    assert_eq!(names.len(), 12, "{names:?}");
    assert!(names.contains(&"Tutorial API Token".to_owned()));
    let statuses = crate::common::select_all(&html, ".status");
    for status in ["Active", "Disabled", "Expired"] {
        assert!(
            statuses.iter().any(|s| s == status),
            "a sample token is {status}"
        );
    }
    let extensions = crate::common::select_all(&html, "table.tokens-table tbody td:nth-child(2)");
    for ext in ["EXT-000", "EXT-001", "EXT-002", "EXT-003"] {
        assert!(
            extensions.iter().any(|e| e.ends_with(ext)),
            "a sample token uses {ext}"
        );
    }
    drop(server);

    // The second start finds the account: no new password, no second set of samples.
    let (_server, lines) = start(&database, &["serve", "--demo"]);
    assert!(lines.iter().all(|l| !l.contains("password")), "{lines:?}");
    let response = client
        .get(format!(
            "{}/integrations/tokens?per_page=50",
            after(&lines, "tokendesk is ready at").trim_end_matches("/login")
        ))
        .send()
        .await
        .unwrap();
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        listed_names(&html).len(),
        12,
        "the session key was kept, so the cookie still signs in"
    );
}

async fn bad_configuration_stops_start_up_with_one_line(backend: Backend) {
    let database = TestDatabase::new(backend);
    let cases = [
        ("TOKENDESK_SESSION_KEY", "c2hvcnQ="),
        ("TOKENDESK_MASTER_KEY", "not base64!"),
        ("TOKENDESK_BIND", "nowhere"),
        ("TOKENDESK_COOKIE_SECURE", "perhaps"),
        ("RUST_LOG", "[[["),
        ("DATABASE_URL", "postgres://"),
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/unreachable",
        ),
    ];
    for (variable, value) in cases {
        let mut command = tokendesk(&database);
        command.env(variable, value);
        let (code, stdout, stderr) = run_to_end(command, Duration::from_secs(10), None);
        assert_eq!(code, Some(1), "{variable}={value}: {stderr}");
        assert!(stdout.is_empty(), "{variable}: {stdout}");
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{variable}={value}: {stderr}");
        assert!(
            lines[0].starts_with(&format!("tokendesk: {variable}: ")),
            "{}",
            lines[0]
        );
        assert!(!stderr.contains("panicked"));
    }
}

async fn operators_add_users_and_create_tokens_from_the_command_line(backend: Backend) {
    let database = TestDatabase::new(backend);
    let mut add = tokendesk(&database);
    add.args([
        "user",
        "add",
        "--account",
        "Acme Corp",
        "--email",
        "ann@acme.example",
        "--name",
        "Ann",
        "--role",
        "admin",
        "--password-stdin",
    ]);
    let (code, stdout, stderr) = run_to_end(
        add,
        Duration::from_secs(30),
        Some("a long enough password\n"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        tokendesk::domain::ids::UserId::parse(stdout.trim()).is_ok(),
        "prints the user id: {stdout}"
    );

    let mut create = tokendesk(&database);
    create.args([
        "token",
        "create",
        "--account",
        "Acme Corp",
        "--name",
        "Nightly export",
        "--extension",
        "zapier",
        "--modules",
        "MD-0002,MD-0013",
    ]);
    let (code, stdout, stderr) = run_to_end(create, Duration::from_secs(30), None);
    assert_eq!(code, Some(0), "{stderr}");
    let key = ApiKey::parse(stdout.trim()).expect("prints a key in the SPEC format");
    assert_eq!(stdout.lines().count(), 1, "the key alone");

    // The user can sign in and sees the token.
    let (_server, lines) = start(&database, &["serve"]);
    let url = after(&lines, "tokendesk is ready at");
    let client = new_client();
    let login = Html::parse_document(&client.get(url).send().await.unwrap().text().await.unwrap());
    let csrf = attr(&login, "input[name=csrf_token]", "value").unwrap();
    let response = client
        .post(url)
        .form(&[
            ("email", "ann@acme.example"),
            ("password", "a long enough password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let base = url.trim_end_matches("/login");
    let html = Html::parse_document(
        &client
            .get(format!("{base}/integrations/tokens"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(listed_names(&html), ["Nightly export"]);
    assert_eq!(
        crate::common::select_all(&html, ".token-id"),
        [key.token_id.to_string()]
    );
    // The activity log says where it was made: not a browser's address, the command line.
    let activity = Html::parse_document(
        &client
            .get(format!("{base}/account/activity?kind=token.created"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        crate::common::select_all(&activity, "table.activity-table tbody td:nth-child(5)"),
        ["command line"]
    );

    // What the key may reach is said, never assumed: without --modules nothing is made.
    let mut unsaid = tokendesk(&database);
    unsaid.args([
        "token",
        "create",
        "--account",
        "Acme Corp",
        "--name",
        "Everything by default",
    ]);
    let (code, stdout, stderr) = run_to_end(unsaid, Duration::from_secs(30), None);
    assert_ne!(code, Some(0));
    assert!(stdout.is_empty());
    assert!(stderr.contains("--modules"), "{stderr}");

    // Mistakes get one line and a non-zero exit, and change nothing. The token's fields are
    // checked by the rules the wizard and the API use, with the same messages.
    let long = "e".repeat(129);
    let refusals: [(&[&str], Option<&str>, &str); 10] = [
        (
            &[
                "user",
                "add",
                "--account",
                "Acme Corp",
                "--email",
                "ann@acme.example",
                "--name",
                "Ann again",
                "--password-stdin",
            ],
            Some("another long password\n"),
            "ann@acme.example",
        ),
        (
            &[
                "user",
                "add",
                "--account",
                "Acme Corp",
                "--email",
                "bob@acme.example",
                "--name",
                "Bob",
                "--password-stdin",
            ],
            Some("short\n"),
            "password",
        ),
        (
            &[
                "user",
                "add",
                "--account",
                "Acme Corp",
                "--email",
                "not-an-email",
                "--name",
                "Bob",
                "--password-stdin",
            ],
            Some("long enough password\n"),
            "--email",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Nobody Ltd",
                "--name",
                "x",
                "--modules",
                "all",
            ],
            None,
            "--account",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                "x",
                "--modules",
                "MD-9999",
            ],
            None,
            "--modules",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                "x",
                "--extension",
                "teams",
                "--modules",
                "all",
            ],
            None,
            "--extension",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                " ",
                "--modules",
                "all",
            ],
            None,
            "tokendesk: --name: Name is required",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                "x",
                "--external-id",
                &long,
                "--modules",
                "all",
            ],
            None,
            "tokendesk: --external-id: External ID must be at most 128 characters",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                "x",
                "--modules",
                " ",
            ],
            None,
            "tokendesk: --modules: a token must hold at least one module, or All Modules",
        ),
        (
            &[
                "token",
                "create",
                "--account",
                "Acme Corp",
                "--name",
                "x",
                "--extension",
                "reports",
                "--modules",
                "MD-0002",
            ],
            None,
            "tokendesk: --modules: Custom Reports tokens always hold All Modules",
        ),
    ];
    for (args, input, mentions) in refusals {
        let mut command = tokendesk(&database);
        command.args(args);
        let (code, stdout, stderr) = run_to_end(command, Duration::from_secs(30), input);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(mentions), "{args:?}: {stderr}");
    }
    let html = Html::parse_document(
        &client
            .get(format!("{base}/integrations/tokens"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        listed_names(&html),
        ["Nightly export"],
        "no half-made tokens"
    );
}

async fn a_failed_request_is_logged_with_the_id_its_page_shows(backend: Backend) {
    use diesel::prelude::*;
    use tokendesk::db::schema::tokens;

    let database = TestDatabase::new(backend);
    let mut command = tokendesk(&database);
    command.env("RUST_LOG", "info").args(["serve", "--demo"]);
    let (mut server, lines) = start_command(command);
    let base = after(&lines, "tokendesk is ready. Sign in at").trim_end_matches("/login");
    let password = after(&lines, "password:").to_owned();

    // Every answer names its request, each with an id of its own.
    let client = new_client();
    let ids: Vec<String> = futures_util::future::join_all(
        (0..2).map(|_| client.get(format!("{base}/healthz")).send()),
    )
    .await
    .into_iter()
    .map(|r| {
        r.unwrap().headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    })
    .collect();
    assert_ne!(ids[0], ids[1]);

    // A key that no longer decrypts: revealing it fails on the server's side.
    let mut conn =
        tokendesk::db::connect_one(&database.url, tokendesk::db::pool::DEFAULT_TIMEOUT).unwrap();
    let damaged: String = tokens::table.select(tokens::id).first(&mut conn).unwrap();
    diesel::update(tokens::table.find(&damaged))
        .set(tokens::secret_ciphertext.eq(vec![7u8; 40]))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
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
    let signed_in = client
        .post(format!("{base}/login"))
        .form(&[
            ("email", "robert@frontstreet.example"),
            ("password", password.as_str()),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let list = Html::parse_document(
        &client
            .get(format!("{base}/integrations/tokens"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let csrf = attr(&list, "input[name=csrf_token]", "value").unwrap();
    let response = client
        .post(format!("{base}/integrations/tokens/{damaged}/reveal"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        crate::common::text(&page, ".request-id code"),
        id,
        "the page names it"
    );

    // The log has the cause and the answer, both under that id.
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(30)).is_some());
    let log = server.stderr();
    let of_request: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    assert!(
        of_request
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("stored data is unreadable")),
        "the cause: {of_request:#?}"
    );
    assert!(
        of_request
            .iter()
            .any(|l| l.contains("status=500") && l.contains("/reveal")),
        "the answer: {of_request:#?}"
    );
    assert!(!log.contains(&password), "no secrets in the log");
}

/// Signs in over HTTP with a fresh client; the client, signed in.
async fn signed_in_client(base: &str, email: &str, password: &str) -> reqwest::Client {
    let client = new_client();
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
            ("email", email),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{email} signs in");
    client
}

async fn operators_list_users_and_reset_passwords(backend: Backend) {
    let database = TestDatabase::new(backend);
    let (_server, lines) = start(&database, &["serve"]);
    let base = crate::common::binary::base_url(&lines);
    let password = after(&lines, "password:").to_owned();
    let robert = signed_in_client(&base, "robert@frontstreet.example", &password).await;

    let mut list = tokendesk(&database);
    list.args(["user", "list", "--account", "Front Street Inc"]);
    let (code, stdout, stderr) = run_to_end(list, Duration::from_secs(30), None);
    assert_eq!(code, Some(0), "{stderr}");
    let columns: Vec<&str> = stdout.trim().split('\t').collect();
    assert_eq!(
        &columns[1..],
        [
            "robert@frontstreet.example",
            "Robert Balboa",
            "admin",
            "active"
        ]
    );

    let mut reset = tokendesk(&database);
    reset.args([
        "user",
        "reset-password",
        "--email",
        "Robert@FrontStreet.example",
    ]);
    let (code, stdout, stderr) = run_to_end(reset, Duration::from_secs(30), None);
    assert_eq!(code, Some(0), "{stderr}");
    let new_password = stdout.trim().to_owned();
    assert_eq!(new_password.len(), 20);
    assert_eq!(stdout.lines().count(), 1, "the password alone");
    let response = robert
        .get(format!("{base}/integrations/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "the old session ended");
    signed_in_client(&base, "robert@frontstreet.example", &new_password).await;

    for (args, mentions) in [
        (
            &["user", "reset-password", "--email", "nobody@x.example"][..],
            "tokendesk: --email: no user has the e-mail nobody@x.example",
        ),
        (
            &["user", "list", "--account", "Nobody Ltd"][..],
            "tokendesk: --account: no account is named \"Nobody Ltd\"",
        ),
    ] {
        let mut command = tokendesk(&database);
        command.args(args);
        let (code, stdout, stderr) = run_to_end(command, Duration::from_secs(30), None);
        assert_eq!(code, Some(1));
        assert!(stdout.is_empty());
        assert_eq!(stderr.trim(), mentions);
    }
}

async fn operators_rotate_keys_and_limit_new_ones(backend: Backend) {
    let database = TestDatabase::new(backend);
    let (_server, lines) = start(&database, &["serve"]);
    let base = crate::common::binary::base_url(&lines);
    let create = |extra: &[&str]| {
        let mut command = tokendesk(&database);
        command
            .args([
                "token",
                "create",
                "--account",
                "Front Street Inc",
                "--name",
                "Nightly",
                "--modules",
                "all",
            ])
            .args(extra);
        run_to_end(command, Duration::from_secs(30), None)
    };
    let (code, stdout, stderr) = create(&[
        "--expires-in-days",
        "10",
        "--allow",
        "10.0.0.0/8",
        "--allow",
        "127.0.0.1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let key = stdout.trim().to_owned();
    let context = |key: &str| {
        reqwest::Client::new()
            .get(format!(
                "{base}/public/v1/auth/tokens/{}",
                key.split(':').next().unwrap()
            ))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
    };
    let token: serde_json::Value = context(&key).await.unwrap().json().await.unwrap();
    assert_eq!(
        token["allowed_networks"],
        serde_json::json!(["10.0.0.0/8", "127.0.0.1"])
    );
    assert!(token["expiration_date"].is_string());

    let mut rotate = tokendesk(&database);
    rotate.args([
        "token",
        "rotate",
        "--id",
        token["id"].as_str().unwrap(),
        "--grace",
        "1h",
    ]);
    let (code, stdout, stderr) = run_to_end(rotate, Duration::from_secs(30), None);
    assert_eq!(code, Some(0), "{stderr}");
    let new_key = stdout.trim().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(context(&new_key).await.unwrap().status(), 200);
    assert_eq!(
        context(&key).await.unwrap().status(),
        200,
        "an hour's grace"
    );

    for (extra, mentions) in [
        (
            &["--expires-in-days", "0"][..],
            "tokendesk: --expires-in-days: \"0\" is not a number of days",
        ),
        (
            &["--allow", "300.1.2.3/8"][..],
            "tokendesk: --allow: Line 1: \"300.1.2.3/8\"",
        ),
    ] {
        let (code, _, stderr) = create(extra);
        assert_eq!(code, Some(1));
        assert!(stderr.trim().starts_with(mentions), "{stderr}");
    }
    let mut rotate = tokendesk(&database);
    rotate.args(["token", "rotate", "--id", "SU-000-000-001", "--grace", "2h"]);
    let (code, _, stderr) = run_to_end(rotate, Duration::from_secs(30), None);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.trim(),
        "tokendesk: --grace: \"2h\" is not 0, 1h, 24h or 7d"
    );
}

/// `tokendesk scan`, run as a pre-commit hook would run it: in a folder with no database and no
/// configuration, it names every key by file and line, never its secret, and exits 1; on a
/// corpus of 40-hex strings that are not keys (random hex, git SHAs, UUIDs, look-alikes behind
/// token ids with a wrong checksum) it finds nothing and exits 0.
#[test]
fn scan_finds_keys_in_files_and_nothing_else() {
    use rand::Rng;
    use std::process::Command;
    use tokendesk::domain::ids::TokenId;

    let folder = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(crate::common::binary::BINARY)
            .current_dir(folder.path())
            .env_clear()
            .arg("scan")
            .args(args)
            .output()
            .expect("tokendesk scan");
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };

    // The corpus: nothing in it is a key.
    let mut rng = rand::thread_rng();
    let hex = |rng: &mut rand::rngs::ThreadRng, n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap())
            .collect()
    };
    let mut corpus = String::new();
    for n in 0..3000 {
        let id = TokenId::generate();
        let line = match n % 5 {
            0 => hex(&mut rng, 40),
            1 => format!("commit {}", hex(&mut rng, 40)),
            2 => uuid_like(&hex(&mut rng, 32)),
            3 => format!("{id}:{}", hex(&mut rng, 40)),
            _ => format!("ApiKey {id}:{}", uuid_like(&hex(&mut rng, 32))),
        };
        corpus.push_str(&line);
        corpus.push('\n');
    }
    std::fs::create_dir_all(folder.path().join("corpus/deeper")).unwrap();
    std::fs::write(folder.path().join("corpus/hex.txt"), &corpus).unwrap();
    std::fs::write(folder.path().join("corpus/deeper/more.txt"), &corpus).unwrap();
    std::fs::write(
        folder.path().join("corpus/blob.bin"),
        [0u8, 159, 146, 150, 255],
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["corpus"]);
    assert_eq!((code, stdout.as_str()), (Some(0), ""), "{stderr}");
    assert!(
        !folder.path().join("data").exists(),
        "no configuration made"
    );

    // Two keys in a project, one of them twice, one in a folder, one in .git (not looked at).
    let (a, b, hidden) = (
        api_key("SU-160-984-311"),
        api_key("SU-000-000-042"),
        api_key("SU-999-999-999"),
    );
    std::fs::create_dir_all(folder.path().join("project/config")).unwrap();
    std::fs::create_dir_all(folder.path().join("project/.git")).unwrap();
    std::fs::write(
        folder.path().join("project/README.md"),
        format!("# Setup\n\nexport TOKEN={a}\n"),
    )
    .unwrap();
    std::fs::write(
        folder.path().join("project/config/app.yaml"),
        format!("api:\n  key: \"{b}\" # and again: {a}\n"),
    )
    .unwrap();
    std::fs::write(folder.path().join("project/.git/COMMIT_EDITMSG"), &hidden).unwrap();
    let (code, stdout, stderr) = run(&["project", "corpus"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "project/README.md:3: SU-160-984-311",
            "project/config/app.yaml:2: SU-000-000-042",
            "project/config/app.yaml:2: SU-160-984-311",
        ]
    );
    for secret in [&a, &b] {
        let secret = secret.split_once(':').unwrap().1;
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }

    // A path that is not there: one line, exit 2.
    let (code, stdout, stderr) = run(&["no-such-folder"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("tokendesk: cannot read no-such-folder"),
        "{stderr}"
    );
}

/// `tokendesk scan ARGS…` run in `folder` as a hook runs it (no configuration): exit code,
/// stdout, stderr; killed, and the test failed, if it has not finished within `limit`.
fn scan_in(
    folder: &std::path::Path,
    args: &[&str],
    limit: Duration,
) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(crate::common::binary::BINARY);
    command
        .current_dir(folder)
        .env_clear()
        .arg("scan")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    run_to_end(command, limit, None)
}

/// A new API key for the token `id`, whole (`SU-…:secret`).
fn api_key(id: &str) -> String {
    use tokendesk::domain::api_key::TokenSecret;
    use tokendesk::domain::ids::TokenId;
    let id = TokenId::parse(id).unwrap();
    let secret = TokenSecret::generate(&id);
    ApiKey::new(id, secret).expose()
}

/// A FIFO, a device or a socket may never end (a pre-commit hook blocked for good): `scan`
/// skips each one, says so on stderr in one line, and the exit code is what the rest makes it.
#[test]
fn scan_skips_fifos_and_devices_and_says_so() {
    let folder = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(folder.path().join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let limit = Duration::from_secs(10);

    let (code, stdout, stderr) = scan_in(folder.path(), &["pipe"], limit);
    assert_eq!((code, stdout.as_str()), (Some(0), ""), "{stderr}");
    assert_eq!(
        stderr,
        "tokendesk: skipped pipe: not a regular file (a FIFO)\n"
    );

    // In a folder, with a link to it and a key beside it.
    let project = folder.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::rename(folder.path().join("pipe"), project.join("pipe")).unwrap();
    std::os::unix::fs::symlink("pipe", project.join("link")).unwrap();
    std::fs::write(
        project.join("app.env"),
        format!("TOKEN={}\n", api_key("SU-160-984-311")),
    )
    .unwrap();
    let (code, stdout, stderr) = scan_in(folder.path(), &["project"], limit);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "project/app.env:1: SU-160-984-311\n");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "tokendesk: skipped project/link: not a regular file (a FIFO)",
            "tokendesk: skipped project/pipe: not a regular file (a FIFO)",
        ]
    );

    // /dev/zero never ends: skipped at once, the file named after it still scanned.
    let (code, stdout, stderr) = scan_in(
        folder.path(),
        &["/dev/zero", "project/app.env"],
        Duration::from_secs(5),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "project/app.env:1: SU-160-984-311\n");
    assert_eq!(
        stderr,
        "tokendesk: skipped /dev/zero: not a regular file (a character device)\n"
    );
}

/// Links that point at each other cannot be read: each is one line on stderr and exit 2 (the
/// scan is not complete), but the scan goes on and finds the keys in the files beside them; a
/// link to a folder is not followed.
#[test]
fn scan_gets_past_a_symlink_loop() {
    let folder = tempfile::tempdir().unwrap();
    let project = folder.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("a.txt"), api_key("SU-000-000-001")).unwrap();
    std::fs::write(
        project.join("b.txt"),
        format!("\n\n{}", api_key("SU-000-000-002")),
    )
    .unwrap();
    std::os::unix::fs::symlink("loop-b", project.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", project.join("loop-b")).unwrap();
    std::os::unix::fs::symlink(".", project.join("up")).unwrap();

    let (code, stdout, stderr) = scan_in(folder.path(), &["project"], Duration::from_secs(10));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "project/a.txt:1: SU-000-000-001",
            "project/b.txt:3: SU-000-000-002"
        ]
    );
    let notes: Vec<_> = stderr.lines().collect();
    assert_eq!(notes.len(), 2, "{stderr}");
    assert!(notes[0].starts_with("tokendesk: cannot read project/loop-a: "));
    assert!(notes[1].starts_with("tokendesk: cannot read project/loop-b: "));
}

/// A file is read in chunks, whatever it holds: a 200 MB file of one line, a key at its start and
/// one at its end, is scanned with both keys found on line 1 and no more memory than a 2 MB one
/// takes. The binary's own code is resident too (about 10 MB optimised, 20 MB in a debug build),
/// so the 16 MB bound holds for an optimised build (`cargo nextest run --release`).
#[test]
fn scan_reads_a_200_mb_line_in_bounded_memory() {
    let folder = tempfile::tempdir().unwrap();
    let (first, last) = (api_key("SU-000-000-001"), api_key("SU-000-000-002"));
    let expected = "big.txt:1: SU-000-000-001\nbig.txt:1: SU-000-000-002\n";

    one_line_file(&folder.path().join("big.txt"), 2_000_000, &first, &last);
    let (code, stdout, stderr, small_kb, _) = scan_with_peak(folder.path(), "big.txt");
    assert_eq!((code, stdout.as_str()), (Some(1), expected), "{stderr}");

    one_line_file(&folder.path().join("big.txt"), 200_000_000, &first, &last);
    let (code, stdout, stderr, peak_kb, took) = scan_with_peak(folder.path(), "big.txt");
    println!("200 MB line: {took:?}, peak resident {peak_kb} kB (2 MB: {small_kb} kB)");
    assert_eq!((code, stdout.as_str()), (Some(1), expected), "{stderr}");
    assert!(
        peak_kb < small_kb + 4 * 1024,
        "peak resident {peak_kb} kB for 200 MB, {small_kb} kB for 2 MB"
    );
    if !cfg!(debug_assertions) {
        assert!(peak_kb < 16 * 1024, "peak resident {peak_kb} kB");
    }
}

/// `path` made `size` bytes of one line: `first`, look-alikes (`SU-`, token ids, hex), `last`.
fn one_line_file(path: &std::path::Path, size: usize, first: &str, last: &str) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(file, "{first} ").unwrap();
    let filler = b"SU-123-456-789:0123456789abcdef deadbeef SU- S x=1; ".repeat(20_000);
    let mut written = first.len() + 1;
    let room = size - last.len() - 1;
    while written < room {
        let part = &filler[..filler.len().min(room - written)];
        file.write_all(part).unwrap();
        written += part.len();
    }
    write!(file, " {last}").unwrap();
    file.flush().unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len(), size as u64);
}

/// `tokendesk scan FILE` in `folder`: exit code, stdout, stderr, peak resident kB and time taken.
/// The peak is the kernel's high-water mark of the process (VmHWM), read until it exits: each
/// reading holds every peak before it, and the last is at most a few milliseconds before the exit.
fn scan_with_peak(
    folder: &std::path::Path,
    file: &str,
) -> (Option<i32>, String, String, u64, Duration) {
    use std::process::{Command, Stdio};
    let started = std::time::Instant::now();
    let mut child = Command::new(crate::common::binary::BINARY)
        .current_dir(folder)
        .env_clear()
        .args(["scan", file])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    loop {
        let high_water = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
        peak_kb = peak_kb.max(high_water.unwrap_or(0));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("scan still running after {:?}", started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = started.elapsed();
    let output = child.wait_with_output().unwrap();
    assert!(peak_kb > 0, "the peak was read");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
        peak_kb,
        took,
    )
}

/// 32 hex digits as a UUID: 8-4-4-4-12.
fn uuid_like(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

crate::on_both_databases!(
    operators_rotate_keys_and_limit_new_ones,
    operators_list_users_and_reset_passwords,
    a_failed_request_is_logged_with_the_id_its_page_shows,
    first_start_prints_how_to_sign_in_to_the_demo,
    bad_configuration_stops_start_up_with_one_line,
    operators_add_users_and_create_tokens_from_the_command_line,
);
