//! The credential broker against the real Secret Service (gnome-keyring in the test session)
//! and a real authorization server with rotating refresh tokens (oidc-provider).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use companion_core::secret::Secret;
use companion_store::keychain::{OsKeychain, SecretStore};
use companion_tests::{
    binary, desktop_available, get_json, peers_available, python_peer_available,
    secret_service_available, Peer,
};
use serde_json::Value;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A private MCP Companion installation: its own home, runtime dir (so its own broker) and
/// keychain namespace.
struct Companion {
    home: tempfile::TempDir,
    namespace: String,
    daemon: Option<Child>,
}

impl Companion {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let run = home.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        Self {
            home,
            namespace: unique("test"),
            daemon: None,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.home.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary("mcp-companion"));
        c.args(args);
        self.env(&mut c);
        c
    }

    /// This installation's environment. Its managed file is `managed.toml` in its home (absent
    /// unless a test writes it).
    fn env(&self, c: &mut Command) {
        c.env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("MCP_COMPANION_KEYCHAIN_NAMESPACE", &self.namespace)
            .env("MCP_COMPANION_MANAGED_CONFIG", self.path("managed.toml"))
            .env_remove("DISPLAY")
            .env_remove("MCP_COMPANION_CONFIG");
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs a command with `stdin` as its standard input (secrets, one per line).
    fn run_with(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that refuses its arguments exits without reading: a broken pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mcp-companion {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn start_daemon(&mut self, extra: &[&str]) {
        let mut args = vec!["daemon"];
        args.extend_from_slice(extra);
        let log = std::fs::File::create(self.path("daemon.log")).unwrap();
        let child = self
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let sock = self.path("run/mcp-companion/broker.sock");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline,
                "the daemon did not start: {}",
                std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_daemon(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    fn keychain(&self) -> SecretStore<OsKeychain> {
        SecretStore::new(OsKeychain::new(OsKeychain::service_name(Some(
            &self.namespace,
        ))))
    }

    fn tokens(&self, server: &str) -> Value {
        let blob = self
            .keychain()
            .get(&format!("{server}/tokens"))
            .unwrap()
            .expect("tokens in the keychain");
        serde_json::from_str(blob.expose()).unwrap()
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        self.kill_daemon();
        // Any daemon auto-started by a test is found through its runtime dir and stopped.
        for pid in processes_with_env("XDG_RUNTIME_DIR", &self.path("run").to_string_lossy()) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// Processes whose environment has `key=value`.
fn processes_with_env(key: &str, value: &str) -> Vec<u32> {
    let needle = format!("{key}={value}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                out.push(pid);
            }
        }
    }
    out
}

fn jwt_like(len: usize) -> String {
    let mut s = String::from("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.");
    let mut i = 0u32;
    while s.len() < len {
        s.push_str(&format!("{:08x}", i.wrapping_mul(2_654_435_761)));
        i += 1;
    }
    s.truncate(len);
    s
}

#[test]
fn keychain_round_trip_of_a_6kb_token_never_touches_plain_files() {
    if !secret_service_available() {
        return;
    }
    let store = SecretStore::new(OsKeychain::new(OsKeychain::service_name(Some(&unique(
        "kc",
    )))));
    let token = jwt_like(6 * 1024);
    store
        .set("srv/tokens", &Secret::new(token.clone()))
        .unwrap();
    assert_eq!(store.get("srv/tokens").unwrap().unwrap().expose(), token);
    let small = "refresh-abc";
    store.set("srv/tokens", &Secret::new(small)).unwrap();
    assert_eq!(store.get("srv/tokens").unwrap().unwrap().expose(), small);
    store
        .set("srv/tokens", &Secret::new(token.clone()))
        .unwrap();
    store.delete("srv/tokens").unwrap();
    assert!(store.get("srv/tokens").unwrap().is_none());
    // gnome-keyring encrypts its files: the token is nowhere in plain text.
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        assert_no_secret_in(&PathBuf::from(data), &[&token[40..80]]);
    }
}

#[test]
fn a_locked_keychain_is_a_clear_error_and_nothing_falls_back_to_files() {
    if !desktop_available(
        "dbus-run-session and gnome-keyring",
        Path::new("/usr/bin/gnome-keyring-daemon").exists(),
    ) {
        return;
    }
    let c = Companion::new();
    c.ok(&["add", "srv", "https://mcp.example.com/mcp"]);
    let bin = binary("mcp-companion");
    let script = format!(
        "eval \"$(printf pw | gnome-keyring-daemon --unlock --components=secrets)\" && \
         printf 'v1={{}}' | secret-tool store --label=t service mcp-companion.{ns} username srv/tokens && \
         /usr/bin/python3 {lock} >/dev/null && \
         {{ {bin} daemon --keychain-timeout 2 2>{log} </dev/null & D=$!; }} && \
         for i in $(seq 100); do [ -S {sock} ] && break; sleep 0.05; done; \
         {bin} status </dev/null; rc=$?; kill $D; exit $rc",
        ns = c.namespace,
        lock = concat!(env!("CARGO_MANIFEST_DIR"), "/headless/lock_keyring.py"),
        bin = bin.display(),
        log = c.path("daemon.log").display(),
        sock = c.path("run/mcp-companion/broker.sock").display(),
    );
    // A session of its own, so locking cannot disturb the other tests' keychain.
    let out = c
        .cmd(&[])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("GNOME_KEYRING_CONTROL")
        .output_with(
            "timeout",
            &["60", "dbus-run-session", "--", "bash", "-c", &script],
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("is locked"),
        "status should name the locked keychain:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Nothing was written to a plain file"),
        "{stdout}"
    );
    assert_no_secret_in(&c.path("config"), &["access_token", "refresh_token"]);
}

trait OutputWith {
    fn output_with(&mut self, program: &str, args: &[&str]) -> Output;
}

impl OutputWith for Command {
    /// Runs `program args` with this command's environment.
    fn output_with(&mut self, program: &str, args: &[&str]) -> Output {
        let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = self
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
            .collect();
        let mut c = Command::new(program);
        c.args(args);
        for (k, v) in envs {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.output().unwrap()
    }
}

fn assert_no_secret_in(dir: &Path, secrets: &[&str]) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "a secret is in {}",
                f.display()
            );
        }
    }
}

