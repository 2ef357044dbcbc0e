//! `mcp-companion://` links: what the app accepts from a browser or an intranet page.
//!
//! A deep link comes from outside (any web page can point a browser at one), so only the two
//! known paths are accepted and everything in them is validated before the app acts:
//!
//! - `mcp-companion://add?url=<server URL>&name=<name>`: opens the add-server wizard prefilled.
//!   Nothing is added until the person confirms in the wizard. The URL must be https (http only
//!   for a loopback host), with no user name, password or fragment; the name, when present, must
//!   be a valid server name.
//! - `mcp-companion://oauth/callback?code=…&state=…`: the redirect of an authorization server
//!   that only accepts one fixed redirect URI. The query is handed to the sign-in waiting for it;
//!   it is checked there (state, `iss`) like a loopback callback.

use url::Url;

use crate::name::ServerName;
use crate::server_url::ServerUrl;

/// The URL scheme the app registers.
pub const SCHEME: &str = "mcp-companion";

/// The redirect URI for authorization servers that need a fixed, non-loopback one.
pub const CALLBACK_URI: &str = "mcp-companion://oauth/callback";

/// Longest link accepted: a link is typed or clicked, never a payload.
const MAX_LINK_LEN: usize = 4096;

/// What a valid link asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeepLink {
    /// Open the add-server wizard with these values filled in.
    Add {
        /// The server URL (validated).
        url: ServerUrl,
        /// A suggested name (validated), if the link gave one.
        name: Option<ServerName>,
    },
    /// An authorization server's redirect back to the app.
    Callback {
        /// The whole link, to be checked against the pending sign-in.
        url: String,
    },
}

/// Why a link was refused. The message is for the person who clicked it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeepLinkError {
    /// Not a URL, or not ours.
    #[error("not an MCP Companion link: {0}")]
    NotOurs(String),
    /// A path the app does not know.
    #[error(
        "MCP Companion does not know the link path {0:?}; it accepts add and oauth/callback links"
    )]
    UnknownPath(String),
    /// `add` without `url`.
    #[error("the link has no server url (expected mcp-companion://add?url=https://…)")]
    MissingUrl,
    /// A bad server URL.
    #[error("the link's server URL is not acceptable: {0}")]
    BadUrl(String),
    /// A bad name.
    #[error("the link's server name is not acceptable: {0}")]
    BadName(String),
    /// Too long.
    #[error("the link is longer than {MAX_LINK_LEN} characters")]
    TooLong,
}

/// Parses and validates a link.
pub fn parse(link: &str) -> Result<DeepLink, DeepLinkError> {
    if link.len() > MAX_LINK_LEN {
        return Err(DeepLinkError::TooLong);
    }
    let url = Url::parse(link.trim()).map_err(|_| DeepLinkError::NotOurs(short(link)))?;
    if url.scheme() != SCHEME {
        return Err(DeepLinkError::NotOurs(short(link)));
    }
    // `mcp-companion://add?…` parses with "add" as the host; `mcp-companion:add` has none.
    let path = format!(
        "{}{}",
        url.host_str().unwrap_or_default(),
        url.path().trim_end_matches('/')
    );
    match path.as_str() {
        "add" => {
            let mut server = None;
            let mut name = None;
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "url" => server = Some(v.into_owned()),
                    "name" if !v.is_empty() => name = Some(v.into_owned()),
                    _ => {}
                }
            }
            let server = server.ok_or(DeepLinkError::MissingUrl)?;
            let url =
                ServerUrl::parse(&server).map_err(|e| DeepLinkError::BadUrl(e.to_string()))?;
            let name = name
                .map(|n| ServerName::parse(&n))
                .transpose()
                .map_err(|e| DeepLinkError::BadName(e.to_string()))?;
            Ok(DeepLink::Add { url, name })
        }
        "oauth/callback" => Ok(DeepLink::Callback {
            url: link.trim().to_owned(),
        }),
        other => Err(DeepLinkError::UnknownPath(short(other))),
    }
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_links_prefill_the_wizard() {
        let l =
            parse("mcp-companion://add?url=https%3A%2F%2Fmcp.example.com%2Fmcp&name=wiki").unwrap();
        let DeepLink::Add { url, name } = l else {
            panic!("{l:?}")
        };
        assert_eq!(url.as_str(), "https://mcp.example.com/mcp");
        assert_eq!(name.unwrap().as_str(), "wiki");
        // Name optional, trailing slash tolerated, unknown keys ignored.
        assert!(matches!(
            parse("mcp-companion://add/?url=http://127.0.0.1:9/mcp&utm=x"),
            Ok(DeepLink::Add { name: None, .. })
        ));
    }

    #[test]
    fn hostile_links_are_refused_with_a_reason() {
        let cases = [
            (
                "https://evil.example/add?url=https://x",
                "not an MCP Companion link",
            ),
            (
                "mcp-companion://remove?name=wiki",
                "does not know the link path",
            ),
            ("mcp-companion://add?name=wiki", "no server url"),
            (
                "mcp-companion://add?url=http://evil.example/mcp",
                "not acceptable",
            ),
            (
                "mcp-companion://add?url=javascript:alert(1)",
                "not acceptable",
            ),
            (
                "mcp-companion://add?url=file:///etc/passwd",
                "not acceptable",
            ),
            (
                "mcp-companion://add?url=https://u:p@x.example/mcp",
                "not acceptable",
            ),
            (
                "mcp-companion://add?url=https://x.example/mcp&name=../../x",
                "name is not acceptable",
            ),
        ];
        for (link, want) in cases {
            let e = parse(link).unwrap_err().to_string();
            assert!(e.contains(want), "{link}: {e}");
            assert!(!e.contains("p@"), "{e}");
        }
        assert_eq!(
            parse(&format!("mcp-companion://add?url={}", "a".repeat(5000))),
            Err(DeepLinkError::TooLong)
        );
    }

    #[test]
    fn callbacks_are_passed_on_whole() {
        assert_eq!(
            parse("mcp-companion://oauth/callback?code=c&state=s").unwrap(),
            DeepLink::Callback {
                url: "mcp-companion://oauth/callback?code=c&state=s".into()
            }
        );
        assert!(CALLBACK_URI.starts_with(SCHEME));
    }
}
