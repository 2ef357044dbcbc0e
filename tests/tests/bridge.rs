//! `mcp-companion connect`, the stdio bridge, run for real: an official MCP SDK client drives it
//! against the official "everything" server (Streamable HTTP, and the legacy SSE fallback),
//! the conformance suite's client scenarios go through it, and a scripted upstream checks that
//! bytes survive both ways and that failures become JSON-RPC errors instead of hangs.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use companion_tests::{
    binary, desktop_available, free_port, get_json, node, peers_available,
    secret_service_available, Peer,
};
use serde_json::{json, Value};

#[path = "../support/upstream.rs"]
mod upstream;

use upstream::{id_of, initialize_reply, method_of, result_reply, Reply, Upstream};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bridge-test","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// A bridge process with its stdio in the test's hands, in a private home.
struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    _home: Option<tempfile::TempDir>,
}

/// A private home: config, data and runtime dirs (so its own broker).
fn private_env(cmd: &mut Command, home: &std::path::Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env_remove("DISPLAY")
        .env_remove("MCP_COMPANION_CONFIG");
}

impl Bridge {
    fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut b = Self::start_in(home.path(), args, env);
        b._home = Some(home);
        b
    }

    fn start_in(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(binary("mcp-companion"));
        private_env(&mut cmd, home);
        cmd.arg("connect")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            _home: None,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next stdout line, exactly as written.
    fn raw(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("no line from the bridge within 20 s")
    }

    fn recv(&self) -> Value {
        let line = self.raw();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Reads lines until the response with `id` (JSON text); returns it and what came before.
    fn until(&self, id: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let v = self.recv();
            if v.get("id").map(Value::to_string).as_deref() == Some(id)
                && (v.get("result").is_some() || v.get("error").is_some())
            {
                return (v, before);
            }
            before.push(v);
        }
    }

    fn initialize(&mut self) -> Value {
        self.send(INIT);
        let (r, _) = self.until("0");
        self.send(INITIALIZED);
        r
    }

    /// Closes stdin and waits for the exit (at most `limit`).
    fn close(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        self.stdin = None;
        self.wait(limit)
    }

    fn wait(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "the bridge did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs to a loopback URL (the peers' control endpoints).
fn post(url: &str) {
    use std::io::Read;
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 2"), "{url}: {resp}");
}

/// Runs tests/peers/bridge-client.mjs (an SDK client) against `url` through the bridge.
fn sdk_client(node: &std::path::Path, url: &str, extra: &[&str]) -> Value {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(node)
        .arg(companion_tests::peers_dir().join("bridge-client.mjs"))
        .arg("--bridge")
        .arg(binary("mcp-companion"))
        .arg("--")
        .args(["connect", url])
        .args(extra)
        .current_dir(companion_tests::peers_dir())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("bridge-client.mjs printed no report ({e}): {stdout}"))
}

fn assert_sdk_run(report: &Value) {
    println!("{report:#}");
    assert_eq!(report["error"], Value::Null, "{report:#}");
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == true)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for want in [
        "initialize",
        "tools/list",
        "tools/call echo",
        "progress notifications",
        "sampling round trip",
        "elicitation round trip",
        "roots round trip",
        "resources/list",
        "prompts/list",
        "ping",
        "concurrent calls",
    ] {
        assert!(names.contains(&want), "{want} did not pass: {report:#}");
    }
    // All three, in order (the last may reach the SDK with its response: see bridge-client.mjs).
    let seen = report["progress"].as_array().unwrap().len() as u64;
    assert_eq!(
        seen + report["late_progress"].as_u64().unwrap(),
        3,
        "{report:#}"
    );
    assert_eq!(report["progress"][0], 1);
    // The server also asks for roots by itself after initialize, so count, do not order.
    let mut asked: Vec<&str> = report["server_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    asked.sort_unstable();
    asked.dedup();
    assert_eq!(
        asked,
        ["elicitation/create", "roots/list", "sampling/createMessage"]
    );
    assert_eq!(
        report["exit_code"], 0,
        "the bridge must exit 0 on stdin EOF"
    );
    assert!(report["exit_ms"].as_u64().unwrap() < 1000, "{report:#}");
}

#[test]
fn sdk_client_through_the_bridge_to_streamable_http() {
    let Some(node) = peers_available() else {
        return;
    };
    let server = Peer::start(&node, "everything-server.mjs", &["streamableHttp"]);
    let report = sdk_client(&node, &server.get("url"), &[]);
    assert_sdk_run(&report);
}

#[test]
fn sdk_client_through_the_bridge_falls_back_to_legacy_sse() {
    let Some(node) = peers_available() else {
        return;
    };
    let server = Peer::start(&node, "everything-server.mjs", &["sse"]);
    // auto: the POST to /sse gets 404, so the bridge switches to the legacy transport.
    assert_sdk_run(&sdk_client(&node, &server.get("url"), &[]));
    // Configured as sse: no probing POST at all.
    assert_sdk_run(&sdk_client(
        &node,
        &server.get("url"),
        &["--transport", "sse"],
    ));
}

#[test]
fn conformance_scenarios_through_the_bridge() {
    let suite = std::env::var_os("MCP_COMPANION_CONFORMANCE")
        .map(std::path::PathBuf::from)
        .filter(|p| p.exists());
    let node = node();
    if !desktop_available("Node 22 (MCP_COMPANION_NODE)", node.is_some())
        || !desktop_available(
            "the conformance suite (MCP_COMPANION_CONFORMANCE)",
            suite.is_some(),
        )
    {
        return;
    }
    let (node, suite) = (node.unwrap(), suite.unwrap());
    let probe = binary("mcp-companion");
    for scenario in [
        "initialize",
        "tools_call",
        "sse-retry",
        "elicitation-sep1034-client-defaults",
    ] {
        let results = tempfile::tempdir().unwrap();
        let out = Command::new(&node)
            .arg(&suite)
            .args(["client", "--scenario", scenario, "--timeout", "30000", "-o"])
            .arg(results.path())
            .arg("--command")
            .arg(format!(
                "{} probe --conformance --via-bridge",
                probe.display()
            ))
            .current_dir(results.path())
            .output()
            .unwrap();
        // The runner prints its summary on stderr.
        let output = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && output.contains(" 0 failed, 0 warnings"),
            "{scenario} through the bridge ({}):\n{output}",
            out.status
        );
        // A client that does nothing passes some scenarios with zero checks: count them.
        let dir = std::fs::read_dir(results.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with(scenario))
            .unwrap();
        let checks: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("checks.json")).unwrap())
                .unwrap();
        let successes = checks
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "SUCCESS")
            .count();
        let expected = match scenario {
            "initialize" | "tools_call" => 1,
            "sse-retry" => 3,
            _ => 5,
        };
        assert!(successes >= expected, "{scenario}: {checks:#}");
    }
}

