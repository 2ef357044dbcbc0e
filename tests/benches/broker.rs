//! The credential broker: token hand-out latency over the local socket (p50, p99) and the
//! headless daemon's idle memory and CPU. Targets: p50 ≤ 200 µs, idle RSS ≤ 15 MB.
//!
//!     ./scripts/bench            (provides the private Secret Service session it needs)
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use companion_broker::{BrokerClient, Endpoint};
use companion_core::secret::Secret;
use companion_store::keychain::{OsKeychain, SecretStore};
use companion_tests::binary;

const CALLS: usize = 20_000;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit(')').next().unwrap();
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn main() {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        println!(
            "broker bench: needs a session bus and an unlocked Secret Service; run ./scripts/bench"
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let namespace = format!("bench-{}", std::process::id());
    let env = |c: &mut Command| {
        c.env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &run)
            .env("MCP_COMPANION_KEYCHAIN_NAMESPACE", &namespace)
            .env_remove("DISPLAY");
    };
    let mut add = Command::new(binary("mcp-companion"));
    env(&mut add);
    assert!(add
        .args(["add", "bench", "http://127.0.0.1:9/mcp"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    // A token valid for a day, as a sign-in would leave it.
    let store = SecretStore::new(OsKeychain::new(OsKeychain::service_name(Some(&namespace))));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let blob = serde_json::json!({"v": 1, "access_token": "a".repeat(900), "refresh_token": "r", "obtained_at": now, "expires_at": now + 86_400, "scopes": ["mcp"], "issuer": "http://127.0.0.1:9"});
    store
        .set("bench/tokens", &Secret::new(blob.to_string()))
        .unwrap();

    let mut daemon = Command::new(binary("mcp-companion"));
    env(&mut daemon);
    let mut daemon = daemon
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let sock = run.join("mcp-companion/broker.sock");
    while !sock.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kb(pid);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut lat: Vec<f64> = rt.block_on(async {
        let mut c = BrokerClient::connect(&Endpoint::at(run.join("mcp-companion")))
            .await
            .unwrap();
        c.get_token("bench", 60).await.unwrap(); // loads the keychain entry
        let mut lat = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let t = Instant::now();
            let tok = c.get_token("bench", 60).await.unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            assert_eq!(tok.access_token.expose().len(), 900);
        }
        lat
    });
    let busy_rss = rss_kb(pid);
    let ticks = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(5));
    let idle_ticks = cpu_ticks(pid) - ticks;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = store.delete("bench/tokens");

    lat.sort_by(f64::total_cmp);
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!("broker bench ({CALLS} get_token calls over the Unix socket, one client)");
    println!(
        "  hand-out latency: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    println!(
        "  daemon RSS: idle {:.1} MB, after the calls {:.1} MB",
        idle_rss as f64 / 1024.0,
        busy_rss as f64 / 1024.0
    );
    println!("  daemon CPU while idle for 5 s: {idle_ticks} clock ticks");
    println!(
        "  targets: p50 <= 200 µs -> {}; idle RSS <= 15 MB -> {}",
        if p(0.5) <= 200.0 { "met" } else { "NOT met" },
        if idle_rss <= 15 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
}
