//! Errors of the OAuth engine. Each names the step, the URL and the server's answer, and
//! [`AuthError::hint`] says what the user can do.

use companion_core::oauth::authorize::CallbackError;
use companion_core::oauth::registration::RegistrationError;
use companion_core::oauth::resource_metadata::MetadataError;
use companion_core::oauth::server_metadata::ServerMetadataError;
use companion_core::oauth::token::TokenError;

/// What went wrong during authorization.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request never got an answer.
    #[error("{step}: cannot reach {url}: {reason}")]
    Network {
        /// The stage.
        step: &'static str,
        /// The URL.
        url: String,
        /// What failed (connect, timeout, TLS, …).
        reason: String,
    },
    /// The response was larger than the cap for this step.
    #[error("{step}: the response from {url} is larger than {limit} bytes; refusing it")]
    TooLarge {
        /// The stage.
        step: &'static str,
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// A URL is not allowed (plain http to a remote host, not a URL, an unexpected redirect).
    #[error("{step}: {reason}")]
    Refused {
        /// The stage.
        step: &'static str,
        /// Why.
        reason: String,
    },
    /// Protected resource metadata is unusable.
    #[error("protected resource metadata at {url}: {source}")]
    ResourceMetadata {
        /// Where it came from.
        url: String,
        /// Why.
        #[source]
        source: MetadataError,
    },
    /// Authorization server metadata is unusable.
    #[error("authorization server metadata at {url}: {source}")]
    ServerMetadata {
        /// Where it came from.
        url: String,
        /// Why.
        #[source]
        source: ServerMetadataError,
    },
    /// No authorization server metadata anywhere.
    #[error("no authorization server metadata for issuer {issuer} (tried {tried})")]
    NoServerMetadata {
        /// The issuer.
        issuer: String,
        /// The URLs tried.
        tried: String,
    },
    /// The resource metadata names no authorization server.
    #[error("the protected resource metadata at {url} names no authorization server")]
    NoAuthorizationServer {
        /// Where it came from.
        url: String,
    },
    /// No way to obtain a client id.
    #[error(
        "the authorization server {issuer} offers no dynamic client registration and no client id \
         is configured"
    )]
    NoRegistration {
        /// The issuer.
        issuer: String,
        /// What this provider needs, when known.
        provider_hint: Option<&'static str>,
    },
    /// Dynamic registration failed.
    #[error("client registration at {url}: {source}")]
    Registration {
        /// The registration endpoint.
        url: String,
        /// Why.
        #[source]
        source: RegistrationError,
    },
    /// The redirect back from the browser was refused.
    #[error("sign-in: {0}")]
    Callback(#[from] CallbackError),
    /// Nobody came back from the browser in time.
    #[error("sign-in: no answer from the browser within {0} s")]
    CallbackTimeout(u64),
    /// The token endpoint refused or answered nonsense.
    #[error("token request to {url}: {source}")]
    Token {
        /// The token endpoint.
        url: String,
        /// Why.
        #[source]
        source: TokenError,
    },
    /// Headless authorization hit something only a person can do.
    #[error("headless sign-in: {0}")]
    Headless(String),
    /// The browser could not be opened.
    #[error("cannot open the browser for {url}: {reason}")]
    Browser {
        /// The authorization URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Local I/O (the loopback listener).
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A client assertion could not be signed.
    #[error("cannot sign the client assertion: {0}")]
    Assertion(String),
    /// The server keeps demanding scopes it does not grant.
    #[error(
        "the server still refuses with insufficient_scope after a sign-in granted {scopes}; giving \
         up after {attempts} authorization attempts"
    )]
    StepUpExhausted {
        /// What was requested last.
        scopes: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
}

impl AuthError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Network { .. } => "check the network connection, VPN and proxy, then try again".to_owned(),
            Self::NoRegistration { provider_hint: Some(h), .. } => (*h).to_owned(),
            Self::NoRegistration { .. } => "register MCP Companion with the authorization server's administrator and add the client id: `mcp-companion add NAME URL --client-id ID`".to_owned(),
            Self::Registration { .. } => "if the server does not allow dynamic registration, ask for a client id and add it with `--client-id`".to_owned(),
            Self::ResourceMetadata { source: MetadataError::ResourceMismatch { .. }, .. } => "the server's metadata names another server; tell its administrator. Do not sign in to it".to_owned(),
            Self::ServerMetadata { source: ServerMetadataError::NoPkceS256(_), .. } => "ask the server's administrator to enable PKCE with S256".to_owned(),
            Self::Token { source, .. } if source.is_invalid_grant() => "sign in again".to_owned(),
            Self::Token { source, .. } if source.is_transient() => "the authorization server is having trouble; try again in a minute".to_owned(),
            Self::Callback(CallbackError::Denied { .. }) => "sign in again and approve the request".to_owned(),
            Self::CallbackTimeout(_) => "finish signing in in the browser, or try again".to_owned(),
            Self::Headless(_) => "use `--authorize browser` to sign in as a person".to_owned(),
            Self::StepUpExhausted { .. } => "your account may lack the permission this tool needs; ask the server's administrator".to_owned(),
            _ => return None,
        })
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::Token { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}