#[test]
fn bytes_survive_both_ways() {
    // Odd spacing, unknown fields, a string id, a float id written as 1.50, a batch, and a
    // pretty-printed (multi-line) SSE message.
    const INIT_REPLY: &str = r#"{"jsonrpc":"2.0", "id":"init-1","result":{"protocolVersion":"2025-06-18","capabilities":{"x-vendor":{"on":true}},"serverInfo":{"name":"rec","version":"1","x-build":7},"x-top":[1,2.50,1e3]}}"#;
    const BATCH_REPLY: &str = r#"[{"jsonrpc":"2.0","id":1.50,"result":{"x-unknown":{"nested":[null,true]}},"x-extra":"kept"}]"#;
    const PRETTY: &str = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": \"str id\",\n  \"result\": {\"x-unknown\": [1, 2.50, \"\\u00e9\"]}\n}";
    let up = Upstream::start(|r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        let body = r.body_str();
        if body.starts_with('[') {
            return Reply::json(BATCH_REPLY);
        }
        match method_of(&r.body).as_str() {
            "initialize" => Reply::json(INIT_REPLY).with_header("mcp-session-id", "s-1"),
            "custom/pretty" => Reply::Sse {
                headers: Vec::new(),
                chunks: vec![(
                    Duration::ZERO,
                    format!(
                        "event: message\n{}\n\n",
                        PRETTY
                            .lines()
                            .map(|l| format!("data: {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                    .into_bytes(),
                )],
                hold: false,
            },
            _ => Reply::status(202),
        }
    });
    let sent = [
        r#"{"jsonrpc":"2.0","id":"init-1","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"x-vendor":{"a":[1,2]}},"clientInfo":{"name":"t","version":"1"}},"x-top-level":true}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":{"x":1}}"#,
        r#"[{"jsonrpc":"2.0","id":1.50,"method":"vendor/thing","params":{"deep":{"a":[1,2,3]}},"x-extra":null}, {"jsonrpc":"2.0","method":"notifications/vendor"}]"#,
        r#"{"jsonrpc":"2.0","id":"str id","method":"custom/pretty","params":{"big":12345678901234567890123}}"#,
    ];
    let mut b = Bridge::start(&[&up.url]);
    b.send(sent[0]);
    assert_eq!(
        b.raw(),
        INIT_REPLY,
        "the initialize response, byte for byte"
    );
    b.send(sent[1]);
    b.send(sent[2]);
    assert_eq!(b.raw(), BATCH_REPLY, "the batch response, byte for byte");
    b.send(sent[3]);
    let pretty = b.raw();
    assert_eq!(
        pretty,
        PRETTY.replace('\n', " "),
        "one line; only the line breaks became spaces"
    );
    let (status, took) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let posts = up.posts();
    let bodies: Vec<&str> = posts.iter().map(|r| r.body_str()).collect();
    assert_eq!(bodies, sent, "the server received the client's exact bytes");
    for p in &posts {
        assert_eq!(
            p.header("accept"),
            Some("application/json, text/event-stream")
        );
        assert_eq!(p.header("content-type"), Some("application/json"));
    }
    assert_eq!(posts[0].header("mcp-session-id"), None);
    assert_eq!(posts[0].header("mcp-protocol-version"), None);
    for p in &posts[1..] {
        assert_eq!(p.header("mcp-session-id"), Some("s-1"));
        assert_eq!(p.header("mcp-protocol-version"), Some("2025-06-18"));
    }
    let reqs = up.requests();
    // The standalone GET comes after initialized and before the next request.
    let order: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, method_of(&r.body)))
        .collect();
    assert_eq!(
        order,
        [
            "POST initialize",
            "POST notifications/initialized",
            "GET ",
            "POST ",
            "POST custom/pretty",
            "DELETE "
        ]
    );
    assert_eq!(
        reqs.last().unwrap().header("mcp-session-id"),
        Some("s-1"),
        "DELETE ends the session"
    );
}

