//! Everything that crosses the window's IPC boundary. These types are exported to
//! `ui/src/bindings.ts` (see [`crate::bindings`]); the UI never hand-writes them.
//!
//! Times are Unix seconds and durations seconds, as `number` (they fit a double exactly).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A server's state, as the window shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// A valid token is held (or a static credential is stored).
    SignedIn,
    /// The token expires soon and cannot be renewed.
    Expiring,
    /// A person must sign in.
    NeedsSignIn,
    /// The server asks for more scopes.
    StepUpRequired,
    /// The last attempt failed.
    Error,
    /// Nothing to sign in to.
    NotRequired,
    /// The broker has not answered yet.
    Unknown,
}

/// One entry of a server's recent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RecentView {
    /// Unix time.
    #[ts(type = "number")]
    pub at: u64,
    /// The state it led to.
    pub state: ServerState,
    /// What happened.
    pub message: String,
}

/// A server in the list, with its live status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServerView {
    /// The name MCP clients use (`mcp-companion connect NAME`).
    pub name: String,
    /// The MCP endpoint.
    pub url: String,
    /// The auth mode: oauth, client_credentials, bearer, headers, none.
    pub auth: String,
    /// The state.
    pub state: ServerState,
    /// The same in words ("Signed in · expires in 52 min").
    pub status_line: String,
    /// Seconds until the access token expires, at the time of this snapshot.
    #[ts(type = "number | null")]
    pub expires_in: Option<u64>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The authorization server.
    pub issuer: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// Deployed by the organization: read-only here.
    pub managed: bool,
    /// Unix time the current token was obtained.
    #[ts(type = "number | null")]
    pub refreshed_at: Option<u64>,
    /// MCP client bridges connected right now.
    pub bridges: u32,
    /// Recent events, oldest first.
    pub recent: Vec<RecentView>,
}

/// A label and a value, for the details pane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Field {
    /// What it is.
    pub label: String,
    /// Its value, never a secret.
    pub value: String,
}

/// Everything the details pane shows about one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServerDetails {
    /// The live view.
    pub server: ServerView,
    /// Configuration and what sign-in established (client id, registration, profile…).
    pub fields: Vec<Field>,
    /// The JSON an MCP client needs to launch the bridge for this server.
    pub client_config: String,
    /// The latest log lines about this server, redacted.
    pub log: Vec<String>,
    /// The settings as the edit form starts from them (`None` for managed servers).
    pub edit: Option<NewServer>,
}

/// How the server authenticates, as the wizard and the edit form set it. Carries secrets typed
/// into the form: `Debug` redacts them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum NewAuth {
    /// OAuth 2.1 sign-in in the browser.
    Oauth {
        /// A pre-registered client id; empty: registered at sign-in.
        client_id: String,
        /// Its secret, stored in the keychain; empty: none, or keep the stored one.
        client_secret: String,
        /// Scopes to request, space-separated; empty: what the server advertises.
        scopes: String,
        /// Auth0's `audience`; empty: none.
        audience: String,
        /// Provider profile name; empty or "auto": detected from the issuer.
        profile: String,
    },
    /// A token pasted once (for example a JWT from another application), kept in the keychain.
    Bearer {
        /// The token; empty on edit: keep the stored one.
        token: String,
    },
    /// API-key headers; names in the config file, values in the keychain.
    Headers {
        /// Name and value pairs; an empty value on edit keeps the stored one.
        headers: Vec<HeaderValue>,
    },
    /// No credentials.
    None,
}

/// One static header. `Debug` redacts the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HeaderValue {
    /// Its name, e.g. `X-Api-Key`.
    pub name: String,
    /// Its value. Secret.
    pub value: String,
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() {
        ""
    } else {
        "[redacted]"
    }
}

impl std::fmt::Debug for NewAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Oauth {
                client_id,
                client_secret,
                scopes,
                audience,
                profile,
            } => f
                .debug_struct("Oauth")
                .field("client_id", client_id)
                .field("client_secret", &redacted(client_secret))
                .field("scopes", scopes)
                .field("audience", audience)
                .field("profile", profile)
                .finish(),
            Self::Bearer { token } => f
                .debug_struct("Bearer")
                .field("token", &redacted(token))
                .finish(),
            Self::Headers { headers } => {
                f.debug_struct("Headers").field("headers", headers).finish()
            }
            Self::None => f.write_str("None"),
        }
    }
}

impl std::fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderValue")
            .field("name", &self.name)
            .field("value", &redacted(&self.value))
            .finish()
    }
}

