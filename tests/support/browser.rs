//! Real browsers for the front-end tests: Debian's headless Chromium driven over WebDriver
//! (`chromedriver`, started per test on a free loopback port), one browser session per
//! person, each with its own empty profile. [`scenario`] runs a test body and, when it fails
//! (an error or a panic), saves every browser's screenshot and console log under
//! `target/browser-failures/<test>/` before failing the test.
//!
//! The widget lives in a shadow root: [`Browser::widget`] finds an element inside it (a
//! real element reference: clicks and keys go through the browser as a person's would).

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::{Element, ElementRef};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;

/// How long a browser test waits for something to appear.
pub const UI_WAIT: Duration = Duration::from_secs(15);

/// A `chromedriver` process.
struct Driver {
    child: Child,
    url: String,
}

/// What a browser test opens its browsers with; every browser opened is kept for the
/// failure report.
#[derive(Clone)]
pub struct Stage {
    url: String,
    opened: Arc<Mutex<Vec<Browser>>>,
    profiles: Arc<Mutex<Vec<tempfile::TempDir>>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Driver {
    /// Start chromedriver (installed by `scripts/setup.sh`) and wait until it answers.
    async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/setup.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(format!("{url}/status")).await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, url }
    }
}

impl Stage {
    /// A new headless browser (its own empty profile), named for the failure report.
    pub async fn browser(&self, name: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
        );
        caps.insert("goog:loggingPrefs".into(), serde_json::json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session");
        self.profiles.lock().unwrap().push(profile);
        let browser = Browser { client, name: name.to_string() };
        self.opened.lock().unwrap().push(browser.clone());
        browser
    }
}

/// One person's browser.
#[derive(Clone)]
pub struct Browser {
    pub client: Client,
    pub name: String,
}

/// `POST /session/{id}/se/log`: the browser console's messages since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or("")))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("{}: open {url}: {e}", self.name));
    }

    /// Wait for an element of the page.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(UI_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no `{css}` within {UI_WAIT:?}: {e}", self.name))
    }

    /// Wait for an element inside the widget's shadow root.
    pub async fn widget(&self, css: &str) -> Element {
        let script = "const host = document.getElementById('switchboard-widget');
                      return host && host.shadowRoot ? host.shadowRoot.querySelector(arguments[0]) : null;";
        let deadline = Instant::now() + UI_WAIT;
        loop {
            let found = self.client.execute(script, vec![serde_json::json!(css)]).await.unwrap();
            if let Some(id) = found.as_object().and_then(|o| o.values().next()).and_then(|v| v.as_str()) {
                return Element::from_element_id(self.client.clone(), ElementRef::from(id.to_string()));
            }
            assert!(Instant::now() < deadline, "{}: no widget `{css}` within {UI_WAIT:?}", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the text of the page (or of the widget, with `widget`) contains `text`.
    pub async fn wait_text(&self, widget: bool, text: &str) {
        let script = if widget {
            "const h = document.getElementById('switchboard-widget');
             return h && h.shadowRoot ? h.shadowRoot.querySelector('.panel').innerText : '';"
        } else {
            "return document.body.innerText;"
        };
        let deadline = Instant::now() + UI_WAIT;
        loop {
            let now = self.client.execute(script, vec![]).await.unwrap();
            let now = now.as_str().unwrap_or("").to_string();
            if now.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: `{text}` did not appear; the page shows:\n{now}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// With `SWITCHBOARD_SCREENSHOTS=DIR` set, save a screenshot as `DIR/<name>.png` (how
    /// the README's pictures are made); otherwise nothing.
    pub async fn snapshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("SWITCHBOARD_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
        }
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    /// Save a screenshot and the console log into `dir`.
    async fn report(&self, dir: &std::path::Path) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{}.png", self.name)), png);
        }
        let log = self.client.issue_cmd(BrowserLog).await.map(|v| serde_json::to_string_pretty(&v).unwrap());
        let _ = std::fs::write(
            dir.join(format!("{}-console.json", self.name)),
            log.unwrap_or_else(|e| e.to_string()),
        );
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(dir.join(format!("{}.html", self.name)), html);
        }
    }
}

/// Where a failed test's screenshots and console logs go.
fn failure_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
    target.join("browser-failures").join(test)
}

/// Run a browser test: `body` opens the browsers it needs from the [`Stage`]. On a panic,
/// every browser's screenshot, console log and page source are saved and the test fails
/// with the panic.
pub async fn scenario<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    let driver = Driver::start().await;
    let stage = Stage { url: driver.url.clone(), opened: Arc::default(), profiles: Arc::default() };
    let outcome = std::panic::AssertUnwindSafe(body(stage.clone())).catch_unwind().await;
    let browsers = stage.opened.lock().unwrap().clone();
    if let Err(panic) = outcome {
        let dir = failure_dir(test);
        let _ = std::fs::create_dir_all(&dir);
        for browser in &browsers {
            browser.report(&dir).await;
        }
        eprintln!("browser test {test} failed: screenshots and console logs in {}", dir.display());
        close_all(browsers).await;
        std::panic::resume_unwind(panic);
    }
    close_all(browsers).await;
}

async fn close_all(browsers: Vec<Browser>) {
    for browser in browsers {
        let _ = browser.client.close().await;
    }
}
