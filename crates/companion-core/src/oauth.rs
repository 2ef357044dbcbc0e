//! The OAuth 2.1 client rules of the MCP authorization spec (2025-11-25), as pure functions.
//!
//! Each stage has its own module: parse what the server sent, validate it, and build the next
//! request. The I/O shell (`companion-auth`) fetches and sends; nothing here touches the network
//! or the clock (the current time and random bytes are arguments).
//!
//! | stage | module | spec |
//! |---|---|---|
//! | 401/403 challenge | [`challenge`] | RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1 |
//! | protected resource metadata | [`resource_metadata`] | RFC 9728 |
//! | authorization server metadata | [`server_metadata`] | RFC 8414, OIDC Discovery |
//! | scopes | [`scope`] | MCP 2025-11-25 §Scope Selection Strategy |
//! | PKCE | [`pkce`] | RFC 7636 (S256 only) |
//! | provider quirks | [`profile`] | Auth0, Entra ID, Okta, Google, Keycloak |
//! | registration | [`registration`] | RFC 7591, Client ID Metadata Documents |
//! | authorization request and callback | [`authorize`] | RFC 6749 §4.1, RFC 8707, RFC 9207 |
//! | tokens | [`token`] | RFC 6749 §5, §6 |

pub mod authorize;
pub mod challenge;
pub mod pkce;
pub mod profile;
pub mod registration;
pub mod resource_metadata;
pub mod scope;
pub mod server_metadata;
pub mod token;
mod url_util;

pub use url_util::{canonical_resource_eq, origin_of};
