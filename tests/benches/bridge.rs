//! The bridge's cost over talking HTTP directly: cold start, sequential `tools/call` latency,
//! throughput with 64 requests in flight, a 5 MB result, peak RSS and CPU per call. The
//! upstream is a fast scripted Rust server on loopback (tests/support/upstream.rs), so the
//! figures are the bridge's, not a server's. Prints a table; asserts nothing.
//!
//!     cargo build --release -p companion-cli && cargo bench -p companion-tests --bench bridge
//!
//! Targets (issue 5): cold start <= 10 ms, p50 <= 1.5x direct, 64 in flight >= 0.5x direct
//! throughput, RSS <= 10 MB.
//!
//! For scale it also measures a minimal relay: this bench binary started again as a second
//! process that reads a line, writes it as an HTTP/1.1 POST on one blocking connection and
//! writes the body back, with no JSON, no async runtime and nothing of the protocol. It costs
//! the same process hop and pipe copies as the bridge and nothing else, so the bridge's figures
//! minus the relay's are what the bridge's own work costs.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../support/upstream.rs"]
mod upstream;

use upstream::{result_reply, Reply, Upstream};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const BIG: usize = 5 * 1024 * 1024;
const BIG_RUNS: usize = 20;
const SEQUENTIAL: usize = 2000;
const PARALLEL_TOTAL: usize = 6400;
const IN_FLIGHT: usize = 64;

fn call(id: usize, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"x":1}}}}}}"#
    )
}

fn server() -> Upstream {
    let big = format!(
        r#"{{"content":[{{"type":"text","text":"{}"}}]}}"#,
        "x".repeat(BIG)
    );
    Upstream::start(move |r| {
        if r.method != "POST" {
            return Reply::status(if r.method == "DELETE" { 200 } else { 405 });
        }
        let body = r.body_str();
        if body.contains("\"initialize\"") {
            return result_reply(r, r#"{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"bench","version":"1"}}"#)
            .with_header("mcp-session-id", "bench-session");
        }
        if !body.contains("\"id\"") {
            return Reply::status(202);
        }
        let result = if body.contains("\"big\"") {
            big.as_str()
        } else {
            r#"{"content":[{"type":"text","text":"ok"}]}"#
        };
        result_reply(r, result)
    })
}

/// Set (to the upstream URL) in the environment of the minimal relay's process.
const RELAY_ENV: &str = "MCP_COMPANION_BENCH_RELAY";

/// The minimal relay (see the module docs): stdin lines to POSTs, response bodies to stdout
/// lines. Handles exactly what the bench's upstream sends (Content-Length bodies).
fn relay(url: &str) {
    use std::io::Read;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let sock = std::net::TcpStream::connect(host).unwrap();
    sock.set_nodelay(true).unwrap();
    let mut from_server = BufReader::with_capacity(1 << 20, sock.try_clone().unwrap());
    let mut to_server = sock;
    let mut stdin = BufReader::new(std::io::stdin().lock());
    let mut stdout = std::io::stdout().lock();
    let (mut line, mut head, mut body) = (Vec::new(), String::new(), Vec::new());
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line).unwrap() == 0 {
            return;
        }
        let msg = line.trim_ascii_end();
        let mut req = format!(
            "POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nmcp-session-id: bench-session\r\nmcp-protocol-version: 2025-11-25\r\ncontent-length: {}\r\n\r\n",
            msg.len()
        )
        .into_bytes();
        req.extend_from_slice(msg);
        to_server.write_all(&req).unwrap();
        let mut len = 0;
        loop {
            head.clear();
            from_server.read_line(&mut head).unwrap();
            if head == "\r\n" {
                break;
            }
            if let Some((k, v)) = head.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        if len > 0 {
            body.resize(len, 0);
            from_server.read_exact(&mut body).unwrap();
            body.push(b'\n');
            stdout.write_all(&body).unwrap();
            stdout.flush().unwrap();
        }
    }
}

struct Bridge {
    child: Child,
    stdin: ChildStdin,
    // Read on this thread, like the direct client reads its socket: no extra hop to measure.
    stdout: BufReader<ChildStdout>,
    line: Vec<u8>,
}

impl Bridge {
    fn start(bin: &std::path::Path, url: &str, home: &std::path::Path) -> Self {
        Self::spawn(Command::new(bin).args(["connect", url]), home)
    }

