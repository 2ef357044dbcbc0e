//! The broker's wire protocol: one JSON object per line, both ways, over a private local socket.
//!
//! ```text
//! → {"v":1,"id":7,"op":"get_token","server":"linear","min_ttl":30}
//! ← {"id":7,"ok":{"access_token":"…","expires_at":1790000000,"generation":3}}
//! ← {"id":8,"err":{"kind":"needs_sign_in","message":"Sign in to linear from the MCP Companion tray menu, or run `mcp-companion login linear`"}}
//! ```
//!
//! `v` is the protocol version; a broker refuses versions it does not speak with
//! `unsupported_version`, so an old bridge and a new broker fail clearly rather than
//! misunderstand each other. Responses carry secrets (access tokens): the socket lives in a
//! 0700 directory and the broker checks that the peer runs as the same user.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version.
    pub v: u32,
    /// Correlates the response.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub op: Op,
}

/// The operations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Who are you?
    Hello,
    /// A valid access token for `server` with at least `min_ttl` seconds left.
    GetToken {
        /// The server's name.
        server: String,
        /// Seconds of validity the caller needs.
        #[serde(default)]
        min_ttl: u64,
    },
    /// A server rejected the token of `generation` with this status and challenge.
    ReportRejected {
        /// The server's name.
        server: String,
        /// The generation of the rejected token.
        generation: u64,
        /// 401 or 403.
        status: u16,
        /// The `WWW-Authenticate` values.
        #[serde(default)]
        www_authenticate: Vec<String>,
    },
    /// Sign in (a person is present: the CLI `login`, or a tray click).
    SignIn {
        /// The server's name.
        server: String,
        /// Complete the browser step without a browser (loopback servers only).
        #[serde(default)]
        headless: bool,
    },
    /// Revoke and forget the tokens.
    SignOut {
        /// The server's name.
        server: String,
    },
    /// Every configured server's status.
    Status,
    /// Drop the server's cached token without revoking it (its client credentials changed:
    /// the next request gets a token made with the new ones).
    Forget {
        /// The server's name.
        server: String,
    },
    /// An `mcp-companion://oauth/callback?…` link the app received: for the sign-in waiting for
    /// its `state`.
    Callback {
        /// The whole link.
        url: String,
    },
    /// Turn this connection into a stream of [`Event`]s.
    Subscribe,
}

/// A successful answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// For `hello`.
    Hello {
        /// The broker's protocol version.
        version: u32,
        /// Its process id.
        pid: u32,
        /// Where it runs: "daemon" or "tray".
        host: String,
    },
    /// For `get_token` and `report_rejected`.
    Token {
        /// The access token. Secret.
        access_token: String,
        /// Unix time it expires, if known.
        expires_at: Option<u64>,
        /// Increases with every new token for the server.
        generation: u64,
    },
    /// For `status`.
    Status {
        /// One entry per configured server.
        servers: Vec<ServerStatus>,
    },
    /// For operations with nothing to return.
    Done {
        /// What happened.
        done: String,
    },
}

/// A failure, with a kind a client can act on and a message a person can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct BrokerError {
    /// What kind.
    pub kind: ErrorKind,
    /// What happened and what to do.
    pub message: String,
}

/// Kinds of [`BrokerError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nobody is signed in to this server.
    NeedsSignIn,
    /// The server wants more scopes: a person must approve.
    StepUpRequired,
    /// No such server in the configuration.
    UnknownServer,
    /// The server needs no OAuth token (static headers, none).
    NotOAuth,
    /// The keychain is locked or missing.
    Keychain,
    /// The authorization server failed; retrying later may work.
    Transient,
    /// Sign-in or refresh failed.
    AuthFailed,
    /// The request was malformed or of another protocol version.
    BadRequest,
    /// The configuration could not be read.
    Config,
}

/// A response line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// The answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<Reply>,
    /// The failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<BrokerError>,
}

/// A server's state, for `status` and the tray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The server's name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Its auth mode.
    pub auth: String,
    /// The state.
    pub state: State,
    /// Seconds until the access token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// Scopes granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The last error, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix time the current token was obtained (sign-in, refresh or grant), if one is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<u64>,
    /// How many bridges (`connect` processes) are connected and using this server.
    #[serde(default)]
    pub bridges: u32,
    /// The latest noteworthy events, oldest first (at most [`RECENT_EVENTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<RecentEvent>,
}

/// How many recent events a server's status keeps.
pub const RECENT_EVENTS: usize = 8;

/// Something that happened to a server: an error, a sign-in request, a step-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// Unix time.
    pub at: u64,
    /// The state it put the server in.
    pub state: State,
    /// What happened, for a person. Never carries a secret.
    pub message: String,
}

impl ServerStatus {
    /// The tray's view of this status.
    pub fn tray_line(&self) -> companion_core::tray::ServerLine {
        use companion_core::tray::Health;
        let health = match self.state {
            State::SignedIn => Health::SignedIn {
                expires_in: self.expires_in,
            },
            State::Expiring => Health::Expiring {
                expires_in: self.expires_in.unwrap_or(0),
            },
            State::NeedsSignIn => Health::NeedsSignIn,
            State::StepUpRequired => Health::StepUp,
            State::Error => Health::Error(
                self.error
                    .clone()
                    .unwrap_or_else(|| "unknown error".to_owned()),
            ),
            State::NotRequired => Health::NotRequired,
        };
        companion_core::tray::ServerLine {
            name: self.name.clone(),
            health,
        }
    }
}

/// Server states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A valid token is held.
    SignedIn,
    /// The token expires within the refresh margin and cannot be refreshed.
    Expiring,
    /// No usable token: a person must sign in.
    NeedsSignIn,
    /// The server asks for more scopes.
    StepUpRequired,
    /// The last attempt failed.
    Error,
    /// No sign-in needed (static credentials or none).
    NotRequired,
}

/// A pushed event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// The server concerned.
    pub server: String,
    /// Its new state.
    pub state: State,
    /// Details for a person ("asks for scope mcp:admin").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl BrokerError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The error a bridge shows when nobody is signed in.
    pub fn needs_sign_in(server: &str) -> Self {
        Self::new(ErrorKind::NeedsSignIn, format!("Sign in to {server} from the MCP Companion tray menu, or run `mcp-companion login {server}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let r: Request = serde_json::from_str(
            r#"{"v":1,"id":7,"op":"get_token","server":"linear","min_ttl":30}"#,
        )
        .unwrap();
        assert!(matches!(r.op, Op::GetToken { ref server, min_ttl: 30 } if server == "linear"));
        let line = serde_json::to_string(&Request {
            v: 1,
            id: 1,
            op: Op::Status,
        })
        .unwrap();
        assert_eq!(line, r#"{"v":1,"id":1,"op":"status"}"#);
        let resp = Response {
            id: 8,
            ok: None,
            err: Some(BrokerError::needs_sign_in("linear")),
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"id":8,"err":{"kind":"needs_sign_in","message":"Sign in to linear from the MCP Companion tray menu, or run `mcp-companion login linear`"}}"#
        );
        let tok: Response = serde_json::from_str(
            r#"{"id":2,"ok":{"access_token":"a","expires_at":5,"generation":3}}"#,
        )
        .unwrap();
        assert!(matches!(tok.ok, Some(Reply::Token { generation: 3, .. })));
    }
}
