//! What stands around tokendesk in the forward-auth and metrics tests: Debian's programs (nginx,
//! Prometheus, promtool) run as processes of the test on free ports, and a tiny service behind
//! the proxy that answers with what it was sent.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const NGINX: &str = "/usr/sbin/nginx";
pub const PROMTOOL: &str = "/usr/bin/promtool";
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Whether the program at `path` is installed. Without it the test is skipped, saying so;
/// with CI=true it fails instead, naming the Debian package.
pub fn installed(path: &str, package: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but {path} is missing: apt-get install {package}"
    );
    eprintln!("skipped: no {path} (apt-get install {package})");
    false
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until something accepts connections on `port`, for at most `limit`.
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A program the test started, ended (by its own pid) when the test ends, however it ends.
pub struct Process {
    child: Child,
    /// Its configuration, data and log; removed with it.
    _folder: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Process {
    /// What it wrote to its log file so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` (output to a log file in `folder`) and waits until it listens on `port`.
fn start(mut command: Command, folder: tempfile::TempDir, port: u16, what: &str) -> Process {
    let log = folder.path().join("output.log");
    let file = std::fs::File::create(&log).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what} starts: {e}"));
    let process = Process {
        child,
        _folder: folder,
        log,
    };
    assert!(
        wait_for_port(port, Duration::from_secs(20)),
        "{what} does not listen on {port}:\n{}",
        process.log()
    );
    process
}

/// deploy/nginx.conf as an operator would adapt it: its three addresses changed to `proxy`,
/// `tokendesk` and `service` (`127.0.0.1:<port>` each) and its logs put in the test's folder.
pub fn nginx_conf(proxy: u16, tokendesk: u16, service: u16, logs: &Path) -> String {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
            .expect("deploy/nginx.conf");
    for address in ["127.0.0.1:8000", "127.0.0.1:8080", "127.0.0.1:9000"] {
        assert!(
            shipped.contains(address),
            "deploy/nginx.conf names {address}"
        );
    }
    shipped
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{proxy}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{tokendesk}"))
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{service}"))
        .replace("/var/log/nginx/", &format!("{}/", logs.display()))
}

/// Debian's nginx in the foreground on `config`, which listens on `port`.
pub fn nginx(config: &str, port: u16) -> Process {
    let folder = tempfile::Builder::new()
        .prefix("tokendesk-nginx-")
        .tempdir()
        .unwrap();
    let file = folder.path().join("nginx.conf");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(NGINX);
    command
        .arg("-p")
        .arg(folder.path())
        .arg("-c")
        .arg(&file)
        .arg("-g")
        .arg(format!(
            "daemon off; master_process off; pid {}/nginx.pid;",
            folder.path().display()
        ));
    start(command, folder, port, "nginx")
}

/// A Prometheus server on `port` scraping `target` (`host:port`) every second.
pub fn prometheus(port: u16, target: &str) -> Process {
    let folder = tempfile::Builder::new()
        .prefix("tokendesk-prometheus-")
        .tempdir()
        .unwrap();
    let config = folder.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: tokendesk\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(PROMETHEUS);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            folder.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    start(command, folder, port, "prometheus")
}

/// A service behind the proxy: it answers every request 200 with JSON naming the path and the
/// headers it received (lower-case names). It stops when dropped.
pub struct Service {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Service {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, stop }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let body = serde_json::json!({"service": "behind the proxy", "path": path, "headers": headers})
        .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
