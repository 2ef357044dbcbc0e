//! `mcp-companion connect`: a byte-transparent relay between an MCP client on stdio and a
//! remote MCP server over Streamable HTTP (MCP 2025-11-25), falling back to the legacy
//! HTTP+SSE transport (2024-11-05).
//!
//! ```text
//! client ─stdin──► frames ─► peek id/method ─► POST (one task per message) ─► server
//! client ◄─stdout─ writer ◄─ router ◄─ JSON bodies, POST SSE streams, GET stream, legacy SSE
//! ```
//!
//! # Transparency
//! Every message goes out as the bytes that came in. The bridge only peeks at `id` and
//! `method` ([`companion_core::jsonrpc::peek`]), reads `protocolVersion` from the response to
//! the client's `initialize` (for the `MCP-Protocol-Version` header), and keeps the client's
//! `initialize` and `notifications/initialized` bytes to replay when the server loses the
//! session. The one change to bytes is on stdout: see [`stdio`]. This is why the bridge does
//! not use a typed SDK: typed messages drop unknown fields and refuse batches and float ids.
//!
//! # What the client sees when something fails
//! Requests never hang on the bridge. A request whose POST fails, whose response stream dies
//! without a way to resume, or that cannot be authorized gets a JSON-RPC error with its own
//! id ([`codes`]); a notification that cannot be delivered is dropped with a log line.
//!
//! # Sessions
//! When the server loses the session (404 to a request that carried its id) the bridge opens
//! a new one by replaying the client's `initialize` and `notifications/initialized`, hides the
//! replayed response, and sends the request again. The same happens without a request when
//! re-opening the standalone GET stream finds the session gone.
//!
//! # Authorization
//! The bridge never signs in or refreshes: a [`TokenSource`] (the credential broker) does.
//! On 401 the rejected token is reported and the request retried once with the replacement.
//! On 403 `insufficient_scope` the request is held while a person approves the new scopes in
//! the tray, polling for a token of a newer generation every second, up to a time limit.

pub mod legacy_sse;
pub mod stdio;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use companion_core::config::Transport;
use companion_core::jsonrpc::{self, Kind, PeekError, Peeked};
use companion_core::oauth::challenge;
use companion_core::secret::Secret;
pub use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::bridge::legacy_sse::{Connected, LegacySse};
use crate::bridge::stdio::{error_response, Frame, Input, Output};
pub use crate::bridge::stdio::{Stdin, Stdout};
use crate::transport::{LargeMessage, PostOutcome, StreamLost, StreamableHttp, TransportError};

/// The JSON-RPC error codes the bridge answers with itself.
pub mod codes {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The line is JSON but not a JSON-RPC message, or it is larger than the limit.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The server could not be reached, answered with an HTTP error, or lost the response.
    pub const UPSTREAM: i64 = -32000;
    /// Authorization is needed (sign in, approve scopes) or was refused.
    pub const AUTH: i64 = -32001;
    /// The server's configuration is not supported by `connect` yet.
    pub const UNSUPPORTED: i64 = -32002;
}

/// How long an `initialize` replayed after a lost session may take.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds of validity asked for a token before it is used.
const MIN_TTL: u64 = 60;
/// A held token is replaced when it has less than this many seconds left.
const REFRESH_MARGIN: u64 = 30;
/// After stdin ends, responses still on their way get this long to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Ending the session (DELETE) gets this long.
const DELETE_TIMEOUT: Duration = Duration::from_millis(300);

/// What to connect to, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's MCP endpoint (for the legacy transport, its SSE URL).
    pub url: String,
    /// Which transport: `Auto` tries Streamable HTTP and falls back to legacy SSE on 404/405.
    pub transport: Transport,
    /// Extra headers on every request (API keys, ...).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Largest message accepted from either side, in bytes.
    pub max_message: usize,
    /// How long a request is held while a person approves more scopes.
    pub step_up_timeout: Duration,
    /// When set, every request is answered with this error instead of being forwarded.
    pub refuse: Option<String>,
    /// From this time on (Unix seconds), every request is answered with the error instead of
    /// being forwarded: a static token's expiry, read from the token itself.
    pub refuse_from: Option<(u64, String)>,
    /// What to do when the server refuses the static credentials in `headers` (401/403), e.g.
    /// "store a new token with `mcp-companion secret set NAME --bearer`".
    pub refused_hint: Option<String>,
}

