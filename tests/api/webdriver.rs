//! A small client of the W3C WebDriver protocol that drives Debian's headless Chromium through
//! its `chromedriver` (package `chromium-driver`): open a page, type into fields, press keys,
//! click, read the page and take screenshots, as a person at the keyboard would.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key WebDriver names an element reference by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// A browser session; the driver (and with it the browser) stops when it is dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

impl Browser {
    /// Starts `chromedriver` on a free port and opens a headless Chromium session.
    pub async fn start(chromedriver: &Path, chromium: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        // In a process group of its own, so that the browser it starts stops with it.
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == json!(true)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = answer(
            http.post(format!("{base}/session"))
                .json(&json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": ["--headless", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--no-first-run",
                                 "--hide-scrollbars", "--window-size=1280,1600"],
                    },
                }}})),
            "session",
        )
        .await;
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request, path).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_string()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        found[ELEMENT_KEY].as_str().unwrap().to_string()
    }

    /// Whether the page has an element matching `css`.
    pub async fn has(&self, css: &str) -> bool {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found.as_array().is_some_and(|all| !all.is_empty())
    }

    /// Types `keys` into the element matching `css`, as a keyboard would.
    pub async fn type_into(&self, css: &str, keys: &str) {
        let element = self.find(css).await;
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": keys }),
        )
        .await;
    }

    /// Types `date` (YYYY-MM-DD) into a date field. The field's order of day, month and year
    /// follows the browser's locale, so both orders are tried and the result is read back.
    pub async fn type_date(&self, css: &str, date: &str) {
        let [year, month, day] = [&date[0..4], &date[5..7], &date[8..10]];
        for keys in [format!("{month}{day}{year}"), format!("{day}{month}{year}")] {
            self.type_into(css, &keys).await;
            if self.property(css, "value").await == json!(date) {
                return;
            }
            let element = self.find(css).await;
            self.post(&format!("/element/{element}/clear"), json!({}))
                .await;
        }
        panic!("the date field {css} did not take {date}");
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    pub async fn property(&self, css: &str, name: &str) -> Value {
        let element = self.find(css).await;
        self.get(&format!("/element/{element}/property/{name}"))
            .await
    }

    /// Presses Tab and names the element that has the focus then: its `id`, or else its class.
    pub async fn tab(&self) -> String {
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": TAB }, { "type": "keyUp", "value": TAB },
            ]}]}),
        )
        .await;
        let active = self.get("/element/active").await;
        let element = active[ELEMENT_KEY].as_str().unwrap().to_string();
        let id = self.get(&format!("/element/{element}/property/id")).await;
        match id.as_str() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => self
                .get(&format!("/element/{element}/property/className"))
                .await
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Presses Tab until the focus leaves the element named `from` (a date field takes one
    /// Tab per part: day, month, year), and names the element that has it then.
    pub async fn tab_from(&self, from: &str) -> String {
        for _ in 0..5 {
            let focused = self.tab().await;
            if focused != from {
                return focused;
            }
        }
        panic!("the focus never left {from}");
    }

    /// The page as the browser holds it now, after rendering.
    pub async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap().to_string()
    }

    /// Waits until the page's address contains `part` (after a submission).
    pub async fn wait_for_url(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.current_url().await.contains(part) {
            assert!(
                Instant::now() < deadline,
                "the browser never reached {part}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the window to `path`; its size in bytes.
    pub async fn screenshot(&self, path: &Path) -> usize {
        let encoded = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        std::fs::write(path, &png).unwrap();
        png.len()
    }

    /// Ends the session, which closes the browser.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    /// Stops the driver and whatever it started (a failed test leaves no browser behind).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// The `value` of a WebDriver answer to `request`, which must not be an error.
async fn answer(request: reqwest::RequestBuilder, path: &str) -> Value {
    let answer: Value = request
        .send()
        .await
        .expect("chromedriver answers")
        .json()
        .await
        .unwrap();
    assert!(
        answer["value"].get("error").is_none(),
        "WebDriver {path}: {answer}"
    );
    answer["value"].clone()
}
