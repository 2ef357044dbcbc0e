//! The MCP clients we know, and where each keeps its servers.
//!
//! | client | file (user) | file (project) | where the servers are |
//! |---|---|---|---|
//! | Claude Desktop | `claude_desktop_config.json` in `~/Library/Application Support/Claude/` (macOS), `%APPDATA%\Claude\` (Windows), `$XDG_CONFIG_HOME/Claude/` (Linux) | — | `mcpServers` |
//! | Cursor | `~/.cursor/mcp.json` | `DIR/.cursor/mcp.json` | `mcpServers` |
//! | VS Code | `Code/User/mcp.json` in the same per-OS directory as Claude Desktop's | `DIR/.vscode/mcp.json` | `servers`, entries with `"type": "stdio"` |
//! | Claude Code | `~/.claude.json` | the same file | `mcpServers`; for a project `projects["/abs/DIR"].mcpServers`; `"type": "stdio"` |
//! | Codex CLI | `~/.codex/config.toml` | — | `[mcp_servers.NAME]` |
//! | Windsurf | `~/.codeium/windsurf/mcp_config.json` | — | `mcpServers` |
//!
//! Locating is pure: the caller passes an [`Environment`] (home, XDG and APPDATA directories,
//! OS), so tests can describe any machine.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::ClientsError;

/// An MCP client whose config file we can edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Client {
    /// Anthropic's Claude Desktop app.
    ClaudeDesktop,
    /// The Cursor editor.
    Cursor,
    /// Visual Studio Code.
    #[serde(rename = "vscode")]
    VsCode,
    /// Anthropic's Claude Code CLI.
    ClaudeCode,
    /// OpenAI's Codex CLI.
    Codex,
    /// The Windsurf editor.
    Windsurf,
}

impl Client {
    /// Every client, in the order `clients` lists them.
    pub const ALL: [Client; 6] = [
        Client::ClaudeDesktop,
        Client::Cursor,
        Client::VsCode,
        Client::ClaudeCode,
        Client::Codex,
        Client::Windsurf,
    ];

    /// The name used on the command line (`claude-desktop`).
    pub fn id(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "claude-desktop",
            Client::Cursor => "cursor",
            Client::VsCode => "vscode",
            Client::ClaudeCode => "claude-code",
            Client::Codex => "codex",
            Client::Windsurf => "windsurf",
        }
    }

    /// The name people know it by (`Claude Desktop`).
    pub fn display_name(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "Claude Desktop",
            Client::Cursor => "Cursor",
            Client::VsCode => "VS Code",
            Client::ClaudeCode => "Claude Code",
            Client::Codex => "Codex CLI",
            Client::Windsurf => "Windsurf",
        }
    }

    /// The client called `id` on the command line.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Whether the client reads a per-project file (`--project DIR`).
    pub fn has_project_scope(self) -> bool {
        matches!(self, Client::Cursor | Client::VsCode | Client::ClaudeCode)
    }
}

/// Which of a client's files: the user-wide one or a project's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The user-wide file.
    User,
    /// A project directory (absolute; the caller canonicalises it).
    Project(PathBuf),
}

/// An operating system, for its directory conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Linux and other XDG systems.
    Linux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
}

