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
//! - The standalone GET stream carries server-initiated messages. When it ends it is resumed
//!   (with `Last-Event-ID` if it gave an event id) or re-opened, after the server's `retry`
//!   delay, or else after a delay that grows while re-opening gets nowhere (1 s doubling to
//!   30 s). It stays closed once the server answers 405 (no stream offered), 404 (the session
//!   is gone: reported, see [`StreamableHttp::with_session_lost`]; a new session opens a new
//!   stream) or 409 (another stream is open), when the session changes, and once
//!   [`StreamableHttp::close`] was called.
//! - `MCP-Protocol-Version` goes on every request once set; `Mcp-Session-Id` once the server
//!   assigned one.
//! - Requests whose responses can no longer arrive (a stream that ended without them and
//!   cannot be resumed, a JSON answer without them) are reported as [`StreamLost`], so a
//!   bridge can answer them with an error instead of leaving its client waiting.

mod client;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use companion_core::jsonrpc::{self, Kind};
use companion_core::secret::Secret;
use companion_core::sse;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
    USER_AGENT,
};
use http::Method;
use tokio::sync::mpsc;

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the negotiated protocol version.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// Default cap on one message.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// How many requests may wait for their responses at once; more wait their turn. Over
/// HTTP/1.1 each one holds a connection, and each connection about 45 KiB of buffers in hyper:
/// browsers allow a server 6. Notifications (cancellations among them) and responses (answers
/// to the server's requests) never wait: the server takes them at once, and a cancellation
/// queued behind the calls it cancels would defeat its purpose.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 32;
/// How often an interrupted stream is resumed before giving up.
const MAX_RESUMES: u32 = 5;
/// Delay before resuming when the server gave no `retry`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The longest wait before re-opening the standalone stream (unless the server's `retry` asks
/// for longer); a stream that lasted this long counts as having worked.
const MAX_REOPEN_DELAY: Duration = Duration::from_secs(30);
/// The smallest base for the growing delay, so that `retry: 0` cannot make it a busy loop.
const MIN_REOPEN_BACKOFF: Duration = Duration::from_millis(100);
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
    /// Counts [`StreamableHttp::reset_session`] calls (a server without session ids has no
    /// other way to tell one session from the next).
    resets: u64,
}

/// A Streamable HTTP connection to one MCP endpoint.
#[derive(Debug, Clone)]
pub struct StreamableHttp {
    url: String,
    /// `url` parsed once, not per request, and the client for it (`None` if it does not parse:
    /// every request fails).
    endpoint: Option<Arc<(http::Uri, client::Client)>>,
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
    /// Permits for requests awaiting responses ([`MAX_REQUESTS_IN_FLIGHT`]).
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Set by [`Self::close`]: the standalone stream is not re-opened any more.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Told the session id when re-opening the standalone stream finds the session gone.
    session_lost: Option<mpsc::UnboundedSender<String>>,
}

/// How one SSE response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pumped {
    /// Every pending response arrived (POST streams only).
    Answered,
    /// The body ended (or broke); `progress` if it carried any event or event id.
    Ended { progress: bool },
    /// An event was larger than the limit.
    TooLarge,
}

impl StreamableHttp {
    /// Connects nothing yet; messages from the server arrive on the returned receiver.
    pub fn new(
        url: impl Into<String>,
        extra_headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Bytes>), TransportError> {
        let url: String = url.into();
        // Parsed as a URL first, as browsers and reqwest do: that normalises it (an empty path
        // becomes `/`, an international host name its ASCII form).
        let uri = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.as_str().parse::<http::Uri>().ok());
        let endpoint = match uri {
            Some(uri) => {
                let client =
                    client::Client::new(&uri).map_err(|reason| TransportError::Network {
                        url: url.clone(),
                        reason,
                    })?;
                Some(Arc::new((uri, client)))
            }
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Self {
                endpoint,
                url,
                shared: Arc::default(),
                extra: Arc::new(extra_headers),
                inbound: tx,
                max_message: DEFAULT_MAX_MESSAGE,
                events: None,
                lost: None,
                large: None,
                in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_REQUESTS_IN_FLIGHT)),
                closing: Arc::new(tokio::sync::watch::Sender::new(false)),
                session_lost: None,
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

