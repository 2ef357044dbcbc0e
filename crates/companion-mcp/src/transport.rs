//! The Streamable HTTP client transport (MCP 2025-11-25 §Transports), on raw bytes.
//!
//! Messages are sent as the bytes given and delivered as the bytes received: nothing is
//! re-serialised, so unknown fields, batches and odd ids survive. The transport only reads
//! what it must: the ids of the requests it sent (to know when a response stream is complete),
//! SSE framing, and the `Mcp-Session-Id` header.
//!
//! - POST carries `Accept: application/json, text/event-stream`; a JSON or SSE answer is
//!   delivered message by message on the inbound channel.
//! - An SSE stream that ends before all its responses arrived is resumed after exactly the
//!   server's `retry` delay, by GET with `Last-Event-ID` (event ids are kept per stream).
//! - The standalone GET stream carries server-initiated messages.
//! - `MCP-Protocol-Version` goes on every request once set; `Mcp-Session-Id` once the server
//!   assigned one.
//! - Requests whose responses can no longer arrive (a stream that ended without them and
//!   cannot be resumed, a JSON answer without them) are reported as [`StreamLost`], so a
//!   bridge can answer them with an error instead of leaving its client waiting.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use companion_core::jsonrpc::{self, Kind};
use companion_core::secret::Secret;
use companion_core::sse;
use futures_util::StreamExt;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use tokio::sync::mpsc;

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the negotiated protocol version.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// Default cap on one message.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// How often an interrupted stream is resumed before giving up.
const MAX_RESUMES: u32 = 5;
/// Delay before resuming when the server gave no `retry`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// A JSON answer larger than this is forwarded as it arrives (see [`LargeMessage`]).
const LARGE: usize = 256 * 1024;
/// Pieces of a [`LargeMessage`] read ahead of its reader: one is enough to keep stdout busy,
/// and every piece held pins a buffer of up to a few hundred KiB.
const LARGE_QUEUE: usize = 1;

/// What happened to a POST.
#[derive(Debug)]
pub enum PostOutcome {
    /// 202: accepted, nothing more on this request.
    Accepted,
    /// 2xx with a body: its messages are (being) delivered on the inbound channel.
    Delivering,
    /// 401 or 403: the challenge headers.
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Every `WWW-Authenticate` value.
        challenges: Vec<String>,
    },
    /// 404 on a request that carried a session id: the session is gone.
    SessionExpired,
    /// 404 or 405 without a session: the server may only speak the legacy SSE transport.
    NotStreamableHttp(u16),
    /// Any other status.
    Failed {
        /// HTTP status.
        status: u16,
        /// The start of the body, for the error message.
        body: String,
    },
}

/// Requests whose responses will never arrive: their stream ended (or their JSON answer came)
/// without them, and could not be resumed. The bridge answers each with an error so that its
/// client never waits forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLost {
    /// The request ids, as canonical JSON text ([`companion_core::jsonrpc::Kind`]).
    pub ids: Vec<String>,
    /// Why, for the error message.
    pub reason: String,
}

/// A JSON answer too large to hold, forwarded as it arrives: the response to request `id`
/// (the answer to a POST that carried one request is that request's response). Its pieces
/// come on `pieces`, which closes at the end of the body; if the body is cut off or grows past
/// the limit, `id` is also reported as [`StreamLost`].
#[derive(Debug)]
pub struct LargeMessage {
    /// The request id, as canonical JSON text.
    pub id: String,
    /// The body, piece by piece.
    pub pieces: mpsc::Receiver<Bytes>,
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer from the server.
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A header value could not be sent.
    #[error("invalid header {0}")]
    Header(String),
}

#[derive(Debug, Default)]
struct Shared {
    session_id: Option<String>,
    protocol_version: Option<String>,
    bearer: Option<Secret>,
}

/// A Streamable HTTP connection to one MCP endpoint.
#[derive(Debug, Clone)]
pub struct StreamableHttp {
    client: reqwest::Client,
    url: String,
    /// `url` parsed once, not per request (`None` if it does not parse: every request fails).
    parsed: Option<reqwest::Url>,
    shared: Arc<Mutex<Shared>>,
    extra: Arc<Vec<(HeaderName, HeaderValue)>>,
    inbound: mpsc::UnboundedSender<Bytes>,
    max_message: usize,
    /// Fires (with the time) when a stream reconnects; for diagnostics.
    events: Option<mpsc::UnboundedSender<String>>,
    /// Told about requests that will never get a response.
    lost: Option<mpsc::UnboundedSender<StreamLost>>,
    /// Where large JSON answers go as they arrive; without it they are gathered whole.
    large: Option<mpsc::UnboundedSender<LargeMessage>>,
}

