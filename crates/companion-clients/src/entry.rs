//! Server entries: the one we write, and how we recognise ours among the user's.
//!
//! An entry is ours when its command's file name is `mcp-companion` (`.exe` on Windows) and its
//! first argument is `connect`. The directory does not matter, so an entry that points at an
//! old or deleted binary is still recognised, reported as drifted and repaired.

use serde::Serialize;

/// The file name of the binary our entries run (without `.exe`).
pub const BINARY_NAME: &str = "mcp-companion";

/// The bridge subcommand our entries run.
pub const CONNECT: &str = "connect";

/// A server entry as found in a client's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The key the client knows the server by.
    pub key: String,
    /// `command`, when it is a string.
    pub command: Option<String>,
    /// `args`, the string elements only.
    pub args: Vec<String>,
}

impl RawEntry {
    /// Whether MCP Companion wrote this entry.
    pub fn is_ours(&self) -> bool {
        self.command.as_deref().is_some_and(is_our_command)
            && self.args.first().map(String::as_str) == Some(CONNECT)
    }

    /// The MCP Companion server it connects to: `connect`'s argument, else the key.
    pub fn server(&self) -> &str {
        self.args.get(1).map_or(self.key.as_str(), String::as_str)
    }
}

/// Whether `command` runs an `mcp-companion` binary, wherever it is.
pub fn is_our_command(command: &str) -> bool {
    // Either separator: a file may have been written on another OS or by hand.
    let file = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let stem = file
        .strip_suffix(".exe")
        .or_else(|| file.strip_suffix(".EXE"))
        .unwrap_or(file);
    stem == BINARY_NAME
}

/// Why one of our entries no longer runs the current binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drift {
    /// The command's file does not exist any more.
    Missing,
    /// The command is another `mcp-companion` than the one running (an old install).
    Elsewhere,
}

impl Drift {
    /// How `command` drifted from `current`, or `None` when it is current.
    pub fn of(command: &str, current: &str, exists: &dyn Fn(&str) -> bool) -> Option<Self> {
        if command == current {
            None
        } else if exists(command) {
            Some(Drift::Elsewhere)
        } else {
            Some(Drift::Missing)
        }
    }
}

/// One of our entries in a client's file, and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// The key the client knows it by.
    pub key: String,
    /// The MCP Companion server it connects to.
    pub server: String,
    /// The binary it runs.
    pub command: String,
    /// Set when the command is not the running binary.
    pub drift: Option<Drift>,
    /// The server is no longer in MCP Companion's config.
    pub orphaned: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(command: &str, args: &[&str]) -> RawEntry {
        RawEntry {
            key: "k".to_owned(),
            command: Some(command.to_owned()),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn recognises_ours_wherever_the_binary_is() {
        assert!(raw("/usr/local/bin/mcp-companion", &["connect", "x"]).is_ours());
        assert!(raw("/gone/old/mcp-companion", &["connect", "x"]).is_ours());
        assert!(raw(
            r"C:\Program Files\MCP Companion\mcp-companion.exe",
            &["connect", "x"]
        )
        .is_ours());
        assert!(!raw("npx", &["-y", "mcp-remote"]).is_ours());
        assert!(!raw("/usr/bin/mcp-companion", &["probe", "x"]).is_ours());
        assert!(!raw("/usr/bin/mcp-companion-app", &["connect", "x"]).is_ours());
        assert_eq!(raw("/b/mcp-companion", &["connect", "lin"]).server(), "lin");
        assert_eq!(raw("/b/mcp-companion", &["connect"]).server(), "k");
    }

    #[test]
    fn drift() {
        let exists = |p: &str| p == "/old/mcp-companion";
        assert_eq!(
            Drift::of("/new/mcp-companion", "/new/mcp-companion", &exists),
            None
        );
        assert_eq!(
            Drift::of("/old/mcp-companion", "/new/mcp-companion", &exists),
            Some(Drift::Elsewhere)
        );
        assert_eq!(
            Drift::of("/gone/mcp-companion", "/new/mcp-companion", &exists),
            Some(Drift::Missing)
        );
    }
}
