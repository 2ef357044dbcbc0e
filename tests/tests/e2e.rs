//! End-to-end tests: the built programs, run for real, against real peers.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

/// `mcp-companion connect`: the stdio bridge with SDK clients, SDK servers and the conformance suite.
mod bridge;
/// The credential broker: keychain, single-flight refresh, one broker per user, no leaks.
mod broker;
/// The MCP conformance suite's client scenarios, with `mcp-companion probe` as the client.
mod conformance;
/// Sign-in against a real OAuth server (oidc-provider) guarding an official MCP SDK server.
mod oauth_flow;
/// The tray app under Xvfb, its menu read and clicked over D-Bus.
mod tray;
/// The window, driven by WebDriver: the add-server wizard, sign-in and out, deep links.
mod window;
