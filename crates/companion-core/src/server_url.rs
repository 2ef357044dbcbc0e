//! MCP server URLs.
//!
//! The URL is kept exactly as the user typed it (trimmed): the MCP authorization spec compares
//! resource identifiers as strings, and URL types that re-serialise (adding a trailing `/`, say)
//! have broken real clients. It is parsed only to check it.

use std::fmt;

use serde::Serialize;
use url::{Host, Url};

/// A validated MCP server URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServerUrl(String);

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL at all.
    #[error("{url:?} is not a valid URL: {reason}")]
    Invalid {
        /// What was given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// A scheme other than http or https.
    #[error("{0:?} is not an http(s) URL")]
    Scheme(String),
    /// Plain http to a host that is not this machine.
    #[error(
        "{0:?} uses plain http; remote MCP servers must use https \
         (http is accepted only for localhost, 127.0.0.1 and ::1)"
    )]
    InsecureHttp(String),
    /// Credentials embedded in the URL.
    #[error(
        "{0:?} carries a user name or password; secrets never go in the config file: \
         store them in the keychain with `mcp-companion add … --bearer` or `--header`"
    )]
    Credentials(String),
    /// A `#fragment`.
    #[error("{0:?} has a #fragment, which a server URL cannot have")]
    Fragment(String),
}

impl ServerUrl {
    /// Validates `raw`: http(s), https unless the host is loopback, no credentials, no fragment.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let url = Url::parse(raw).map_err(|e| UrlError::Invalid {
            url: raw.to_owned(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(UrlError::InsecureHttp(raw.to_owned())),
            _ => return Err(UrlError::Scheme(raw.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials(redact_userinfo(&url)));
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The URL exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the host is this machine.
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.0).is_ok_and(|u| is_loopback(&u))
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a parsed URL points at this machine (`localhost`, 127.0.0.0/8 or `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn redact_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    // Setting these can only fail for URLs that cannot have a host, which we already excluded.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    format!("{}://***@{}", u.scheme(), &u[url::Position::BeforeHost..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_url_as_typed() {
        let u = ServerUrl::parse(" https://example.com ").unwrap();
        assert_eq!(u.as_str(), "https://example.com");
        assert_eq!(
            ServerUrl::parse("https://x.io/mcp/").unwrap().as_str(),
            "https://x.io/mcp/"
        );
    }

    #[test]
    fn http_only_on_loopback() {
        for ok in [
            "http://localhost:3000/mcp",
            "http://127.0.0.1/mcp",
            "http://[::1]:8/",
        ] {
            let u = ServerUrl::parse(ok).unwrap();
            assert!(u.is_loopback(), "{ok}");
        }
        assert!(matches!(
            ServerUrl::parse("http://mcp.example.com/mcp"),
            Err(UrlError::InsecureHttp(_))
        ));
        assert!(!ServerUrl::parse("https://mcp.example.com")
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn refuses_bad_urls() {
        assert!(matches!(
            ServerUrl::parse("ftp://x.io"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            ServerUrl::parse("not a url"),
            Err(UrlError::Invalid { .. })
        ));
        assert!(matches!(
            ServerUrl::parse("https://x.io/#frag"),
            Err(UrlError::Fragment(_))
        ));
    }

    #[test]
    fn credentials_are_refused_and_not_echoed() {
        let err = ServerUrl::parse("https://user:hunter2@x.io/mcp").unwrap_err();
        assert!(matches!(err, UrlError::Credentials(_)));
        let msg = err.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(!msg.contains("user:"), "{msg}");
        assert!(msg.contains("x.io/mcp"), "{msg}");
    }
}