fn stats(peers: &Peer) -> Value {
    get_json(peers.ready["stats"]["auth"].as_str().unwrap())
}

fn refresh_count(s: &Value) -> u64 {
    s["token_requests"]["by_grant_type"]["refresh_token"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn twenty_processes_with_an_expired_token_cause_exactly_one_refresh() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &["--auto-login", "alice", "--access-ttl", "2"],
    );
    let mut c = Companion::new();
    c.ok(&["add", "race", &peers.get("mcp")]);
    c.start_daemon(&["--tick", "3600"]);
    c.ok(&["login", "race", "--headless"]);
    std::thread::sleep(Duration::from_millis(3200)); // the access token is now expired

    let children: Vec<Child> = (0..20)
        .map(|_| {
            c.cmd(&["debug-token", "race"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut prints = Vec::new();
    for ch in children {
        let out = ch.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        prints.push(v["fingerprint"].as_str().unwrap().to_owned());
    }
    prints.dedup();
    assert_eq!(prints.len(), 1, "all 20 got the same token");
    let s = stats(&peers);
    assert_eq!(
        refresh_count(&s),
        1,
        "exactly one refresh grant at the server: {:#}",
        s["token_requests"]
    );
    assert_eq!(
        s["refresh_token_reuse"],
        serde_json::json!([]),
        "no refresh token was replayed"
    );
    // The grant is still valid: another refresh succeeds.
    c.ok(&["debug-token", "race", "--min-ttl", "100000"]);
    assert_eq!(
        stats(&peers)["token_requests"]["succeeded_by_grant_type"]["refresh_token"],
        2
    );
}

#[test]
fn a_broker_killed_mid_refresh_is_replaced_without_a_new_sign_in() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &[
            "--auto-login",
            "alice",
            "--access-ttl",
            "2",
            "--token-delay-ms",
            "1500",
        ],
    );
    let mut c = Companion::new();
    c.ok(&["add", "crash", &peers.get("mcp")]);
    c.start_daemon(&["--tick", "3600"]);
    c.ok(&["login", "crash", "--headless"]);
    let before = c.tokens("crash");
    std::thread::sleep(Duration::from_millis(2500));
    // A bridge asks; the refresh hangs at the server; the broker dies with SIGKILL meanwhile.
    let asking = c
        .cmd(&["debug-token", "crash"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    c.kill_daemon();
    let _ = asking.wait_with_output();
    // The keychain holds a whole, readable entry (the old one).
    assert_eq!(c.tokens("crash")["refresh_token"], before["refresh_token"]);
    // The next broker (started on demand) refreshes with it: no sign-in needed.
    let out = c.ok(&["debug-token", "crash"]);
    assert!(out.contains("fingerprint"), "{out}");
    let s = stats(&peers);
    assert_eq!(s["token_requests_abandoned"], 1, "{s:#}");
    assert_eq!(
        s["token_requests"]["succeeded_by_grant_type"]["refresh_token"],
        1
    );
    assert_eq!(s["refresh_token_reuse"], serde_json::json!([]));
}

#[test]
fn no_token_or_secret_reaches_files_logs_arguments_or_environments() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &["--auto-login", "alice", "--access-ttl", "2"],
    );
    let mut c = Companion::new();
    c.ok(&["add", "leak", &peers.get("mcp")]);
    c.start_daemon(&["--tick", "1"]);
    c.ok(&["login", "leak", "--headless"]);
    std::thread::sleep(Duration::from_millis(2500));
    c.ok(&["debug-token", "leak"]); // after a refresh
    c.ok(&["status"]);
    let t = c.tokens("leak");
    let access = t["access_token"].as_str().unwrap().to_owned();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let secrets = [access.as_str(), refresh.as_str()];
    assert_no_secret_in(&c.path("config"), &secrets);
    assert_no_secret_in(&c.path("data"), &secrets);
    assert_no_secret_in(c.path("daemon.log").parent().unwrap(), &secrets);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        for f in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(e.path().join(f)) {
                for s in secrets {
                    assert!(
                        !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                        "a token is in /proc/{}/{f}",
                        e.file_name().to_string_lossy()
                    );
                }
            }
        }
    }
}