impl Os {
    /// The OS this binary was built for.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// The directories client files live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Which conventions apply.
    pub os: Os,
    /// The home directory (`$HOME`, `%USERPROFILE%`).
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` when set to an absolute path (Linux).
    pub xdg_config_home: Option<PathBuf>,
    /// `%APPDATA%` (Windows).
    pub appdata: Option<PathBuf>,
}

impl Environment {
    /// Linux conventions under `home`, with no XDG override: what tests usually want.
    pub fn linux(home: impl Into<PathBuf>) -> Self {
        Self {
            os: Os::Linux,
            home: home.into(),
            xdg_config_home: None,
            appdata: None,
        }
    }

    /// The per-user application settings directory: `~/Library/Application Support`,
    /// `%APPDATA%`, or `$XDG_CONFIG_HOME` (default `~/.config`).
    fn app_config_dir(&self) -> PathBuf {
        match self.os {
            Os::MacOs => self.home.join("Library").join("Application Support"),
            Os::Windows => self
                .appdata
                .clone()
                .unwrap_or_else(|| self.home.join("AppData").join("Roaming")),
            Os::Linux => self
                .xdg_config_home
                .clone()
                .unwrap_or_else(|| self.home.join(".config")),
        }
    }
}

/// The syntax of a client's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON; comments and trailing commas are kept if present (VS Code writes JSONC).
    Json,
    /// TOML (Codex).
    Toml,
}

/// One place to install into: a file and the key path of its servers object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Which client reads it.
    pub client: Client,
    /// User-wide or a project.
    pub scope: Scope,
    /// The file.
    pub path: PathBuf,
    /// Its syntax.
    pub format: Format,
    /// The keys from the top of the file to the object (table) of servers.
    pub key_path: Vec<String>,
    /// A `"type"` the client wants in each entry (`stdio`), if any.
    pub entry_type: Option<&'static str>,
}

impl Target {
    /// The key path, dotted, for messages.
    pub fn key_path_display(&self) -> String {
        self.key_path.join(".")
    }
}

/// Where `client` keeps its servers for `scope` on the machine `env` describes.
pub fn locate(client: Client, scope: &Scope, env: &Environment) -> Result<Target, ClientsError> {
    if matches!(scope, Scope::Project(_)) && !client.has_project_scope() {
        return Err(ClientsError::NoProjectScope {
            client: client.display_name(),
        });
    }
    let home = &env.home;
    let project = match scope {
        Scope::Project(dir) => Some(dir.as_path()),
        Scope::User => None,
    };
    let mcp_servers = || vec!["mcpServers".to_owned()];
    let (path, format, key_path, entry_type) = match client {
        Client::ClaudeDesktop => (
            env.app_config_dir()
                .join("Claude")
                .join("claude_desktop_config.json"),
            Format::Json,
            mcp_servers(),
            None,
        ),
        Client::Cursor => (
            project.unwrap_or(home).join(".cursor").join("mcp.json"),
            Format::Json,
            mcp_servers(),
            None,
        ),
        Client::VsCode => (
            match project {
                Some(dir) => dir.join(".vscode").join("mcp.json"),
                None => env
                    .app_config_dir()
                    .join("Code")
                    .join("User")
                    .join("mcp.json"),
            },
            Format::Json,
            vec!["servers".to_owned()],
            Some("stdio"),
        ),
        Client::ClaudeCode => (
            home.join(".claude.json"),
            Format::Json,
            match project {
                Some(dir) => vec![
                    "projects".to_owned(),
                    path_key(dir),
                    "mcpServers".to_owned(),
                ],
                None => mcp_servers(),
            },
            Some("stdio"),
        ),
        Client::Codex => (
            home.join(".codex").join("config.toml"),
            Format::Toml,
            vec!["mcp_servers".to_owned()],
            None,
        ),
        Client::Windsurf => (
            home.join(".codeium")
                .join("windsurf")
                .join("mcp_config.json"),
            Format::Json,
            mcp_servers(),
            None,
        ),
    };
    Ok(Target {
        client,
        scope: scope.clone(),
        path,
        format,
        key_path,
        entry_type,
    })
}

/// Claude Code keys projects by their absolute path as a string.
fn path_key(dir: &Path) -> String {
    dir.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for c in Client::ALL {
            assert_eq!(Client::from_id(c.id()), Some(c));
        }
        assert_eq!(Client::from_id("emacs"), None);
    }

    #[test]
    fn files_per_os() {
        let linux = Environment {
            xdg_config_home: Some("/x".into()),
            ..Environment::linux("/h")
        };
        let mac = Environment {
            os: Os::MacOs,
            ..Environment::linux("/h")
        };
        let win = Environment {
            os: Os::Windows,
            appdata: Some("/h/AppData/Roaming".into()),
            ..Environment::linux("/h")
        };
        let path = |c, e: &Environment| locate(c, &Scope::User, e).unwrap().path;
        assert_eq!(
            path(Client::ClaudeDesktop, &linux),
            Path::new("/x/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            path(Client::ClaudeDesktop, &Environment::linux("/h")),
            Path::new("/h/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            path(Client::ClaudeDesktop, &mac),
            Path::new("/h/Library/Application Support/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            path(Client::ClaudeDesktop, &win),
            Path::new("/h/AppData/Roaming/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            path(Client::VsCode, &linux),
            Path::new("/x/Code/User/mcp.json")
        );
        assert_eq!(
            path(Client::VsCode, &mac),
            Path::new("/h/Library/Application Support/Code/User/mcp.json")
        );
        assert_eq!(path(Client::Cursor, &mac), Path::new("/h/.cursor/mcp.json"));
        assert_eq!(path(Client::ClaudeCode, &win), Path::new("/h/.claude.json"));
        assert_eq!(
            path(Client::Codex, &linux),
            Path::new("/h/.codex/config.toml")
        );
        assert_eq!(
            path(Client::Windsurf, &linux),
            Path::new("/h/.codeium/windsurf/mcp_config.json")
        );
    }

    #[test]
    fn project_files() {
        let env = Environment::linux("/h");
        let p = Scope::Project("/work/app".into());
        let t = locate(Client::Cursor, &p, &env).unwrap();
        assert_eq!(t.path, Path::new("/work/app/.cursor/mcp.json"));
        let t = locate(Client::VsCode, &p, &env).unwrap();
        assert_eq!(t.path, Path::new("/work/app/.vscode/mcp.json"));
        assert_eq!(t.key_path, ["servers"]);
        let t = locate(Client::ClaudeCode, &p, &env).unwrap();
        assert_eq!(t.path, Path::new("/h/.claude.json"));
        assert_eq!(t.key_path, ["projects", "/work/app", "mcpServers"]);
        let e = locate(Client::Codex, &p, &env).unwrap_err();
        assert!(
            e.to_string().contains("Codex CLI has no project-level"),
            "{e}"
        );
    }
}
