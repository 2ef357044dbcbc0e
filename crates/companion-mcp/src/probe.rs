//! `mcp-companion probe`: a complete MCP client run against one server, built from the same
//! transport and OAuth code as the bridge, that leaves a timeline a support desk can read.
//!
//! discovery → authorization → `initialize` → `notifications/initialized` → GET stream →
//! `tools/list` → optional tool calls → DELETE.

use std::time::{Duration, Instant};

use bytes::Bytes;
use companion_auth::{AuthError, Authorizer, Timeline, TimelineEvent};
use companion_core::jsonrpc::{self, Kind};
use companion_core::oauth::challenge;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

mod link;

pub use self::link::{BridgeChild, Link};
use crate::transport::{PostOutcome, TransportError};

/// The protocol version the probe offers.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// Versions it accepts from a server.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// How to answer `elicitation/create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elicitation {
    /// Do not declare the capability.
    Off,
    /// Accept, filling every field from its schema default (SEP-1034).
    AcceptDefaults,
    /// Decline.
    Decline,
    /// Cancel.
    Cancel,
}

/// What to do once connected.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Elicitation behaviour.
    pub elicitation: Elicitation,
    /// Tools to call, with their arguments.
    pub calls: Vec<(String, Value)>,
    /// Call every listed tool with minimal schema-valid arguments (test servers only).
    pub call_all_tools: bool,
    /// Time limit per request.
    pub request_timeout: Duration,
}

/// One tool call's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CallOutcome {
    /// The tool.
    pub tool: String,
    /// Whether it returned a result without `isError`.
    pub ok: bool,
    /// A short summary of the result or error.
    pub summary: String,
}

/// What the probe found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The server URL.
    pub url: String,
    /// Whether every step succeeded.
    pub ok: bool,
    /// The negotiated protocol version.
    pub protocol_version: Option<String>,
    /// `serverInfo`.
    pub server_info: Option<Value>,
    /// Tool names.
    pub tools: Vec<String>,
    /// Tool calls made.
    pub calls: Vec<CallOutcome>,
    /// Every step.
    pub timeline: Vec<TimelineEvent>,
    /// What failed, in one line.
    pub error: Option<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
}

/// Why the probe stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Authorization failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Transport failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server answered a request with a JSON-RPC error.
    #[error("{method}: the server answered error {code}: {message}")]
    Rpc {
        /// The method.
        method: String,
        /// `error.code`.
        code: i64,
        /// `error.message`.
        message: String,
    },
    /// The server answered with an HTTP error.
    #[error("{method}: HTTP {status} {body}")]
    Http {
        /// The method.
        method: String,
        /// Status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// Something else about the server is wrong.
    #[error("{0}")]
    Protocol(String),
    /// No response in time.
    #[error("{0}: no response within {1} s")]
    Timeout(String, u64),
}

impl ProbeError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Auth(e) => e.hint(),
            Self::Transport(_) => Some("check the URL, the network connection, VPN and proxy".to_owned()),
            Self::Http { status: 404 | 405, .. } => Some("the URL may be wrong, or the server only speaks the legacy SSE transport (try `--transport sse`)".to_owned()),
            _ => None,
        }
    }
}

struct Client {
    transport: Link,
    inbound: mpsc::UnboundedReceiver<Bytes>,
    auth: Option<Authorizer>,
    timeline: Timeline,
    next_id: u64,
    elicitation: Elicitation,
    timeout: Duration,
    version: Option<String>,
}

impl Client {
    fn mcp_event(&self, method: &str, started: Instant, status: Option<u16>, note: String) {
        self.timeline.push(TimelineEvent {
            at_ms: self
                .timeline
                .elapsed_ms()
                .saturating_sub(u64::try_from(started.elapsed().as_millis()).unwrap_or(0)),
            step: format!("mcp {method}"),
            method: Some(self.transport.method().to_owned()),
            url: Some(self.transport.url().to_owned()),
            status,
            took_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
            note,
        });
    }

