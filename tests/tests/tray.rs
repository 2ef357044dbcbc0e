//! The tray (`mcp-companion-tray`): it starts, publishes its menu on the session bus, follows
//! its embedded broker's state (the status line changes after a sign-in), acts on clicks, and
//! quits. It never loads WebKit; the window is the separate `mcp-companion-app`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_tests::{binary, desktop_available, peers_available, pids_of, running, Peer};
use serde_json::Value;

const SNI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/headless/sni.py");

/// The tray is single-instance per user (a lock in its runtime dir; each test has its own), the
/// window per session bus: tests that may start the window take turns.
static ONE_APP_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
const PYTHON: &str = "/usr/bin/python3";

fn sni(args: &[&str]) -> Value {
    let out = Command::new(PYTHON).arg(SNI).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sni.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn desktop() -> bool {
    desktop_available(
        "an X display (DISPLAY)",
        std::env::var_os("DISPLAY").is_some(),
    ) && desktop_available(
        "a D-Bus session bus",
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
    ) && desktop_available("python3-dbus", Path::new(PYTHON).exists())
}

/// A tray in a private home (its own config, runtime dir, broker and keychain namespace).
struct App {
    home: tempfile::TempDir,
    namespace: String,
    child: Option<Child>,
    /// The tray program: the built one, or a copy beside a stand-in window (`fake_window`).
    program: PathBuf,
    /// The directory of that copy.
    _bin: Option<tempfile::TempDir>,
}

impl App {
    fn new(config: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join("config/mcp-companion");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.toml"), config).unwrap();
        let run = home.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let namespace = format!(
            "tray-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        Self {
            home,
            namespace,
            child: None,
            program: binary("mcp-companion-tray"),
            _bin: None,
        }
    }

    /// Runs the tray from a directory where `mcp-companion-app` (what it starts beside itself
    /// to show the window) is a script that records its arguments (see `launches`).
    fn fake_window(mut self) -> Self {
        // Beside the build output, so the tray can be hard-linked rather than copied.
        let bin = tempfile::tempdir_in(companion_tests::bin_dir()).unwrap();
        let tray = bin.path().join("mcp-companion-tray");
        if std::fs::hard_link(&self.program, &tray).is_err() {
            std::fs::copy(&self.program, &tray).unwrap();
        }
        let app = bin.path().join("mcp-companion-app");
        std::fs::write(
            &app,
            format!(
                "#!/bin/sh\necho \"$*\" >> {}\n",
                self.home.path().join("launches").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&app, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        self.program = tray;
        self._bin = Some(bin);
        self
    }

    /// The stand-in window's launches so far (its arguments, one line each).
    fn launches(&self) -> Vec<String> {
        std::fs::read_to_string(self.home.path().join("launches"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn wait_launches(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let l = self.launches();
            if l.len() >= n {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "the window was started {} times, not {n}: {l:?}",
                l.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn env(&self, c: &mut Command) {
        c.env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("XDG_RUNTIME_DIR", self.home.path().join("run"))
            .env("MCP_COMPANION_KEYCHAIN_NAMESPACE", &self.namespace);
    }

    fn start(&mut self) -> String {
        let mut c = Command::new(&self.program);
        self.env(&mut c);
        let child = c
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.home.path().join("app.log")).unwrap())
            .stderr(std::fs::File::create(self.home.path().join("app.err")).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        self.child = Some(child);
        pid
    }

    /// `program ARGS` (the CLI, or a copy of it) in this home and namespace.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        self.env(&mut c);
        c.args(args);
        c
    }

    /// Runs `mcp-companion ARGS` in this home and namespace; its stdout.
    fn cli(&self, args: &[&str]) -> Vec<u8> {
        let out = self
            .command(&binary("mcp-companion"), args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mcp-companion {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn socket(&self) -> PathBuf {
        self.home.path().join("run/mcp-companion/broker.sock")
    }

    fn wait_exit(&mut self) {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the tray exited with {status}");
                self.child = None;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Quit did not end the app within 15 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let err = std::fs::read_to_string(self.home.path().join("app.err")).unwrap_or_default();
            eprintln!("--- the tray's stderr ---\n{err}");
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn labels(pid: &str) -> Vec<String> {
    try_labels(pid).unwrap_or_else(|e| panic!("{e}"))
}

/// The published menu's labels, or why they could not be read: the tray replaces its menu
/// object when the menu changes, and a read that races with that fails.
fn try_labels(pid: &str) -> Result<Vec<String>, String> {
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive, "the tray (pid {pid}) has exited");
    let out = Command::new(PYTHON)
        .arg(SNI)
        .args(["menu", pid])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "sni.py menu {pid} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect())
}

/// Polls the published menu until `pred` holds (the menu follows broker events).
fn wait_menu(pid: &str, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // A read that raced with a menu update is retried, until the deadline.
        let l = match try_labels(pid) {
            Ok(l) => l,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        if pred(&l) {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "the menu never showed {what}: {l:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A config with one server that needs no sign-in.
const LOCAL: &str =
    "version = 1\n\n[servers.local]\nurl = \"http://127.0.0.1:9/mcp\"\nauth.mode = \"none\"\n";

/// Waits until the tray's menu shows [`LOCAL`]'s server with its state from the broker.
fn wait_ready(pid: &str) {
    wait_menu(pid, "the broker's state", |l| {
        l.iter().any(|x| x == "No sign-in needed")
    });
}

/// Kills, when dropped, the processes running `.0` in namespace `.1`: a tray that a test's
/// program started detached does not outlive the test, whatever happens.
struct Reap(PathBuf, String);

impl Drop for Reap {
    fn drop(&mut self) {
        for p in pids_of(&self.0, &self.1) {
            let _ = Command::new("kill").arg(p.to_string()).status();
        }
    }
}

/// Clicks Quit in a tray this test did not start, and waits until it has exited: not our
/// child, so whoever adopted it reaps it (a zombie counts as gone).
fn quit_detached(pid: u32) {
    sni(&["click", &pid.to_string(), "Quit"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while running(pid) {
        assert!(Instant::now() < deadline, "Quit did not end the tray");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tray_menu_lists_servers_with_their_state_and_quits() {
    if !desktop() {
        return;
    }
    let _turn = ONE_APP_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut app = App::new("version = 1\n\n[servers.e2e-server]\nurl = \"https://e2e.example.com/mcp\"\n\n[servers.local]\nurl = \"http://127.0.0.1:9/mcp\"\nauth.mode = \"none\"\n");
    let pid = app.start();
    let menu = wait_menu(&pid, "the broker's states", |l| {
        l.iter().any(|x| x == "Needs sign-in")
    });
    assert_eq!(
        menu,
        [
            "e2e-server ⚠",
            "Needs sign-in",
            "Sign in",
            "Copy client config",
            "Details…",
            "local",
            "No sign-in needed",
            "Copy client config",
            "Details…",
            "Add server…",
            "Open MCP Companion",
            "Quit"
        ],
        "menu as published on D-Bus"
    );
    assert!(
        app.socket().exists(),
        "the tray embeds the credential broker"
    );
    // At start it registered the window as the mcp-companion:// handler, and the login item
    // (on by default) starts the tray.
    let h = app.home.path();
    let handler =
        std::fs::read_to_string(h.join("data/applications/mcp-companion-app-handler.desktop"))
            .unwrap();
    let app_bin = binary("mcp-companion-app");
    assert!(
        handler.contains(&format!("Exec=\"{}\" %u", app_bin.display())),
        "{handler}"
    );
    let mimeapps = std::fs::read_to_string(h.join("config/mimeapps.list")).unwrap();
    assert!(
        mimeapps.contains("x-scheme-handler/mcp-companion=mcp-companion-app-handler.desktop"),
        "{mimeapps}"
    );
    let login = std::fs::read_to_string(h.join(".config/autostart/MCP Companion.desktop")).unwrap();
    assert!(
        login.contains(&format!(
            "Exec={} --background\n",
            binary("mcp-companion-tray").display()
        )),
        "{login}"
    );
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
}

#[test]
fn the_status_line_follows_sign_in_and_sign_out() {
    if !desktop() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mut app = App::new(&format!(
        "version = 1\n\n[servers.work]\nurl = \"{}\"\n",
        peers.get("mcp")
    ));
    let pid = app.start();
    wait_menu(&pid, "Needs sign-in", |l| {
        l.iter().any(|x| x == "Needs sign-in")
    });
    // Sign in through the CLI: it finds the tray's broker, which emits an event.
    app.cli(&["login", "work", "--headless"]);
    let menu = wait_menu(&pid, "Signed in", |l| {
        l.iter().any(|x| x.starts_with("Signed in · expires in"))
    });
    assert_eq!(menu[0], "work", "the attention mark is gone: {menu:?}");
    assert!(
        menu.iter().any(|x| x == "Re-authenticate") && menu.iter().any(|x| x == "Sign out"),
        "{menu:?}"
    );
    // Sign out from the menu, clicked over D-Bus.
    sni(&["click", &pid, "Sign out"]);
    wait_menu(&pid, "Needs sign-in after sign-out", |l| {
        l.iter().any(|x| x == "Needs sign-in")
    });
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
}

/// An authorization server whose pre-registered native client accepts only
/// `mcp-companion://oauth/callback`: the browser hands that link to the desktop (`gio open`),
/// which starts the scheme handler the tray registered (`mcp-companion-app`, beside it); that
/// hands the link to the tray's broker and exits without a window, and the broker completes the
/// sign-in the CLI started.
#[test]
fn a_sign_in_comes_back_through_the_app_url_scheme() {
    if !desktop() || !Path::new("/usr/bin/gio").exists() || !Path::new("/usr/bin/curl").exists() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let _turn = ONE_APP_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &[
            "--auto-login",
            "alice",
            "--no-registration",
            "--client",
            "desk::mcp-companion://oauth/callback",
        ],
    );
    let mut app = App::new(&format!(
        "version = 1\n\n[servers.work]\nurl = \"{}\"\nauth = {{ mode = \"oauth\", client_id = \"desk\", redirect = \"app\" }}\n",
        peers.get("mcp")
    ));
    // The "browser": follows the authorization server's redirects (with cookies), then opens
    // the final mcp-companion:// link the way a browser does, through the desktop.
    let h = app.home.path().to_owned();
    companion_tests::desktop::install_browser(
        &h,
        &format!(
            "url=\"$1\"\nfor i in $(seq 20); do\n  loc=$(curl -s -c {jar} -b {jar} -o /dev/null -w '%{{redirect_url}}' \"$url\")\n  \
             case \"$loc\" in mcp-companion:*) exec gio open \"$loc\";; '') exit 1;; *) url=\"$loc\";; esac\ndone",
            jar = h.join("cookies").display()
        ),
    );
    let pid = app.start();
    wait_menu(&pid, "Needs sign-in", |l| {
        l.iter().any(|x| x == "Needs sign-in")
    });
    // A person's sign-in (browser mode), started from the CLI.
    app.cli(&["login", "work"]);
    wait_menu(&pid, "Signed in", |l| {
        l.iter().any(|x| x.starts_with("Signed in · expires in"))
    });
    // The broker holds the token: `status` agrees with the menu.
    let status: Value = serde_json::from_slice(&app.cli(&["status", "--json"])).unwrap();
    assert_eq!(status["servers"][0]["state"], "signed_in", "{status}");
    // The window program the link started handed it over and exited, without a window.
    let app_bin = binary("mcp-companion-app");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids_of(&app_bin, &app.namespace).into_iter().any(running) {
        assert!(
            Instant::now() < deadline,
            "mcp-companion-app stayed after delivering the sign-in link"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
}

/// A bridge that needs a sign-in makes the tray show one notification (dunst, a real
/// notification daemon, on the session bus), however many times bridges ask; clicking it (its
/// default action, as `dunstctl action` does) starts the sign-in.
#[test]
fn a_waiting_bridge_gives_one_notification_whose_click_signs_in() {
    if !desktop() {
        return;
    }
    if !desktop_available(
        "dunst (a notification daemon)",
        Path::new("/usr/bin/dunst").exists(),
    ) {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let _turn = ONE_APP_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mut app = App::new(&format!(
        "version = 1\n\n[servers.work]\nurl = \"{}\"\n",
        peers.get("mcp")
    ));
    let h = app.home.path().to_owned();
    // The browser: follows every redirect, with cookies, back to the loopback listener.
    companion_tests::desktop::install_browser(
        &h,
        &format!(
            "exec curl -s -L -c {jar} -b {jar} -o /dev/null \"$1\"",
            jar = h.join("cookies").display()
        ),
    );
    std::fs::write(h.join("dunstrc"), "[global]\n    timeout = 0\n").unwrap();
    let mut dunst = Command::new("dunst")
        .args(["-config", &h.join("dunstrc").display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dunstctl = |args: &[&str]| {
        let out = Command::new("dunstctl").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while dunstctl(&["is-paused"]).is_empty() {
        assert!(Instant::now() < deadline, "dunst did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = app.start();
    wait_menu(&pid, "Needs sign-in", |l| {
        l.iter().any(|x| x == "Needs sign-in")
    });
    // Three MCP clients start and ask; each gets the "sign in" error at once.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    for _ in 0..3 {
        let mut c = Command::new(binary("mcp-companion"));
        app.env(&mut c);
        let mut child = c
            .args(["connect", "work"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{init}").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Sign in to work"), "{text}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while dunstctl(&["count", "displayed"]) != "1" {
        assert!(
            Instant::now() < deadline,
            "no notification was shown; dunst shows {}",
            dunstctl(&["count", "displayed"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        dunstctl(&["count", "displayed"]),
        "1",
        "one notification per server"
    );
    assert_eq!(
        dunstctl(&["count", "waiting"]),
        "0",
        "none queued behind it"
    );
    // The person clicks it: the sign-in runs (in the "browser" above).
    dunstctl(&["action", "0"]);
    wait_menu(&pid, "Signed in after the click", |l| {
        l.iter().any(|x| x.starts_with("Signed in · expires in"))
    });
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
    let _ = dunst.kill();
    let _ = dunst.wait();
}

/// The point of the split: the tray process maps no WebKit, JavaScriptCore or their speech and
/// Unicode data (about 27 MB resident in the single-process app).
#[test]
fn the_tray_process_maps_no_webkit() {
    if !desktop() {
        return;
    }
    let mut app = App::new(LOCAL);
    let pid = app.start();
    wait_ready(&pid);
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(maps.contains("libgtk-3"), "the tray runs on GTK 3");
    for lib in ["libwebkit2gtk", "libjavascriptcoregtk", "libflite"] {
        let hits: Vec<&str> = maps.lines().filter(|l| l.contains(lib)).take(3).collect();
        assert!(hits.is_empty(), "the tray maps {lib}: {hits:?}");
    }
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
}

/// A second tray launch (a login item plus a manual start, a desktop's menu entry) leaves the
/// running tray alone, shows the window and exits 0; the menu's window entries start the window
/// beside the tray with the route as arguments.
#[test]
fn a_second_tray_launch_opens_the_window_and_exits() {
    if !desktop() {
        return;
    }
    let mut app = App::new(LOCAL).fake_window();
    let pid = app.start();
    wait_ready(&pid);
    assert!(
        app.launches().is_empty(),
        "the tray opened a window by itself"
    );
    let mut c = Command::new(&app.program);
    app.env(&mut c);
    let started = Instant::now();
    let status = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the second tray exited with {status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second tray took {:?}",
        started.elapsed()
    );
    assert_eq!(app.wait_launches(1), [""], "the window, on its list");
    // Still one tray, still serving its menu.
    labels(&pid);
    sni(&["click", &pid, "Details…"]);
    assert_eq!(app.wait_launches(2)[1], "--route details --name local");
    sni(&["click", &pid, "Add server…"]);
    assert_eq!(app.wait_launches(3)[2], "--route add");
    sni(&["click", &pid, "Open MCP Companion"]);
    assert_eq!(app.wait_launches(4)[3], "");
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
}

/// "Copy client config" puts the server's entry for an MCP client's config file on the
/// clipboard (`mcp-companion connect NAME`, the CLI beside the tray), read back the way another
/// program pastes it: as the X clipboard's text.
#[test]
fn copy_client_config_puts_the_entry_on_the_clipboard() {
    if !desktop() || !desktop_available("xclip", Path::new("/usr/bin/xclip").exists()) {
        return;
    }
    let mut app = App::new(LOCAL);
    let pid = app.start();
    wait_ready(&pid);
    sni(&["click", &pid, "Copy client config"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pasted: Value = loop {
        let out = Command::new("xclip")
            .args(["-out", "-selection", "clipboard"])
            .output()
            .unwrap();
        if let Ok(v) = serde_json::from_slice(&out.stdout) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "the clipboard holds no JSON: {:?} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        pasted,
        serde_json::json!({"mcpServers": {"local": {
            "command": binary("mcp-companion").display().to_string(),
            "args": ["connect", "local"],
        }}})
    );
    sni(&["click", &pid, "Quit"]);
    app.wait_exit();
}

/// Bridges and CLI commands that find no broker start the tray in the background. Several at
/// once (a client launching its MCP servers at login) make one tray, and no window: the trays
/// that lose the race for the single-instance lock exit quietly instead of showing the window.
#[test]
fn several_starts_at_once_make_one_tray_and_no_window() {
    if !desktop() {
        return;
    }
    let app = App::new(LOCAL).fake_window();
    // The CLI starts the tray beside itself, which starts the stand-in window beside itself.
    let cli = app.program.with_file_name("mcp-companion");
    if std::fs::hard_link(binary("mcp-companion"), &cli).is_err() {
        std::fs::copy(binary("mcp-companion"), &cli).unwrap();
    }
    let _reap = Reap(app.program.clone(), app.namespace.clone());
    let starts: Vec<Child> = (0..4)
        .map(|_| {
            app.command(&cli, &["status"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in starts {
        let out = s.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "mcp-companion status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("no sign-in needed"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The trays that lost exit at once; give one that would open the window time to.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut trays = pids_of(&app.program, &app.namespace);
    while trays.len() > 1 {
        assert!(Instant::now() < deadline, "trays left running: {trays:?}");
        std::thread::sleep(Duration::from_millis(100));
        trays = pids_of(&app.program, &app.namespace);
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(trays.len(), 1, "one tray for the four starts: {trays:?}");
    assert_eq!(app.launches(), Vec::<String>::new(), "no window was opened");
    let pid = trays[0].to_string();
    wait_ready(&pid);
    quit_detached(trays[0]);
}

/// The window started with no broker running starts the tray (detached, in a process group of
/// its own, so it outlives the window), which embeds the broker and shows the menu.
#[test]
fn the_window_starts_the_tray_when_no_broker_runs() {
    if !desktop() {
        return;
    }
    let _turn = ONE_APP_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut app = App::new(LOCAL);
    app.program = binary("mcp-companion-app");
    app.start();
    let tray = binary("mcp-companion-tray");
    let _reap = Reap(tray.clone(), app.namespace.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.socket().exists() {
        assert!(Instant::now() < deadline, "no broker was started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let trays = pids_of(&tray, &app.namespace);
    assert_eq!(trays.len(), 1, "one tray, started by the window: {trays:?}");
    let pid = trays[0].to_string();
    wait_ready(&pid);
    // The window goes; the tray stays until Quit.
    if let Some(mut w) = app.child.take() {
        let _ = w.kill();
        let _ = w.wait();
    }
    labels(&pid);
    quit_detached(trays[0]);
}