#[test]
fn clients_starting_at_once_share_exactly_one_broker() {
    if !secret_service_available() {
        return;
    }
    let c = Companion::new();
    c.ok(&["add", "srv", "https://mcp.example.com/mcp"]);
    let children: Vec<Child> = (0..8)
        .map(|_| {
            c.cmd(&["status", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for ch in children {
        let out = ch.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["servers"][0]["state"], "needs_sign_in");
    }
    std::thread::sleep(Duration::from_millis(300)); // losers of the start race exit
    let daemons: Vec<u32> = processes_with_env("XDG_RUNTIME_DIR", &c.path("run").to_string_lossy())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cl| cl.split(|b| *b == 0).any(|a| a == b"daemon"))
        })
        .collect();
    assert_eq!(daemons.len(), 1, "exactly one broker: {daemons:?}");
}

fn b64url(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn static_credentials_live_in_the_keychain_only() {
    if !secret_service_available() {
        return;
    }
    use std::io::Write;
    let c = Companion::new();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2 * 3600
        + 60;
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64url(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(&format!(r#"{{"sub":"robot","exp":{exp}}}"#))
    );
    let add = |args: &[&str], stdin: &str| {
        let mut child = c
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = add(
        &["add", "jwt", "https://jwt.example.com/mcp", "--bearer"],
        &format!("{jwt}\n"),
    );
    assert!(
        out.contains("Stored 1 secret in the OS keychain")
            && out.contains("The token expires in 2 h"),
        "{out}"
    );
    let out = add(
        &[
            "add",
            "keyed",
            "https://keyed.example.com/mcp",
            "--auth",
            "headers",
            "--header",
            "X-Client-Id",
            "--header",
            "X-Client-Secret",
        ],
        "id-123\nsecret-456\n",
    );
    assert!(out.contains("Stored 2 secrets"), "{out}");

    let kc = c.keychain();
    assert_eq!(kc.get("jwt/bearer").unwrap().unwrap().expose(), jwt);
    assert_eq!(
        kc.get("keyed/header/x-client-secret")
            .unwrap()
            .unwrap()
            .expose(),
        "secret-456"
    );
    assert_no_secret_in(&c.path("config"), &[&jwt, "secret-456", "id-123"]);
    assert_no_secret_in(&c.path("data"), &[&jwt, "secret-456", "id-123"]);

    let status: Value = serde_json::from_str(&c.ok(&["status", "--json"])).unwrap();
    let jwt_status = &status["servers"][0];
    assert_eq!(
        jwt_status["state"], "expiring",
        "a token expiring within a day: {status:#}"
    );
    assert!(jwt_status["expires_in"].as_u64().unwrap() > 7000);
    assert_eq!(status["servers"][1]["state"], "not_required");

    c.ok(&["remove", "keyed"]);
    assert!(
        kc.get("keyed/header/x-client-secret").unwrap().is_none(),
        "remove also removes the secrets"
    );
    // An empty secret saves nothing.
    let mut child = c
        .cmd(&["add", "empty", "https://e.example.com/mcp", "--bearer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no secret was given"));
    assert!(!c.ok(&["list"]).contains("empty"));
}

/// Runs `connect NAME`, sends initialize, initialized and `tools/call whoami`, returns the
/// call's result.
fn call_whoami(c: &Companion, name: &str) -> Value {
    use std::io::{BufRead, Write};
    let mut child = c
        .cmd(&["connect", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#,
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == 2 {
                let _ = tx.send(v);
                return;
            }
        }
    });
    let resp = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no answer to tools/call");
    drop(stdin);
    let _ = child.wait();
    resp
}

/// POSTs an MCP `initialize` straight to `url` with `token` (no bridge): the status line and
/// the `WWW-Authenticate` header of the answer.
fn post_initialize(url: &str, token: &str) -> (String, Option<String>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.0\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.lines().next().unwrap_or_default().to_owned();
    let challenge = resp.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.trim().to_owned())
    });
    (status, challenge)
}

