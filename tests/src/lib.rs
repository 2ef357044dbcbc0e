//! Support for MCP Companion's end-to-end tests: finding the built binaries, private
//! environments, and the switch that makes desktop tests mandatory in CI.
//!
//! Desktop tests (tray over D-Bus, WebDriver) need an X server, a session bus and a keychain.
//! `scripts/test` provides all three and sets `MCP_COMPANION_E2E=1`; with it set, a missing
//! prerequisite is a failure. Without it (a developer's plain `cargo test`), those tests say why
//! they were skipped and pass.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub)]

pub mod desktop;

use std::path::{Path, PathBuf};

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test binary>
    exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf()
}

/// A built binary of the workspace, or a clear failure if it was not built.
pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the whole workspace first (`cargo build --workspace`)",
        p.display()
    );
    p
}

/// Whether desktop end-to-end tests must run (set by `scripts/test`).
pub fn e2e_required() -> bool {
    std::env::var_os("MCP_COMPANION_E2E").is_some_and(|v| v == "1")
}

/// Returns `true` if a desktop test should run; prints why not otherwise. Panics when the
/// tests are required but `what` is missing.
pub fn desktop_available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        !e2e_required(),
        "MCP_COMPANION_E2E=1 but {what} is not available"
    );
    println!("skipped: {what} is not available (scripts/test provides it)");
    false
}

/// Whether a session bus with an unlocked Secret Service is there (`scripts/test` provides one);
/// see [`desktop_available`].
pub fn secret_service_available() -> bool {
    desktop_available(
        "a D-Bus session bus with an unlocked Secret Service",
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
    )
}

/// A Node.js program, when the test peers are installed (by `scripts/test`).
pub fn node() -> Option<PathBuf> {
    std::env::var_os("MCP_COMPANION_NODE")
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

/// The directory of the Node test peers (`tests/peers`).
pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Whether the Node peers can run; prints why not, or panics when required.
pub fn peers_available() -> Option<PathBuf> {
    let node = node();
    let installed = peers_dir().join("node_modules/oidc-provider").exists();
    if desktop_available("Node 22 (MCP_COMPANION_NODE)", node.is_some())
        && desktop_available(
            "the test peers' npm packages (tests/peers/node_modules)",
            installed,
        )
    {
        node
    } else {
        None
    }
}

/// The Python of the venv holding the Python test peer's packages (`MCP_COMPANION_PYTHON`, set
/// by `scripts/test` from `tests/peers/python/requirements.txt`).
pub fn python() -> Option<PathBuf> {
    std::env::var_os("MCP_COMPANION_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

/// Whether the Python peer (`tests/peers/python`) can run; prints why not, or panics when
/// required.
pub fn python_peer_available() -> Option<PathBuf> {
    let python = python();
    if desktop_available(
        "the Python test peer's venv (MCP_COMPANION_PYTHON)",
        python.is_some(),
    ) {
        python
    } else {
        None
    }
}

/// A running peer process (`tests/peers/*.mjs`, `tests/peers/python/*.py`), stopped when
/// dropped.
#[derive(Debug)]
pub struct Peer {
    child: std::process::Child,
    /// The JSON line it printed when ready.
    pub ready: serde_json::Value,
}

impl Peer {
    /// Starts `script` with `args` and waits (at most 30 s) for its ready line.
    pub fn start(node: &std::path::Path, script: &str, args: &[&str]) -> Self {
        let mut cmd = std::process::Command::new(node);
        cmd.arg(peers_dir().join(script)).args(args);
        Self::spawn(cmd, script)
    }

    /// Starts the Python peer `script` (relative to `tests/peers/python`) with the venv's
    /// `python` and waits (at most 30 s) for its ready line.
    pub fn start_python(python: &std::path::Path, script: &str, args: &[&str]) -> Self {
        let mut cmd = std::process::Command::new(python);
        // -B: no __pycache__ in the source tree.
        cmd.arg("-B")
            .arg(peers_dir().join("python").join(script))
            .args(args);
        Self::spawn(cmd, script)
    }

    fn spawn(mut cmd: std::process::Command, script: &str) -> Self {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = cmd
            .current_dir(peers_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            // Keep draining so the peer never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("{script} printed no ready line within 30 s")
            });
        let ready = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{script}: {e}: {line}"));
        Self { child, ready }
    }

    /// A string field of the ready line.
    pub fn get(&self, key: &str) -> String {
        self.ready[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.ready))
            .to_owned()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs a JSON document from a loopback URL (for the peers' `/__stats`).
pub fn get_json(url: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// The processes running `program` in one test's private home (found by its keychain
/// namespace, `MCP_COMPANION_KEYCHAIN_NAMESPACE`, which no other test shares).
///
/// A child the program is starting (`xdg-mime`, the window, the tray) shows the program's own
/// path and environment between its fork and its exec, so a process whose parent is also
/// listed is left out: it is that moment of a spawn, not a second instance.
pub fn pids_of(program: &Path, namespace: &str) -> Vec<u32> {
    let marker = format!("MCP_COMPANION_KEYCHAIN_NAMESPACE={namespace}");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let exe = std::fs::read_link(e.path().join("exe")).unwrap_or_default();
        let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if exe == program && environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
            found.push((pid, parent_of(pid)));
        }
    }
    found
        .iter()
        .filter(|(_, parent)| !found.iter().any(|(p, _)| Some(*p) == *parent))
        .map(|(pid, _)| *pid)
        .collect()
}

/// The parent of process `pid` (field 4 of `/proc/PID/stat`, after the parenthesised name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A loopback port that was free a moment ago (for a peer that cannot be told to pick one, or
/// for an address where nothing listens).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether process `pid` still runs. A zombie counts as gone: a process this test did not
/// start is reaped by whoever adopted it, in its own time.
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z')
    })
}
