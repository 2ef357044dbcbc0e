//! Non-secret state: what discovery learned, registrations, last status.
//!
//! Kept apart from `config.toml` because the program writes it all the time while the config is
//! the user's. JSON, versioned; entries this build does not understand are carried over
//! untouched so that an older build never destroys a newer one's state.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::config_file::StoreError;

/// The state file version this build writes.
pub const STATE_VERSION: u32 = 1;

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// Per server, by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerState>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            servers: BTreeMap::new(),
        }
    }
}

/// What is remembered about one server. Never a secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// Everything else, kept as read.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The state file on disk.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    /// The state file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state. A missing file is empty state; an unreadable one is an error (it is
    /// never silently replaced).
    pub fn load(&self) -> Result<State, StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Io {
            action: "read",
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }

    /// Writes the state atomically.
    pub fn save(&self, state: &State) -> Result<(), StoreError> {
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Io {
            action: "write",
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes).map_err(|source| StoreError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }

    /// Forgets a server (after it is removed from the config).
    pub fn forget(&self, name: &str) -> Result<(), StoreError> {
        let mut state = self.load()?;
        if state.servers.remove(name).is_some() {
            self.save(&state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_fields() {
        let d = tempfile::tempdir().unwrap();
        let store = StateStore::at(d.path().join("state.json"));
        assert_eq!(store.load().unwrap(), State::default());
        fs::write(
            store.path(),
            r#"{"version":1,"servers":{"a":{"issuer":"https://as","future":{"x":1}}}}"#,
        )
        .unwrap();
        let s = store.load().unwrap();
        store.save(&s).unwrap();
        let again = store.load().unwrap();
        assert_eq!(again.servers["a"].fields["future"]["x"], 1);
        store.forget("a").unwrap();
        assert!(store.load().unwrap().servers.is_empty());
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_reset() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        fs::write(&p, "{not json").unwrap();
        assert!(StateStore::at(&p).load().is_err());
        assert_eq!(fs::read_to_string(&p).unwrap(), "{not json");
    }
}
