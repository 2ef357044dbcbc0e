//! MCP Companion at rest: resident memory of the tray alone (`mcp-companion-tray`, no window),
//! with the window open (the tray, the window process `mcp-companion-app` and WebKit's
//! processes), and CPU use while idle. Targets: tray-only idle RSS ≤ 60 MB, no CPU use when
//! idle.
//!
//!     ./scripts/bench tray      (provides Xvfb, a session bus and an unlocked Secret Service)
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use companion_tests::bin_dir;

/// A `kB` figure from a `/proc/PID/` file: `status` (`VmRSS:`, `VmHWM:`) or `smaps_rollup`
/// (`Pss:` counts shared library pages in proportion to how many processes map them, as GTK
/// and WebKit are shared with every other GTK app on a desktop; `Anonymous:` is the app's own
/// heap and stacks).
fn proc_kb(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn status_kb(pid: u32, key: &str) -> u64 {
    proc_kb(pid, "status", key)
}

fn rollup_kb(pid: u32, key: &str) -> u64 {
    proc_kb(pid, "smaps_rollup", key)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Every process whose parent chain leads to `pid` (WebKit's web and network processes).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            out.push(c);
            frontier.push(c);
        }
    }
    out
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// A built program: prefer a release build (what people run), else the debug one; the output
/// says which. `MCP_COMPANION_BENCH_DEBUG_APP=1` measures the debug window (its release build
/// takes about 15 min on 2 cores).
fn program(name: &str) -> PathBuf {
    let target = bin_dir().parent().map(PathBuf::from).unwrap_or_default();
    let debug_only = name == "mcp-companion-app"
        && std::env::var_os("MCP_COMPANION_BENCH_DEBUG_APP").is_some_and(|v| v == "1");
    ["release", "debug"]
        .iter()
        .filter(|p| !debug_only || **p == "debug")
        .map(|p| target.join(p).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| target.join("debug").join(name))
}

fn main() {
    if std::env::var_os("DISPLAY").is_none()
        || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
    {
        println!("tray bench: needs an X display and a session bus; run ./scripts/bench tray");
        return;
    }
    let tray = program("mcp-companion-tray");
    let app = program("mcp-companion-app");
    for p in [&tray, &app] {
        if !p.exists() {
            println!(
                "tray bench: {} is not built (cargo build --workspace)",
                p.display()
            );
            return;
        }
    }
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("config/mcp-companion")).unwrap();
    std::fs::create_dir_all(h.join("run")).unwrap();
    std::fs::set_permissions(
        h.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut config = String::from("version = 1\n");
    for i in 0..5 {
        config.push_str(&format!(
            "\n[servers.s{i}]\nurl = \"https://s{i}.example.com/mcp\"\n"
        ));
    }
    std::fs::write(h.join("config/mcp-companion/config.toml"), config).unwrap();
    // A clean environment, as a desktop session starts the app: `cargo bench` adds variables
    // such as LD_LIBRARY_PATH (pointing into the Rust toolchain) that change what gets loaded.
    let env = |c: &mut Command| {
        c.env_clear();
        for keep in [
            "PATH",
            "DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "GNOME_KEYRING_CONTROL",
        ] {
            if let Some(v) = std::env::var_os(keep) {
                c.env(keep, v);
            }
        }
        c.env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env("XDG_RUNTIME_DIR", h.join("run"))
            .env("NO_AT_BRIDGE", "1")
            .env(
                "MCP_COMPANION_KEYCHAIN_NAMESPACE",
                format!("bench-tray-{}", std::process::id()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    println!(
        "tray bench ({} and {}, 5 servers configured)",
        tray.display(),
        app.display()
    );

    // Tray only.
    let mut c = Command::new(&tray);
    env(&mut c);
    let started = Instant::now();
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let sock = h.join("run/mcp-companion/broker.sock");
    while !sock.exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "  start -> broker listening            {:>8.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    std::thread::sleep(Duration::from_secs(5));
    let rss = status_kb(pid, "VmRSS:");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let idle = cpu_ticks(pid) - before;
    println!(
        "  tray only: RSS after 5 s              {:>10}   (target <= 60 MB)",
        mb(rss)
    );
    println!(
        "  tray only: PSS / private anonymous    {:>10} / {}",
        mb(rollup_kb(pid, "Pss:")),
        mb(rollup_kb(pid, "Anonymous:"))
    );
    println!(
        "  tray only: CPU over 10 s idle         {:>7} ticks   (1 tick = 10 ms; target 0)",
        idle
    );
    println!(
        "  tray only: peak RSS (VmHWM)           {:>10}",
        mb(status_kb(pid, "VmHWM:"))
    );
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    println!(
        "  processes: {} (no WebKit process until the window opens; WebKit mapped: {})",
        1 + descendants(pid).len(),
        if maps.contains("libwebkit2gtk") {
            "yes"
        } else {
            "no"
        }
    );

    // With the window open (for scale: the window costs memory only while it is open), the
    // tray still running, as when a person opens the window from its menu.
    let mut c = Command::new(&app);
    env(&mut c);
    let mut window = c.spawn().unwrap();
    let wpid = window.id();
    std::thread::sleep(Duration::from_secs(8));
    let kids = descendants(wpid);
    let app_kb = status_kb(wpid, "VmRSS:");
    let kids_kb: u64 = kids.iter().map(|k| status_kb(*k, "VmRSS:")).sum();
    let tray_kb = status_kb(pid, "VmRSS:");
    println!(
        "  window open: RSS tray {} + app {} + {} WebKit processes {} = {}",
        mb(tray_kb),
        mb(app_kb),
        kids.len(),
        mb(kids_kb),
        mb(tray_kb + app_kb + kids_kb)
    );
    let all: Vec<u32> = [pid, wpid]
        .into_iter()
        .chain(kids.iter().copied())
        .collect();
    let before: u64 = all.iter().map(|k| cpu_ticks(*k)).sum();
    std::thread::sleep(Duration::from_secs(10));
    let after: u64 = all.iter().map(|k| cpu_ticks(*k)).sum();
    println!("  window open: CPU over 10 s idle       {:>7} ticks (the list's countdowns tick each second)", after - before);
    let _ = window.kill();
    let _ = window.wait();
    for k in kids {
        let _ = Command::new("kill").arg(k.to_string()).status();
    }
    let _ = child.kill();
    let _ = child.wait();
}
