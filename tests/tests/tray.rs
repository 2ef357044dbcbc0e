//! The tray app starts, publishes its menu on the session bus with the configured servers,
//! and quits from the menu.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_tests::{binary, desktop_available};
use serde_json::Value;

const SNI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/headless/sni.py");
const PYTHON: &str = "/usr/bin/python3";

/// Kills the app if a test fails before it quits.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

#[test]
fn tray_menu_lists_configured_servers_and_quits() {
    if !desktop() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("config/mcp-companion");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        "version = 1\n\n[servers.e2e-server]\nurl = \"https://e2e.example.com/mcp\"\n\n\
         [servers.local]\nurl = \"http://127.0.0.1:9/mcp\"\nauth.mode = \"none\"\n",
    )
    .unwrap();

    let run = home.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let log = home.path().join("app.log");
    let child = Command::new(binary("mcp-companion-app"))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_RUNTIME_DIR", &run)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(home.path().join("app.err")).unwrap())
        .spawn()
        .unwrap();
    let mut app = Guard(child);
    let pid = app.0.id().to_string();

    let menu = sni(&["menu", &pid]);
    let labels: Vec<&str> = menu["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "e2e-server — https://e2e.example.com/mcp",
            "local — http://127.0.0.1:9/mcp",
            "Quit"
        ],
        "menu as published on D-Bus"
    );

    // The app embeds the credential broker: its socket answers.
    let sock = run.join("mcp-companion/broker.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the tray app's broker did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    sni(&["click", &pid, "Quit"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = app.0.try_wait().unwrap() {
            assert!(status.success(), "the app exited with {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Quit did not end the app within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