#[test]
fn a_large_json_answer_goes_through_whole_and_in_order() {
    // Large enough to be forwarded as it arrives rather than gathered; pretty-printed (CR/LF
    // inside, whitespace around) so the one rewrite is checked across pieces.
    let text = "é\\u00e9 x".repeat(200_000);
    let large = format!(
        "\r\n  {{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\n  \"result\": {{\"content\": [{{\"type\": \"text\", \"text\": \"{text}\"}}],\n \"x-n\": 1.50}}\n}}\n \t"
    );
    let expected = large.trim().replace(['\r', '\n'], " ");
    let reply = large.clone();
    let up = Upstream::start(move |r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        match method_of(&r.body).as_str() {
            "initialize" => initialize_reply(r, "l", "1"),
            "large" => {
                Reply::json(reply.replacen("\"id\": 7", &format!("\"id\": {}", id_of(&r.body)), 1))
            }
            "small" => result_reply(r, r#"{}"#),
            _ => Reply::status(202),
        }
    });
    let mut b = Bridge::start(&[&up.url]);
    b.initialize();
    b.send(r#"{"jsonrpc":"2.0","id":7,"method":"large"}"#);
    b.send(r#"{"jsonrpc":"2.0","id":8,"method":"small"}"#);
    let first = b.raw();
    let second = b.raw();
    let (large_line, small_line) = if first.len() > second.len() {
        (first, second)
    } else {
        (second, first)
    };
    assert!(large_line.len() > 1_000_000);
    assert_eq!(large_line, expected, "one line; only CR/LF became spaces");
    assert_eq!(small_line, r#"{"jsonrpc":"2.0","id":8,"result":{}}"#);
    // The bridge is still in step afterwards.
    b.send(r#"{"jsonrpc":"2.0","id":9,"method":"large"}"#);
    assert_eq!(b.raw(), expected.replacen("\"id\": 7", "\"id\": 9", 1));
    let (status, took) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn at_most_32_requests_wait_for_responses_and_notifications_never_wait() {
    // 33 calls the server answers after HOLD: 32 go out at once, the 33rd when one of them is
    // answered. A cancellation sent after all of them goes out at once.
    const CAP: usize = 32;
    const HOLD: Duration = Duration::from_secs(3);
    let up = Upstream::start(|r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        match method_of(&r.body).as_str() {
            "initialize" => initialize_reply(r, "cap", "1"),
            "tools/call" => Reply::Sse {
                headers: Vec::new(),
                chunks: vec![(
                    HOLD,
                    format!(
                        "data: {{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{{}}}}\n\n",
                        id_of(&r.body)
                    )
                    .into_bytes(),
                )],
                hold: false,
            },
            _ => Reply::status(202),
        }
    });
    let mut b = Bridge::start(&[&up.url]);
    b.initialize();
    let calls = |up: &Upstream| {
        up.posts()
            .iter()
            .filter(|r| method_of(&r.body) == "tools/call")
            .count()
    };
    let cancelled = |up: &Upstream| {
        up.posts()
            .iter()
            .any(|r| method_of(&r.body) == "notifications/cancelled")
    };
    let started = Instant::now();
    for i in 0..=CAP {
        b.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"slow"}}}}"#,
            100 + i
        ));
    }
    b.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":100}}"#);
    while !(cancelled(&up) && calls(&up) >= CAP) {
        assert!(
            started.elapsed() < HOLD - Duration::from_millis(500),
            "{} calls and {} a cancellation reached the server",
            calls(&up),
            if cancelled(&up) { "" } else { "not" }
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(calls(&up), CAP, "the 33rd call waits for a free place");
    let mut answered: Vec<i64> = (0..=CAP)
        .map(|_| {
            let r = b.recv();
            assert!(r.get("result").is_some(), "{r}");
            r["id"].as_i64().unwrap()
        })
        .collect();
    answered.sort_unstable();
    assert_eq!(answered, (100..=100 + CAP as i64).collect::<Vec<_>>());
    assert!(
        started.elapsed() >= HOLD * 2,
        "the 33rd call went out after the first answer"
    );
    let (status, _) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
}

#[test]
fn an_sse_stream_cut_is_resumed_or_answered_with_an_error() {
    let up = Upstream::start(|r| {
        let sse = |chunks: Vec<&str>, hold: bool| Reply::Sse {
            headers: Vec::new(),
            chunks: chunks
                .into_iter()
                .map(|c| (Duration::ZERO, c.as_bytes().to_vec()))
                .collect(),
            hold,
        };
        match (r.method.as_str(), r.header("last-event-id")) {
            ("GET", Some("ev-1")) => sse(
                vec!["id: ev-2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"resumed\":true}}\n\n"],
                true,
            ),
            ("GET", _) => Reply::status(405),
            ("DELETE", _) => Reply::status(200),
            _ => {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                match (body["method"].as_str(), body["params"]["name"].as_str()) {
                    (Some("initialize"), _) => initialize_reply(r, "s", "1")
                    .with_header("mcp-session-id", "s-9"),
                    // Cut after the priming event: resume with Last-Event-ID after `retry`.
                    (Some("tools/call"), Some("resumable")) => {
                        sse(vec!["id: ev-1\nretry: 150\ndata: \n\n"], false)
                    }
                    // Cut after a progress notification, with no event id: nothing to resume.
                    (Some("tools/call"), Some("dies")) => sse(
                        vec!["event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n"],
                        false,
                    ),
                    (Some("tools/call"), _) => result_reply(r, r#"{"content":[]}"#),
                    _ => Reply::status(202),
                }
            }
        }
    });
    let mut b = Bridge::start(&[&up.url]);
    b.initialize();
    let started = Instant::now();
    b.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"resumable"}}"#);
    let (r, _) = b.until("2");
    assert_eq!(r["result"], json!({"resumed": true}));
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "resumed before the retry delay"
    );
    let resumed = up
        .requests()
        .into_iter()
        .find(|r| r.header("last-event-id").is_some())
        .unwrap();
    assert_eq!(resumed.method, "GET");
    assert_eq!(resumed.header("mcp-session-id"), Some("s-9"));

    b.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"dies","_meta":{"progressToken":"p"}}}"#);
    let (r, before) = b.until("3");
    assert_eq!(before[0]["method"], "notifications/progress");
    assert_eq!(r["error"]["code"], -32000, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&up.url) && msg.contains("ended before the response"),
        "{msg}"
    );

    // The bridge goes on.
    b.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fine"}}"#);
    let (r, _) = b.until("4");
    assert_eq!(r["result"], json!({"content": []}));
    assert!(b.close(Duration::from_secs(2)).0.success());
}

