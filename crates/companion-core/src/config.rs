//! The user's configuration file, `config.toml`.
//!
//! Two levels, as in ripgrep's `LowArgs` → `HiArgs`: [`raw`] is plain serde data that mirrors the
//! file and keeps the position of every value; [`Config::parse`] validates it into the types the
//! rest of the program uses, and every problem it finds names the file, the line and the field.
//! [`edit`] changes the text of the file without disturbing the user's comments and layout.
//!
//! The file never holds a secret. Tokens, client secrets and header values live in the OS
//! keychain, under the server's name; the file only says which of them to expect.
//!
//! ```toml
//! version = 1
//!
//! [servers.linear]
//! url = "https://mcp.linear.app/mcp"
//!
//! [servers.internal]
//! url = "https://tools.example.com/mcp"
//! transport = "streamable-http"
//!
//! [servers.internal.auth]
//! mode = "oauth"
//! client_id = "companion-desktop"
//! scopes = ["tools:read", "tools:write"]
//! extra_authorize_params = { audience = "https://tools.example.com/mcp" }
//! ```

use std::fmt;

use serde::Serialize;

use crate::name::ServerName;
use crate::server_url::ServerUrl;

pub mod edit;
pub mod managed;
mod raw;
mod validate;

#[cfg(test)]
mod tests;

/// The config file version this build reads and writes.
pub const CONFIG_VERSION: i64 = 1;

/// A validated configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Servers in the order the file lists them (managed ones first, once merged).
    pub servers: Vec<ServerConfig>,
    /// Names of the servers the organization manages (locked), once merged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed: Vec<String>,
}

impl Config {
    /// Parses and validates the text of a config file. `file` names it in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        validate::parse(file, text)
    }

    /// The server called `name`.
    pub fn get(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name.as_str() == name)
    }

    /// Whether the server called `name` is managed by the organization.
    pub fn is_managed(&self, name: &str) -> bool {
        self.managed.iter().any(|m| m == name)
    }

    /// Every server name, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.name.as_str())
    }
}

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerConfig {
    /// Its name.
    pub name: ServerName,
    /// Its MCP endpoint.
    pub url: ServerUrl,
    /// How to talk to it.
    pub transport: Transport,
    /// How to authenticate to it.
    pub auth: AuthConfig,
}

impl ServerConfig {
    /// A server with the defaults: automatic transport, OAuth with nothing preset.
    pub fn new(name: ServerName, url: ServerUrl) -> Self {
        Self {
            name,
            url,
            transport: Transport::Auto,
            auth: AuthConfig::OAuth(OAuthSettings::default()),
        }
    }
}

/// Which MCP HTTP transport to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Streamable HTTP, falling back to the legacy HTTP+SSE transport on 404 or 405.
    #[default]
    Auto,
    /// Streamable HTTP only (MCP 2025-03-26 and later).
    StreamableHttp,
    /// The legacy HTTP+SSE transport (MCP 2024-11-05).
    Sse,
}

impl Transport {
    /// The name used in the file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
        }
    }

    /// Every accepted name.
    pub const NAMES: &'static [&'static str] = &["auto", "streamable-http", "sse"];

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "streamable-http" => Some(Self::StreamableHttp),
            "sse" => Some(Self::Sse),
            _ => None,
        }
    }
}

/// How a server is authenticated. Secrets named here live in the OS keychain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum AuthConfig {
    /// OAuth 2.1 authorization code flow with PKCE (the default).
    #[serde(rename = "oauth")]
    OAuth(OAuthSettings),
    /// A bearer token: static (for example a JWT issued by another application, kept in the
    /// keychain), or printed by a command.
    Bearer {
        /// A command whose standard output is the token (run by the broker, cached until the
        /// token expires).
        #[serde(skip_serializing_if = "Option::is_none")]
        token_command: Option<String>,
    },
    /// Static headers, such as API keys. Only the names are in the file.
    Headers {
        /// The header names.
        headers: Vec<String>,
    },
    /// The OAuth client credentials grant (machine to machine).
    ClientCredentials(ClientCredentialsSettings),
    /// No authentication.
    None,
}