    /// The minimal relay (see the module docs), in place of the bridge.
    fn relay(url: &str, home: &std::path::Path) -> Self {
        let exe = std::env::current_exe().unwrap();
        Self::spawn(Command::new(exe).env(RELAY_ENV, url), home)
    }

    fn spawn(command: &mut Command, home: &std::path::Path) -> Self {
        let mut child = command
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("MCP_COMPANION_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            line: Vec::new(),
        }
    }

    /// One message, written as one line in one system call, as MCP clients do (written in
    /// two, the bridge would wake for a line without its end, a wake-up the client causes).
    fn send(&mut self, line: &str) {
        let mut framed = Vec::with_capacity(line.len() + 1);
        framed.extend_from_slice(line.as_bytes());
        framed.push(b'\n');
        self.stdin.write_all(&framed).unwrap();
    }

    /// The next line, into a buffer kept between calls (as a client keeps its read buffer;
    /// growing a fresh one to 5 MB would cost the bench more copying than the bridge does).
    fn recv(&mut self) -> &[u8] {
        self.line.clear();
        self.stdout.read_until(b'\n', &mut self.line).unwrap();
        assert!(!self.line.is_empty(), "the bridge closed stdout");
        &self.line
    }

    /// `n` calls of `tool`, one at a time, with ids from `first`: each one's time in ms,
    /// sorted. Every answer must be longer than `min_len` bytes.
    fn timed_calls(&mut self, tool: &str, first: usize, n: usize, min_len: usize) -> Vec<f64> {
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            self.send(&call(first + i, tool));
            assert!(self.recv().len() > min_len);
            times.push(ms(t.elapsed()));
        }
        times.sort_by(f64::total_cmp);
        times
    }

    /// utime + stime in clock ticks, and peak RSS in KiB.
    fn usage(&self) -> (u64, u64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        (ticks, hwm)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client for the plain-http upstream, without certificate authorities, as the bridge
/// builds one for an http:// server (so neither side pays for loading the system's CAs).
fn plain_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if let Some(url) = std::env::var_os(RELAY_ENV) {
        relay(&url.to_string_lossy());
        return;
    }
    let bin = companion_tests::bin_dir().join("mcp-companion");
    if !bin.exists() {
        println!(
            "bridge bench: {} is missing; run `cargo build --release -p companion-cli` first",
            bin.display()
        );
        return;
    }
    let up = server();
    let home = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = plain_http_client();
    let url = up.url.clone();
    let post = move |body: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", "bench-session")
                .header("mcp-protocol-version", "2025-11-25")
                .body(body)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };

    // Cold start: spawn -> initialize response on stdout.
    let mut cold = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut b = Bridge::start(&bin, &up.url, home.path());
        b.send(INIT);
        let _ = b.recv();
        cold.push(ms(started.elapsed()));
    }
    cold.sort_by(f64::total_cmp);
    let mut direct_cold = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        rt.block_on(async {
            let c = plain_http_client();
            c.post(&up.url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(INIT)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
        direct_cold.push(ms(started.elapsed()));
    }
    direct_cold.sort_by(f64::total_cmp);

    // Sequential calls.
    let mut b = Bridge::start(&bin, &up.url, home.path());
    b.send(INIT);
    let _ = b.recv();
    b.send(INITIALIZED);
    let (_, rss_idle) = b.usage();
    b.timed_calls("fast", 1, 200, 0);
    let (ticks0, _) = b.usage();
    let seq_started = Instant::now();
    let seq = b.timed_calls("fast", 1000, SEQUENTIAL, 0);
    let seq_elapsed = seq_started.elapsed();
    let (ticks1, rss_seq) = b.usage();
    let cpu_us = (ticks1 - ticks0) as f64 * 10_000.0 / SEQUENTIAL as f64;
    let mut dseq = Vec::with_capacity(SEQUENTIAL);
    rt.block_on(async {
        for i in 0..200 {
            post(call(i + 1, "fast")).await;
        }
        for i in 0..SEQUENTIAL {
            let t = Instant::now();
            post(call(1000 + i, "fast")).await;
            dseq.push(ms(t.elapsed()));
        }
    });
    dseq.sort_by(f64::total_cmp);

    // 64 in flight.
    let started = Instant::now();
    let mut sent = 0;
    let mut got = 0;
    while sent < IN_FLIGHT {
        b.send(&call(100_000 + sent, "fast"));
        sent += 1;
    }
    while got < PARALLEL_TOTAL {
        let _ = b.recv();
        got += 1;
        if sent < PARALLEL_TOTAL {
            b.send(&call(100_000 + sent, "fast"));
            sent += 1;
        }
    }
    let par = PARALLEL_TOTAL as f64 / started.elapsed().as_secs_f64();
    let dpar = rt.block_on(async {
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for w in 0..IN_FLIGHT {
            let post = post.clone();
            workers.spawn(async move {
                for i in 0..PARALLEL_TOTAL / IN_FLIGHT {
                    post(call(200_000 + w * 1000 + i, "fast")).await;
                }
            });
        }
        while workers.join_next().await.is_some() {}
        PARALLEL_TOTAL as f64 / started.elapsed().as_secs_f64()
    });
    let (_, rss_small) = b.usage();

    // A 5 MB result.
    let big = b.timed_calls("big", 900_000, BIG_RUNS, BIG);
    let (_, rss_big) = b.usage();
    let mut dbig = Vec::new();
    rt.block_on(async {
        for i in 0..BIG_RUNS {
            let t = Instant::now();
            let body = post(call(900_000 + i, "big")).await;
            assert!(body.len() > BIG);
            dbig.push(ms(t.elapsed()));
        }
    });
    dbig.sort_by(f64::total_cmp);

    // The minimal relay: sequential calls and the 5 MB result, as above.
    let mut r = Bridge::relay(&up.url, home.path());
    r.timed_calls("fast", 1, 200, 0);
    let rseq = r.timed_calls("fast", 1000, SEQUENTIAL, 0);
    let rbig = r.timed_calls("big", 900_000, BIG_RUNS, BIG);
    drop(r);

    println!("bridge bench (loopback, scripted Rust upstream answering with JSON)");
    println!(
        "  {:<36} {:>12} {:>12} {:>8}",
        "", "bridge", "direct HTTP", "ratio"
    );
    let row = |name: &str, b: f64, d: f64, unit: &str| {
        println!(
            "  {:<36} {:>9.3} {unit:<2} {:>9.3} {unit:<2} {:>7.2}x",
            name,
            b,
            d,
            b / d
        );
    };
    row(
        "cold start -> initialize, p50",
        pct(&cold, 0.5),
        pct(&direct_cold, 0.5),
        "ms",
    );
    row(
        "cold start -> initialize, max",
        pct(&cold, 1.0),
        pct(&direct_cold, 1.0),
        "ms",
    );
    row(
        &format!("tools/call sequential p50 (n={SEQUENTIAL})"),
        pct(&seq, 0.5),
        pct(&dseq, 0.5),
        "ms",
    );
    row(
        "tools/call sequential p99",
        pct(&seq, 0.99),
        pct(&dseq, 0.99),
        "ms",
    );
    println!(
        "  {:<36} {:>9.0} /s {:>9.0} /s {:>7.2}x",
        format!("throughput, {IN_FLIGHT} in flight (n={PARALLEL_TOTAL})"),
        par,
        dpar,
        par / dpar
    );
    row(
        &format!("5 MB result, p50 of {BIG_RUNS}"),
        pct(&big, 0.5),
        pct(&dbig, 0.5),
        "ms",
    );
    println!(
        "  {:<36} {:>9.0} µs   (sequential: {:.0} calls/s)",
        "bridge CPU per call (user+sys)",
        cpu_us,
        SEQUENTIAL as f64 / seq_elapsed.as_secs_f64()
    );
    let mb = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  {:<36} {:>9.1} MB initialized, {:.1} MB sequential calls, {:.1} MB {IN_FLIGHT} in flight, {:.1} MB 5 MB results",
        "bridge peak RSS (VmHWM)",
        mb(rss_idle),
        mb(rss_seq),
        mb(rss_small),
        mb(rss_big)
    );
    println!(
        "  {:<36} {:>9.3} ms sequential p50 ({:.2}x direct), {:.3} ms 5 MB result ({:.2}x direct)",
        "minimal relay, for scale",
        pct(&rseq, 0.5),
        pct(&rseq, 0.5) / pct(&dseq, 0.5),
        pct(&rbig, 0.5),
        pct(&rbig, 0.5) / pct(&dbig, 0.5)
    );
    println!(
        "  targets: cold start <= 10 ms, p50 <= 1.5x direct, 64 in flight >= 0.5x direct, RSS <= 10 MB"
    );
}