/// Every GET an upstream received, with when.
type Gets = Arc<Mutex<Vec<(Instant, upstream::Request)>>>;

/// An upstream whose standalone GET streams are scripted one by one (`gets[n]` answers the
/// n-th GET; the last one answers every later GET); every GET is timed.
fn standalone_upstream(gets: Vec<Reply>) -> (Upstream, Gets) {
    let seen: Gets = Arc::default();
    let log = Arc::clone(&seen);
    let up = Upstream::start(
        move |r| match (r.method.as_str(), method_of(&r.body).as_str()) {
            ("POST", "initialize") => {
                initialize_reply(r, "g", "1").with_header("mcp-session-id", "s-g")
            }
            ("POST", "tools/list") => result_reply(r, r#"{"tools":[]}"#),
            ("GET", _) => {
                let mut log = log.lock().unwrap();
                let n = log.len();
                log.push((Instant::now(), r.clone()));
                gets[n.min(gets.len() - 1)].clone()
            }
            ("DELETE", _) => Reply::status(200),
            _ => Reply::status(202),
        },
    );
    (up, seen)
}

fn sse_once(chunks: &[&str], hold: bool) -> Reply {
    Reply::Sse {
        headers: Vec::new(),
        chunks: chunks
            .iter()
            .map(|c| (Duration::ZERO, c.as_bytes().to_vec()))
            .collect(),
        hold,
    }
}

#[test]
fn a_standalone_stream_that_ends_without_an_event_id_is_reopened() {
    const LATE: &str = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"sent after the first stream closed"}}"#;
    let (up, gets) = standalone_upstream(vec![
        // Only a retry (no id, no message), then the server closes the stream.
        sse_once(&["retry: 300\n\n"], false),
        // Closes at once with nothing at all.
        sse_once(&[], false),
        // The server's later message, then closed again.
        sse_once(&[&format!("event: message\ndata: {LATE}\n\n")], false),
        // The server no longer offers the stream: the bridge stops asking.
        Reply::status(405),
    ]);
    let mut b = Bridge::start(&[&up.url]);
    b.initialize();
    assert_eq!(b.raw(), LATE, "the notification from the re-opened stream");
    // Nothing more after the 405 (the next GET would be due after 300 ms).
    std::thread::sleep(Duration::from_millis(1200));
    let gets = gets.lock().unwrap().clone();
    assert_eq!(gets.len(), 4, "{gets:#?}");
    for (_, g) in &gets {
        assert_eq!(g.header("mcp-session-id"), Some("s-g"));
        assert_eq!(
            g.header("last-event-id"),
            None,
            "no event id, nothing to resume"
        );
        assert_eq!(g.header("accept"), Some("text/event-stream"));
    }
    for pair in gets.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(300),
            "re-opened before retry: {gap:?}"
        );
    }
    // The bridge goes on.
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let (r, _) = b.until("1");
    assert_eq!(r["result"]["tools"], json!([]));
    let (status, took) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn a_standalone_stream_that_keeps_closing_is_reopened_with_backoff_until_shutdown() {
    // Every GET is closed at once, with nothing in it and no retry: 1 s, then 2 s, 4 s, ...
    let (up, gets) = standalone_upstream(vec![sse_once(&[], false)]);
    let mut b = Bridge::start(&[&up.url]);
    b.initialize();
    std::thread::sleep(Duration::from_millis(2500));
    let n = gets.lock().unwrap().len();
    // At 0 s and 1 s (the next is due at 3 s): re-opened, and no busy loop.
    assert_eq!(n, 2, "{:#?}", gets.lock().unwrap());
    // Ending while a re-open is due: no GET after the DELETE, and no wait for it.
    let (status, took) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(gets.lock().unwrap().len(), 2);
    let last = up.requests().pop().unwrap();
    assert_eq!(last.method, "DELETE");
}

