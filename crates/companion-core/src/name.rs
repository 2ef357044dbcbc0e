//! Server names.
//!
//! A name is what the user types (`mcp-companion connect linear`) and what we write into MCP
//! clients' config files as the server key. Claude Code, Codex (a TOML bare key) and Cursor
//! accept ASCII letters, digits, `-` and `_`; we accept exactly that, at most 64 characters,
//! starting with a letter or digit, so a name is valid in every client we install into.

use std::fmt;

use serde::Serialize;

/// Longest accepted server name.
pub const MAX_NAME_LEN: usize = 64;

/// A validated server name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServerName(String);

/// Why a server name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("a server name cannot be empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("server name is {len} characters long; the limit is {MAX_NAME_LEN}")]
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The name has a character clients do not accept.
    #[error(
        "server name {name:?} has {ch:?}; use letters, digits, '-' and '_' only \
         (MCP clients reject other characters)"
    )]
    BadChar {
        /// The offending name.
        name: String,
        /// The first character that is not allowed.
        ch: char,
    },
    /// The name starts with `-` or `_`.
    #[error("server name {0:?} must start with a letter or a digit")]
    BadStart(String),
}

impl ServerName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let len = name.chars().count();
        if len > MAX_NAME_LEN {
            return Err(NameError::TooLong { len });
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadChar {
                name: name.to_owned(),
                ch,
            });
        }
        if name.starts_with(['-', '_']) {
            return Err(NameError::BadStart(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_clients_accept() {
        for ok in ["linear", "my-server_2", "A", "0day", &"x".repeat(64)] {
            assert!(ServerName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_the_rest_with_the_reason() {
        assert_eq!(ServerName::parse(""), Err(NameError::Empty));
        assert_eq!(
            ServerName::parse(&"x".repeat(65)),
            Err(NameError::TooLong { len: 65 })
        );
        assert!(matches!(
            ServerName::parse("my server"),
            Err(NameError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            ServerName::parse("a.b"),
            Err(NameError::BadChar { ch: '.', .. })
        ));
        assert!(matches!(
            ServerName::parse("é"),
            Err(NameError::BadChar { .. })
        ));
        assert_eq!(
            ServerName::parse("-x"),
            Err(NameError::BadStart("-x".into()))
        );
    }
}
