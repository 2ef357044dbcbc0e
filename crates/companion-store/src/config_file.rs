//! Reading and changing the user's `config.toml`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use companion_core::config::edit::{self, EditError};
use companion_core::config::{managed, Config, ConfigError, ServerConfig};
use companion_core::name::ServerName;

use crate::atomic::write_atomic;
use crate::paths::Paths;

/// How many times an edit is retried when another writer changed the file under it.
const EDIT_ATTEMPTS: usize = 3;

/// Why the configuration could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("read", "write").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not a valid config. It was not changed.
    #[error("{0}")]
    Config(ConfigError),
    /// The requested change does not apply.
    #[error("{0}")]
    Edit(EditError),
    /// The organization's managed configuration does not allow this.
    #[error("{0}")]
    Managed(String),
    /// Another program kept changing the file while we tried to.
    #[error(
        "{} kept changing while we tried to update it (another program is writing it); \
         nothing was written, try again",
        path.display()
    )]
    Contended {
        /// The file.
        path: PathBuf,
    },
}

impl StoreError {
    /// Whether the user's config file is at fault (exit code 2 territory).
    pub fn is_config_error(&self) -> bool {
        matches!(self, Self::Config(_) | Self::Edit(EditError::Invalid(_)))
    }

    /// Whether the request conflicts with the managed configuration (exit code 2 too).
    pub fn is_managed_refusal(&self) -> bool {
        matches!(self, Self::Managed(_))
    }
}

/// A config file as read.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// The text it came from (empty when there is no file yet).
    pub text: String,
    /// Where it came from.
    pub path: PathBuf,
    /// The managed file, when one was merged in.
    pub managed_path: Option<PathBuf>,
    /// User servers set aside by the managed configuration, in words.
    pub warnings: Vec<String>,
}

/// The user's config file.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
    managed: Option<PathBuf>,
}

impl ConfigStore {
    /// The config file under `paths`, with the organization's managed file merged in.
    pub fn new(paths: &Paths) -> Self {
        Self {
            path: paths.config_file(),
            managed: Some(paths.managed_config_file()),
        }
    }

