//! The I/O shell of MCP Companion's OAuth engine.
//!
//! `companion_core::oauth` decides; this crate fetches and sends. It owns the network defaults
//! that are security decisions (no automatic redirects, https except loopback, timeouts, response
//! size caps), the loopback redirect listener, the browser launch, and the order of the stages:
//!
//! ```text
//! 401 challenge → protected resource metadata → authorization server metadata → registration
//!   → PKCE authorization (browser or headless) → code exchange → token
//! ```
//!
//! Every request is recorded on a [`Timeline`] that `mcp-companion probe` prints for a support
//! desk. Tokens and secrets never appear there: they are `Secret`s.
#![deny(missing_docs)]

pub mod app_redirect;
pub mod browser;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod grants;
pub mod http;
pub mod loopback;
pub mod timeline;
pub mod tls;

pub use app_redirect::AppRedirects;
pub use error::AuthError;
pub use flow::{AuthSettings, AuthorizeMode, Authorizer, Grant, TokenSet};
pub use http::Http;
pub use timeline::{Timeline, TimelineEvent};

/// Fills a buffer from the operating system's random source.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS RNG failing is not recoverable and not caused by input.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the operating system's random number generator failed");
    b
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
