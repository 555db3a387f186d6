//! The binary as an operator runs it: started in a test database's folder with a clean
//! environment, its output read as it comes, stopped by signal.

use super::TestDatabase;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokendesk::db::DatabaseUrl;

pub const BINARY: &str = env!("CARGO_BIN_EXE_tokendesk");

pub fn database_url(database: &TestDatabase) -> String {
    match &database.url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        DatabaseUrl::Postgres(url) => url.clone(),
    }
}

/// The binary, run in the test database's folder (where it keeps `data/`), with a clean
/// environment.
pub fn tokendesk(database: &TestDatabase) -> Command {
    tokendesk_in(database.dir(), &database_url(database))
}

/// The binary, run in `folder` on the database at `url`, with a clean environment.
pub fn tokendesk_in(folder: &std::path::Path, url: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(folder)
        .env_clear()
        .env("DATABASE_URL", url)
        .env("TOKENDESK_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running server. Its stderr is read as it comes (a full pipe would stop it); it is killed
/// when the test ends, however it ends.
pub struct Running {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits for the process to end, for at most `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Everything it wrote is read once the pipe closes.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }

    /// What it wrote to stderr so far (all of it, once it has exited).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` and collects the lines it prints until the server says it is ready.
pub fn start(database: &TestDatabase, args: &[&str]) -> (Running, Vec<String>) {
    let mut command = tokendesk(database);
    command.args(args);
    start_command(command)
}

pub fn start_command(mut command: Command) -> (Running, Vec<String>) {
    let mut child = command.spawn().expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let reader = child.stderr.take().map(|mut pipe| {
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut chunk) {
                if read == 0 {
                    break;
                }
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..read]));
            }
        })
    });
    let running = Running {
        child,
        stderr,
        reader,
    };
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match received.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.starts_with("This password is shown only this once")
                    || line.starts_with("tokendesk is ready at");
                printed.push(line);
                if done {
                    return (running, printed);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!(
        "the server did not say it was ready: {printed:?}\n{}",
        running.stderr()
    );
}

/// The rest of the printed line that starts with `label`.
pub fn after<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no line with {label:?} in {lines:?}"))
}

/// The address the server printed, without `/login`.
pub fn base_url(lines: &[String]) -> String {
    let url = lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("tokendesk is ready. Sign in at")
                .or_else(|| l.trim().strip_prefix("tokendesk is ready at"))
        })
        .unwrap_or_else(|| panic!("no address in {lines:?}"));
    url.trim().trim_end_matches("/login").to_owned()
}

/// Runs a command that ends by itself: exit code, stdout, stderr.
pub fn run_to_end(
    mut command: Command,
    limit: Duration,
    stdin: Option<&str>,
) -> (Option<i32>, String, String) {
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            return (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            );
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
