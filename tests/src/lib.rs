//! Support for MCP Companion's end-to-end tests: finding the built binaries, private
//! environments, and the switch that makes desktop tests mandatory in CI.
//!
//! Desktop tests (tray over D-Bus, WebDriver) need an X server, a session bus and a keychain.
//! `scripts/test` provides all three and sets `MCP_COMPANION_E2E=1`; with it set, a missing
//! prerequisite is a failure. Without it (a developer's plain `cargo test`), those tests say why
//! they were skipped and pass.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub)]

use std::path::PathBuf;

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
