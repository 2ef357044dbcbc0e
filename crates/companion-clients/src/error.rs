//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Why a client's config file could not be read, understood or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientsError {
    /// The file is not valid JSON/JSONC/TOML. It was not changed.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (in characters) of the problem.
        column: usize,
        /// What is wrong, as the parser put it.
        message: String,
    },
    /// A key on the way to the servers (`mcpServers`, `projects`, …) holds something other than
    /// an object or table, so there is nowhere to put an entry. The file was not changed.
    #[error("{}:{line}:{column}: `{key}` should be {expected}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// 1-based line of the value.
        line: usize,
        /// 1-based column of the value.
        column: usize,
        /// The key path, dotted (`projects./home/me/app.mcpServers`).
        key: String,
        /// "an object", "a table".
        expected: &'static str,
    },
    /// `--project` for a client that only has a user-wide file.
    #[error("{client} has no project-level MCP configuration; drop --project")]
    NoProjectScope {
        /// The client's display name.
        client: &'static str,
    },
    /// No home directory to find the clients' files in.
    #[error("cannot find your home directory; set HOME")]
    NoHome,
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("read", "write", "back up").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{} is not UTF-8 text; MCP Companion did not change it", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// Another program kept changing the file while we tried to update it.
    #[error(
        "{} kept changing while we tried to update it (the client or another program is \
         writing it); nothing was written, try again",
        path.display()
    )]
    Contended {
        /// The file.
        path: PathBuf,
    },
}

impl ClientsError {
    /// Whether the user's file (or request) is at fault rather than the system: a malformed
    /// file, a key of the wrong type, `--project` where it does not apply.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            Self::Parse { .. }
                | Self::WrongType { .. }
                | Self::NoProjectScope { .. }
                | Self::NotText { .. }
        )
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
pub(crate) fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before
        .get(line_start..)
        .map_or(1, |l| l.trim_end_matches('\r').chars().count() + 1);
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("abc\ndef", 5), (2, 2));
        assert_eq!(line_column("a\r\nbé\r\nc", 6), (2, 3));
    }
}
