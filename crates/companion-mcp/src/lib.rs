//! MCP over HTTP, on raw JSON.
#![deny(missing_docs)]