    /// POSTs, authorizing on 401/403 and retrying.
    async fn send(&mut self, method: &str, body: Bytes) -> Result<(), ProbeError> {
        for _ in 0..8 {
            let started = Instant::now();
            match self.transport.post(body.clone()).await? {
                PostOutcome::Accepted => {
                    let status = matches!(self.transport, Link::Http(_)).then_some(202);
                    self.mcp_event(method, started, status, String::new());
                    return Ok(());
                }
                PostOutcome::Delivering => {
                    let status = matches!(self.transport, Link::Http(_)).then_some(200);
                    self.mcp_event(method, started, status, String::new());
                    return Ok(());
                }
                PostOutcome::Unauthorized { status, challenges } => {
                    let refs: Vec<&str> = challenges.iter().map(String::as_str).collect();
                    let ch = challenge::bearer(&refs);
                    self.mcp_event(method, started, Some(status), challenge_note(ch.as_ref()));
                    let Some(auth) = self.auth.as_mut() else {
                        return Err(ProbeError::Http {
                            method: method.to_owned(),
                            status,
                            body: "the server requires authorization".to_owned(),
                        });
                    };
                    let token = auth
                        .on_challenge(status, ch, self.version.as_deref())
                        .await?;
                    self.transport.set_bearer(Some(token.access_token.clone()));
                }
                PostOutcome::SessionExpired => {
                    return Err(ProbeError::Http {
                        method: method.to_owned(),
                        status: 404,
                        body: "the session expired".to_owned(),
                    })
                }
                PostOutcome::NotStreamableHttp(status) => {
                    return Err(ProbeError::Http {
                        method: method.to_owned(),
                        status,
                        body: "(no Streamable HTTP endpoint here)".to_owned(),
                    })
                }
                PostOutcome::Failed { status, body } => {
                    self.mcp_event(method, started, Some(status), body.clone());
                    return Err(ProbeError::Http {
                        method: method.to_owned(),
                        status,
                        body,
                    });
                }
            }
        }
        Err(ProbeError::Protocol(format!(
            "{method}: the server keeps refusing authorization"
        )))
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value, ProbeError> {
        self.next_id += 1;
        let id = self.next_id;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(method, Bytes::from(body.to_string())).await?;
        self.await_response(method, &id.to_string()).await
    }

    async fn notify(&mut self, method: &str) -> Result<(), ProbeError> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        self.send(method, Bytes::from(body.to_string())).await
    }

    async fn await_response(&mut self, method: &str, id: &str) -> Result<Value, ProbeError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.inbound.recv())
                .await
                .map_err(|_| ProbeError::Timeout(method.to_owned(), self.timeout.as_secs()))?
                .ok_or_else(|| ProbeError::Protocol("the transport closed".to_owned()))?;
            let Ok(value) = serde_json::from_slice::<Value>(&msg) else {
                continue;
            };
            let items = match value {
                Value::Array(v) => v,
                other => vec![other],
            };
            for item in items {
                let Ok(peeked) = jsonrpc::peek(item.to_string().as_bytes()) else {
                    continue;
                };
                match peeked.kinds().first() {
                    Some(Kind::Response { id: rid }) if rid == id => {
                        if let Some(e) = item.get("error") {
                            return Err(ProbeError::Rpc {
                                method: method.to_owned(),
                                code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                                message: e
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_owned(),
                            });
                        }
                        return Ok(item.get("result").cloned().unwrap_or(Value::Null));
                    }
                    Some(Kind::Request { method: m, .. }) => {
                        let m = m.clone();
                        self.answer_server_request(&m, &item).await?;
                    }
                    _ => {}
                }
            }
        }
    }

    async fn answer_server_request(&mut self, method: &str, req: &Value) -> Result<(), ProbeError> {
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let outcome: Result<Value, (i64, String)> = match method {
            "ping" => Ok(json!({})),
            "roots/list" => Ok(json!({"roots": []})),
            "elicitation/create" => match self.elicitation {
                Elicitation::AcceptDefaults => Ok(
                    json!({"action": "accept", "content": defaults(req.pointer("/params/requestedSchema"))}),
                ),
                Elicitation::Decline => Ok(json!({"action": "decline"})),
                Elicitation::Cancel => Ok(json!({"action": "cancel"})),
                Elicitation::Off => Err((-32601, "elicitation is not supported".to_owned())),
            },
            _ => Err((-32601, format!("the probe does not handle {method}"))),
        };
        self.timeline.note(
            "server request",
            format!(
                "{method}: {}",
                if outcome.is_ok() {
                    "answered"
                } else {
                    "refused"
                }
            ),
        );
        let body = match outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
            }
        };
        self.send(
            &format!("response to {method}"),
            Bytes::from(body.to_string()),
        )
        .await
    }
}

