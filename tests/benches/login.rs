//! Login on loopback, user interaction excluded: time and HTTP round trips, against the real
//! oidc-provider and MCP SDK peers (tests/peers). Target: at most 100 ms and 5 round trips once
//! the client registration is cached.
//!
//!     cargo bench -p companion-tests --bench login        (needs scripts/test's Node peers)
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use companion_auth::{AuthSettings, AuthorizeMode, Authorizer, Http, Timeline};
use companion_core::oauth::challenge;
use companion_tests::{node, Peer};

const RUNS: usize = 30;

fn main() {
    let Some(node) = node() else {
        println!(
            "login bench: set MCP_COMPANION_NODE (scripts/test installs Node 22 and the peers)"
        );
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mcp = peers.get("mcp");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let settings = |url: &str| {
            let mut s = AuthSettings::new(url);
            s.mode = AuthorizeMode::Headless;
            s
        };
        // The 401 that starts every login.
        let unauthorized = || async {
            let r = client
                .post(&mcp)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            let values: Vec<String> = r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            challenge::bearer(&refs)
        };

        // Cold: discovery + dynamic registration.
        let tl = Timeline::new();
        let mut cold = Authorizer::new(settings(&mcp), Http::new(tl.clone()).unwrap());
        let started = Instant::now();
        let ch = unauthorized().await;
        cold.on_challenge(401, ch, None).await.unwrap();
        let (cold_ms, cold_trips) = measure(&tl, started);
        let reg = cold.registration().unwrap().clone();

        let mut times = Vec::new();
        let mut trips = Vec::new();
        for _ in 0..RUNS {
            let tl = Timeline::new();
            let mut a = Authorizer::new(settings(&mcp), Http::new(tl.clone()).unwrap()).with_registration(reg.clone());
            let started = Instant::now();
            let ch = unauthorized().await;
            a.on_challenge(401, ch, None).await.unwrap();
            let (ms, n) = measure(&tl, started);
            times.push(ms);
            trips.push(n + 1); // + the 401
        }
        times.sort_by(f64::total_cmp);
        let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!("login bench (loopback, oidc-provider 9.13.3, user interaction excluded)");
        println!("  cold (discovery + dynamic registration): {cold_ms:.1} ms, {} round trips", cold_trips + 1);
        println!("  registration cached, {RUNS} runs: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; round trips {}", p(0.5), p(0.9), p(1.0), trips[0]);
        println!("  target: <= 100 ms and <= 5 round trips -> {}", if p(0.5) <= 100.0 && trips[0] <= 5 { "met" } else { "NOT met" });
    });
}

/// Elapsed milliseconds without the browser's part (the authorization server's redirects,
/// which a person drives), and the number of requests outside it.
fn measure(tl: &Timeline, started: Instant) -> (f64, usize) {
    let total = started.elapsed().as_secs_f64() * 1000.0;
    let events = tl.events();
    let browser: u64 = events
        .iter()
        .filter(|e| e.step == "authorize (headless)")
        .filter_map(|e| e.took_ms)
        .sum();
    let trips = events
        .iter()
        .filter(|e| e.method.is_some() && e.step != "authorize (headless)")
        .count();
    (total - browser as f64, trips)
}