/// The reasons the Python peer gave for its 401s (`/__stats` `auth_failures`).
fn auth_failures(stats: &Value) -> Vec<String> {
    stats["auth_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap().to_owned())
        .collect()
}

/// The JSON-RPC error `connect` answers when the server refused the stored bearer token: it
/// names the server, the status and the command that stores a new token.
fn assert_refused(r: &Value, url: &str) {
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(url)
            && message.contains("HTTP 401")
            && message.contains("refused the stored credentials")
            && message.contains("mcp-companion secret set ")
            && message.contains(" --bearer"),
        "{r:#}"
    );
}

/// Static credentials through `connect`: a bearer JWT to the Python peer (the MCP Python SDK,
/// HS256 verified with PyJWT) driven by the MCP TypeScript SDK's client, and an API-key
/// header to the Node peer.
#[test]
fn connect_sends_static_credentials_from_the_keychain() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let Some(python) = python_peer_available() else {
        return;
    };
    use std::io::Write;
    // At least 32 bytes: PyJWT warns about shorter HS256 keys (RFC 7518 section 3.2).
    let secret = "hs256-secret-for-tests-of-32-bytes-or-more";
    let audience = "mcp-companion-e2e";
    let jwt_server = Peer::start_python(
        &python,
        "jwt_server.py",
        &["--secret", secret, "--audience", audience],
    );
    let verifier = jwt_server.get("verifier");
    assert!(verifier.starts_with("PyJWT 2."), "{}", jwt_server.ready);
    assert!(
        jwt_server.get("sdk").starts_with("mcp 1."),
        "{}",
        jwt_server.ready
    );
    let key_server = Peer::start(
        &node,
        "mcp-server.mjs",
        &["--header-key", "X-Api-Key=k-123"],
    );
    let c = Companion::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |claims: Value, key: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    };
    let jwt = sign(
        serde_json::json!({"sub": "robot", "aud": audience, "exp": now + 3 * 86_400}),
        secret,
    );
    let add = |args: &[&str], stdin: &str| {
        let mut child = c
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    add(
        &["add", "jwt", &jwt_server.get("mcp"), "--bearer"],
        &format!("{jwt}\n"),
    );
    add(
        &[
            "add",
            "keyed",
            &key_server.get("mcp"),
            "--auth",
            "headers",
            "--header",
            "X-Api-Key",
        ],
        "k-123\n",
    );
    assert_eq!(
        c.keychain().get("jwt/bearer").unwrap().unwrap().expose(),
        jwt
    );

    // An official MCP SDK client through `connect`; PyJWT verified the token the bridge sent.
    let r = sdk_whoami(&c, &node, "jwt");
    assert_eq!(r["whoami"]["sub"], "robot", "{r:#}");
    assert_eq!(r["whoami"]["aud"], audience, "{r:#}");
    assert_eq!(r["whoami"]["verifier"], verifier.as_str(), "{r:#}");
    let s = get_json(&jwt_server.get("stats"));
    assert_eq!(s["verifier"], verifier.as_str());
    assert_eq!(s["subjects"], serde_json::json!(["robot"]), "{s:#}");
    assert_eq!(s["tool_calls"]["whoami"], 1, "{s:#}");
    assert_eq!(
        s["unauthorized"], 0,
        "the first request had the token: {s:#}"
    );
    let r = call_whoami(&c, "keyed");
    assert!(r["result"].to_string().contains("header-key-user"), "{r:#}");

    // PyJWT refuses a token signed with another key, an expired one and one for another
    // audience, with a Bearer invalid_token challenge.
    let url = jwt_server.get("mcp");
    for (token, reason) in [
        (
            sign(
                serde_json::json!({"sub": "robot", "aud": audience, "exp": now + 3600}),
                "another-secret-that-is-also-32-bytes-long",
            ),
            "InvalidSignatureError: Signature verification failed",
        ),
        (
            sign(
                serde_json::json!({"sub": "robot", "aud": audience, "exp": now - 60}),
                secret,
            ),
            "ExpiredSignatureError: Signature has expired",
        ),
        (
            sign(
                serde_json::json!({"sub": "robot", "aud": "someone-else", "exp": now + 3600}),
                secret,
            ),
            "InvalidAudienceError",
        ),
    ] {
        let (status, challenge) = post_initialize(&url, &token);
        assert!(status.contains(" 401 "), "{status}");
        let challenge = challenge.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        let failures = auth_failures(&get_json(&jwt_server.get("stats")));
        assert!(
            failures.last().is_some_and(|f| f.starts_with(reason)),
            "{reason}: {failures:?}"
        );
    }

    // Through the bridge, a wrongly signed token: refused by PyJWT, and the bridge's error says
    // what to do.
    let forged = sign(
        serde_json::json!({"sub": "robot", "aud": audience, "exp": now + 3 * 86_400}),
        "another-secret-that-is-also-32-bytes-long",
    );
    add(&["add", "forged", &url, "--bearer"], &format!("{forged}\n"));
    let r = call_whoami(&c, "forged");
    assert_refused(&r, &url);
    let failures = auth_failures(&get_json(&jwt_server.get("stats")));
    assert!(
        failures
            .last()
            .is_some_and(|f| f.starts_with("InvalidSignatureError")),
        "{failures:?}"
    );

    // A token that expires after it was stored.
    let late = sign(
        serde_json::json!({"sub": "robot", "aud": audience, "exp": now + 2}),
        secret,
    );
    add(&["add", "late", &url, "--bearer"], &format!("{late}\n"));
    std::thread::sleep(Duration::from_secs(3));
    let status: Value = serde_json::from_str(&c.ok(&["status", "--json"])).unwrap();
    let of = |name: &str| {
        status["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {status:#}"))
    };
    let late_status = of("late");
    assert_eq!(late_status["state"], "error", "{status:#}");
    assert!(
        late_status["error"]
            .as_str()
            .unwrap()
            .contains("has expired; store a new one with `mcp-companion secret set late --bearer`"),
        "{status:#}"
    );
    let jwt_status = of("jwt");
    assert_eq!(jwt_status["state"], "signed_in", "{status:#}");
    assert!(
        jwt_status["expires_in"].as_u64().unwrap() > 3 * 86_400 - 600,
        "{status:#}"
    );
    // The bridge does not send it: each request gets the words `status` uses, and the server
    // never sees the token.
    let seen = auth_failures(&get_json(&jwt_server.get("stats"))).len();
    let r = call_whoami(&c, "late");
    assert!(
        r["error"]["message"].as_str().is_some_and(|m| m.contains(
            "late: the stored bearer token has expired; store a new one with `mcp-companion secret set late --bearer`"
        )),
        "{r:#}"
    );
    assert_eq!(
        auth_failures(&get_json(&jwt_server.get("stats"))).len(),
        seen
    );

    // Nothing of either secret in files or in the bridges' arguments.
    assert_no_secret_in(&c.path("config"), &[&jwt, &forged, &late, "k-123"]);
    assert_no_secret_in(&c.path("data"), &[&jwt, &forged, &late, "k-123"]);
}

