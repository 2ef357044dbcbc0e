//! `@modelcontextprotocol/conformance` 0.1.16, `client --suite all`, with
//! `mcp-companion probe --conformance` as the client under test. Every one of the 26 client
//! scenarios must pass; there is no expected-failures list.

use std::process::Command;

use companion_tests::{binary, desktop_available, node};

const SCENARIOS: usize = 26;

#[test]
fn every_client_scenario_passes() {
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
    let probe = binary("mcp-companion");
    let probe = probe.to_str().unwrap();
    assert!(
        !probe.contains(' '),
        "the runner splits --command on spaces: {probe}"
    );
    let results = tempfile::tempdir().unwrap();
    let out = Command::new(node.unwrap())
        .arg(suite.unwrap())
        .args(["client", "--suite", "all", "--timeout", "30000", "-o"])
        .arg(results.path())
        .arg("--command")
        .arg(format!("{probe} probe --conformance"))
        .current_dir(results.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .split("=== SUITE SUMMARY ===")
        .nth(1)
        .unwrap_or_else(|| {
            panic!(
                "no suite summary:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    println!("{summary}");
    let lines: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with('✓') || l.starts_with('✗'))
        .collect();
    assert_eq!(lines.len(), SCENARIOS, "scenario count:\n{summary}");
    let failed: Vec<&&str> = lines.iter().filter(|l| !l.starts_with('✓')).collect();
    assert!(failed.is_empty(), "failed scenarios:\n{failed:#?}");
    assert!(summary.contains(" 0 failed, 0 warnings"), "{summary}");
    assert!(
        out.status.success(),
        "the runner exited with {}",
        out.status
    );

    // A client that does nothing passes `initialize` with zero checks: require the check.
    let init = std::fs::read_dir(results.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("initialize-"))
        .expect("initialize results");
    let checks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(init.path().join("checks.json")).unwrap()).unwrap();
    let ok = checks
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "mcp-client-initialization" && c["status"] == "SUCCESS");
    assert!(ok, "mcp-client-initialization is not SUCCESS: {checks:#}");
}
