//! MCP over HTTP, on raw JSON.
//!
//! - [`transport`]: the Streamable HTTP client transport (MCP 2025-11-25), byte-transparent.
//! - [`probe`]: a complete MCP client run that records a timeline (`mcp-companion probe`).
//! - [`bridge`]: the stdio ↔ HTTP relay behind `mcp-companion connect`.
#![deny(missing_docs)]

pub mod bridge;
pub mod probe;
pub mod transport;