#[test]
fn probe_with_the_keychain_store_uses_the_brokers_tokens() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mut c = Companion::new();
    c.ok(&["add", "kc", &peers.get("mcp")]);
    c.start_daemon(&[]);
    let out = c.run(&["probe", "kc", "--store", "keychain", "--json"]);
    assert!(!out.status.success(), "not signed in yet");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("mcp-companion login kc"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    c.ok(&["login", "kc", "--headless"]);
    let report: Value = serde_json::from_str(&c.ok(&[
        "probe", "kc", "--store", "keychain", "--call", "whoami", "--json",
    ]))
    .unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    assert!(
        report["calls"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("alice"),
        "{report:#}"
    );
}

#[test]
fn client_credentials_servers_work_through_connect() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    use std::io::Write;
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &["--client-credentials", "robot:robot-secret"],
    );
    let mut c = Companion::new();
    let mut add = c
        .cmd(&[
            "add",
            "robot",
            &peers.get("mcp"),
            "--auth",
            "client-credentials",
            "--client-id",
            "robot",
            "--scope",
            "mcp:read",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"robot-secret\n")
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.start_daemon(&[]);

    let r = call_whoami(&c, "robot");
    assert!(
        r.get("result").is_some() && r["result"]["isError"] != true,
        "{r:#}"
    );
    let r = call_whoami(&c, "robot"); // a second bridge gets the cached token
    assert!(r.get("result").is_some(), "{r:#}");
    let s = stats(&peers);
    assert_eq!(
        s["token_requests"]["succeeded_by_grant_type"]["client_credentials"], 1,
        "{:#}",
        s["token_requests"]
    );
    let status: Value = serde_json::from_str(&c.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["servers"][0]["state"], "signed_in", "{status:#}");
    assert_no_secret_in(&c.path("config"), &["robot-secret"]);
}