fn challenge_note(c: Option<&challenge::BearerChallenge>) -> String {
    let Some(c) = c else {
        return "no Bearer challenge".to_owned();
    };
    let mut parts = vec!["Bearer challenge".to_owned()];
    if let Some(e) = &c.error {
        parts.push(format!("error {e}"));
    }
    if let Some(s) = &c.scope {
        parts.push(format!("scope {}", s.join(" ")));
    }
    if c.resource_metadata.is_some() {
        parts.push("with resource_metadata".to_owned());
    }
    parts.join(", ")
}

/// SEP-1034: every property's `default`, with its type.
fn defaults(schema: Option<&Value>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        for (k, p) in props {
            if let Some(d) = p.get("default") {
                out.insert(k.clone(), d.clone());
            }
        }
    }
    Value::Object(out)
}

/// Minimal arguments that satisfy a tool's input schema: required numbers 0, strings "",
/// booleans false, objects {}, arrays [].
pub fn minimal_arguments(schema: Option<&Value>) -> Value {
    let mut out = serde_json::Map::new();
    let Some(schema) = schema else {
        return Value::Object(out);
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let props = schema.get("properties").and_then(Value::as_object);
    for name in required {
        let prop = props.and_then(|p| p.get(name));
        let ty = prop.and_then(|p| p.get("type")).and_then(|t| {
            t.as_str()
                .or_else(|| t.as_array().and_then(|a| a.first()).and_then(Value::as_str))
        });
        let v = if let Some(d) = prop.and_then(|p| p.get("default")) {
            d.clone()
        } else if let Some(first) = prop
            .and_then(|p| p.get("enum"))
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            first.clone()
        } else {
            match ty {
                Some("number" | "integer") => json!(0),
                Some("boolean") => json!(false),
                Some("object") => json!({}),
                Some("array") => json!([]),
                Some("null") => Value::Null,
                _ => json!(""),
            }
        };
        out.insert(name.to_owned(), v);
    }
    Value::Object(out)
}

/// Runs the probe. `auth` is `None` for servers that need no authorization.
pub async fn run(
    url: &str,
    transport: (Link, mpsc::UnboundedReceiver<Bytes>),
    auth: Option<Authorizer>,
    timeline: Timeline,
    opts: &ProbeOptions,
) -> ProbeReport {
    let (transport, inbound) = transport;
    let mut c = Client {
        transport,
        inbound,
        auth,
        timeline: timeline.clone(),
        next_id: 0,
        elicitation: opts.elicitation,
        timeout: opts.request_timeout,
        version: None,
    };
    let mut report = ProbeReport {
        url: url.to_owned(),
        ok: false,
        protocol_version: None,
        server_info: None,
        tools: Vec::new(),
        calls: Vec::new(),
        timeline: Vec::new(),
        error: None,
        hint: None,
    };
    let result = session(&mut c, opts, &mut report).await;
    c.transport.close().await;
    match result {
        Ok(()) => report.ok = report.calls.iter().all(|c| c.ok),
        Err(e) => {
            report.hint = e.hint();
            report.error = Some(e.to_string());
        }
    }
    if report.ok {
        if let Some(failed) = report.calls.iter().find(|c| !c.ok) {
            report.error = Some(format!("tool {} failed: {}", failed.tool, failed.summary));
        }
    } else if report.error.is_none() {
        if let Some(failed) = report.calls.iter().find(|c| !c.ok) {
            report.error = Some(format!("tool {} failed: {}", failed.tool, failed.summary));
        }
    }
    report.timeline = timeline.events();
    report
}

