//! The window, driven by WebDriver (WebKitWebDriver, the real WebKitGTK engine the app runs on)
//! against a real OAuth server (oidc-provider) guarding an official MCP SDK server. The
//! browser step of the sign-in runs in headless Chromium, launched the way a desktop launches
//! a browser: `xdg-open`, through the user's default `x-scheme-handler/https` application.
//!
//! It runs in its own `dbus-run-session` (with its own unlocked gnome-keyring), so the window's
//! single-instance check never hands over to another window. The tray (`mcp-companion-tray`,
//! which embeds the broker and registers the `mcp-companion://` handler) starts first in that
//! session, as it does at login. The window would start it by itself when no broker runs, but
//! detached in a process group of its own, which would outlive the test; started here, it is in
//! the session's process group and ends with it. Screenshots of the list, the wizard
//! and the details are saved (see `screenshots`); the README's come from here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_tests::{
    binary, desktop_available, free_port, peers_available, pids_of, running, Peer,
};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/WebKitWebDriver";

fn prerequisites() -> bool {
    desktop_available(
        "an X display (DISPLAY)",
        std::env::var_os("DISPLAY").is_some(),
    ) && desktop_available(
        "WebKitWebDriver (Debian webkit2gtk-driver)",
        Path::new(DRIVER).exists(),
    ) && desktop_available("Chromium (Debian chromium)", Path::new(CHROMIUM).exists())
        && desktop_available(
            "dbus-run-session and gnome-keyring-daemon",
            Path::new("/usr/bin/dbus-run-session").exists()
                && Path::new("/usr/bin/gnome-keyring-daemon").exists(),
        )
        && desktop_available("gio (libglib2.0-bin)", Path::new("/usr/bin/gio").exists())
}

/// A private desktop session: XDG directories, a browser that is headless Chromium, and
/// WebKitWebDriver inside its own D-Bus session with an unlocked keychain.
struct Session {
    home: tempfile::TempDir,
    driver: Option<Child>,
    port: u16,
}

