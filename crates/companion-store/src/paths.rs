//! Platform directories.
//!
//! | | Linux | macOS | Windows |
//! |---|---|---|---|
//! | config | `$XDG_CONFIG_HOME/mcp-companion` | `~/Library/Application Support/dev.mcp-companion.mcp-companion` | `%APPDATA%\mcp-companion\mcp-companion\config` |
//! | data | `$XDG_DATA_HOME/mcp-companion` | same as config | `%APPDATA%\mcp-companion\mcp-companion\data` |

use std::path::{Path, PathBuf};

/// The directories and files MCP Companion uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    config_dir: PathBuf,
    data_dir: PathBuf,
}

/// No home directory could be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find your home directory to keep the configuration in; set HOME (or, on Linux, \
     XDG_CONFIG_HOME and XDG_DATA_HOME)"
)]
pub struct NoHome;

impl Paths {
    /// The platform's directories for the current user.
    pub fn for_user() -> Result<Self, NoHome> {
        let dirs = directories::ProjectDirs::from("dev", "mcp-companion", "mcp-companion")
            .ok_or(NoHome)?;
        Ok(Self {
            config_dir: dirs.config_dir().to_owned(),
            data_dir: dirs.data_dir().to_owned(),
        })
    }

    /// Explicit directories (tests, portable installs).
    pub fn at(config_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            config_dir: config_dir.into(),
            data_dir: data_dir.into(),
        }
    }

    /// The config directory.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The user's config file.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The administrator's managed configuration (read-only): `MCP_COMPANION_MANAGED_CONFIG`
    /// if set, else `/etc/mcp-companion/managed.toml` on Linux,
    /// `/Library/Application Support/MCP Companion/managed.toml` on macOS,
    /// `%ProgramData%\MCP Companion\managed.toml` on Windows.
    pub fn managed_config_file(&self) -> PathBuf {
        if let Some(p) = std::env::var_os("MCP_COMPANION_MANAGED_CONFIG") {
            return PathBuf::from(p);
        }
        if cfg!(target_os = "macos") {
            PathBuf::from("/Library/Application Support/MCP Companion/managed.toml")
        } else if cfg!(windows) {
            let base = std::env::var_os("ProgramData")
                .map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from);
            base.join("MCP Companion").join("managed.toml")
        } else {
            PathBuf::from("/etc/mcp-companion/managed.toml")
        }
    }

    /// The non-secret state file.
    pub fn state_file(&self) -> PathBuf {
        self.data_dir.join("state.json")
    }

    /// The directory for log files.
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}