async fn session(
    c: &mut Client,
    opts: &ProbeOptions,
    report: &mut ProbeReport,
) -> Result<(), ProbeError> {
    let mut capabilities = json!({"roots": {"listChanged": false}});
    if opts.elicitation != Elicitation::Off {
        capabilities["elicitation"] = json!({});
    }
    let init = c
        .request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": capabilities,
                "clientInfo": {"name": "mcp-companion-probe", "title": "MCP Companion probe", "version": env!("CARGO_PKG_VERSION")},
            }),
        )
        .await?;
    let version = init
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(ProbeError::Protocol(format!(
            "the server wants protocol version {version:?}, which this client does not speak ({})",
            SUPPORTED_VERSIONS.join(", ")
        )));
    }
    c.timeline.note(
        "mcp initialize",
        format!(
            "protocol {version}; server {}",
            init.get("serverInfo")
                .map(Value::to_string)
                .unwrap_or_default()
        ),
    );
    c.transport.set_protocol_version(Some(version.clone()));
    c.version = Some(version.clone());
    report.protocol_version = Some(version);
    report.server_info = init.get("serverInfo").cloned();
    c.notify("notifications/initialized").await?;

    // The standalone stream must be open before any tool call: servers send elicitations on it.
    let started = Instant::now();
    let offered = c.transport.open_get_stream().await?;
    c.timeline.push(TimelineEvent {
        at_ms: c.timeline.elapsed_ms(),
        step: "mcp GET stream".to_owned(),
        method: Some("GET".to_owned()),
        url: Some(c.transport.url().to_owned()),
        status: None,
        took_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(0)),
        note: match offered {
            Some(true) => "open".to_owned(),
            Some(false) => "not offered by the server (fine)".to_owned(),
            None => "opened by the bridge".to_owned(),
        },
    });

    let list = c.request("tools/list", json!({})).await?;
    let tools: Vec<Value> = list
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    report.tools = tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    c.timeline.note(
        "mcp tools/list",
        format!("{} tools: {}", report.tools.len(), report.tools.join(", ")),
    );

    let mut calls: Vec<(String, Value)> = opts.calls.clone();
    if opts.call_all_tools {
        for t in &tools {
            if let Some(name) = t.get("name").and_then(Value::as_str) {
                calls.push((name.to_owned(), minimal_arguments(t.get("inputSchema"))));
            }
        }
    }
    for (tool, args) in calls {
        let outcome = match c
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await
        {
            Ok(r) => {
                let is_error = r.get("isError").and_then(Value::as_bool).unwrap_or(false);
                let text = r
                    .pointer("/content/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                CallOutcome {
                    tool: tool.clone(),
                    ok: !is_error,
                    summary: text.chars().take(200).collect(),
                }
            }
            Err(ProbeError::Rpc { code, message, .. }) => CallOutcome {
                tool: tool.clone(),
                ok: false,
                summary: format!("error {code}: {message}"),
            },
            Err(e) => return Err(e),
        };
        c.timeline.note(
            "mcp tools/call",
            format!("{tool}: {}", if outcome.ok { "ok" } else { "failed" }),
        );
        report.calls.push(outcome);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_arguments_follow_the_schema() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "integer"}, "s": {"type": "string"}, "e": {"type": "string", "enum": ["x", "y"]}, "f": {"type": "boolean"}, "o": {"type": "object"}, "opt": {"type": "string"}}, "required": ["a", "b", "s", "e", "f", "o"]});
        assert_eq!(
            minimal_arguments(Some(&schema)),
            json!({"a": 0, "b": 0, "s": "", "e": "x", "f": false, "o": {}})
        );
        assert_eq!(minimal_arguments(None), json!({}));
    }

    #[test]
    fn elicitation_defaults_keep_types() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string", "default": "John Doe"}, "age": {"type": "integer", "default": 30}, "score": {"type": "number", "default": 95.5}, "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"}, "verified": {"type": "boolean", "default": true}, "nodefault": {"type": "string"}}, "required": []});
        assert_eq!(
            defaults(Some(&schema)),
            json!({"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": true})
        );
    }
}