impl StreamableHttp {
    /// Connects nothing yet; messages from the server arrive on the returned receiver.
    pub fn new(
        url: impl Into<String>,
        extra_headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Bytes>), TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("mcp-companion/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Network {
                url: String::new(),
                reason: e.to_string(),
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let url: String = url.into();
        Ok((
            Self {
                client,
                parsed: reqwest::Url::parse(&url).ok(),
                url,
                shared: Arc::default(),
                extra: Arc::new(extra_headers),
                inbound: tx,
                max_message: DEFAULT_MAX_MESSAGE,
                events: None,
                lost: None,
                large: None,
            },
            rx,
        ))
    }

    /// Receives a line per notable transport event (stream resumed, stream closed).
    pub fn with_events(mut self, tx: mpsc::UnboundedSender<String>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Reports requests whose responses will never arrive (see [`StreamLost`]).
    pub fn with_lost(mut self, tx: mpsc::UnboundedSender<StreamLost>) -> Self {
        self.lost = Some(tx);
        self
    }

    /// Forwards large JSON answers as they arrive, on `tx` (see [`LargeMessage`]).
    pub fn with_large_messages(mut self, tx: mpsc::UnboundedSender<LargeMessage>) -> Self {
        self.large = Some(tx);
        self
    }

    /// Caps one message (an SSE event or a JSON body); larger ones end their stream.
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets the bearer token for every later request.
    pub fn set_bearer(&self, token: Option<Secret>) {
        if let Ok(mut s) = self.shared.lock() {
            s.bearer = token;
        }
    }

    /// The bearer token in use, if any.
    pub fn bearer(&self) -> Option<Secret> {
        self.shared.lock().ok().and_then(|s| s.bearer.clone())
    }

    /// Sets the negotiated protocol version (after `initialize`).
    pub fn set_protocol_version(&self, v: Option<String>) {
        if let Ok(mut s) = self.shared.lock() {
            s.protocol_version = v;
        }
    }

    /// The session id the server assigned, if any.
    pub fn session_id(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.session_id.clone())
    }