impl Session {
    fn start(config: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        for d in [
            "config/mcp-companion",
            "data/applications",
            "run",
            "cache",
            "chromium",
        ] {
            std::fs::create_dir_all(h.join(d)).unwrap();
        }
        std::fs::set_permissions(
            h.join("run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(h.join("config/mcp-companion/config.toml"), config).unwrap();
        // The "system browser": headless Chromium loading the authorization URL, following
        // the authorization server's redirects back to the app's loopback listener.
        companion_tests::desktop::install_browser(
            h,
            &format!(
                "exec {CHROMIUM} --headless --no-sandbox --disable-gpu --no-first-run \
                 --user-data-dir={} --dump-dom \"$1\" >>{} 2>&1",
                h.join("chromium").display(),
                h.join("browser.log").display()
            ),
        );
        let port = free_port();
        // The bus address is written out so `gio open` can join the same session later.
        let script = format!(
            "echo \"$DBUS_SESSION_BUS_ADDRESS\" > {bus}; \
             eval \"$(printf %s ci-window | gnome-keyring-daemon --unlock --components=secrets)\"; \
             export GNOME_KEYRING_CONTROL; {tray} 2>{tray_log} & exec {DRIVER} --host=127.0.0.1 --port={port}",
            bus = h.join("bus").display(),
            tray = binary("mcp-companion-tray").display(),
            tray_log = h.join("tray.log").display(),
        );
        let mut c = Command::new("dbus-run-session");
        // Its own process group: the driver, the app, WebKit's processes and the bus all end
        // with the test.
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c.args(["--", "sh", "-c", &script]);
        env(&mut c, h);
        let driver = c
            // WebKitWebDriver passes its environment on to the app it launches; this is what
            // tauri-driver would set: automation on (wry lets WebKitWebDriver drive the webview).
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(h.join("driver.log")).unwrap())
            .stderr(std::fs::File::create(h.join("app.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Self {
            home,
            driver: Some(driver),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "WebKitWebDriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The tray's broker is up before the window starts (or the window would start a tray).
        let socket = s.home.path().join("run/mcp-companion/broker.sock");
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the tray's broker did not start\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    async fn client(&self) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "webkitgtk:browserOptions".into(),
            serde_json::json!({"binary": binary("mcp-companion-app"), "args": []}),
        );
        ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session: {e}\n{}", self.log()))
    }

    fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.home.path().join(f)).unwrap_or_default();
        format!(
            "--- app and driver stderr ---\n{}\n--- tray stderr ---\n{}\n--- browser ---\n{}",
            read("app.log"),
            read("tray.log"),
            read("browser.log")
        )
    }

    /// `gio open LINK` in the app's session, as a desktop opens a clicked link.
    fn gio_open(&self, link: &str) {
        let h = self.home.path();
        let bus = std::fs::read_to_string(h.join("bus")).unwrap();
        let mut c = Command::new("gio");
        env(&mut c, h);
        let out = c
            .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
            .args(["open", link])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gio open failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(mut c) = self.driver.take() {
            let group = format!("-{}", c.id());
            for signal in ["-TERM", "-KILL"] {
                let _ = Command::new("kill").args([signal, "--", &group]).status();
                std::thread::sleep(Duration::from_millis(300));
            }
            let _ = c.wait();
        }
    }
}

fn env(c: &mut Command, h: &Path) {
    c.env("HOME", h)
        .env("XDG_CONFIG_HOME", h.join("config"))
        .env("XDG_DATA_HOME", h.join("data"))
        .env("XDG_CACHE_HOME", h.join("cache"))
        .env("XDG_RUNTIME_DIR", h.join("run"))
        .env("NO_AT_BRIDGE", "1")
        .env(
            "MCP_COMPANION_KEYCHAIN_NAMESPACE",
            format!("window-{}", std::process::id()),
        );
}

/// Where the screenshots go: the directory `MCP_COMPANION_SCREENSHOTS` names (the README's are
/// refreshed with `MCP_COMPANION_SCREENSHOTS=$PWD/docs/screenshots ./scripts/test`), otherwise
/// the build's scratch space, so that a test run leaves the working tree alone.
fn screenshots() -> PathBuf {
    let d = std::env::var_os("MCP_COMPANION_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The text of `css`, or its `value` property (inputs); empty when it is not there.
async fn read(c: &Client, css: &str, value: bool) -> String {
    let Ok(e) = c.find(Locator::Css(css)).await else {
        return String::new();
    };
    if value {
        e.prop("value").await.ok().flatten().unwrap_or_default()
    } else {
        e.text().await.unwrap_or_default()
    }
}

async fn text(c: &Client, css: &str) -> String {
    read(c, css, false).await
}

/// Waits (at most `secs`) until the text (or value) of `css` satisfies `pred`.
async fn wait_for(
    c: &Client,
    css: &str,
    value: bool,
    secs: u64,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = read(c, css, value).await;
        if pred(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{css} did not read as expected within {secs} s; it reads {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_text(c: &Client, css: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    wait_for(c, css, false, secs, pred).await
}

async fn wait_value(c: &Client, css: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    wait_for(c, css, true, secs, pred).await
}

async fn click(c: &Client, css: &str) {
    let e = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    // The pane scrolls on its own (not the page); bring the element into view as a person would.
    let arg = serde_json::to_value(&e).unwrap();
    c.execute("arguments[0].scrollIntoView({block: 'center'})", vec![arg])
        .await
        .unwrap();
    e.click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e:?}"));
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn shot(c: &Client, name: &str) {
    // A frame drawn just after a DOM change can still be the old one.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(name), png).unwrap();
}

#[test]
fn add_a_server_in_the_wizard_sign_in_and_out_and_open_a_deep_link() {
    if !prerequisites() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mcp = peers.get("mcp");
    let session = Session::start("version = 1\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = session.client().await;
        // An empty list and its invitation.
        wait_text(&c, "#server-list", 20, |t| t.contains("No servers yet")).await;

        // The wizard: paste a URL, watch discovery, add, sign in (Chromium does the browser part).
        click(&c, "#add-server").await;
        fill(&c, "#wizard-url", &mcp).await;
        click(&c, "#wizard-discover").await;
        let registration = wait_text(&c, "#wizard-registration", 30, |t| !t.is_empty()).await;
        assert!(
            registration.contains("dynamic client registration"),
            "{registration}"
        );
        let steps = text(&c, "#wizard-timeline").await;
        for want in [
            "first contact",
            "resource metadata",
            "authorization server metadata",
        ] {
            assert!(
                steps.contains(want),
                "the timeline lacks {want:?}:\n{steps}"
            );
        }
        fill(&c, "#wizard-name", "work").await;
        shot(&c, "wizard.png").await;
        click(&c, "#wizard-save").await;
        // After the sign-in the window shows the server's details.
        let status = wait_text(&c, "#details-status-line", 60, |t| {
            t.starts_with("Signed in")
        })
        .await;
        assert!(status.contains("expires in"), "{status}");
        let listed = wait_text(&c, "[data-server=work] .status", 10, |t| {
            t.starts_with("Signed in")
        })
        .await;
        assert!(listed.contains("expires in"), "{listed}");
        let fields = text(&c, "#details-fields").await;
        assert!(fields.contains("dynamic registration"), "{fields}");
        shot(&c, "details.png").await;

        // Test connection: a real bridge process, its token from the app's broker.
        click(&c, "#details-test").await;
        let ok = wait_text(&c, "#details-test-result", 60, |t| {
            t.contains("Connected") || t.contains("fail") || t.contains("rror")
        })
        .await;
        assert!(ok.contains("Connected"), "{ok}");

        // Sign out: revoked, and the status says so.
        click(&c, "#details-signout").await;
        wait_text(&c, "[data-server=work] .status", 20, |t| {
            t == "Needs sign-in"
        })
        .await;
        click(&c, "#home").await;
        wait_text(&c, "#overview", 10, |t| {
            t.contains("work needs your attention")
        })
        .await;
        shot(&c, "list.png").await;

        // A deep link from an intranet page, opened the way a desktop opens it.
        let link = format!(
            "mcp-companion://add?url={}&name=wiki",
            mcp.replace(':', "%3A").replace('/', "%2F")
        );
        session.gio_open(&link);
        let url = wait_value(&c, "#wizard-url", 20, |v| v == mcp).await;
        assert_eq!(url, mcp);
        let name = wait_value(&c, "#wizard-name", 30, |v| !v.is_empty()).await;
        assert_eq!(name, "wiki", "the link's name prefills the wizard");

        // MCP clients: Install puts `mcp-companion connect work` into Claude Desktop's file,
        // Remove takes it out again.
        let file = session
            .home
            .path()
            .join("config/Claude/claude_desktop_config.json");
        click(&c, "#open-clients").await;
        click(&c, "[data-client=claude-desktop] button.primary").await;
        wait_text(&c, "#clients-message", 20, |t| t.contains("updated")).await;
        let written = std::fs::read_to_string(&file).unwrap();
        let cli = binary("mcp-companion").display().to_string();
        for want in ["\"work\"", "\"connect\"", cli.as_str()] {
            assert!(written.contains(want), "{want} missing from {written}");
        }
        wait_text(&c, "[data-client=claude-desktop]", 10, |t| {
            t.contains("installed: work")
        })
        .await;
        shot(&c, "clients.png").await;
        click(&c, "[data-client=claude-desktop] td.actions button").await;
        wait_text(&c, "#clients-message", 20, |t| t.contains("removed")).await;
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(!after.contains("connect"), "{after}");

        // Settings: the start-at-login switch removes and restores the login item, which
        // starts the tray (on by default, so the tray wrote it when it started).
        let item = session
            .home
            .path()
            .join(".config/autostart/MCP Companion.desktop");
        let wait_item = |present: bool| {
            let item = item.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                while item.exists() != present {
                    assert!(
                        Instant::now() < deadline,
                        "the login item {} after 10 s: {}",
                        if present {
                            "is still missing"
                        } else {
                            "is still there"
                        },
                        item.display()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        wait_item(true).await;
        click(&c, "#open-settings").await;
        click(&c, "#settings-autostart").await;
        wait_item(false).await;
        click(&c, "#settings-autostart").await;
        wait_item(true).await;
        let entry = std::fs::read_to_string(&item).unwrap();
        let tray_exec = binary("mcp-companion-tray").display().to_string();
        assert!(entry.contains(&tray_exec), "{entry}");

        // Closing the window ends its process (the tray stays: it holds the broker).
        let ns = format!("window-{}", std::process::id());
        let app = binary("mcp-companion-app");
        assert_eq!(pids_of(&app, &ns).len(), 1, "one window process");
        c.close_window().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while pids_of(&app, &ns).into_iter().any(running) {
            assert!(
                Instant::now() < deadline,
                "mcp-companion-app did not exit when its window closed\n{}",
                session.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let tray = binary("mcp-companion-tray");
        assert!(
            pids_of(&tray, &ns).into_iter().any(running),
            "the tray ended with the window\n{}",
            session.log()
        );
        // The session's browser is gone with the window; ending the session may say so.
        let _ = c.close().await;
    });
}
