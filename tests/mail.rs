//! Notifications by mail, against a real SMTP server started by the test (Debian's
//! `python3-aiosmtpd`, storing what it receives in a maildir): one digest per user per day, sent
//! once whatever the number of instances, retried while the server is down, never holding up a
//! request, never holding a secret.

use crate::common::{Backend, TestApp, TestUser, spawn_app, spawn_app_configured};
use chrono::Duration;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use tokendesk::config::MailSettings;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::live::mail::MailDigests;

/// The Python that has Debian's `aiosmtpd` (not a Python of the user's own).
const PYTHON: &str = "/usr/bin/python3";

/// An SMTP server on a free loopback port, killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    fn start() -> Self {
        let has_aiosmtpd = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            has_aiosmtpd,
            "the mail tests need Debian's python3-aiosmtpd (apt-get install python3-aiosmtpd)"
        );
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(15),
                "aiosmtpd listens"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            child,
            port,
            maildir,
        }
    }

    fn settings(&self) -> MailSettings {
        settings_for(self.port)
    }

    /// Every message received so far, as text.
    fn messages(&self) -> Vec<String> {
        let root: PathBuf = self.maildir.path().join("box");
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                found.push(std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        found
    }

    /// Waits up to `seconds` for at least `count` messages.
    fn wait_for(&self, count: usize, seconds: u64) -> Vec<String> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count
                || started.elapsed() > std::time::Duration::from_secs(seconds)
            {
                return messages;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings_for(port: u16) -> MailSettings {
    MailSettings::parse(
        &format!("smtp://127.0.0.1:{port}"),
        Some("tokendesk <tokendesk@frontstreet.example>"),
    )
    .unwrap()
}

/// A header of a stored message.
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
}

/// Two expiring tokens of Mia's, one holding All (so Robert, an admin, is told of it too),
/// and their reminders made; the keys, which no mail may hold.
fn reminders_due(app: &TestApp) -> (TestUser, TestUser, Vec<ApiKey>) {
    let robert = app.robert();
    let mia = app.mia();
    let expiry = app.clock.now() + Duration::days(5);
    let (_, all_key) = app.token(&mia, "Mia's All").expires_at(expiry).create();
    let (_, narrow_key) = app
        .token(&mia, "Mia's agreements")
        .modules("MD-0002")
        .expires_at(expiry)
        .create();
    let mut conn = tokendesk::db::pool::checkout(&app.pool).unwrap();
    let added = tokendesk::services::reminders::remind(&mut conn, app.clock.now()).unwrap();
    assert_eq!(added, 3);
    (robert, mia, vec![all_key, narrow_key])
}

fn no_secret_in(messages: &[String], keys: &[ApiKey]) {
    for message in messages {
        for key in keys {
            let exposed = key.expose();
            let secret = exposed.split(':').nth(1).unwrap();
            assert!(!message.contains(secret), "a secret in a mail: {message}");
        }
    }
}

async fn each_user_gets_one_digest_a_day(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app(backend).await;
    let (_, _, keys) = reminders_due(&app);
    let mut digests =
        MailDigests::new(app.pool.clone(), app.clock.clone(), &smtp.settings()).unwrap();
    assert_eq!(digests.round(app.clock.now()).unwrap(), 2);
    let messages = smtp.wait_for(2, 10);
    assert_eq!(messages.len(), 2, "one each");
    let to_mia = messages
        .iter()
        .find(|m| header(m, "To").contains("mia@frontstreet.example"))
        .expect("Mia's digest");
    assert_eq!(header(to_mia, "Subject"), "tokendesk: 2 notifications");
    assert!(header(to_mia, "From").contains("tokendesk@frontstreet.example"));
    assert!(to_mia.contains("Mia's All") && to_mia.contains("Mia's agreements"));
    let to_robert = messages
        .iter()
        .find(|m| header(m, "To").contains("robert@frontstreet.example"))
        .expect("Robert's digest");
    assert_eq!(header(to_robert, "Subject"), "tokendesk: 1 notification");
    assert!(!to_robert.contains("Mia's agreements"));
    no_secret_in(&messages, &keys);

    // Nothing twice; what comes later the same day waits for the next day's digest.
    assert_eq!(digests.round(app.clock.now()).unwrap(), 0);
    app.clock.advance(Duration::days(4));
    let mut conn = tokendesk::db::pool::checkout(&app.pool).unwrap();
    assert_eq!(
        tokendesk::services::reminders::remind(&mut conn, app.clock.now()).unwrap(),
        3,
        "a day before"
    );
    drop(conn);
    assert_eq!(digests.round(app.clock.now()).unwrap(), 2, "the next day");
    assert_eq!(smtp.wait_for(4, 10).len(), 4);
    assert_eq!(digests.round(app.clock.now()).unwrap(), 0);
}

async fn two_instances_send_each_digest_once(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app(backend).await;
    let other = app.another_instance();
    reminders_due(&app);
    let now = app.clock.now();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let senders: Vec<_> = [app.pool.clone(), other.pool.clone()]
        .into_iter()
        .map(|pool| {
            let mut digests = MailDigests::new(pool, app.clock.clone(), &smtp.settings()).unwrap();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                digests.round(now).unwrap()
            })
        })
        .collect();
    let sent: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    assert_eq!(
        sent, 2,
        "two users, one digest each, whichever instance sent it"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 2);
}

