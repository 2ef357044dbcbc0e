//! A full sign-in against software nobody here wrote: oidc-provider (dynamic registration,
//! PKCE, resource indicators with JWT access tokens bound to the MCP URL, rotating refresh
//! tokens) in front of an official MCP SDK server that verifies every JWT. The browser step is
//! completed by following the real redirects (the peer auto-approves the login).

use std::process::Command;

use companion_tests::{binary, get_json, peers_available, Peer};
use serde_json::Value;

fn probe(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(binary("mcp-companion"))
        .arg("probe")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.success(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn steps(report: &Value, step: &str) -> usize {
    report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step"] == step && e["method"].is_string())
        .count()
}

#[test]
fn sign_in_with_dynamic_registration_and_call_every_tool() {
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mcp = peers.get("mcp");
    let (ok, report, stderr) = probe(&[&mcp, "--authorize", "headless", "--call-all-tools"]);
    assert!(ok, "{report:#}\n{stderr}");
    assert_eq!(
        report["tools"],
        serde_json::json!(["echo", "add", "whoami", "admin-only"])
    );
    assert!(
        report["calls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{report:#}"
    );
    let whoami = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tool"] == "whoami")
        .unwrap();
    assert!(
        whoami["summary"].as_str().unwrap().contains("alice"),
        "{whoami}"
    );
    assert_eq!(steps(&report, "registration"), 1);
    assert_eq!(steps(&report, "code exchange"), 1);

    let stats = get_json(peers.ready["stats"]["auth"].as_str().unwrap());
    assert_eq!(
        stats["token_requests"]["by_grant_type"]["authorization_code"], 1,
        "{stats:#}"
    );
}

#[test]
fn step_up_to_a_wider_scope_at_the_real_server() {
    let Some(node) = peers_available() else {
        return;
    };
    let peers = Peer::start(&node, "start-pair.mjs", &["--auto-login", "alice"]);
    let mcp = peers.get("mcp");
    // Ask for read only: `admin-only` then answers 403 insufficient_scope, and the probe signs in
    // again for mcp:read mcp:write with fresh PKCE.
    let (ok, report, stderr) = probe(&[
        &mcp,
        "--authorize",
        "headless",
        "--scope",
        "mcp:read",
        "--call",
        "admin-only",
    ]);
    assert!(ok, "{report:#}\n{stderr}");
    assert_eq!(steps(&report, "code exchange"), 2, "{report:#}");
    let notes: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["note"].as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the server asks for scope mcp:read mcp:write")),
        "{notes:#?}"
    );
}