    /// A config file at an explicit path, with no managed configuration.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            managed: None,
        }
    }

    /// Merges the managed configuration at `path` (if the file exists) into every load.
    pub fn with_managed(mut self, path: Option<PathBuf>) -> Self {
        self.managed = path;
        self
    }

    /// The managed file, if it exists.
    fn managed(&self) -> Result<Option<(PathBuf, managed::Managed)>, StoreError> {
        let Some(path) = &self.managed else {
            return Ok(None);
        };
        match fs::read_to_string(path) {
            Ok(text) => managed::parse(&path.display().to_string(), &text)
                .map(|m| Some((path.clone(), m)))
                .map_err(StoreError::Config),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path: path.clone(),
                source,
            }),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and validates the file (and the managed file). A missing file is an empty
    /// configuration.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let text = self.read_text()?;
        let config =
            Config::parse(&self.path.display().to_string(), &text).map_err(StoreError::Config)?;
        match self.managed()? {
            None => Ok(Loaded {
                config,
                text,
                path: self.path.clone(),
                managed_path: None,
                warnings: Vec::new(),
            }),
            Some((mpath, m)) => {
                let (config, warnings) = managed::merge(config, &m);
                Ok(Loaded {
                    config,
                    text,
                    path: self.path.clone(),
                    managed_path: Some(mpath),
                    warnings,
                })
            }
        }
    }

    /// Adds a server, keeping everything else in the file as it is.
    pub fn add(&self, server: &ServerConfig) -> Result<Config, StoreError> {
        self.check_add(server)?;
        self.update(|file, text| edit::add_server(file, text, server))
    }

    /// Whether the organization's managed configuration lets the user add `server` (its name
    /// is not a managed one, and the policy allows it), without changing anything: so that a
    /// command can refuse before it asks for secrets.
    pub fn check_add(&self, server: &ServerConfig) -> Result<(), StoreError> {
        if let Some((path, m)) = self.managed()? {
            let refuse =
                |why: String| Err(StoreError::Managed(format!("{why} ({})", path.display())));
            if m.config.get(server.name.as_str()).is_some() {
                return refuse(format!(
                    "{} is managed by your organization; pick another name",
                    server.name
                ));
            }
            if !m.policy.allow_user_servers {
                return refuse("your organization allows only the servers it manages".to_owned());
            }
            if !m.policy.allows(server.url.as_str()) {
                return refuse(format!(
                    "your organization's policy does not allow {}; allowed: {}",
                    server.url,
                    m.policy.allowed_server_urls.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Removes a server, keeping everything else in the file as it is.
    pub fn remove(&self, name: &ServerName) -> Result<Config, StoreError> {
        if let Some((path, m)) = self.managed()? {
            if m.config.get(name.as_str()).is_some() {
                return Err(StoreError::Managed(format!("{name} is managed by your organization; ask your administrator to remove it ({})", path.display())));
            }
        }
        self.update(|file, text| edit::remove_server(file, text, name))
    }

    /// Replaces server `old` with `server` (which may have a new name) in one atomic edit, so
    /// a failed validation leaves the old entry in place.
    pub fn replace(&self, old: &ServerName, server: &ServerConfig) -> Result<Config, StoreError> {
        if let Some((path, m)) = self.managed()? {
            if m.config.get(old.as_str()).is_some() {
                return Err(StoreError::Managed(format!(
                    "{old} is managed by your organization; it cannot be edited here ({})",
                    path.display()
                )));
            }
        }
        // The new entry must pass what a new server would.
        self.check_add(server)?;
        self.update(|file, text| {
            let without = edit::remove_server(file, text, old)?;
            edit::add_server(file, &without, server)
        })
    }

    /// Applies `change` to the file's text and writes the result atomically.
    ///
    /// Optimistic concurrency: just before replacing the file, it is read again; if another
    /// writer changed it in the meantime, the change is recomputed from the new text (at most
    /// [`EDIT_ATTEMPTS`] times) so their edit is not lost.
    pub fn update(
        &self,
        change: impl Fn(&str, &str) -> Result<String, EditError>,
    ) -> Result<Config, StoreError> {
        let file = self.path.display().to_string();
        for _ in 0..EDIT_ATTEMPTS {
            let before = self.read_text()?;
            let after = change(&file, &before).map_err(|e| match e {
                EditError::Invalid(c) => StoreError::Config(c),
                other => StoreError::Edit(other),
            })?;
            if self.read_text()? != before {
                continue;
            }
            write_atomic(&self.path, after.as_bytes()).map_err(|source| StoreError::Io {
                action: "write",
                path: self.path.clone(),
                source,
            })?;
            return Config::parse(&file, &after).map_err(StoreError::Config);
        }
        Err(StoreError::Contended {
            path: self.path.clone(),
        })
    }

    fn read_text(&self) -> Result<String, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| StoreError::Io {
                action: "read",
                path: self.path.clone(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the file is not UTF-8 text (byte {})",
                        e.utf8_error().valid_up_to()
                    ),
                ),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path: self.path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_core::server_url::ServerUrl;

    fn server(name: &str) -> ServerConfig {
        ServerConfig::new(
            ServerName::parse(name).unwrap(),
            ServerUrl::parse(&format!("https://{name}.example.com/mcp")).unwrap(),
        )
    }

    #[test]
    fn add_load_remove() {
        let d = tempfile::tempdir().unwrap();
        let store = ConfigStore::at(d.path().join("c/config.toml"));
        assert!(store.load().unwrap().config.servers.is_empty());
        store.add(&server("a")).unwrap();
        store.add(&server("b")).unwrap();
        let names: Vec<String> = store
            .load()
            .unwrap()
            .config
            .names()
            .map(str::to_owned)
            .collect();
        assert_eq!(names, ["a", "b"]);
        store.remove(&ServerName::parse("a").unwrap()).unwrap();
        assert_eq!(store.load().unwrap().config.servers.len(), 1);
    }

    #[test]
    fn a_broken_file_is_never_written() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        fs::write(&p, "version = 1\n[servers.a\n").unwrap();
        let store = ConfigStore::at(&p);
        let e = store.add(&server("b")).unwrap_err();
        assert!(e.is_config_error(), "{e}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "version = 1\n[servers.a\n");
    }

    #[test]
    fn a_concurrent_edit_is_not_lost() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        let store = ConfigStore::at(&p);
        store.add(&server("a")).unwrap();
        let other = ConfigStore::at(&p);
        let raced = std::cell::Cell::new(false);
        store
            .update(|file, text| {
                if !raced.replace(true) {
                    // Another writer adds `b` after we read but before we write.
                    other.add(&server("b")).unwrap();
                }
                edit::add_server(file, text, &server("c"))
            })
            .unwrap();
        let names: Vec<String> = store
            .load()
            .unwrap()
            .config
            .names()
            .map(str::to_owned)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn managed_servers_are_merged_locked_and_enforced() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("managed.toml");
        fs::write(&m, "[policy]\nallowed_server_urls = [\"https://*.example.com/*\"]\n[servers.wiki]\nurl = \"https://wiki.example.com/mcp\"\n").unwrap();
        let store = ConfigStore::at(d.path().join("config.toml")).with_managed(Some(m));
        store.add(&server("a")).unwrap();
        let loaded = store.load().unwrap();
        let names: Vec<&str> = loaded.config.names().collect();
        assert_eq!(names, ["wiki", "a"]);
        assert!(loaded.config.is_managed("wiki"));
        let e = store
            .remove(&ServerName::parse("wiki").unwrap())
            .unwrap_err();
        assert!(
            e.is_managed_refusal() && e.to_string().contains("ask your administrator"),
            "{e}"
        );
        let e = store.add(&server("wiki")).unwrap_err();
        assert!(
            e.to_string().contains("managed by your organization"),
            "{e}"
        );
        let mut rogue = server("rogue");
        rogue.url =
            companion_core::server_url::ServerUrl::parse("https://rogue.example.net/mcp").unwrap();
        let e = store.add(&rogue).unwrap_err();
        assert!(e.to_string().contains("policy does not allow"), "{e}");
    }

    #[test]
    fn non_utf8_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        fs::write(&p, b"version = 1\n\xff\xfe").unwrap();
        let e = ConfigStore::at(&p).load().unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
