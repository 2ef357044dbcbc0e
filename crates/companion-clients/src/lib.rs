//! Install, repair and remove MCP Companion in MCP clients' config files, losing nothing.
//!
//! Each entry we write runs `<absolute path of mcp-companion> connect NAME`. The data flow:
//!
//! 1. [`client::locate`] maps a client and a scope (user or project) to a [`client::Target`]:
//!    a file, its format, and the key path of its servers object. Pure: the home and XDG
//!    directories come in as a [`client::Environment`].
//! 2. [`plan::install`], [`plan::uninstall`] and [`plan::inspect`] turn the file's text into
//!    the new text plus a per-server [`plan::Outcome`]. Pure text-to-text functions, so every
//!    rule is tested on fixtures. JSON and JSONC are edited by splicing byte ranges (see the
//!    `jsonc` module for the exact layout rules); TOML with `toml_edit`. Everything outside
//!    the lines we add or remove keeps its bytes: comments, order, indentation, CRLF.
//! 3. [`file::update`] is the I/O: read, compute, back up once, re-read to catch another
//!    writer, and replace atomically keeping the file's permissions.
//! 4. [`diff::unified`] shows a change without making it.
//!
//! What this crate deliberately does not do: decide which servers exist (the caller passes
//! MCP Companion's configured names), print anything, or restart clients.
//!
//! Round trips: installing then uninstalling gives back the original bytes, and installing
//! twice changes nothing the second time. A key we had to create (`mcpServers`, a Claude Code
//! project) is removed again when uninstall leaves it empty, recognised by its absence from
//! our backup of the original file. A file that did not exist before install has no backup, so
//! uninstall leaves it in place with an empty servers object.
#![deny(missing_docs)]

pub mod client;
pub mod diff;
pub mod entry;
mod error;
pub mod file;
mod jsonc;
pub mod plan;
mod toml_file;

pub use client::{locate, Client, Environment, Format, Os, Scope, Target};
pub use entry::{Drift, Installed};
pub use error::ClientsError;
pub use plan::{Action, Inspection, InstallRequest, Outcome, Plan, Selection};