impl AuthConfig {
    /// The mode's name as written in the file.
    pub fn mode_name(&self) -> &'static str {
        match self {
            Self::OAuth(_) => "oauth",
            Self::Bearer { .. } => "bearer",
            Self::Headers { .. } => "headers",
            Self::ClientCredentials(_) => "client_credentials",
            Self::None => "none",
        }
    }

    /// Every accepted mode name.
    pub const MODE_NAMES: &'static [&'static str] =
        &["oauth", "bearer", "headers", "client_credentials", "none"];
}

/// Settings of the OAuth authorization code flow. Everything is optional: discovery fills in
/// what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OAuthSettings {
    /// A pre-registered client id (for authorization servers without dynamic registration).
    /// Its secret, if any, is in the keychain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Scopes to request instead of those the server advertises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Extra parameters for the authorization request (Auth0's `audience`, Google's
    /// `access_type`, …), in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_authorize_params: Vec<(String, String)>,
    /// The RFC 8707 `resource` parameter.
    #[serde(skip_serializing_if = "ResourceSetting::is_default")]
    pub resource: ResourceSetting,
    /// The URL of a Client ID Metadata Document to use as the client id, where the
    /// authorization server supports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata_url: Option<String>,
    /// The provider profile; `None` detects it from the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::oauth::profile::Profile>,
    /// Where the authorization server sends the browser back.
    #[serde(skip_serializing_if = "Redirect::is_loopback")]
    pub redirect: Redirect,
}

/// Where the browser comes back after a sign-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Redirect {
    /// `http://127.0.0.1:PORT/callback`, a listener opened for each sign-in (RFC 8252 §7.3):
    /// the default, and what dynamic registration uses.
    #[default]
    Loopback,
    /// The app's own URL scheme, [`crate::deeplink::CALLBACK_URI`], for authorization servers
    /// whose pre-registered native clients accept one fixed redirect URI. The window program
    /// receives it as a deep link and hands it to the broker, to the sign-in waiting for it.
    App,
}

impl Redirect {
    fn is_loopback(&self) -> bool {
        *self == Self::Loopback
    }
}

/// What to send as the RFC 8707 `resource` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceSetting {
    /// The resource from the server's protected resource metadata (the spec's default).
    #[default]
    Default,
    /// Send none (Microsoft Entra ID rejects it).
    Omit,
    /// Send this URI instead.
    Uri(String),
}

impl ResourceSetting {
    fn is_default(&self) -> bool {
        *self == Self::Default
    }
}

/// Settings of the client credentials grant. The client secret or private key is in the
/// keychain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientCredentialsSettings {
    /// The client id.
    pub client_id: String,
    /// Scopes to request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// With `private_key_jwt`: the key's signing algorithm (`None`: told by the key itself).
    /// The key is in the keychain, never here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_alg: Option<SigningAlg>,
    /// With `private_key_jwt`: the `kid` to put in the assertion's header, when the
    /// authorization server knows several keys of the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The provider profile (Auth0's `audience`, Entra's `.default` scope); `None` detects it
    /// from the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::oauth::profile::Profile>,
}

/// Signing algorithms of a `private_key_jwt` client assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SigningAlg {
    /// ECDSA with P-256 and SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlg {
    /// Every accepted name.
    pub const NAMES: &'static [&'static str] = &["ES256", "RS256"];

    /// Parses `ES256` / `RS256` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

/// Client authentication at the token endpoint for the client credentials grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret.
    #[default]
    ClientSecretBasic,
    /// The client id and secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523).
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// A config file that could not be used. Lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as the caller named it.
    pub file: String,
    /// What is wrong, in file order.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// Whether the file was refused because it was written by a newer version.
    pub fn is_unknown_version(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.kind == ProblemKind::UnknownVersion)
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The dotted path of the field, such as `servers.linear.url`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// The category.
    pub kind: ProblemKind,
}

/// Categories of [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The text is not TOML, or does not have the expected shape.
    Syntax,
    /// A value is not acceptable.
    Invalid,
    /// A secret was written into the file.
    Secret,
    /// The file is from a newer version of MCP Companion.
    UnknownVersion,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
                if let Some(col) = p.column {
                    write!(f, ":{col}")?;
                }
            }
            write!(f, ": ")?;
            if let Some(field) = &p.field {
                write!(f, "{field}: ")?;
            }
            write!(f, "{}", p.message)?;
            if let Some(hint) = &p.hint {
                write!(f, "\n  hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