impl Options {
    /// Defaults: auto transport, no extra headers, 64 MiB messages, 120 s for a step-up.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            transport: Transport::Auto,
            headers: Vec::new(),
            max_message: crate::transport::DEFAULT_MAX_MESSAGE,
            step_up_timeout: Duration::from_secs(120),
            refuse: None,
            refuse_from: None,
            refused_hint: None,
        }
    }
}

/// An access token for the server.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub access_token: Secret,
    /// When it expires (Unix seconds), if known.
    pub expires_at: Option<u64>,
    /// Increases with every new token; names the token when it is rejected.
    pub generation: u64,
}

/// Why no token could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialErrorKind {
    /// A person must sign in.
    NeedsSignIn,
    /// A person must approve more scopes.
    StepUpRequired,
    /// Anything else (broker unreachable, keychain locked, ...).
    Other,
}

/// A [`TokenSource`] failure, with a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CredentialError {
    /// What kind.
    pub kind: CredentialErrorKind,
    /// What happened and what to do, shown to the person as the JSON-RPC error message.
    pub message: String,
}

/// A boxed token future (object-safe async).
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Token, CredentialError>> + Send + 'a>>;

/// Where tokens come from: the credential broker. The bridge never refreshes by itself.
pub trait TokenSource: Send + fmt::Debug {
    /// A token with at least `min_ttl` seconds of validity left.
    fn token(&mut self, min_ttl: u64) -> TokenFuture<'_>;
    /// The server rejected the token of `generation` with `status` and these
    /// `WWW-Authenticate` values; returns a replacement.
    fn rejected(
        &mut self,
        generation: u64,
        status: u16,
        challenges: Vec<String>,
    ) -> TokenFuture<'_>;
}

/// Failures that stop the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// stdio could not be set up.
    #[error("cannot set up stdio: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Runs the bridge until `input` ends or `shutdown` resolves. Messages from the client are
/// read from `input`; everything for the client is written to `output`.
pub async fn run(
    opts: Options,
    tokens: Option<Box<dyn TokenSource>>,
    input: Stdin,
    output: Stdout,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BridgeError> {
    let out = Output::start(output)?;
    let (lost_tx, lost_rx) = mpsc::unbounded_channel();
    let (http, http_rx) = StreamableHttp::new(opts.url.clone(), opts.headers.clone())?;
    let (large_tx, large_rx) = mpsc::unbounded_channel();
    let (gone_tx, gone_rx) = mpsc::unbounded_channel();
    let http = http
        .with_lost(lost_tx)
        .with_session_lost(gone_tx)
        .with_max_message(opts.max_message)
        .with_large_messages(large_tx);
    let (legacy_tx, legacy_rx) = mpsc::unbounded_channel();
    let (closed_tx, closed_rx) = mpsc::unbounded_channel();
    let bridge = Arc::new(Bridge {
        http,
        legacy: OnceLock::new(),
        legacy_channels: (legacy_tx, closed_tx),
        out,
        state: Mutex::default(),
        reinit: tokio::sync::Mutex::new(()),
        tokens: tokens.map(tokio::sync::Mutex::new),
        token: Mutex::default(),
        opts,
    });
    if bridge.opts.transport == Transport::Sse {
        bridge.use_legacy()?;
    }
    tokio::spawn(route(
        Arc::clone(&bridge),
        http_rx,
        legacy_rx,
        large_rx,
        lost_rx,
        closed_rx,
        gone_rx,
    ));

    let mut input = Input::start(input, bridge.opts.max_message)?;
    let relay = async {
        while let Some(frame) = input.next().await {
            bridge.handle(frame).await;
        }
    };
    let ended_by_eof = tokio::select! {
        () = relay => true,
        () = shutdown => false,
    };
    if ended_by_eof {
        // The client closed stdin; answers already on their way may still be wanted (a
        // piped `echo ... | mcp-companion connect` expects its response).
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while bridge.has_pending() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::info!("stdin closed; ending the session");
    } else {
        tracing::info!("asked to stop; ending the session");
    }
    bridge.end_session().await;
    bridge.out.flush(Duration::from_millis(200)).await;
    Ok(())
}

/// What is being sent, which decides how a lost session is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendKind {
    /// The client's `initialize`: it starts a session, so there is nothing to replay.
    Initialize,
    /// The bridge's own replay of `initialize`/`initialized`: never replays again.
    Replay,
    /// Anything else: a lost session is re-initialized, then the message is sent again.
    Other,
}