#[test]
fn a_session_ended_while_the_client_is_quiet_is_reopened_with_its_stream() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const LATE: &str = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
    let inits = AtomicUsize::new(0);
    let old_gets = AtomicUsize::new(0);
    let up = Upstream::start(move |r| {
        match (
            r.method.as_str(),
            method_of(&r.body).as_str(),
            r.header("mcp-session-id"),
        ) {
            ("POST", "initialize", _) => {
                let n = inits.fetch_add(1, Ordering::SeqCst) + 1;
                initialize_reply(r, "q", &n.to_string())
                    .with_header("mcp-session-id", &format!("s-{n}"))
            }
            // The first stream closes at once; by the time it is re-opened the session is over.
            ("GET", _, Some("s-1")) => {
                if old_gets.fetch_add(1, Ordering::SeqCst) == 0 {
                    sse_once(&[], false)
                } else {
                    Reply::status(404)
                }
            }
            ("GET", _, Some("s-2")) => {
                sse_once(&[&format!("event: message\ndata: {LATE}\n\n")], true)
            }
            ("GET", _, _) => Reply::status(400),
            (_, _, Some("s-1")) if r.method == "POST" && inits.load(Ordering::SeqCst) > 1 => {
                Reply::status(404)
            }
            ("DELETE", _, _) => Reply::status(200),
            _ => Reply::status(202),
        }
    });
    let mut b = Bridge::start(&[&up.url]);
    let init = b.initialize();
    assert_eq!(init["result"]["serverInfo"]["version"], "1");
    // The replayed initialize's response is not for the client; the new stream's message is.
    assert_eq!(b.raw(), LATE);
    let (status, took) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let order: Vec<String> = up
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.method,
                method_of(&r.body),
                r.header("mcp-session-id").unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "POST initialize -",
            "POST notifications/initialized s-1",
            "GET  s-1",
            "GET  s-1",
            "POST initialize -",
            "POST notifications/initialized s-2",
            "GET  s-2",
            "DELETE  s-2",
        ]
    );
    let posts = up.posts();
    assert_eq!(
        posts[2].body_str(),
        INIT,
        "the client's initialize, replayed as it was"
    );
}

#[test]
fn bad_input_gets_json_rpc_errors_and_the_bridge_goes_on() {
    let up = Upstream::start(|r| match method_of(&r.body).as_str() {
        "initialize" | "tools/list" => {
            result_reply(r, r#"{"protocolVersion":"2025-11-25","tools":[]}"#)
        }
        _ => Reply::status(202),
    });
    let mut b = Bridge::start(&[&up.url, "--max-message-bytes", "300"]);
    b.initialize();
    b.send("this is not json");
    let e = b.recv();
    assert_eq!(e["id"], Value::Null);
    assert_eq!(e["error"]["code"], -32700);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Parse error: "));
    b.send(r#"{"jsonrpc":"2.0","id":5}"#);
    let e = b.recv();
    assert_eq!(
        (e["id"].clone(), e["error"]["code"].clone()),
        (Value::Null, json!(-32600))
    );
    b.send(&format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"x":"{}"}}}}"#,
        "y".repeat(5000)
    ));
    let e = b.recv();
    assert_eq!(e["id"], Value::Null);
    assert_eq!(e["error"]["code"], -32600);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("300 bytes"),
        "{e}"
    );
    b.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
    let (r, _) = b.until("7");
    assert_eq!(r["result"]["tools"], json!([]));
    assert!(b.close(Duration::from_secs(2)).0.success());
    assert!(
        !up.posts().iter().any(|p| p.body_str().contains("yyyy")),
        "the oversized line must not be forwarded"
    );
}

#[test]
fn an_unreachable_server_answers_every_request() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut b = Bridge::start(&[&url]);
    b.send(INIT);
    let r = b.recv();
    assert_eq!(r["id"], 0);
    assert_eq!(r["error"]["code"], -32000);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&url), "{msg}");
    b.send(r#"{"jsonrpc":"2.0","id":"x","method":"tools/list"}"#);
    let r = b.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!("x"), json!(-32000))
    );
    let (status, took) = b.close(Duration::from_secs(2));
    assert!(status.success());
    assert!(took < Duration::from_secs(1), "{took:?}");
}

/// A server called `name` that answers `initialize` and `tools/list` (with no tools), and
/// accepts notifications.
fn tools_server(name: &'static str) -> impl Fn(&upstream::Request) -> Reply + Send + Sync {
    move |r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        match method_of(&r.body).as_str() {
            "initialize" => initialize_reply(r, name, "1"),
            "tools/list" => result_reply(r, r#"{"tools":[]}"#),
            _ => Reply::status(202),
        }
    }
}

/// Initializes `b` with the [`tools_server`] called `name` behind it, and lists its tools.
fn lists_tools(b: &mut Bridge, name: &str) {
    let init = b.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], name, "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let r = b.recv();
    assert_eq!(r["result"]["tools"], json!([]), "{r}");
}

