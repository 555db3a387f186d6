//! A PostgreSQL cluster of a test's own (Debian's initdb and pg_ctl, run as the postgres user, on
//! a free port), which the test may stop, freeze and start again without touching the shared
//! server. It is removed when the test ends.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Cluster {
    folder: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// Debian's PostgreSQL programs, newest version first.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    /// A new, running cluster; `None` where PostgreSQL's programs are not installed (then the
    /// tests that need one are skipped, unless CI=true, where they fail).
    pub fn start() -> Option<Cluster> {
        let Some(bin) = postgres_bin() else {
            assert!(
                std::env::var("CI").is_err(),
                "CI needs PostgreSQL's initdb and pg_ctl under /usr/lib/postgresql"
            );
            eprintln!("skipped: no PostgreSQL programs under /usr/lib/postgresql");
            return None;
        };
        let folder = tempfile::Builder::new()
            .prefix("tokendesk-cluster-")
            .tempdir()
            .expect("a folder");
        let cluster = Cluster {
            folder,
            bin,
            port: free_port(),
        };
        run(Command::new("chown").args(["postgres:postgres", &cluster.dir_str()]));
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &cluster.data_str(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        cluster.up();
        Some(cluster)
    }

    fn dir_str(&self) -> String {
        self.folder.path().display().to_string()
    }

    fn data_dir(&self) -> PathBuf {
        self.folder.path().join("data")
    }

    fn data_str(&self) -> String {
        self.data_dir().display().to_string()
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(self.folder.path()));
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir_str()
        );
        let log = self.folder.path().join("server.log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data_str(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once, as a crash or a `kill -9` of an operator would.
    pub fn down(&self) {
        self.as_postgres(
            "pg_ctl",
            &["-D", &self.data_str(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Every process of the server, the postmaster first.
    fn processes(&self) -> Vec<String> {
        let pid_file = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .expect("the server is running");
        let postmaster = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster])
            .output()
            .expect("pgrep");
        std::iter::once(postmaster)
            .chain(
                String::from_utf8_lossy(&children.stdout)
                    .split_whitespace()
                    .map(str::to_owned),
            )
            .collect()
    }

    /// SIGSTOP to every process of the server: it keeps its connections and answers nothing.
    pub fn freeze(&self) {
        for pid in self.processes() {
            run(Command::new("kill").args(["-STOP", &pid]));
        }
    }

    pub fn thaw(&self) {
        for pid in self.processes() {
            run(Command::new("kill").args(["-CONT", &pid]));
        }
    }

    /// A new database on the cluster, and its URL.
    pub fn create_database(&self, name: &str) -> String {
        let admin = self.url("postgres");
        let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&admin)
            .unwrap_or_else(|e| panic!("the private cluster at {admin}: {e}"));
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!("CREATE DATABASE {name}"),
        )
        .expect("create database");
        self.url(name)
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Thawed first, in case the test stopped while it was frozen.
        if self.data_dir().join("postmaster.pid").exists() {
            for pid in self.processes() {
                let _ = Command::new("kill").args(["-CONT", &pid]).status();
            }
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", &self.data_str(), "-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