/// Why a message could not be delivered: becomes the JSON-RPC error.
#[derive(Debug)]
struct Failure {
    code: i64,
    message: String,
}

impl Failure {
    fn upstream(message: impl Into<String>) -> Self {
        Self {
            code: codes::UPSTREAM,
            message: message.into(),
        }
    }

    fn auth(message: impl Into<String>) -> Self {
        Self {
            code: codes::AUTH,
            message: message.into(),
        }
    }
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        Self::upstream(e.to_string())
    }
}

impl From<CredentialError> for Failure {
    fn from(e: CredentialError) -> Self {
        Self::auth(e.message)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Requests sent upstream and not answered: id → whether their POST was accepted.
    pending: HashMap<String, bool>,
    /// Requests the bridge answered with an error; a late response to them is dropped.
    failed: HashSet<String>,
    /// Responses the bridge itself waits for (a replayed `initialize`), by id.
    swallow: HashMap<String, oneshot::Sender<Bytes>>,
    /// The client's `initialize` (id, bytes), for replay.
    initialize: Option<(String, Bytes)>,
    /// The client's `notifications/initialized`, for replay.
    initialized: Option<Bytes>,
    /// The id of the `initialize` whose response carries the protocol version.
    version_from: Option<String>,
    /// Counts sessions, so concurrent requests that lose one re-initialize once.
    epoch: u64,
    /// Some POST succeeded over Streamable HTTP: a later 404 is no reason to fall back.
    streamable_works: bool,
    /// A re-initialization failed half-way (the old session is gone and no new one exists,
    /// e.g. the server was still restarting): the next request tries again first.
    session_broken: bool,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    generation: u64,
    expires_at: Option<u64>,
}

struct Bridge {
    opts: Options,
    http: StreamableHttp,
    legacy: OnceLock<LegacySse>,
    legacy_channels: (mpsc::UnboundedSender<Bytes>, mpsc::UnboundedSender<String>),
    out: Output,
    state: Mutex<State>,
    /// One re-initialization at a time.
    reinit: tokio::sync::Mutex<()>,
    tokens: Option<tokio::sync::Mutex<Box<dyn TokenSource>>>,
    /// The generation and expiry of the token in use (the token itself is in the transports).
    token: Mutex<Option<Held>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `protocolVersion` of an `initialize` response.
fn protocol_version(response: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Response {
        result: Option<InitResult>,
    }
    #[derive(Deserialize)]
    struct InitResult {
        #[serde(rename = "protocolVersion")]
        protocol_version: Option<String>,
    }
    serde_json::from_slice::<Response>(response)
        .ok()?
        .result?
        .protocol_version
}

fn request_ids(p: &Peeked) -> Vec<String> {
    p.kinds()
        .iter()
        .filter_map(|k| match k {
            Kind::Request { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

impl Bridge {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than stopping would: keep going with what is there.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn has_pending(&self) -> bool {
        !self.state().pending.is_empty()
    }

    fn url(&self) -> &str {
        &self.opts.url
    }

    /// Switches to the legacy SSE transport (not connected yet).
    fn use_legacy(&self) -> Result<&LegacySse, TransportError> {
        if let Some(l) = self.legacy.get() {
            return Ok(l);
        }
        let (inbound, closed) = self.legacy_channels.clone();
        let l = LegacySse::new(
            &self.opts.url,
            self.opts.headers.clone(),
            inbound,
            closed,
            self.opts.max_message,
        )?;
        l.set_bearer(self.bearer());
        Ok(self.legacy.get_or_init(|| l))
    }

    fn bearer(&self) -> Option<Secret> {
        self.http.bearer()
    }

    /// One frame from stdin.
    async fn handle(self: &Arc<Self>, frame: Frame) {
        let line = match frame {
            Frame::Line(l) => l,
            Frame::TooLong => {
                self.out.send(error_response(
                    "null",
                    codes::INVALID_REQUEST,
                    &format!(
                        "Invalid Request: the message is larger than {} bytes (--max-message-bytes)",
                        self.opts.max_message
                    ),
                ));
                return;
            }
        };
        let peeked = match jsonrpc::peek(&line) {
            Ok(p) => p,
            Err(PeekError::Parse(e)) => {
                self.out.send(error_response(
                    "null",
                    codes::PARSE_ERROR,
                    &format!("Parse error: {e}"),
                ));
                return;
            }
            Err(e) => {
                self.out.send(error_response(
                    "null",
                    codes::INVALID_REQUEST,
                    &format!("Invalid Request: {e}"),
                ));
                return;
            }
        };
        let ids = request_ids(&peeked);
        let expired = match &self.opts.refuse_from {
            Some((from, reason)) if now() >= *from => Some(reason),
            _ => None,
        };
        if let Some(reason) = self.opts.refuse.as_ref().or(expired) {
            for id in &ids {
                self.out
                    .send(error_response(id, codes::UNSUPPORTED, reason));
            }
            return;
        }
        match &peeked {
            Peeked::One(Kind::Request { id, method }) if method == "initialize" => {
                {
                    let mut s = self.state();
                    s.initialize = Some((id.clone(), line.clone()));
                    s.initialized = None;
                    s.version_from = Some(id.clone());
                    s.pending.insert(id.clone(), false);
                }
                // A new initialize starts a new session.
                self.http.reset_session();
                // Inline: nothing else may go out before the session (and the transport)
                // is settled.
                self.forward(line, ids, SendKind::Initialize).await;
            }
            Peeked::One(Kind::Notification { method }) if method == "notifications/initialized" => {
                self.state().initialized = Some(line.clone());
                self.forward(line, ids, SendKind::Other).await;
                // Servers send requests that are not tied to a client request (elicitation,
                // sampling) only on the standalone stream; it must be open before the
                // client's next request can trigger one.
                self.open_get_stream().await;
            }
            _ => {
                {
                    let mut s = self.state();
                    for id in &ids {
                        s.pending.insert(id.clone(), false);
                    }
                }
                let this = Arc::clone(self);
                tokio::spawn(async move { this.forward(line, ids, SendKind::Other).await });
            }
        }
    }

    /// Sends one message and answers its requests with errors if it cannot be delivered.
    async fn forward(&self, body: Bytes, ids: Vec<String>, kind: SendKind) {
        match self.send(&body, Some(&ids), kind).await {
            Ok(()) => {
                let mut s = self.state();
                for id in &ids {
                    if let Some(accepted) = s.pending.get_mut(id) {
                        *accepted = true;
                    }
                }
            }
            Err(f) if ids.is_empty() => {
                tracing::warn!(error = %f.message, "a notification or response could not be delivered; dropped");
            }
            Err(f) => {
                tracing::warn!(error = %f.message, "answering {} request(s) with an error", ids.len());
                self.fail(&ids, f.code, &f.message);
            }
        }
    }

    /// Answers these requests (those still pending) with an error.
    fn fail(&self, ids: &[String], code: i64, message: &str) {
        let mut answers = Vec::new();
        {
            let mut s = self.state();
            for id in ids {
                if s.pending.remove(id).is_some() {
                    s.failed.insert(id.clone());
                    answers.push(error_response(id, code, message));
                }
            }
        }
        for a in answers {
            self.out.send(a);
        }
    }

    /// Answers every request whose POST was accepted (its response is lost with the session).
    fn fail_accepted(&self, message: &str) {
        let ids: Vec<String> = self
            .state()
            .pending
            .iter()
            .filter(|(_, accepted)| **accepted)
            .map(|(id, _)| id.clone())
            .collect();
        self.fail(&ids, codes::UPSTREAM, message);
    }

    /// POSTs with authorization, re-initialization and transport fallback. `ids`: the ids of
    /// the requests in `body`, when the caller has them (else the transport reads them).
    async fn send(
        &self,
        body: &Bytes,
        ids: Option<&[String]>,
        kind: SendKind,
    ) -> Result<(), Failure> {
        let mut retried_401 = false;
        let mut stepped_up = false;
        let mut reinitialized = false;
        loop {
            if kind != SendKind::Replay {
                // Wait out a re-initialization in progress: until it is done the transport
                // has no session, and a request sent without one would be refused. (The
                // replay itself runs under this lock, hence the exception.)
                drop(self.reinit.lock().await);
            }
            if kind == SendKind::Other && self.state().session_broken {
                let epoch = self.state().epoch;
                self.reinitialize(epoch, kind).await?;
            }
            self.ensure_token().await?;
            let generation = self.generation();
            let epoch = self.state().epoch;
            let outcome = match self.legacy.get() {
                Some(l) => l.post(body.clone()).await?,
                None => match ids {
                    Some(ids) => {
                        self.http
                            .post_requests(body.clone(), ids.iter().cloned().collect())
                            .await?
                    }
                    None => self.http.post(body.clone()).await?,
                },
            };
            tracing::debug!(?kind, epoch, ?outcome, "posted");
            match outcome {
                PostOutcome::Accepted | PostOutcome::Delivering => {
                    let mut st = self.state();
                    if self.legacy.get().is_none() {
                        st.streamable_works = true;
                    }
                    if kind == SendKind::Initialize {
                        // The client started a new session itself.
                        st.session_broken = false;
                    }
                    return Ok(());
                }
                PostOutcome::Unauthorized { status, challenges } => {
                    let refs: Vec<&str> = challenges.iter().map(String::as_str).collect();
                    let insufficient_scope =
                        challenge::bearer(&refs).is_some_and(|c| c.is_insufficient_scope());
                    match status {
                        401 if self.tokens.is_some() && !retried_401 => {
                            retried_401 = true;
                            self.rejected(generation, 401, challenges).await?;
                        }
                        403 if self.tokens.is_some() && insufficient_scope && !stepped_up => {
                            stepped_up = true;
                            self.step_up(generation, challenges).await?;
                        }
                        _ => return Err(self.refused(status, insufficient_scope, retried_401)),
                    }
                }
                PostOutcome::SessionExpired if kind != SendKind::Replay && !reinitialized => {
                    reinitialized = true;
                    self.reinitialize(epoch, kind).await?;
                }
                PostOutcome::SessionExpired => {
                    return Err(Failure::upstream(format!(
                        "{}: the server lost the session again right after it was re-initialized",
                        self.url()
                    )))
                }
                PostOutcome::NotStreamableHttp(status) if self.may_fall_back(kind) => {
                    tracing::info!(
                        status,
                        "no Streamable HTTP endpoint here; trying the legacy HTTP+SSE transport"
                    );
                    self.use_legacy()?;
                    // Not connected yet: the next post says SessionExpired, which connects.
                }
                PostOutcome::NotStreamableHttp(status) => {
                    let hint = if self.opts.transport == Transport::StreamableHttp {
                        " (for a legacy SSE server set transport = \"sse\")"
                    } else {
                        ""
                    };
                    return Err(Failure::upstream(format!(
                        "{} answered HTTP {status}: no MCP endpoint there; check the URL{hint}",
                        self.url()
                    )));
                }
                PostOutcome::Failed { status, body } => {
                    return Err(Failure::upstream(format!(
                        "{} answered HTTP {status}: {}",
                        self.url(),
                        body.trim()
                    )))
                }
            }
        }
    }

    fn may_fall_back(&self, kind: SendKind) -> bool {
        self.opts.transport == Transport::Auto
            && kind != SendKind::Replay
            && self.legacy.get().is_none()
            && !self.state().streamable_works
    }

    fn refused(&self, status: u16, insufficient_scope: bool, retried: bool) -> Failure {
        let url = self.url();
        Failure::auth(match (status, self.tokens.is_some(), &self.opts.refused_hint) {
            (401 | 403, false, Some(hint)) => {
                format!("{url} refused the stored credentials (HTTP {status}): {hint}")
            }
            (401, false, None) => format!(
                "{url} requires authorization (HTTP 401): configure it with `mcp-companion add`, or pass --header 'Authorization: Bearer ${{TOKEN}}'"
            ),
            (401, true, _) if retried => {
                format!("{url} rejected the renewed token too (HTTP 401)")
            }
            (403, _, _) if insufficient_scope => {
                format!("{url} needs more scopes than were approved (HTTP 403 insufficient_scope)")
            }
            _ => format!("{url} refused access (HTTP {status})"),
        })
    }

    // ---- authorization ----

    fn generation(&self) -> u64 {
        self.token
            .lock()
            .ok()
            .and_then(|t| t.map(|h| h.generation))
            .unwrap_or(0)
    }

    fn token_is_fresh(&self) -> bool {
        self.token.lock().ok().is_some_and(|t| {
            t.is_some_and(|h| h.expires_at.is_none_or(|e| e > now() + REFRESH_MARGIN))
        })
    }

    fn set_token(&self, t: Token) {
        tracing::debug!(generation = t.generation, "using a new access token");
        if let Some(l) = self.legacy.get() {
            l.set_bearer(Some(t.access_token.clone()));
        }
        self.http.set_bearer(Some(t.access_token));
        if let Ok(mut held) = self.token.lock() {
            *held = Some(Held {
                generation: t.generation,
                expires_at: t.expires_at,
            });
        }
    }

    /// Makes sure a token with some validity left is in use (OAuth servers only).
    async fn ensure_token(&self) -> Result<(), Failure> {
        let Some(source) = &self.tokens else {
            return Ok(());
        };
        if self.token_is_fresh() {
            return Ok(());
        }
        let mut source = source.lock().await;
        // Another request may have fetched one while this one waited for the lock.
        if self.token_is_fresh() {
            return Ok(());
        }
        let t = source.token(MIN_TTL).await?;
        self.set_token(t);
        Ok(())
    }

    async fn rejected(
        &self,
        generation: u64,
        status: u16,
        challenges: Vec<String>,
    ) -> Result<(), Failure> {
        let Some(source) = &self.tokens else {
            return Ok(());
        };
        tracing::info!(
            status,
            generation,
            "the server rejected the token; asking the broker for another"
        );
        let t = source
            .lock()
            .await
            .rejected(generation, status, challenges)
            .await?;
        self.set_token(t);
        Ok(())
    }

    /// 403 insufficient_scope: the broker asks the person; hold until a newer token comes.
    async fn step_up(&self, generation: u64, challenges: Vec<String>) -> Result<(), Failure> {
        let Some(source) = &self.tokens else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + self.opts.step_up_timeout;
        let first = source
            .lock()
            .await
            .rejected(generation, 403, challenges)
            .await;
        let mut waiting_for = match first {
            Ok(t) if t.generation > generation => {
                self.set_token(t);
                return Ok(());
            }
            Ok(_) => "approval of more scopes".to_owned(),
            Err(e) if e.kind == CredentialErrorKind::StepUpRequired => e.message,
            Err(e) => return Err(e.into()),
        };
        tracing::info!(%waiting_for, "holding the request until a person approves");
        loop {
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure::auth(format!(
                    "{waiting_for} (waited {} s)",
                    self.opts.step_up_timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            match source.lock().await.token(0).await {
                Ok(t) if t.generation > generation => {
                    self.set_token(t);
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.kind == CredentialErrorKind::NeedsSignIn => return Err(e.into()),
                Err(e) => waiting_for = e.message,
            }
        }
    }

    // ---- sessions ----

    /// The server lost the session (404, or the legacy stream ended): open a new one and
    /// replay the client's `initialize` and `initialized`, hiding the replayed response.
    async fn reinitialize(&self, epoch: u64, kind: SendKind) -> Result<(), Failure> {
        let _one_at_a_time = self.reinit.lock().await;
        if self.state().epoch != epoch {
            return Ok(()); // another request did it meanwhile
        }
        let replay = match kind {
            SendKind::Other => self.state().initialize.clone(),
            _ => None,
        };
        let replayed = async {
            if let Some(l) = self.legacy.get() {
                self.connect_legacy(l).await?;
            } else {
                self.http.reset_session();
            }
            if let Some((id, init)) = replay {
                tracing::info!("the server lost the session; re-initializing");
                let (tx, rx) = oneshot::channel();
                self.state().swallow.insert(id.clone(), tx);
                let sent = Box::pin(self.send(&init, None, SendKind::Replay)).await;
                let response = match sent {
                    Ok(()) => tokio::time::timeout(REPLAY_TIMEOUT, rx)
                        .await
                        .ok()
                        .and_then(Result::ok),
                    Err(e) => {
                        self.state().swallow.remove(&id);
                        return Err(e);
                    }
                };
                let Some(response) = response else {
                    self.state().swallow.remove(&id);
                    return Err(Failure::upstream(format!(
                        "{}: the server did not answer the replayed initialize",
                        self.url()
                    )));
                };
                self.learn_version(&response);
                let initialized = self.state().initialized.clone();
                if let Some(n) = initialized {
                    Box::pin(self.send(&n, None, SendKind::Replay)).await?;
                    self.open_get_stream().await;
                }
            }
            Ok::<(), Failure>(())
        }
        .await;
        let mut st = self.state();
        st.session_broken = replayed.is_err();
        if replayed.is_ok() {
            st.epoch += 1;
        }
        replayed
    }

    /// The server ended session `id` while the client was quiet (re-opening the standalone
    /// stream got 404): re-initialize now rather than at the client's next request, so that
    /// the server's own messages (notifications, requests) reach the client meanwhile.
    async fn session_gone(&self, id: &str) {
        let epoch = self.state().epoch;
        if self.legacy.get().is_some()
            || self.http.session_id().as_deref() != Some(id)
            || self.state().initialized.is_none()
        {
            // Already replaced (a request found out first), or never fully initialized.
            return;
        }
        if let Err(f) = self.reinitialize(epoch, SendKind::Other).await {
            tracing::warn!(error = %f.message, "re-initializing after the server ended the session failed");
        }
    }

    /// Opens a legacy SSE session, authorizing once on 401.
    async fn connect_legacy(&self, l: &LegacySse) -> Result<(), Failure> {
        let mut retried = false;
        loop {
            self.ensure_token().await?;
            let generation = self.generation();
            match l.connect().await? {
                Connected::Ready => return Ok(()),
                Connected::Unauthorized { status, challenges } => {
                    if status == 401 && self.tokens.is_some() && !retried {
                        retried = true;
                        self.rejected(generation, status, challenges).await?;
                    } else {
                        return Err(self.refused(status, false, retried));
                    }
                }
            }
        }
    }

    async fn open_get_stream(&self) {
        if self.legacy.get().is_some() {
            return;
        }
        match self.http.open_get_stream().await {
            Ok(true) => tracing::debug!("standalone GET stream open"),
            Ok(false) => tracing::debug!("the server offers no standalone GET stream"),
            Err(e) => tracing::warn!(error = %e, "opening the standalone GET stream failed"),
        }
    }

    fn learn_version(&self, response: &[u8]) {
        if self.legacy.get().is_some() {
            return;
        }
        let v = protocol_version(response);
        tracing::info!(
            protocol_version = v.as_deref().unwrap_or("?"),
            "initialized"
        );
        self.http.set_protocol_version(v);
    }

    /// Ends the session: DELETE (Streamable HTTP; errors ignored), or close the SSE stream.
    async fn end_session(&self) {
        if let Some(l) = self.legacy.get() {
            l.close();
            return;
        }
        let _ = tokio::time::timeout(DELETE_TIMEOUT, self.http.delete()).await;
    }

    // ---- server to client ----

    /// One message from the server.
    fn deliver(&self, msg: Bytes) {
        let peeked = match jsonrpc::peek(&msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "the server sent something that is not a JSON-RPC message; dropped");
                return;
            }
        };
        let mut learn = false;
        {
            let mut s = self.state();
            if let Peeked::One(Kind::Response { id }) = &peeked {
                if let Some(tx) = s.swallow.remove(id) {
                    let _ = tx.send(msg);
                    return;
                }
                if s.failed.remove(id) {
                    tracing::info!(
                        id,
                        "a response arrived after the request was answered with an error; dropped"
                    );
                    return;
                }
                if s.version_from.as_ref() == Some(id) {
                    s.version_from = None;
                    learn = true;
                }
            }
            for k in peeked.kinds() {
                if let Kind::Response { id } = k {
                    s.pending.remove(id);
                }
            }
        }
        if learn {
            // Before the client sees the response, so the header is in place for whatever it
            // sends next.
            self.learn_version(&msg);
        }
        self.out.send(msg);
    }

    /// A large response, forwarded to stdout as it arrives (see [`LargeMessage`]). Its
    /// request stays pending until the line is written, so that a cut-off body still gets
    /// its error and an ending bridge still waits for it.
    fn deliver_large(self: &Arc<Self>, m: LargeMessage) {
        let LargeMessage { id, mut pieces } = m;
        let ordinary = {
            let s = self.state();
            !(s.swallow.contains_key(&id)
                || s.failed.contains(&id)
                || s.version_from.as_ref() == Some(&id))
        };
        let this = Arc::clone(self);
        if !ordinary {
            // A replayed or late answer, or the initialize answer the version is read from:
            // rare enough to gather whole and take the ordinary way.
            tokio::spawn(async move {
                let mut whole = Vec::new();
                while let Some(p) = pieces.recv().await {
                    whole.extend_from_slice(&p);
                }
                this.deliver(Bytes::from(whole));
            });
            return;
        }
        let written = self.out.stream(pieces);
        tokio::spawn(async move {
            let _ = written.await;
            this.state().pending.remove(&id);
        });
    }
}

/// Routes everything the server sends to stdout, and turns lost streams into errors.
async fn route(
    bridge: Arc<Bridge>,
    mut http: mpsc::UnboundedReceiver<Bytes>,
    mut legacy: mpsc::UnboundedReceiver<Bytes>,
    mut large: mpsc::UnboundedReceiver<LargeMessage>,
    mut lost: mpsc::UnboundedReceiver<StreamLost>,
    mut closed: mpsc::UnboundedReceiver<String>,
    mut gone: mpsc::UnboundedReceiver<String>,
) {
    loop {
        // Biased: a stream's messages are queued before the report that it ended, so they
        // must be routed first (or their requests would get an error and then a response).
        tokio::select! {
            biased;
            Some(m) = http.recv() => bridge.deliver(m),
            Some(m) = legacy.recv() => bridge.deliver(m),
            Some(m) = large.recv() => bridge.deliver_large(m),
            Some(l) = lost.recv() => {
                let message = format!("{}: {}", bridge.url(), l.reason);
                bridge.fail(&l.ids, codes::UPSTREAM, &message);
            }
            Some(reason) = closed.recv() => {
                bridge.fail_accepted(&format!("{}: the session ended ({reason})", bridge.url()));
            }
            Some(session) = gone.recv() => {
                let b = Arc::clone(&bridge);
                tokio::spawn(async move { b.session_gone(&session).await });
            }
            else => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_version_is_read_from_the_initialize_response() {
        assert_eq!(
            protocol_version(br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-03-26","capabilities":{"x":{}},"serverInfo":{"name":"s","version":"1"}}}"#).as_deref(),
            Some("2025-03-26")
        );
        assert_eq!(
            protocol_version(br#"{"jsonrpc":"2.0","id":0,"error":{"code":1,"message":"no"}}"#),
            None
        );
        assert_eq!(protocol_version(b"nonsense"), None);
    }

    #[test]
    fn request_ids_of_batches() {
        let p = jsonrpc::peek(br#"[{"jsonrpc":"2.0","id":1.5,"method":"a"},{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":"x","method":"b"}]"#).unwrap();
        assert_eq!(request_ids(&p), ["1.5", "\"x\""]);
    }
}