/// A proxy in the environment carries https too, as at most workplaces: through a CONNECT
/// tunnel of tinyproxy, a real forward proxy, to an https server whose CA is trusted through
/// `SSL_CERT_FILE`.
#[test]
fn https_goes_through_the_proxys_connect_tunnel() {
    let tinyproxy = std::path::Path::new("/usr/bin/tinyproxy");
    if !desktop_available("tinyproxy (Debian's tinyproxy-bin)", tinyproxy.exists()) {
        return;
    }
    let up = Upstream::start_tls(tools_server("tunnelled"));
    let dir = tempfile::tempdir().unwrap();
    // tinyproxy takes no port 0: a free one, chosen just before it starts.
    let port = free_port();
    let conf = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nLogLevel Connect\nMaxClients 20\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("tinyproxy.log");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proxy = Kill(
        Command::new(tinyproxy)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("err")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tinyproxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let proxy = format!("http://127.0.0.1:{port}");
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/ca.pem");
    let mut b = Bridge::start_with(
        &[&up.url],
        &[
            ("SSL_CERT_FILE", ca),
            ("HTTPS_PROXY", proxy.as_str()),
            ("https_proxy", proxy.as_str()),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    );
    lists_tools(&mut b, "tunnelled");
    let (status, _) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(up.posts().len() >= 3, "{:?}", up.posts().len());
    let target = up
        .url
        .trim_start_matches("https://")
        .trim_end_matches("/mcp");
    let logged = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("err")).unwrap();
    assert!(
        logged.contains(&format!("CONNECT {target} HTTP/1.1")),
        "tinyproxy saw no tunnel to {target}:\n{logged}"
    );
}

#[test]
fn a_proxy_from_the_environment_carries_the_requests() {
    // The proxy is the upstream itself, answering requests in absolute form. The server's own
    // address is a closed port: a request that did not go through the proxy would fail.
    let proxy = Upstream::start(tools_server("proxied"));
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}/mcp");
    let proxy_url = proxy.url.trim_end_matches("/mcp").to_owned();
    let mut b = Bridge::start_with(
        &[&server],
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("http_proxy", proxy_url.as_str()),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    );
    lists_tools(&mut b, "proxied");
    let paths: Vec<String> = proxy.posts().iter().map(|r| r.path.clone()).collect();
    assert!(paths.len() >= 3, "{paths:?}");
    assert!(
        paths.iter().all(|p| *p == server),
        "absolute form: {paths:?}"
    );
    let (status, _) = b.close(Duration::from_secs(2));
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_ends_the_session_and_exits_cleanly() {
    let up = Upstream::start(|r| match (r.method.as_str(), method_of(&r.body).as_str()) {
        ("POST", "initialize") => result_reply(r, r#"{"protocolVersion":"2025-11-25"}"#)
            .with_header("mcp-session-id", "s-t"),
        // A standalone stream that never ends, as real servers keep it.
        ("GET", _) => Reply::Sse {
            headers: Vec::new(),
            chunks: vec![(Duration::ZERO, b": open\n\n".to_vec())],
            hold: true,
        },
        ("DELETE", _) => Reply::status(405),
        _ => Reply::status(202),
    });
    let mut b = Bridge::start(&[&up.url]);
    b.initialize();
    // Let the GET stream open.
    std::thread::sleep(Duration::from_millis(200));
    let pid = b.child.id().to_string();
    let started = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (status, _) = b.wait(Duration::from_secs(3));
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let last = up.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.header("mcp-session-id")),
        ("DELETE", Some("s-t"))
    );
}

#[test]
fn a_lost_session_is_reinitialized_transparently() {
    let Some(node) = peers_available() else {
        return;
    };
    let server = Peer::start(&node, "mcp-server.mjs", &["--header-key", "X-Api-Key=k3y"]);
    let stats = server.get("stats");
    let mut b = Bridge::start_with(
        &[
            &server.get("mcp"),
            "--header",
            "X-Api-Key: ${BRIDGE_TEST_KEY}",
        ],
        &[("BRIDGE_TEST_KEY", "k3y")],
    );
    let init = b.initialize();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let echo = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"call {id}"}}}}}}"#
        )
    };
    b.send(&echo(1));
    let (r, _) = b.until("1");
    assert_eq!(r["result"]["content"][0]["text"], "call 1", "{r}");

    // The server forgets every session: the next POST gets 404.
    post(&server.get("drop_sessions"));
    b.send(&echo(2));
    let (r, before) = b.until("2");
    assert_eq!(r["result"]["content"][0]["text"], "call 2", "{r}");
    assert!(
        before.iter().all(|m| m.get("id") != Some(&json!(0))),
        "the replayed initialize's response must not reach the client: {before:?}"
    );
    // And concurrent requests after another loss re-initialize once.
    post(&server.get("drop_sessions"));
    for id in 3..=8 {
        b.send(&echo(id));
    }
    // The responses come in any order.
    let mut answered = std::collections::BTreeMap::new();
    while answered.len() < 6 {
        let r = b.recv();
        if let Some(id) = r["id"].as_u64() {
            answered.insert(id, r);
        }
    }
    for (id, r) in answered {
        assert_eq!(
            r["result"]["content"][0]["text"],
            format!("call {id}"),
            "{r}"
        );
    }
    assert!(b.close(Duration::from_secs(2)).0.success());
    let s = get_json(&stats);
    assert_eq!(s["sessions_created"], 3, "{s:#}");
    assert!(s["unknown_session"].as_u64().unwrap() >= 2, "{s:#}");
    assert_eq!(s["by_rpc_method"]["initialize"], 3, "{s:#}");
}