    /// Reports the session id when the server ended the session while nothing was being sent
    /// (re-opening the standalone stream got 404), so that the caller can re-initialize.
    pub fn with_session_lost(mut self, tx: mpsc::UnboundedSender<String>) -> Self {
        self.session_lost = Some(tx);
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
            s.resets += 1;
        }
    }

    /// Which session this is: the number of resets and the session id.
    fn session_key(&self) -> Option<(u64, Option<String>)> {
        self.shared
            .lock()
            .ok()
            .map(|s| (s.resets, s.session_id.clone()))
    }

    /// Stops re-opening the standalone stream (the session is ending). Also done by
    /// [`Self::delete`].
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn is_closing(&self) -> bool {
        *self.closing.borrow() || self.inbound.is_closed()
    }

    /// Sleeps for `d`; `false` if the transport was closed meanwhile.
    async fn sleep_unless_closing(&self, d: Duration) -> bool {
        let mut closing = self.closing.subscribe();
        tokio::select! {
            () = tokio::time::sleep(d) => !self.is_closing(),
            _ = closing.wait_for(|c| *c) => false,
        }
    }

    fn note(&self, msg: String) {
        if let Some(e) = &self.events {
            let _ = e.send(msg);
        }
    }

    /// Reports `pending` as lost because the body of their response failed with `e` midway.
    fn lose_cut_off(&self, pending: HashSet<String>, e: &client::BoxError) {
        let reason = format!(
            "the response body was cut off ({})",
            self.network(e.as_ref())
        );
        self.lose(pending, reason);
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
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(companion_auth::http::USER_AGENT),
        );
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

    /// Sends one request to the endpoint; the response once its headers arrived.
    async fn send(
        &self,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response, TransportError> {
        let Some((uri, client)) = self.endpoint.as_deref() else {
            return Err(TransportError::Network {
                url: self.url.clone(),
                reason: "not a valid URL".to_owned(),
            });
        };
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers;
        client.send(req).await.map_err(|e| self.network(e.as_ref()))
    }

    fn network(&self, e: &(dyn std::error::Error + 'static)) -> TransportError {
        TransportError::Network {
            url: self.url.clone(),
            reason: companion_auth::http::describe_failure(e),
        }
    }

    /// POSTs one message (or batch) as the given bytes.
    pub async fn post(&self, body: Bytes) -> Result<PostOutcome, TransportError> {
        let requests: HashSet<String> = match jsonrpc::peek(&body) {
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
        self.post_requests(body, requests).await
    }

    /// [`Self::post`] for a caller that has already read the ids of the requests in `body`
    /// (the bridge peeks at every message anyway).
    pub async fn post_requests(
        &self,
        body: Bytes,
        pending: HashSet<String>,
    ) -> Result<PostOutcome, TransportError> {
        // Held until the responses were read (or the POST failed).
        let permit = if pending.is_empty() {
            None
        } else {
            Arc::clone(&self.in_flight).acquire_owned().await.ok()
        };
        let had_session = self.session_id().is_some();
        let mut headers = self.headers()?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let resp = self.send(Method::POST, headers, body).await?;
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
                let challenges = companion_auth::http::www_authenticate(resp.headers());
                return Ok(PostOutcome::Unauthorized { status, challenges });
            }
            404 if had_session => return Ok(PostOutcome::SessionExpired),
            404 | 405 => return Ok(PostOutcome::NotStreamableHttp(status)),
            s if !(200..300).contains(&s) => {
                return Ok(PostOutcome::Failed {
                    status,
                    body: start_of_body(resp, 300).await,
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
            tokio::spawn(async move {
                this.read_stream(resp, pending).await;
                drop(permit);
            });
        } else {
            self.read_json(resp, pending).await;
        }
        Ok(PostOutcome::Delivering)
    }

    /// Reads a JSON answer and delivers it; reports the requests it did not answer.
    async fn read_json(&self, resp: Response, mut pending: HashSet<String>) {
        let too_large = format!("the response exceeded {} bytes", self.max_message);
        if resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
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
        let mut body = resp.into_body();
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut total = 0;
        loop {
            let piece = match client::next_chunk(&mut body).await {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    // The headers came, the body did not: the request may have run, but its
                    // response is gone.
                    self.lose_cut_off(pending, &e);
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
                    self.forward_large(body, pieces, total, pieces_tx, pending)
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
        mut body: client::Body,
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
            match client::next_chunk(&mut body).await {
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
                    self.lose_cut_off(pending, &e);
                    return;
                }
            }
        }
    }

    /// Opens the standalone GET stream for server-initiated messages. Returns whether the
    /// server offers one (a non-2xx answer, such as 405, means it does not; that is fine).
    /// While the session lasts the stream is re-opened when it ends (see the module docs).
    pub async fn open_get_stream(&self) -> Result<bool, TransportError> {
        let key = self.session_key();
        let session = key.as_ref().and_then(|(_, id)| id.clone());
        let resp = self.get(session.as_deref(), None).await?;
        let ok = (200..300).contains(&resp.status().as_u16());
        if ok {
            let this = self.clone();
            tokio::spawn(async move { this.read_standalone(resp, key).await });
        }
        Ok(ok)
    }

    /// GET with `Accept: text/event-stream`, in `session` (not necessarily the current one).
    async fn get(
        &self,
        session: Option<&str>,
        last_event_id: Option<&str>,
    ) -> Result<Response, TransportError> {
        let mut headers = self.headers()?;
        headers.remove(SESSION_HEADER);
        if let Some(id) = session {
            headers.insert(
                SESSION_HEADER,
                HeaderValue::from_str(id)
                    .map_err(|_| TransportError::Header(SESSION_HEADER.to_owned()))?,
            );
        }
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(id) = last_event_id {
            headers.insert(
                "last-event-id",
                HeaderValue::from_str(id)
                    .map_err(|_| TransportError::Header("Last-Event-ID".to_owned()))?,
            );
        }
        self.send(Method::GET, headers, Bytes::new()).await
    }

    /// Sends DELETE to end the session (and [`Self::close`]s). 404/405 and errors are ignored:
    /// ending is best-effort.
    pub async fn delete(&self) {
        self.close();
        if self.session_id().is_none() {
            return;
        }
        if let Ok(h) = self.headers() {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                self.send(Method::DELETE, h, Bytes::new()),
            )
            .await;
        }
    }

    /// Reads one SSE response body, delivering its messages and noting `retry`. With `is_post`
    /// it stops as soon as every pending response arrived.
    async fn pump(
        &self,
        resp: Response,
        parser: &mut sse::Parser,
        pending: &mut HashSet<String>,
        retry: &mut Option<Duration>,
        is_post: bool,
    ) -> Pumped {
        let id_before = parser.last_id().map(str::to_owned);
        let mut events_seen = false;
        let mut body = resp.into_body();
        while let Ok(Some(chunk)) = client::next_chunk(&mut body).await {
            let Ok(events) = parser.feed(&chunk) else {
                return Pumped::TooLarge;
            };
            events_seen |= !events.is_empty();
            for ev in events {
                if let Some(ms) = ev.retry {
                    *retry = Some(Duration::from_millis(ms));
                }
                if ev.data.trim().is_empty() || !(ev.event.is_empty() || ev.event == "message") {
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
                return Pumped::Answered;
            }
        }
        Pumped::Ended {
            progress: events_seen || parser.last_id() != id_before.as_deref(),
        }
    }

    /// Reads a POST's SSE stream, delivering messages; resumes it when it ends early.
    async fn read_stream(&self, mut resp: Response, mut pending: HashSet<String>) {
        let mut parser = sse::Parser::new(self.max_message);
        let mut retry: Option<Duration> = None;
        let mut resumes = 0;
        loop {
            match self
                .pump(resp, &mut parser, &mut pending, &mut retry, true)
                .await
            {
                Pumped::Answered => return,
                Pumped::TooLarge => {
                    self.lose(
                        pending,
                        format!("an event exceeded {} bytes", self.max_message),
                    );
                    return;
                }
                Pumped::Ended { .. } => {}
            }
            // The stream ended. A POST stream with responses outstanding is resumed from the
            // last event id after the server's retry delay.
            let Some(last_id) = parser.last_id().map(str::to_owned) else {
                if !pending.is_empty() {
                    self.note("a response stream ended without its response and without an event id to resume from".to_owned());
                    self.lose(
                        pending,
                        "the response stream ended before the response, and the server gave no event id to resume from",
                    );
                }
                return;
            };
            if pending.is_empty() || self.inbound.is_closed() {
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
            let session = self.session_id();
            match self.get(session.as_deref(), Some(&last_id)).await {
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

    /// Reads the standalone GET stream of `session` for as long as the session lasts: when it
    /// ends it is resumed (with the last event id) or re-opened (without one), see the module
    /// docs for when and when not.
    async fn read_standalone(&self, mut resp: Response, key: Option<(u64, Option<String>)>) {
        let session = key.as_ref().and_then(|(_, id)| id.clone());
        let mut parser = sse::Parser::new(self.max_message);
        let mut retry: Option<Duration> = None;
        // Re-opening attempts in a row that got nowhere: the delay grows with them.
        let mut failures: u32 = 0;
        let mut no_requests = HashSet::new();
        loop {
            let opened = tokio::time::Instant::now();
            let mut closing = self.closing.subscribe();
            let ended = tokio::select! {
                p = self.pump(resp, &mut parser, &mut no_requests, &mut retry, false) => p,
                _ = closing.wait_for(|c| *c) => return,
            };
            let progress = match ended {
                Pumped::Ended { progress } => progress,
                Pumped::TooLarge => {
                    tracing::warn!(
                        "the server sent an event larger than {} bytes on the standalone stream; dropped",
                        self.max_message
                    );
                    // What is buffered is part of that event: start afresh.
                    parser = sse::Parser::new(self.max_message);
                    false
                }
                Pumped::Answered => false,
            };
            if progress || opened.elapsed() >= MAX_REOPEN_DELAY {
                failures = 0;
            }
            let mut last_id = parser.last_id().map(str::to_owned);
            resp = loop {
                if self.is_closing() {
                    return;
                }
                if self.session_key() != key {
                    // A new session opens its own stream.
                    tracing::debug!("the session changed; its standalone stream is not re-opened");
                    return;
                }
                let delay = reopen_delay(retry, failures);
                failures = failures.saturating_add(1);
                self.note(format!(
                    "the standalone stream ended; {} after {} ms",
                    if last_id.is_some() {
                        "resuming it"
                    } else {
                        "re-opening it"
                    },
                    delay.as_millis()
                ));
                tracing::debug!(
                    delay_ms = delay.as_millis() as u64,
                    resume = last_id.is_some(),
                    "the standalone stream ended; re-opening it"
                );
                if !self.sleep_unless_closing(delay).await || self.session_key() != key {
                    return;
                }
                match self.get(session.as_deref(), last_id.as_deref()).await {
                    Ok(r) if r.status().is_success() => break r,
                    Ok(r) => {
                        match r.status().as_u16() {
                            405 => {
                                tracing::info!(
                                    "the server no longer offers a standalone stream (HTTP 405)"
                                );
                                return;
                            }
                            404 if session.is_some() => {
                                // Re-initializing opens a new stream.
                                tracing::info!("re-opening the standalone stream: the session is gone (HTTP 404)");
                                if let (Some(tx), Some(id)) = (&self.session_lost, session) {
                                    let _ = tx.send(id);
                                }
                                return;
                            }
                            404 => {
                                tracing::info!(
                                    "the server no longer offers a standalone stream (HTTP 404)"
                                );
                                return;
                            }
                            409 => {
                                tracing::info!(
                                    "another standalone stream is open for this session (HTTP 409)"
                                );
                                return;
                            }
                            status => {
                                tracing::warn!(
                                    status,
                                    "re-opening the standalone stream failed; trying again later"
                                );
                                // The server would not resume: a fresh stream beats none.
                                last_id = None;
                            }
                        }
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "re-opening the standalone stream failed; trying again later"
                    ),
                }
            };
            if last_id.is_none() {
                // A new stream: event ids are per stream.
                parser = sse::Parser::new(self.max_message);
            }
        }
    }
}

/// A response from the endpoint.
type Response = http::Response<client::Body>;

/// The start of a (failure's) body, at most `chars` characters of it, for an error message.
async fn start_of_body(resp: Response, chars: usize) -> String {
    let mut body = resp.into_body();
    let mut start = Vec::new();
    // Four bytes at most per character.
    while start.len() < chars * 4 {
        match client::next_chunk(&mut body).await {
            Ok(Some(piece)) => start.extend_from_slice(&piece),
            _ => break,
        }
    }
    String::from_utf8_lossy(&start)
        .chars()
        .take(chars)
        .collect()
}

/// How long to wait before re-opening the standalone stream after `failures` attempts in a
/// row that got nowhere: the server's `retry` (or 1 s) at first, then doubling up to 30 s
/// (or `retry`, if that is longer).
fn reopen_delay(retry: Option<Duration>, failures: u32) -> Duration {
    let base = retry.unwrap_or(DEFAULT_RETRY);
    if failures == 0 {
        return base;
    }
    let grown = base
        .max(MIN_REOPEN_BACKOFF)
        .saturating_mul(2u32.saturating_pow(failures.min(16)));
    grown.min(MAX_REOPEN_DELAY).max(base)
}

/// `Authorization: Bearer …`, marked sensitive so it never appears in logs.
pub(crate) fn bearer_header(token: &Secret) -> Result<HeaderValue, TransportError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| TransportError::Header("Authorization".to_owned()))?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reopen_delay_honours_retry_then_grows_to_a_cap() {
        let ms = Duration::from_millis;
        // The server's retry first, as given (0 included).
        assert_eq!(reopen_delay(Some(ms(250)), 0), ms(250));
        assert_eq!(reopen_delay(Some(ms(0)), 0), ms(0));
        assert_eq!(reopen_delay(None, 0), DEFAULT_RETRY);
        // Then doubling, from at least 100 ms, so retry: 0 is no busy loop.
        assert_eq!(reopen_delay(Some(ms(250)), 1), ms(500));
        assert_eq!(reopen_delay(Some(ms(250)), 2), ms(1000));
        assert_eq!(reopen_delay(Some(ms(0)), 1), ms(200));
        assert_eq!(reopen_delay(None, 1), Duration::from_secs(2));
        assert_eq!(reopen_delay(None, 4), Duration::from_secs(16));
        // Capped at 30 s, however many failures.
        assert_eq!(reopen_delay(None, 5), MAX_REOPEN_DELAY);
        assert_eq!(reopen_delay(None, u32::MAX), MAX_REOPEN_DELAY);
        // Unless the server asked for longer.
        let long = Duration::from_secs(60);
        assert_eq!(reopen_delay(Some(long), 3), long);
    }
}
