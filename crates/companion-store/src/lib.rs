//! Where MCP Companion's state lives, and the only code that touches it on disk.
//!
//! - [`paths`]: the platform config and data directories.
//! - [`atomic`]: every write is temp file + fsync + rename, mode 0600, in a 0700 directory.
//! - [`config_file`]: reading the user's `config.toml` and changing it without losing anything.
//! - [`state_file`]: non-secret state (discovered metadata, registrations, status).
//! - [`keychain`]: secrets, in the OS keychain only (split to fit every platform's limits).
//!
//! Secrets are never written by this crate's file code: they belong in the OS keychain.
#![deny(missing_docs)]

pub mod atomic;
pub mod config_file;
pub mod keychain;
pub mod paths;
pub mod state_file;

pub use config_file::{ConfigStore, StoreError};
pub use paths::Paths;