async fn a_server_that_is_down_is_tried_again_later(backend: Backend) {
    let app = spawn_app(backend).await;
    reminders_due(&app);
    // Nothing listens on this port.
    let down = free_port();
    let mut failing =
        MailDigests::new(app.pool.clone(), app.clock.clone(), &settings_for(down)).unwrap();
    assert_eq!(failing.round(app.clock.now()).unwrap(), 0);
    assert_eq!(
        failing.round(app.clock.now()).unwrap(),
        0,
        "not tried again at once"
    );
    let smtp = SmtpServer::start();
    let mut working =
        MailDigests::new(app.pool.clone(), app.clock.clone(), &smtp.settings()).unwrap();
    assert_eq!(
        working.round(app.clock.now()).unwrap(),
        0,
        "the retry waits its minute"
    );
    app.clock.advance(Duration::seconds(61));
    assert_eq!(working.round(app.clock.now()).unwrap(), 2, "retried");
    assert_eq!(smtp.wait_for(2, 10).len(), 2);
}

/// A server that takes the connection and never says a word: the mail job waits for it (up to
/// its timeout); no request does.
async fn a_silent_smtp_server_delays_no_request(backend: Backend) {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in silent.incoming().take(4) {
            open.push(stream);
            let _ = accepted_tx.send(Instant::now());
        }
        std::thread::sleep(std::time::Duration::from_secs(40));
    });
    let app = spawn_app_configured(backend, |config| config.mail = Some(settings_for(port))).await;
    let (robert, _, _) = reminders_due(&app);
    app.sign_in(&robert).await;
    // Requests before the job's next round, while it waits on the silent server, and after.
    let started = Instant::now();
    let mut held_since = None;
    let mut slowest = std::time::Duration::ZERO;
    let mut during = 0;
    loop {
        if held_since.is_none() {
            held_since = accepted.try_recv().ok();
        }
        if held_since
            .is_some_and(|since: Instant| since.elapsed() > std::time::Duration::from_secs(4))
            || started.elapsed() > std::time::Duration::from_secs(30)
        {
            break;
        }
        let asked = Instant::now();
        let list = app.get("/integrations/tokens").await;
        assert_eq!(list.status(), 200);
        slowest = slowest.max(asked.elapsed());
        during += usize::from(held_since.is_some());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(held_since.is_some(), "the mail job tried the silent server");
    assert!(during >= 10, "requests made while it waited: {during}");
    assert!(
        slowest < std::time::Duration::from_secs(1),
        "a request waited {slowest:?}"
    );
}

/// The server mails by itself when `TOKENDESK_SMTP_URL` is set.
async fn the_server_mails_by_itself(backend: Backend) {
    let smtp = SmtpServer::start();
    let settings = smtp.settings();
    let app = spawn_app_configured(backend, |config| config.mail = Some(settings)).await;
    reminders_due(&app);
    let messages = smtp.wait_for(2, 30);
    assert_eq!(messages.len(), 2, "mailed within its period");
}

crate::on_both_databases!(
    each_user_gets_one_digest_a_day,
    a_server_that_is_down_is_tried_again_later,
    a_silent_smtp_server_delays_no_request,
    the_server_mails_by_itself,
);

mod two_instances {
    #[tokio::test]
    async fn postgres() {
        super::two_instances_send_each_digest_once(crate::common::Backend::Postgres).await
    }
}
