//! A real browser for the web app's tests: Debian's `chromium` driven through `chromedriver`
//! (WebDriver), both started here on a free loopback port and stopped when the [`Browser`] is
//! dropped — the driver, and every Chromium process of the session (found in /proc by its
//! private profile directory, which is also their HOME), even those in a session of their own.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub use fantoccini::Locator as By;

/// Phone (360 × 780) and desktop (1280 × 900) viewports.
pub const PHONE: (u32, u32) = (360, 780);
pub const DESKTOP: (u32, u32) = (1280, 900);

pub struct Browser {
    pub client: Client,
    driver: Option<Child>,
    profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Also on a failed test: the driver's process group and every Chromium of this profile end.
    fn drop(&mut self) {
        if let Some(d) = self.driver.take() {
            let mut d = Browser::kill_parts(d, &self.profile);
            let _ = d.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Where the browser and its driver are (Debian's packages; `make test` installs them).
pub fn chromium_paths() -> Result<(String, String)> {
    let chrome = std::env::var("CAAS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver = std::env::var("CAAS_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    for p in [&chrome, &driver] {
        if !std::path::Path::new(p).exists() {
            bail!("{p} is missing: install Debian's chromium and chromium-driver (`make test` does: infra/browser.sh)");
        }
    }
    Ok((chrome, driver))
}

impl Browser {
    /// A fresh headless Chromium with an empty profile, `lang` as its UI language, at `size`.
    pub async fn start(lang: &str, size: (u32, u32)) -> Result<Browser> {
        let (chrome, driver_bin) = chromium_paths()?;
        let port = free_port();
        let mut cmd = Command::new(&driver_bin);
        let profile = tempfile::Builder::new().prefix("caas-chromium-").tempdir()?;
        // HOME in the profile: Chromium's crash handler (its own session) keeps its files there,
        // and every process of this browser can be found by it when stopping.
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .env("HOME", profile.path())
            .env("XDG_CONFIG_HOME", profile.path().join(".config"))
            .env("XDG_CACHE_HOME", profile.path().join(".cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().with_context(|| format!("start {driver_bin}"))?;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    format!("--lang={lang}"), format!("--window-size={},{}", size.0, size.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": { "intl.accept_languages": lang },
            }
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    let mut b = Browser::kill_parts(driver, &profile);
                    let _ = b.wait();
                    bail!("chromedriver session: {e}");
                }
            }
        };
        let b = Browser { client, driver: Some(driver), profile };
        b.resize(size).await?;
        Ok(b)
    }

    /// Stops the driver's process group and every process of this browser profile (Chromium's
    /// helpers, its crash handler: their HOME is the profile), found in /proc, never by a pattern
    /// that could match anything else.
    fn kill_parts(mut driver: Child, profile: &tempfile::TempDir) -> Child {
        let _ = driver.kill();
        let marker = profile.path().to_string_lossy().to_string();
        let me = std::process::id();
        for pid in profile_processes(&marker).into_iter().filter(|p| *p != me) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).stderr(Stdio::null()).status();
        }
        driver
    }

    pub async fn resize(&self, (w, h): (u32, u32)) -> Result<()> {
        // The window's outer size includes no chrome in headless mode.
        self.client.set_window_size(w, h).await?;
        Ok(())
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.with_context(|| format!("open {url}"))
    }

    pub async fn url(&self) -> Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// The element matching `css`, waiting up to 15 s for it to appear.
    pub async fn find(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css:?}"))
    }

    /// Clicks `css` (scrolled to the middle of the screen first: a phone's fixed navigation bar
    /// must not cover it).
    pub async fn click(&self, css: &str) -> Result<()> {
        let e = self.find(css).await?;
        self.client.execute("document.querySelector(arguments[0])?.scrollIntoView({block: 'center'})", vec![json!(css)]).await?;
        e.click().await.with_context(|| format!("click {css}"))
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css).await?;
        e.clear().await?;
        e.send_keys(text).await.with_context(|| format!("type into {css}"))
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    /// The visible text of the page.
    pub async fn page_text(&self) -> Result<String> {
        Ok(self.client.execute("return document.body.innerText", vec![]).await?.as_str().unwrap_or_default().to_string())
    }

    /// Waits (up to `secs`) until the page's visible text contains `needle`.
    pub async fn wait_text(&self, needle: &str, secs: u64) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.page_text().await.unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("{needle:?} did not appear on {}; the page shows:\n{text}", self.url().await.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until the address contains `part`.
    pub async fn wait_url(&self, part: &str, secs: u64) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let u = self.url().await?;
            if u.contains(part) {
                return Ok(u);
            }
            if Instant::now() > deadline {
                bail!("address never contained {part:?} (now {u})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Keyboard only: presses Tab until the focused element matches `css` (at most `max` times),
    /// then Enter on it.
    pub async fn tab_to_and_press_enter(&self, css: &str, max: usize) -> Result<()> {
        for _ in 0..max {
            let hit = self.client.execute("return document.activeElement && document.activeElement.matches(arguments[0])", vec![json!(css)]).await?;
            if hit == Value::Bool(true) {
                return Ok(self.client.active_element().await?.send_keys("\u{E007}").await?);
            }
            self.client.active_element().await?.send_keys("\u{E004}").await?;
        }
        bail!("{css} not reached with {max} presses of Tab")
    }

    /// Keyboard only: presses Tab (`back`: Shift+Tab) `times` times on whatever has focus;
    /// answers the element focused then: its `id`, or its text if it has no id ("" if none).
    pub async fn press_tab(&self, times: usize, back: bool) -> Result<String> {
        let keys = if back { "\u{E008}\u{E004}\u{E008}" } else { "\u{E004}" };
        for _ in 0..times {
            self.client.active_element().await?.send_keys(keys).await?;
        }
        let id = self.client.execute("const e = document.activeElement; return e ? (e.id || e.textContent.trim()) : ''", vec![]).await?;
        Ok(id.as_str().unwrap_or("").to_string())
    }

    pub async fn eval(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// axe-core (web/node_modules, the npm lockfile's version) run on the page: the serious and
    /// critical violations as `rule: target…` lines.
    pub async fn accessibility_violations(&self) -> Result<Vec<String>> {
        let axe = std::fs::read_to_string(crate::repo_root().join("web/node_modules/axe-core/axe.min.js"))
            .context("web/node_modules/axe-core (infra/build-web.sh installs it)")?;
        self.client.execute(&axe, vec![]).await?;
        let r = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.map(n => n.target.join(' ')).slice(0, 4).join(', '))),
                   e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await?;
        Ok(r.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default())
    }

    /// A PNG of the page at `size` written to `dir/name.png` (full page height).
    pub async fn screenshot(&self, dir: &std::path::Path, name: &str, size: (u32, u32)) -> Result<()> {
        let h = self.eval("return Math.max(document.documentElement.scrollHeight, window.innerHeight)").await?.as_u64().unwrap_or(size.1 as u64) as u32;
        self.resize((size.0, h.clamp(size.1, 2400))).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = self.client.screenshot().await?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{name}.png")), png)?;
        self.resize(size).await
    }

    /// Ends the WebDriver session (Chromium quits), then the driver (see `Drop`).
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }
}

/// Processes whose command line or environment names `marker` (the profile directory).
fn profile_processes(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            ["cmdline", "environ"].iter().any(|f| {
                std::fs::read(format!("/proc/{pid}/{f}")).is_ok_and(|b| String::from_utf8_lossy(&b).contains(marker))
            })
        })
        .collect()
}