/// A server to add, or the new settings of one being edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NewServer {
    /// The name.
    pub name: String,
    /// The MCP endpoint.
    pub url: String,
    /// How it authenticates.
    pub auth: NewAuth,
}

/// How a client will be registered with the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationKind {
    /// Dynamic client registration (RFC 7591): nothing to set up.
    Dynamic,
    /// A Client ID Metadata Document: nothing to set up.
    MetadataDocument,
    /// The authorization server registers no clients itself: a client id from its
    /// administrators is needed.
    PreRegistered,
    /// No sign-in needed.
    None,
}

/// One step of discovery or of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Step {
    /// Milliseconds since the start.
    #[ts(type = "number")]
    pub at_ms: u64,
    /// The stage.
    pub step: String,
    /// HTTP method, for a request.
    pub method: Option<String>,
    /// URL, for a request.
    pub url: Option<String>,
    /// HTTP status.
    pub status: Option<u16>,
    /// Duration, in milliseconds.
    #[ts(type = "number | null")]
    pub took_ms: Option<u64>,
    /// What was learned.
    pub note: String,
}

/// What discovery found about a server URL, for the wizard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Discovered {
    /// The URL examined.
    pub url: String,
    /// A name to suggest (from the host).
    pub suggested_name: String,
    /// Whether the server asks for a sign-in.
    pub auth_required: bool,
    /// The authorization server.
    pub issuer: Option<String>,
    /// How the client will be registered.
    pub registration: RegistrationKind,
    /// Scopes the server advertises.
    pub scopes: Vec<String>,
    /// The provider profile detected from the issuer.
    pub profile: Option<String>,
    /// Advice for this provider ("Auth0 needs a pre-registered client…").
    pub profile_hint: Option<String>,
    /// Every step, in order.
    pub steps: Vec<Step>,
}

/// The result of "Test connection".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TestReport {
    /// Whether every step succeeded.
    pub ok: bool,
    /// The negotiated MCP version.
    pub protocol_version: Option<String>,
    /// The server's name and version, from `initialize`.
    pub server_info: Option<String>,
    /// Its tools.
    pub tools: Vec<String>,
    /// What failed.
    pub error: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// Every step.
    pub steps: Vec<Step>,
}

/// App settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// Start MCP Companion when you log in.
    pub autostart: bool,
    /// Show a notification when a server needs you.
    pub notifications: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            autostart: true,
            notifications: true,
        }
    }
}

/// What the window shows when it opens from a link or the tray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "view", rename_all = "snake_case")]
pub enum Route {
    /// The server list.
    List,
    /// One server's details.
    Details {
        /// Its name.
        name: String,
    },
    /// The add-server wizard, possibly prefilled by a link.
    Add {
        /// The server URL.
        url: String,
        /// The name.
        name: String,
    },
    /// Settings.
    Settings,
    /// MCP clients.
    Clients,
}

/// One MCP client and where MCP Companion stands in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClientView {
    /// Its id, as `mcp-companion install` takes it.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its config file.
    pub path: String,
    /// Whether that file exists.
    pub exists: bool,
    /// Servers installed by MCP Companion.
    pub installed: Vec<String>,
    /// Installed servers whose entry needs a repair, with why.
    pub drifted: Vec<Field>,
    /// Configured servers not installed in this client.
    pub missing: Vec<String>,
    /// Why the file could not be read, if so (it is never touched then).
    pub error: Option<String>,
}

/// An error for the UI: a kind it can act on and a message a person can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind.
    pub kind: ErrorKind,
    /// What happened and what to do.
    pub message: String,
}

/// Kinds of [`ApiError`], only those the UI treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input in a form field: shown beside the form.
    Invalid,
    /// The server is managed by the organization.
    Managed,
    /// No such server.
    NotFound,
    /// The keychain is locked or missing.
    Keychain,
    /// The network or the server failed.
    Network,
    /// Anything else.
    Failed,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A form field was wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// Anything else.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_typed_into_forms_never_reach_debug_output() {
        let n = NewServer {
            name: "x".into(),
            url: "https://x.example/mcp".into(),
            auth: NewAuth::Headers {
                headers: vec![HeaderValue {
                    name: "X-Api-Key".into(),
                    value: "k-SECRET".into(),
                }],
            },
        };
        let b = NewAuth::Bearer {
            token: "t-SECRET".into(),
        };
        let o = NewAuth::Oauth {
            client_id: "desk".into(),
            client_secret: "s-SECRET".into(),
            scopes: String::new(),
            audience: String::new(),
            profile: String::new(),
        };
        for text in [format!("{n:?}"), format!("{b:?}"), format!("{o:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }
}