    /// Forgets the session (before re-initializing).
    pub fn reset_session(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.session_id = None;
            s.protocol_version = None;
        }
    }

    fn note(&self, msg: String) {
        if let Some(e) = &self.events {
            let _ = e.send(msg);
        }
    }

    fn lose(&self, pending: HashSet<String>, reason: impl Into<String>) {
        if pending.is_empty() {
            return;
        }
        if let Some(l) = &self.lost {
            let _ = l.send(StreamLost {
                ids: pending.into_iter().collect(),
                reason: reason.into(),
            });
        }
    }

    fn headers(&self) -> Result<HeaderMap, TransportError> {
        let mut h = HeaderMap::new();
        for (k, v) in self.extra.iter() {
            h.insert(k.clone(), v.clone());
        }
        let s = self
            .shared
            .lock()
            .map_err(|_| TransportError::Header("state".to_owned()))?;
        if let Some(id) = &s.session_id {
            h.insert(
                SESSION_HEADER,
                HeaderValue::from_str(id)
                    .map_err(|_| TransportError::Header(SESSION_HEADER.to_owned()))?,
            );
        }
        if let Some(v) = &s.protocol_version {
            h.insert(
                VERSION_HEADER,
                HeaderValue::from_str(v)
                    .map_err(|_| TransportError::Header(VERSION_HEADER.to_owned()))?,
            );
        }
        if let Some(t) = &s.bearer {
            h.insert(AUTHORIZATION, bearer_header(t)?);
        }
        Ok(h)
    }

    /// The endpoint, parsed once.
    fn target(&self) -> Result<reqwest::Url, TransportError> {
        match &self.parsed {
            Some(u) => Ok(u.clone()),
            None => Err(TransportError::Network {
                url: self.url.clone(),
                reason: "not a valid URL".to_owned(),
            }),
        }
    }

    fn network(&self, e: &reqwest::Error) -> TransportError {
        TransportError::Network {
            url: self.url.clone(),
            reason: error_chain(e),
        }
    }

    /// POSTs one message (or batch) as the given bytes.
    pub async fn post(&self, body: Bytes) -> Result<PostOutcome, TransportError> {
        let pending: HashSet<String> = match jsonrpc::peek(&body) {
            Ok(p) => p
                .kinds()
                .iter()
                .filter_map(|k| {
                    if let Kind::Request { id, .. } = k {
                        Some(id.clone())
                    } else {
                        None
                    }
                })
                .collect(),
            Err(_) => HashSet::new(),
        };
        let had_session = self.session_id().is_some();
        let resp = self
            .client
            .request(reqwest::Method::POST, self.target()?)
            .headers(self.headers()?)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| self.network(&e))?;
        let status = resp.status().as_u16();
        if let Some(id) = resp
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            if let Ok(mut s) = self.shared.lock() {
                s.session_id = Some(id.to_owned());
            }
        }
        match status {
            202 => return Ok(PostOutcome::Accepted),
            401 | 403 => {
                let challenges = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect();
                return Ok(PostOutcome::Unauthorized { status, challenges });
            }
            404 if had_session => return Ok(PostOutcome::SessionExpired),
            404 | 405 => return Ok(PostOutcome::NotStreamableHttp(status)),
            s if !(200..300).contains(&s) => {
                let text = resp.text().await.unwrap_or_default();
                return Ok(PostOutcome::Failed {
                    status,
                    body: text.chars().take(300).collect(),
                });
            }
            _ => {}
        }
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if is_sse {
            let this = self.clone();
            tokio::spawn(async move { this.read_stream(resp, pending, true).await });
        } else {
            self.read_json(resp, pending).await;
        }
        Ok(PostOutcome::Delivering)
    }

    /// Reads a JSON answer and delivers it; reports the requests it did not answer.
    async fn read_json(&self, mut resp: reqwest::Response, mut pending: HashSet<String>) {
        let too_large = format!("the response exceeded {} bytes", self.max_message);
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_message as u64)
        {
            self.lose(pending, too_large);
            return;
        }
        // The answer to one request is that request's response: once it is large it can go
        // on as it arrives instead of being held whole.
        let large = match (&self.large, pending.iter().next()) {
            (Some(tx), Some(id)) if pending.len() == 1 => Some((tx, id.clone())),
            _ => None,
        };
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut total = 0;
        loop {
            let piece = match resp.chunk().await {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    // The headers came, the body did not: the request may have run, but its
                    // response is gone.
                    self.lose(
                        pending,
                        format!("the response body was cut off ({})", self.network(&e)),
                    );
                    return;
                }
            };
            total += piece.len();
            if total > self.max_message {
                self.lose(pending, too_large);
                return;
            }
            pieces.push(piece);
            if let Some((tx, id)) = &large {
                if total > LARGE {
                    let (pieces_tx, pieces_rx) = mpsc::channel(LARGE_QUEUE);
                    let _ = tx.send(LargeMessage {
                        id: id.clone(),
                        pieces: pieces_rx,
                    });
                    self.forward_large(resp, pieces, total, pieces_tx, pending)
                        .await;
                    return;
                }
            }
        }
        let bytes = match pieces.len() {
            0 => Bytes::new(),
            1 => pieces.swap_remove(0),
            _ => Bytes::from(pieces.concat()),
        };
        if let Ok(p) = jsonrpc::peek(&bytes) {
            for k in p.kinds() {
                if let Kind::Response { id } = k {
                    pending.remove(id);
                }
            }
        }
        if !bytes.trim_ascii().is_empty() {
            let _ = self.inbound.send(bytes);
        }
        self.lose(
            pending,
            "the server's JSON answer did not contain the response",
        );
    }

    /// The rest of a [`LargeMessage`]: what came so far, then the body as it arrives.
    async fn forward_large(
        &self,
        mut resp: reqwest::Response,
        first: Vec<Bytes>,
        mut total: usize,
        tx: mpsc::Sender<Bytes>,
        pending: HashSet<String>,
    ) {
        for p in first {
            if tx.send(p).await.is_err() {
                return;
            }
        }
        loop {
            match resp.chunk().await {
                Ok(Some(p)) => {
                    total += p.len();
                    if total > self.max_message {
                        drop(tx);
                        self.lose(
                            pending,
                            format!("the response exceeded {} bytes", self.max_message),
                        );
                        return;
                    }
                    if tx.send(p).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    // The line ends where the body did; the request gets an error after it.
                    drop(tx);
                    self.lose(
                        pending,
                        format!("the response body was cut off ({})", self.network(&e)),
                    );
                    return;
                }
            }
        }
    }

    /// Opens the standalone GET stream for server-initiated messages. Returns whether the
    /// server offers one (a non-2xx answer, such as 405, means it does not; that is fine).
    pub async fn open_get_stream(&self) -> Result<bool, TransportError> {
        let resp = self.get(None).await?;
        let ok = (200..300).contains(&resp.status().as_u16());
        if ok {
            let this = self.clone();
            tokio::spawn(async move { this.read_stream(resp, HashSet::new(), false).await });
        }
        Ok(ok)
    }

    async fn get(&self, last_event_id: Option<&str>) -> Result<reqwest::Response, TransportError> {
        let mut req = self
            .client
            .request(reqwest::Method::GET, self.target()?)
            .headers(self.headers()?)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        req.send().await.map_err(|e| self.network(&e))
    }

    /// Sends DELETE to end the session. 404/405 and errors are ignored: ending is best-effort.
    pub async fn delete(&self) {
        if self.session_id().is_none() {
            return;
        }
        if let (Ok(h), Ok(url)) = (self.headers(), self.target()) {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                self.client
                    .request(reqwest::Method::DELETE, url)
                    .headers(h)
                    .send(),
            )
            .await;
        }
    }

    /// Reads an SSE stream, delivering messages; resumes it when it ends early.
    async fn read_stream(
        &self,
        mut resp: reqwest::Response,
        mut pending: HashSet<String>,
        is_post: bool,
    ) {
        let mut parser = sse::Parser::new(self.max_message);
        let mut retry: Option<Duration> = None;
        let mut resumes = 0;
        loop {
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                let Ok(events) = parser.feed(&chunk) else {
                    self.lose(
                        pending,
                        format!("an event exceeded {} bytes", self.max_message),
                    );
                    return;
                };
                for ev in events {
                    if let Some(ms) = ev.retry {
                        retry = Some(Duration::from_millis(ms));
                    }
                    if ev.data.trim().is_empty() || !(ev.event.is_empty() || ev.event == "message")
                    {
                        continue;
                    }
                    if let Ok(p) = jsonrpc::peek(ev.data.as_bytes()) {
                        for k in p.kinds() {
                            if let Kind::Response { id } = k {
                                pending.remove(id);
                            }
                        }
                    }
                    let _ = self.inbound.send(Bytes::from(ev.data));
                }
                if is_post && pending.is_empty() {
                    return;
                }
            }
            // The stream ended. A POST stream with responses outstanding, or the standalone
            // stream, is resumed from the last event id after the server's retry delay.
            let Some(last_id) = parser.last_id().map(str::to_owned) else {
                if is_post && !pending.is_empty() {
                    self.note("a response stream ended without its response and without an event id to resume from".to_owned());
                    self.lose(
                        pending,
                        "the response stream ended before the response, and the server gave no event id to resume from",
                    );
                }
                return;
            };
            if (is_post && pending.is_empty()) || self.inbound.is_closed() {
                return;
            }
            if resumes >= MAX_RESUMES {
                self.lose(
                    pending,
                    format!("the response stream was interrupted {MAX_RESUMES} times"),
                );
                return;
            }
            resumes += 1;
            let delay = retry.unwrap_or(DEFAULT_RETRY);
            self.note(format!(
                "stream interrupted; resuming after {} ms with Last-Event-ID {last_id}",
                delay.as_millis()
            ));
            tokio::time::sleep(delay).await;
            match self.get(Some(&last_id)).await {
                Ok(r) if r.status().is_success() => {
                    resp = r;
                    // Event ids are per stream: the resumed stream continues this one.
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    self.lose(
                        pending,
                        format!("resuming the response stream failed with HTTP {status}"),
                    );
                    return;
                }
                Err(e) => {
                    self.lose(pending, format!("resuming the response stream failed: {e}"));
                    return;
                }
            }
        }
    }
}

/// An error with its causes ("error sending request: connection refused"), as a person reads
/// it in a JSON-RPC error or a log line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        reason = format!("{reason}: {s}");
        src = s.source();
    }
    reason
}

/// `Authorization: Bearer …`, marked sensitive so it never appears in logs.
pub(crate) fn bearer_header(token: &Secret) -> Result<HeaderValue, TransportError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| TransportError::Header("Authorization".to_owned()))?;
    v.set_sensitive(true);
    Ok(v)
}