/// Adds a server (secret lines on stdin), signs in headlessly through the broker, then calls
/// `whoami` through `connect`.
fn sign_in_and_call(c: &mut Companion, add_args: &[&str], stdin: &str) -> Value {
    use std::io::Write;
    let mut add = c
        .cmd(add_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{add_args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if c.daemon.is_none() {
        c.start_daemon(&[]);
    }
    c.ok(&["login", add_args[1], "--headless"]);
    call_whoami(c, add_args[1])
}

#[test]
fn provider_quirks_auth0_entra_and_object_form_metadata() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let mut c = Companion::new();

    // Resource metadata listing its authorization server as an object.
    let objects = Peer::start(
        &node,
        "start-pair.mjs",
        &["--auto-login", "alice", "--auth-server-objects"],
    );
    let r = sign_in_and_call(&mut c, &["add", "objects", &objects.get("mcp")], "");
    assert!(r["result"].to_string().contains("alice"), "{r:#}");
    let show = c.ok(&["show", "objects"]);
    assert!(
        show.contains(&format!(
            "generic (detected from the issuer {})",
            objects.get("issuer")
        )),
        "{show}"
    );

    // Auth0-like: no dynamic registration, `audience` required, `resource` ignored.
    let auth0 = Peer::start(
        &node,
        "start-pair.mjs",
        &[
            "--auto-login",
            "alice",
            "--no-registration",
            "--client",
            "desk:desk-secret:loopback",
            "--require-audience",
        ],
    );
    let r = sign_in_and_call(
        &mut c,
        &[
            "add",
            "auth0",
            &auth0.get("mcp"),
            "--client-id",
            "desk",
            "--client-secret",
            "--profile",
            "auth0",
        ],
        "desk-secret\n",
    );
    assert!(r["result"].to_string().contains("alice"), "{r:#}");
    let log = &stats(&auth0)["authorization_log"];
    assert_eq!(
        log[0]["audience"],
        auth0.get("mcp"),
        "the profile sent the audience: {log:#}"
    );
    assert_eq!(stats(&auth0)["registrations"], 0);

    // Entra-like: `resource` is refused; `--no-resource` leaves it out everywhere.
    let entra = Peer::start(
        &node,
        "start-pair.mjs",
        &["--auto-login", "alice", "--reject-resource"],
    );
    let r = sign_in_and_call(
        &mut c,
        &["add", "entra", &entra.get("mcp"), "--no-resource"],
        "",
    );
    assert!(r["result"].to_string().contains("alice"), "{r:#}");
    let tokens = &stats(&entra)["token_log"];
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["resource"].is_null()),
        "{tokens:#}"
    );
    assert_no_secret_in(&c.path("config"), &["desk-secret"]);
}

#[test]
fn a_token_command_supplies_the_bearer_token() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let secret = "hs256-command-secret";
    let server = Peer::start(&node, "mcp-server.mjs", &["--static-jwt-secret", secret]);
    let mut c = Companion::new();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "from-command", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    // Stands in for a secrets manager's CLI.
    let file = c.path("vault-token");
    std::fs::write(&file, format!("{jwt}\n")).unwrap();
    let cmd = format!("cat {}", file.display());
    c.ok(&["add", "tc", &server.get("mcp"), "--token-command", &cmd]);
    let show = c.ok(&["show", "tc"]);
    assert!(show.contains("printed by `cat "), "{show}");
    c.start_daemon(&[]);
    let r = call_whoami(&c, "tc");
    assert!(r["result"].to_string().contains("from-command"), "{r:#}");
    assert_no_secret_in(&c.path("config"), &[&jwt]);
    assert_no_secret_in(&c.path("data"), &[&jwt]);
    // A failing command is a clear JSON-RPC error, not a hang.
    c.ok(&[
        "add",
        "bad",
        &server.get("mcp"),
        "--token-command",
        "echo nope >&2; exit 3",
    ]);
    let r = call_whoami(&c, "bad");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("failed"),
        "{r:#}"
    );
}

/// Runs tests/peers/bridge-client.mjs, an official MCP SDK client, with `mcp-companion connect
/// NAME` as its stdio server (as Claude Desktop would), and returns its report: initialize,
/// tools/list, tools/call whoami, ping, close.
fn sdk_whoami(c: &Companion, node: &Path, name: &str) -> Value {
    let mut cmd = Command::new(node);
    c.env(&mut cmd);
    cmd.arg(companion_tests::peers_dir().join("bridge-client.mjs"))
        .arg("--bridge")
        .arg(binary("mcp-companion"))
        .arg("--whoami");
    // What an MCP client config's "env" block would give the bridge here.
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_RUNTIME_DIR",
        "MCP_COMPANION_KEYCHAIN_NAMESPACE",
        "MCP_COMPANION_MANAGED_CONFIG",
        "DBUS_SESSION_BUS_ADDRESS",
    ] {
        cmd.args(["--pass-env", var]);
    }
    let out = cmd
        .args(["--", "connect", name])
        .current_dir(companion_tests::peers_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("bridge-client.mjs printed no report ({e}): {stdout}"));
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["exit_code"], 0, "{report:#}");
    report
}

/// Generates a key pair with tests/peers/keygen.mjs: (PKCS#8 PEM file, public JWKS file).
fn keygen(node: &Path, alg: &str, extra: &[&str], dir: &Path) -> (PathBuf, PathBuf) {
    let out = Command::new(node)
        .arg(companion_tests::peers_dir().join("keygen.mjs"))
        .args(["--alg", alg, "--out"])
        .arg(dir)
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "keygen.mjs {alg} failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        PathBuf::from(v["key"].as_str().unwrap()),
        PathBuf::from(v["jwks"].as_str().unwrap()),
    )
}

