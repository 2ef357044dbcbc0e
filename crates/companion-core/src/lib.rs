//! The pure heart of MCP Companion.
//!
//! Everything here is a function of its inputs: no file system, no network, no clock, no
//! environment. Callers read files, talk HTTP and pass the current time in; this crate parses,
//! validates and decides. That is what lets every rule be tested with fixtures, and what keeps
//! the bridge binary small.
//!
//! - [`config`]: the user's `config.toml`, from raw text to a validated [`config::Config`], and
//!   format-preserving edits of that text.
//! - [`name`]: server names as MCP clients accept them.
//! - [`oauth`]: the OAuth 2.1 client rules of the MCP authorization spec.
//! - [`server_url`]: MCP server URLs, kept exactly as typed and checked for HTTPS.
//! - [`jsonrpc`]: peeking at JSON-RPC messages without re-serialising them.
//! - [`sse`]: an incremental Server-Sent Events parser.
//! - [`secret`]: a wrapper that keeps secrets out of `Debug` and logs.
//! - [`suggest`]: "did you mean" suggestions.
//! - [`tray`]: the tray menu as data.
#![deny(missing_docs)]

pub mod config;
pub mod deeplink;
pub mod jsonrpc;
pub mod name;
pub mod notify;
pub mod oauth;
pub mod secret;
pub mod server_url;
pub mod sse;
pub mod suggest;
pub mod tray;
