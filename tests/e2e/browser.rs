//! A real browser for the end-to-end journeys: Debian's chromedriver driving headless Chromium.
//! Every screen a journey shows is checked (`Browser::screen`): full-page screenshots at 1280 and
//! 375 px wide (and 1280 in the dark scheme), no horizontal scrolling of the page at either, and
//! axe-core's WCAG 2.1 A/AA rules in the light and the dark colour scheme with no violation. At the
//! end no script may have failed.
//!
//! axe-core comes from the npm registry (`tests/e2e/package.json`, installed by `.ci/run` with
//! `npm ci`); it is injected into the page under test only, never served by tokendesk.

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The widths every screen is checked at: a laptop and a phone.
pub const WIDE: u32 = 1280;
pub const NARROW: u32 = 375;
const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// axe-core's script, or `None` (outside CI) when `npm ci` has not been run in tests/e2e.
fn axe_source() -> Option<&'static str> {
    static SOURCE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/e2e/node_modules/axe-core/axe.min.js");
            match std::fs::read_to_string(&path) {
                Ok(source) => Some(source),
                Err(e) if in_ci() => panic!(
                    "CI=true but axe-core is missing ({}: {e}): npm ci --prefix tests/e2e",
                    path.display()
                ),
                Err(_) => {
                    eprintln!("not checking accessibility: run npm ci --prefix tests/e2e");
                    None
                }
            }
        })
        .as_deref()
}