#[test]
fn an_unknown_server_is_a_usage_error_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "version = 1\n\n[servers.linear]\nurl = \"https://mcp.linear.app/mcp\"\n",
    )
    .unwrap();
    let out = Command::new(binary("mcp-companion"))
        .arg("--config")
        .arg(&config)
        .args(["connect", "linaer"])
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did you mean \"linear\"?"), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout belongs to JSON-RPC");

    let out = Command::new(binary("mcp-companion"))
        .args([
            "connect",
            "https://x.example/mcp",
            "--header",
            "X-A: ${NOT_SET_ANYWHERE}",
        ])
        .env_remove("NOT_SET_ANYWHERE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("NOT_SET_ANYWHERE is not set"), "{stderr}");
}

/// A daemon broker in a private home and keychain namespace, stopped when dropped.
struct Broker {
    home: tempfile::TempDir,
    namespace: String,
    daemon: Child,
}

impl Broker {
    fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let run = home.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let namespace = format!(
            "bridge-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let log = std::fs::File::create(home.path().join("daemon.log")).unwrap();
        let mut cmd = Command::new(binary("mcp-companion"));
        private_env(&mut cmd, home.path());
        let daemon = cmd
            .args(["daemon", "--tick", "3600"])
            .env("MCP_COMPANION_KEYCHAIN_NAMESPACE", &namespace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let sock = run.join("mcp-companion/broker.sock");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            home,
            namespace,
            daemon,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary("mcp-companion"));
        private_env(&mut cmd, self.home.path());
        cmd.args(args)
            .env("MCP_COMPANION_KEYCHAIN_NAMESPACE", &self.namespace);
        cmd
    }

    fn ok(&self, args: &[&str]) {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "mcp-companion {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn bridge(&self, server: &str) -> Bridge {
        Bridge::start_in(
            self.home.path(),
            &[server, "--step-up-timeout", "30"],
            &[("MCP_COMPANION_KEYCHAIN_NAMESPACE", &self.namespace)],
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn oauth_through_the_broker_sign_in_needed_then_step_up() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let broker = Broker::start();
    broker.ok(&["add", "pair", &peers.get("mcp"), "--scope", "mcp:read"]);

    // Nobody signed in: every request is answered with the broker's message, nothing hangs.
    let mut b = broker.bridge("pair");
    b.send(INIT);
    let r = b.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(0), json!(-32001)),
        "{r}"
    );
    assert_eq!(
        r["error"]["message"],
        "Sign in to pair from the MCP Companion tray menu, or run `mcp-companion login pair`"
    );
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert_eq!(b.recv()["error"]["code"], -32001);
    assert!(b.close(Duration::from_secs(2)).0.success());

    // Signed in: the token comes from the broker.
    broker.ok(&["login", "pair", "--headless"]);
    let mut b = broker.bridge("pair");
    let init = b.initialize();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#);
    let (r, _) = b.until("2");
    let who: Value =
        serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(who["scope"], "mcp:read", "{who}");

    // A tool that needs more scopes: 403 insufficient_scope. The request is held while a person
    // approves (here: `login` again), then retried with the new token.
    let started = Instant::now();
    b.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"admin-only","arguments":{}}}"#);
    std::thread::sleep(Duration::from_millis(1500));
    broker.ok(&["login", "pair", "--headless"]);
    let (r, _) = b.until("3");
    assert_eq!(r["result"]["content"][0]["text"], "admin ok", "{r}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(b.close(Duration::from_secs(2)).0.success());
    let s = get_json(peers.ready["stats"]["mcp"].as_str().unwrap());
    assert_eq!(s["forbidden"], 1, "{s:#}");
}

/// The auth server's count of refresh_token grants.
fn refreshes(peers: &Peer) -> u64 {
    get_json(peers.ready["stats"]["auth"].as_str().unwrap())["token_requests"]["by_grant_type"]
        ["refresh_token"]
        .as_u64()
        .unwrap_or(0)
}

/// The `jti` of the token a `whoami` answer names.
fn whoami_jti(r: &Value) -> String {
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a whoami result: {r}"));
    let who: Value = serde_json::from_str(text).unwrap();
    who["jti"].as_str().unwrap().to_owned()
}