fn failed_with(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn private_key_jwt_client_credentials_work_through_connect() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let mut c = Companion::new();
    let keys = c.path("keys");
    std::fs::create_dir_all(&keys).unwrap();
    // The ES256 client's JWKS also holds a decoy key: the assertion must name its kid.
    let (es_pem, es_jwks) = keygen(&node, "ES256", &["--kid", "k-es", "--decoy"], &keys);
    let (rs_pem, rs_jwks) = keygen(&node, "RS256", &[], &keys);
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &[
            "--client-jwks",
            &format!("robot-es:{}", es_jwks.display()),
            "--client-jwks",
            &format!("robot-rs:{}", rs_jwks.display()),
        ],
    );
    let mcp = peers.get("mcp");
    let es = es_pem.to_str().unwrap();
    let rs = rs_pem.to_str().unwrap();
    let add = |name: &str, client: &str, extra: &[&str]| {
        let mut args = vec![
            "add",
            name,
            &mcp,
            "--auth",
            "client-credentials",
            "--client-id",
            client,
        ];
        args.extend_from_slice(extra);
        c.run_with(&args, "")
    };

    // Keys that cannot work are refused before anything is saved, naming the file.
    let missing = keys.join("nope.pem");
    let err = failed_with(
        &add(
            "bad",
            "robot-es",
            &["--private-key", missing.to_str().unwrap()],
        ),
        2,
    );
    assert!(
        err.contains(&format!(
            "cannot read the private key file {}",
            missing.display()
        )),
        "{err}"
    );
    let err = failed_with(
        &add(
            "bad",
            "robot-es",
            &["--private-key", es_jwks.to_str().unwrap()],
        ),
        2,
    );
    assert!(err.contains("is not a PEM file"), "{err}");
    let err = failed_with(
        &add(
            "bad",
            "robot-rs",
            &["--private-key", rs, "--key-alg", "ES256"],
        ),
        2,
    );
    assert!(err.contains("holds a key for RS256, not ES256"), "{err}");
    assert!(!c.ok(&["list"]).contains("bad"));

    // ES256 is told by the key itself; RS256 is given.
    let out = add(
        "es",
        "robot-es",
        &[
            "--scope",
            "mcp:read",
            "--private-key",
            es,
            "--key-id",
            "k-es",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Stored 1 secret in the OS keychain"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = add(
        "rs",
        "robot-rs",
        &["--private-key", rs, "--key-alg", "rs256"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The files are read once: MCP Companion keeps the keys in the keychain only.
    let es_text = std::fs::read_to_string(&es_pem).unwrap();
    let rs_text = std::fs::read_to_string(&rs_pem).unwrap();
    std::fs::remove_file(&es_pem).unwrap();
    std::fs::remove_file(&rs_pem).unwrap();
    let kc = c.keychain();
    assert_eq!(kc.get("es/private-key").unwrap().unwrap().expose(), es_text);
    let config = std::fs::read_to_string(c.path("config/mcp-companion/config.toml")).unwrap();
    for want in [
        "token_endpoint_auth_method = \"private_key_jwt\"",
        "key_alg = \"ES256\"",
        "key_id = \"k-es\"",
        "key_alg = \"RS256\"",
    ] {
        assert!(config.contains(want), "{want} in {config}");
    }
    let show = c.ok(&["show", "es"]);
    assert!(
        show.contains("private_key_jwt (ES256, key id k-es; the key is in the keychain)"),
        "{show}"
    );

    c.start_daemon(&[]);
    let r = sdk_whoami(&c, &node, "es");
    assert_eq!(r["whoami"]["client_id"], "robot-es", "{r:#}");
    let r = sdk_whoami(&c, &node, "rs");
    assert_eq!(r["whoami"]["client_id"], "robot-rs", "{r:#}");

    let s = stats(&peers);
    let log: Vec<&Value> = s["token_log"].as_array().unwrap().iter().collect();
    assert_eq!(log.len(), 2, "one grant per server: {log:#?}");
    assert!(
        log.iter()
            .all(|t| t["grant_type"] == "client_credentials"
                && t["client_auth"] == "private_key_jwt"),
        "{log:#?}"
    );
    assert_eq!(log[0]["assertion_header"]["alg"], "ES256");
    assert_eq!(log[0]["assertion_header"]["kid"], "k-es");
    assert_eq!(log[1]["assertion_header"]["alg"], "RS256");
    assert_eq!(log[1]["assertion_header"]["kid"], Value::Null);

    // No line of either key in files, logs or the daemon's log.
    let body = |pem: &str| -> String {
        pem.lines()
            .find(|l| !l.starts_with("-----"))
            .unwrap()
            .to_owned()
    };
    let (es_line, rs_line) = (body(&es_text), body(&rs_text));
    assert_no_secret_in(&c.path("config"), &[&es_line, &rs_line]);
    assert_no_secret_in(&c.path("data"), &[&es_line, &rs_line]);
    let daemon_log = std::fs::read_to_string(c.path("daemon.log")).unwrap();
    assert!(!daemon_log.contains(&es_line) && !daemon_log.contains(&rs_line));

    c.ok(&["remove", "es"]);
    assert!(
        kc.get("es/private-key").unwrap().is_none(),
        "remove also removes the key"
    );
}

#[test]
fn secret_set_gives_a_managed_server_its_secret() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(
        &node,
        "start-pair.mjs",
        &["--client-credentials", "robot:robot-secret"],
    );
    let mut c = Companion::new();
    let mcp = peers.get("mcp");
    let managed = format!(
        "version = 1\n\n[servers.robot]\nurl = \"{mcp}\"\n\
         auth = {{ mode = \"client_credentials\", client_id = \"robot\", scopes = [\"mcp:read\"] }}\n\n\
         [servers.keyed]\nurl = \"https://keyed.example.com/mcp\"\n\
         auth = {{ mode = \"headers\", headers = [\"X-Api-Key\"] }}\n\n\
         [servers.wiki]\nurl = \"https://wiki.example.com/mcp\"\n\
         auth = {{ mode = \"oauth\", client_id = \"desk\", profile = \"okta\" }}\n"
    );
    std::fs::write(c.path("managed.toml"), &managed).unwrap();

    // `add` cannot give a managed server anything, and says what can (before asking for a secret).
    let err = failed_with(
        &c.run_with(
            &[
                "add",
                "robot",
                &mcp,
                "--auth",
                "client-credentials",
                "--client-id",
                "robot",
            ],
            "",
        ),
        2,
    );
    assert!(
        err.contains("managed by your organization") && err.contains("secret set robot"),
        "{err}"
    );

    c.start_daemon(&[]);
    // Without its secret, the bridge says how to store it.
    let r = call_whoami(&c, "robot");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("mcp-companion secret set robot --client-secret"),
        "{r:#}"
    );

    // Options the server's auth mode does not use are refused, naming what it takes.
    let err = failed_with(
        &c.run_with(&["secret", "set", "robot", "--header", "X-Api-Key"], "x\n"),
        2,
    );
    assert!(
        err.contains(
            "robot uses auth mode client_credentials (client_secret_basic), so --header X-Api-Key does not apply"
        ) && err.contains("robot takes: mcp-companion secret set robot --client-secret"),
        "{err}"
    );
    let err = failed_with(
        &c.run_with(&["secret", "set", "keyed", "--header", "X-Other"], "x\n"),
        2,
    );
    assert!(
        err.contains("keyed does not list the header X-Other; its headers are X-Api-Key"),
        "{err}"
    );
    let err = failed_with(&c.run_with(&["secret", "set", "robot"], ""), 2);
    assert!(
        err.contains("--client-secret"),
        "clap names the choices: {err}"
    );

    let out = c.run_with(
        &["secret", "set", "robot", "--client-secret"],
        "robot-secret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Stored the client secret of robot in the OS keychain (robot is managed by your organization; its settings stay locked)."),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(c.path("managed.toml")).unwrap(),
        managed,
        "the managed file is never written"
    );

    let r = sdk_whoami(&c, &node, "robot");
    assert_eq!(r["whoami"]["client_id"], "robot", "{r:#}");
    assert_eq!(r["whoami"]["scope"], "mcp:read", "{r:#}");

    // New credentials: the broker drops the token made with the old ones, and the next
    // request gets a fresh grant (rather than the cached token until it expires).
    let grants = |s: &Value| {
        s["token_requests"]["by_grant_type"]["client_credentials"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = grants(&stats(&peers));
    sdk_whoami(&c, &node, "robot");
    assert_eq!(grants(&stats(&peers)), before, "the cached token is reused");
    let out = c.run_with(
        &["secret", "set", "robot", "--client-secret"],
        "robot-secret\n",
    );
    assert!(out.status.success());
    sdk_whoami(&c, &node, "robot");
    assert_eq!(
        grants(&stats(&peers)),
        before + 1,
        "a new grant after the secret changed"
    );

    // `show` says it is managed (locked), and which profile applies.
    let show = c.ok(&["show", "robot"]);
    assert!(
        show.contains("managed by") && show.contains("locked"),
        "{show}"
    );
    let show = c.ok(&["show", "wiki"]);
    assert!(show.contains("okta (configured)"), "{show}");
    let json: Value = serde_json::from_str(&c.ok(&["show", "wiki", "--json"])).unwrap();
    assert_eq!(json["managed"], true);
    assert_eq!(json["profile"]["name"], "okta");
    assert_eq!(json["profile"]["source"], "configured");
    assert!(json["managed_file"]
        .as_str()
        .unwrap()
        .ends_with("managed.toml"));

    let out = c.ok(&["secret", "clear", "robot", "--client-secret"]);
    assert!(out.contains("Removed the client secret of robot"), "{out}");
    assert!(c.keychain().get("robot/client-secret").unwrap().is_none());
    assert_no_secret_in(&c.path("config"), &["robot-secret"]);
    assert_no_secret_in(&c.path("data"), &["robot-secret"]);
}