/// A command chromedriver knows beyond W3C WebDriver: its CDP bridge and its log endpoint.
#[derive(Debug)]
struct Extension {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
    shot: u32,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for one journey. Without a browser installed
    /// the journey is skipped, except under `CI=true`, where that is a failure.
    pub async fn start(journey: &str) -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists()
        {
            if in_ci() {
                panic!(
                    "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
                );
            }
            eprintln!(
                "skipping the browser journey {journey}: chromium and chromium-driver are not installed"
            );
            return None;
        }
        let port = free_port();
        // In a process group of its own, so that ending the journey ends Chromium too, even when
        // the journey failed before closing its session.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-extensions", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        capabilities.insert("unhandledPromptBehavior".into(), json!("ignore"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match attempt {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("no WebDriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e-screenshots")
            .join(journey);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            client,
            driver,
            shots,
            shot: 0,
            _profile: profile,
        })
    }

    async fn extension(&self, path: &'static str, body: Value) -> Value {
        self.client
            .issue_cmd(Extension { path, body })
            .await
            .expect("chromedriver extension command")
    }

    /// A Chrome DevTools Protocol command.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.extension(
            "goog/cdp/execute",
            json!({"cmd": command, "params": params}),
        )
        .await
    }

    /// Gives the browser a passkey authenticator of its own (the W3C WebAuthn automation
    /// endpoint): built in, keeping passkeys, and its user verified without asking.
    pub async fn add_virtual_authenticator(&self) -> Value {
        self.extension(
            "webauthn/authenticator",
            json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
            }),
        )
        .await
    }

    /// Checks the screen as it is now, and saves it: at 1280 px in the light and the dark
    /// scheme and at 375 px, axe finds no WCAG 2.1 A/AA violation, and at neither width does the
    /// page scroll sideways (what is wide scrolls in a box of its own). Screenshots go to
    /// `target/e2e-screenshots/<journey>/NN-<name>-<how>.png`.
    pub async fn screen(&mut self, name: &str) {
        self.shot += 1;
        let prefix = format!("{:02}-{name}", self.shot);
        for (width, scheme) in [
            (WIDE, "light"),
            (WIDE, "dark"),
            (NARROW, "light"),
            (NARROW, "dark"),
        ] {
            self.emulate(width, scheme).await;
            if scheme == "light" {
                self.assert_no_sideways_scrolling(name, width).await;
            }
            self.assert_accessible(&format!("{name} at {width} px, {scheme}"))
                .await;
            if (width, scheme) != (NARROW, "dark") {
                let how = if scheme == "dark" {
                    format!("{width}-dark")
                } else {
                    width.to_string()
                };
                self.save_screenshot(&format!("{prefix}-{how}.png")).await;
            }
        }
        self.emulate(WIDE, "light").await;
    }

    /// A phone's width (375 px) from now on, or the desktop's again: for pages that arrange
    /// themselves when they load.
    pub async fn on_a_phone(&self, phone: bool) {
        self.emulate(if phone { NARROW } else { WIDE }, "light")
            .await;
    }

    /// The viewport's width and the colour scheme the page is told the user prefers.
    async fn emulate(&self, width: u32, scheme: &str) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    async fn save_screenshot(&self, file: &str) {
        let taken = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let data = taken["data"].as_str().expect("screenshot data");
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        std::fs::write(self.shots.join(file), png).unwrap();
    }

    /// How wide the page is at `width` px (`document.documentElement.scrollWidth`), and how wide
    /// the window shows it (`clientWidth`); the page scrolls sideways when the first is larger.
    pub async fn page_width_at(&self, width: u32) -> (u64, u64) {
        self.emulate(width, "light").await;
        let measured = self
            .eval("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
            .await;
        self.emulate(WIDE, "light").await;
        (
            measured[0].as_u64().unwrap_or_default(),
            measured[1].as_u64().unwrap_or_default(),
        )
    }

    /// The page is no wider than the window: what is wide (a table) scrolls in its own box.
    async fn assert_no_sideways_scrolling(&self, screen: &str, width: u32) {
        let wider = self
            .eval(
                "const width = document.documentElement.clientWidth;
                 if (document.documentElement.scrollWidth <= width) { return []; }
                 const wider = Array.from(document.querySelectorAll('body *'))
                   .filter(e => e.getBoundingClientRect().right > width + 1)
                   .filter(e => {
                       // What scrolls inside a box of its own is that box's business.
                       for (let up = e.parentElement; up && up !== document.body; up = up.parentElement) {
                           const x = getComputedStyle(up).overflowX;
                           if (x === 'auto' || x === 'scroll' || x === 'hidden') { return false; }
                       }
                       return true;
                   })
                   .slice(0, 8)
                   .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                        (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '') +
                        ' ends at ' + Math.round(e.getBoundingClientRect().right) + 'px');
                 return wider.length ? wider : ['the page is ' + document.documentElement.scrollWidth + ' px wide'];",
            )
            .await;
        assert_eq!(
            wider,
            json!([]),
            "{screen} scrolls sideways at {width} px: {wider:#}"
        );
    }

    /// axe-core's WCAG 2.1 A and AA rules on the page as it is now: no violation.
    async fn assert_accessible(&self, screen: &str) {
        let Some(violations) = self.axe_violations().await else {
            return;
        };
        assert_eq!(
            violations,
            json!([]),
            "accessibility violations on {screen}: {violations:#}"
        );
    }

    /// What axe-core's WCAG 2.1 A and AA rules find on the page as it is now (`None` when
    /// axe-core is not installed, outside CI).
    pub async fn axe_violations(&self) -> Option<Value> {
        let source = axe_source()?;
        if self.eval("return typeof window.axe === 'undefined';").await == true {
            self.client
                .execute(source, vec![])
                .await
                .expect("axe-core loads");
        }
        let violations = self
            .client
            .execute_async(
                "const [tags, done] = arguments;
                 axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({
                       rule: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)
                   }))), e => done([{rule: 'axe failed', help: String(e)}]));",
                vec![json!(AXE_TAGS)],
            )
            .await
            .expect("axe runs");
        Some(violations)
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            texts.push(element.text().await.unwrap());
        }
        texts
    }

    /// A property of the element (`value`, `checked`), as the page has it now.
    pub async fn prop(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.prop(name).await.unwrap()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits (for a page that is loading after a click) until `css` shows `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let shown = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {shown:?}, not {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the address (path and query) contains `part` and the page has loaded.
    pub async fn wait_for_path(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let loaded = self.eval("return document.readyState").await == "complete";
            if loaded && self.path().await.contains(part) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the address never contained {part:?}: {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Presses Tab until the focused element matches `css`; every control passed on the way must
    /// have a label and a visible focus ring.
    pub async fn tab_to(&self, css: &str) {
        for _ in 0..60 {
            self.press(Key::Tab).await;
            let focused = self
                .eval(
                    "const e = document.activeElement; const style = getComputedStyle(e); return {
                    tag: e.tagName, id: e.id, text: (e.textContent || '').trim(),
                    labelled: !!(e.labels && e.labels.length) || !!e.getAttribute('aria-label') || (e.textContent || '').trim() !== '' || e.type === 'hidden',
                    ring: style.outlineStyle !== 'none' && style.outlineWidth !== '0px',
                };",
                )
                .await;
            assert_eq!(
                focused["labelled"], true,
                "a control without a label: {focused}"
            );
            assert_eq!(focused["ring"], true, "no visible focus on {focused}");
            let matched = self
                .client
                .execute(
                    "return document.activeElement.matches(arguments[0]);",
                    vec![json!(css)],
                )
                .await
                .unwrap();
            if matched == true {
                return;
            }
        }
        panic!("Tab never reached {css}");
    }

    /// Presses Tab once per selector: each time the focus must land on that element, labelled and
    /// with a visible focus ring. The focus order, asserted step by step.
    pub async fn tab_through(&self, order: &[&str]) {
        for (step, css) in order.iter().enumerate() {
            self.press(Key::Tab).await;
            self.assert_focus_on(css)
                .await
                .unwrap_or_else(|was| panic!("Tab {} should reach {css}, reached {was}", step + 1));
        }
    }

    /// Whether the focused element matches `css`, labelled and with a visible ring; otherwise
    /// what has the focus.
    pub async fn assert_focus_on(&self, css: &str) -> Result<(), Value> {
        let focused = self
            .client
            .execute(
                "const e = document.activeElement; const style = getComputedStyle(e);
                 return {
                    matches: e.matches(arguments[0]),
                    tag: e.tagName, id: e.id, text: (e.textContent || '').trim().slice(0, 40),
                    labelled: !!(e.labels && e.labels.length) || !!e.getAttribute('aria-label') || (e.textContent || '').trim() !== '',
                    ring: style.outlineStyle !== 'none' && style.outlineWidth !== '0px',
                 };",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if focused["matches"] != true {
            return Err(focused);
        }
        assert_eq!(
            focused["labelled"], true,
            "a control without a label: {focused}"
        );
        assert_eq!(focused["ring"], true, "no visible focus on {focused}");
        Ok(())
    }

    /// Presses `key` in the focused element.
    pub async fn press(&self, key: Key) {
        self.type_text(&key.to_string()).await;
    }

    /// Types `text` into the focused element.
    pub async fn type_text(&self, text: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// What the page logged as errors: script errors, failed scripts, CSP refusals. A response
    /// with a 4xx status is how forms say "fix this" and is not one.
    pub async fn console_errors(&self) -> Vec<String> {
        let logged = self.extension("se/log", json!({"type": "browser"})).await;
        logged
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .filter(|message| {
                !(message
                    .contains("Failed to load resource: the server responded with a status of 4"))
            })
            .collect()
    }

    /// Ends the journey: no script error may have happened on any screen.
    pub async fn finish(self) {
        let errors = self.console_errors().await;
        let _ = self.client.clone().close().await;
        assert!(
            errors.is_empty(),
            "errors in the browser console: {errors:#?}"
        );
    }
}

impl Drop for Browser {
    /// Ends chromedriver and every browser process it started (its process group), even when the
    /// journey failed before closing its session.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