#[test]
fn a_rejected_token_is_renewed_through_the_broker_and_the_request_retried_once() {
    if !secret_service_available() {
        return;
    }
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let reject = |which: &str| {
        post(&format!(
            "{}?which={which}",
            peers.ready["control"]["mcp_reject_tokens"]
                .as_str()
                .unwrap()
        ));
    };
    let mcp_stats = peers.ready["stats"]["mcp"].as_str().unwrap().to_owned();
    let broker = Broker::start();
    broker.ok(&["add", "pair", &peers.get("mcp")]);
    broker.ok(&["login", "pair", "--headless"]);
    let mut b = broker.bridge("pair");
    let init = b.initialize();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let whoami = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"whoami","arguments":{{}}}}}}"#
        )
    };
    b.send(&whoami(1));
    let (r, _) = b.until("1");
    let first = whoami_jti(&r);
    let before = refreshes(&peers);

    // The server stops accepting the token (as after a revocation). Three requests at once:
    // each POST may get 401, each reports the generation of the token it used, and the broker
    // refreshes once (a report naming an already replaced generation gets the new token). Had
    // the bridge named the wrong generation, the broker would hand back the rejected token
    // and the retry would fail.
    reject("seen");
    for id in 2..=4 {
        b.send(&whoami(id));
    }
    let mut renewed = std::collections::BTreeSet::new();
    for _ in 2..=4 {
        let r = b.recv();
        assert!(
            r.get("error").is_none(),
            "the client must see a result: {r}"
        );
        renewed.insert(whoami_jti(&r));
    }
    assert_eq!(renewed.len(), 1, "one renewed token for all: {renewed:?}");
    assert!(!renewed.contains(&first), "the retry used a new token");
    assert_eq!(refreshes(&peers), before + 1, "exactly one refresh");
    let s = get_json(&mcp_stats);
    let hooked = s["rejected_by_hook"].as_u64().unwrap();
    assert!((1..=3).contains(&hooked), "{s:#}");

    // The renewed token is refused too: one refresh, one retry, then one clear error.
    reject("all");
    b.send(&whoami(5));
    let (r, before_5) = b.until("5");
    assert!(before_5.is_empty(), "{before_5:?}");
    assert_eq!(r["error"]["code"], -32001, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&peers.get("mcp"))
            && msg.contains("rejected the renewed token too (HTTP 401)"),
        "{msg}"
    );
    assert_eq!(refreshes(&peers), before + 2, "one more refresh, no loop");
    let s = get_json(&mcp_stats);
    assert_eq!(
        s["rejected_by_hook"].as_u64().unwrap(),
        hooked + 2,
        "the request was sent twice: {s:#}"
    );

    // Once the server accepts tokens again the bridge goes on, with the token it holds.
    reject("none");
    b.send(&whoami(6));
    let (r, _) = b.until("6");
    assert!(!whoami_jti(&r).is_empty(), "{r}");
    assert_eq!(refreshes(&peers), before + 2);
    assert!(b.close(Duration::from_secs(2)).0.success());
}

/// The server loses the session and is still restarting when the bridge replays `initialize`:
/// that request fails with a clear error, and the next one re-initializes first instead of
/// going out without a session for ever.
#[test]
fn a_failed_re_initialization_is_tried_again_with_the_next_request() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let inits = Arc::new(AtomicU32::new(0));
    let seen = inits.clone();
    let up = Upstream::start(move |r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        let session = r.header("mcp-session-id").unwrap_or_default().to_owned();
        match method_of(&r.body).as_str() {
            "initialize" => match seen.fetch_add(1, Ordering::SeqCst) {
                // The first replay arrives while the server is still restarting.
                1 => Reply::status(503),
                n => initialize_reply(r, "s", "1").with_header("mcp-session-id", &format!("s-{n}")),
            },
            "notifications/initialized" => Reply::status(202),
            // The first session is lost after one call; later ones work.
            _ if session == "s-0" && id_of(&r.body) != "1" => Reply::status(404),
            _ if session.is_empty() => Reply::status(400),
            _ => result_reply(r, &format!(r#"{{"session":"{session}"}}"#)),
        }
    });
    let mut b = Bridge::start(&[&up.url]);
    let init = b.initialize();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let call = |id: u32| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#);
    b.send(&call(1));
    let (r, _) = b.until("1");
    assert_eq!(r["result"]["session"], "s-0", "{r}");
    // Session lost; the replayed initialize gets 503: this request fails, clearly.
    b.send(&call(2));
    let (r, _) = b.until("2");
    assert!(r["error"]["message"].is_string(), "{r}");
    // The server is back: the next request re-initializes first and goes through.
    b.send(&call(3));
    let (r, _) = b.until("3");
    assert_eq!(r["result"]["session"], "s-2", "{r}");
    assert!(b.close(Duration::from_secs(2)).0.success());
    assert_eq!(
        inits.load(Ordering::SeqCst),
        3,
        "client initialize + 2 replays"
    );
    assert!(
        up.posts()
            .iter()
            .all(|p| p.header("mcp-session-id").is_some() || method_of(&p.body) == "initialize"),
        "no request went out without a session"
    );
}

/// A server whose certificate comes from a company's own CA: trusted once the CA is in the
/// system's trust store (here: `SSL_CERT_FILE`, which rustls-native-certs reads), and refused
/// with advice before.
#[test]
fn https_servers_are_trusted_through_the_systems_certificate_store() {
    let up = Upstream::start_tls(|r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        match method_of(&r.body).as_str() {
            "initialize" => initialize_reply(r, "tls", "1"),
            "tools/call" => result_reply(r, r#"{"content":[]}"#),
            _ => Reply::status(202),
        }
    });
    assert!(up.url.starts_with("https://127.0.0.1:"), "{}", up.url);
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/ca.pem");

    let mut b = Bridge::start_with(&[&up.url], &[("SSL_CERT_FILE", ca)]);
    let init = b.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], "tls", "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#);
    let (r, _) = b.until("7");
    assert!(r["result"].is_object(), "{r}");
    let _ = b.close(Duration::from_secs(2));

    // Without the CA: an error that names the cause and what to do, for every request.
    let mut b = Bridge::start(&[&up.url]);
    b.send(INIT);
    let (r, _) = b.until("0");
    let message = r["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("trust store"), "{message}");
    let _ = b.close(Duration::from_secs(2));
}
