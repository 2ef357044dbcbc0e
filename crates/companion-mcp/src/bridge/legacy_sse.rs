//! The legacy HTTP+SSE client transport (MCP 2024-11-05 §Transports), on raw bytes.
//!
//! `GET <url>` with `Accept: text/event-stream` opens the one stream of the session; its first
//! event, `endpoint`, names the URL to POST messages to (resolved against the SSE URL, and it
//! must have the same origin: a server cannot send our token elsewhere). Every message from the
//! server, responses included, arrives as a `message` event on that stream. When the stream
//! ends the session is gone: the bridge is told, and reconnects on the next message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use companion_core::secret::Secret;
use companion_core::sse;
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tokio::sync::mpsc;
use url::Url;

use crate::transport::{PostOutcome, TransportError};

/// How long the server may take to send the `endpoint` event.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the GET that opens a session went.
#[derive(Debug)]
pub enum Connected {
    /// The stream is open and the endpoint known.
    Ready,
    /// 401 or 403: the challenge headers.
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Every `WWW-Authenticate` value.
        challenges: Vec<String>,
    },
}

/// One legacy SSE session (replaced on reconnect).
#[derive(Debug)]
struct Session {
    endpoint: Url,
    /// Which session this is: a late report about an old one must not end a newer one.
    generation: u64,
    /// Dropping it ends the session's reader.
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Debug, Default)]
struct Slot {
    current: Option<Session>,
    generation: u64,
}

impl Slot {
    /// Ends session `generation` if it is still the current one; says whether it was.
    fn end(&mut self, generation: u64) -> bool {
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.generation == generation)
        {
            self.current = None;
            true
        } else {
            false
        }
    }
}

/// A legacy HTTP+SSE connection to one MCP server.
#[derive(Debug, Clone)]
pub struct LegacySse {
    client: reqwest::Client,
    url: Url,
    extra: Arc<Vec<(HeaderName, HeaderValue)>>,
    bearer: Arc<Mutex<Option<Secret>>>,
    session: Arc<Mutex<Slot>>,
    inbound: mpsc::UnboundedSender<Bytes>,
    closed: mpsc::UnboundedSender<String>,
    max_message: usize,
}

impl LegacySse {
    /// A connection that delivers the server's messages on `inbound`, and says on `closed`
    /// (with the reason) when a session's stream ended.
    pub fn new(
        url: &str,
        extra_headers: Vec<(HeaderName, HeaderValue)>,
        inbound: mpsc::UnboundedSender<Bytes>,
        closed: mpsc::UnboundedSender<String>,
        max_message: usize,
    ) -> Result<Self, TransportError> {
        let url = Url::parse(url).map_err(|e| TransportError::Network {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let client = companion_auth::tls::reqwest_builder(url.scheme() != "http")
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(companion_auth::http::USER_AGENT)
            .build()
            .map_err(|e| TransportError::Network {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            url,
            extra: Arc::new(extra_headers),
            bearer: Arc::default(),
            session: Arc::default(),
            inbound,
            closed,
            max_message,
        })
    }

    /// Sets the bearer token for every later request.
    pub fn set_bearer(&self, token: Option<Secret>) {
        if let Ok(mut b) = self.bearer.lock() {
            *b = token;
        }
    }

    /// Whether a session is open.
    pub fn is_connected(&self) -> bool {
        self.session.lock().is_ok_and(|s| s.current.is_some())
    }

    fn headers(&self) -> Result<HeaderMap, TransportError> {
        let mut h = HeaderMap::new();
        for (k, v) in self.extra.iter() {
            h.insert(k.clone(), v.clone());
        }
        let bearer = self
            .bearer
            .lock()
            .map_err(|_| TransportError::Header("state".to_owned()))?;
        if let Some(t) = bearer.as_ref() {
            h.insert(AUTHORIZATION, crate::transport::bearer_header(t)?);
        }
        Ok(h)
    }

    fn network(&self, e: &reqwest::Error) -> TransportError {
        TransportError::Network {
            url: self.url.to_string(),
            reason: companion_auth::http::describe_failure(e),
        }
    }

    /// Opens a session: GET the SSE URL and wait for the `endpoint` event. Replaces any
    /// session that was open.
    pub async fn connect(&self) -> Result<Connected, TransportError> {
        if let Ok(mut s) = self.session.lock() {
            s.current = None;
        }
        let resp = self
            .client
            .get(self.url.clone())
            .headers(self.headers()?)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| self.network(&e))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            let challenges = companion_auth::http::www_authenticate(resp.headers());
            return Ok(Connected::Unauthorized { status, challenges });
        }
        if !resp.status().is_success() {
            return Err(self.refused(format!("the SSE stream was refused with HTTP {status}")));
        }
        let mut stream = resp.bytes_stream();
        let mut parser = sse::Parser::new(self.max_message);
        let mut early = Vec::new();
        let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.network(&e))?;
                let events = parser
                    .feed(&chunk)
                    .map_err(|e| self.refused(e.to_string()))?;
                let mut events = events.into_iter();
                while let Some(ev) = events.next() {
                    if ev.event == "endpoint" {
                        let url = endpoint_url(&self.url, &ev.data).map_err(|e| self.refused(e))?;
                        // Messages sent in the same chunk right after the endpoint.
                        early.extend(events);
                        return Ok(url);
                    }
                }
            }
            Err(self.refused("the SSE stream ended before its endpoint event".to_owned()))
        })
        .await
        .map_err(|_| {
            self.refused(format!(
                "no endpoint event within {} s",
                ENDPOINT_TIMEOUT.as_secs()
            ))
        })??;
        tracing::info!(endpoint = %endpoint, "legacy SSE session open");
        for ev in early {
            self.deliver(ev);
        }
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let generation = match self.session.lock() {
            Ok(mut s) => {
                s.generation += 1;
                s.current = Some(Session {
                    endpoint,
                    generation: s.generation,
                    _stop: stop,
                });
                s.generation
            }
            Err(_) => return Err(self.refused("internal state poisoned".to_owned())),
        };
        let this = self.clone();
        tokio::spawn(async move {
            let reason = tokio::select! {
                r = this.read(stream, parser) => r,
                _ = stopped => return,
            };
            this.end(generation, reason);
        });
        Ok(Connected::Ready)
    }

    /// Ends session `generation` (if still current) and says so on `closed`.
    fn end(&self, generation: u64, reason: String) {
        let ended = self.session.lock().is_ok_and(|mut s| s.end(generation));
        if ended {
            tracing::info!(%reason, "legacy SSE session ended");
            let _ = self.closed.send(reason);
        }
    }

    fn refused(&self, reason: String) -> TransportError {
        TransportError::Network {
            url: self.url.to_string(),
            reason,
        }
    }

    fn deliver(&self, ev: sse::Event) {
        if (ev.event.is_empty() || ev.event == "message") && !ev.data.trim().is_empty() {
            let _ = self.inbound.send(Bytes::from(ev.data));
        }
    }

    /// Reads the session's stream until it ends; returns why it ended.
    async fn read(
        &self,
        mut stream: impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin,
        mut parser: sse::Parser,
    ) -> String {
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return format!("the SSE stream broke: {}", self.network(&e)),
            };
            match parser.feed(&chunk) {
                Ok(events) => events.into_iter().for_each(|ev| self.deliver(ev)),
                Err(e) => return e.to_string(),
            }
        }
        "the server closed the SSE stream".to_owned()
    }

    /// POSTs one message to the session's endpoint. Responses arrive on the stream, so a
    /// success is [`PostOutcome::Accepted`]. Without a session (or when the server no longer
    /// knows it) the answer is [`PostOutcome::SessionExpired`]: reconnect and replay.
    pub async fn post(&self, body: Bytes) -> Result<PostOutcome, TransportError> {
        let current = self.session.lock().ok().and_then(|s| {
            s.current
                .as_ref()
                .map(|s| (s.endpoint.clone(), s.generation))
        });
        let Some((endpoint, generation)) = current else {
            return Ok(PostOutcome::SessionExpired);
        };
        let resp = self
            .client
            .post(endpoint)
            .headers(self.headers()?)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.network(&e))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(PostOutcome::Accepted),
            401 | 403 => Ok(PostOutcome::Unauthorized {
                status,
                challenges: companion_auth::http::www_authenticate(resp.headers()),
            }),
            404 => {
                self.end(
                    generation,
                    "the server no longer knows the session".to_owned(),
                );
                Ok(PostOutcome::SessionExpired)
            }
            _ => {
                let text = resp.text().await.unwrap_or_default();
                Ok(PostOutcome::Failed {
                    status,
                    body: text.chars().take(300).collect(),
                })
            }
        }
    }

    /// Ends the session (the server notices the closed stream).
    pub fn close(&self) {
        if let Ok(mut s) = self.session.lock() {
            s.current = None;
        }
    }
}

/// The POST URL from an `endpoint` event: resolved against the SSE URL, same origin only.
pub fn endpoint_url(sse_url: &Url, data: &str) -> Result<Url, String> {
    let data = data.trim();
    let url = sse_url
        .join(data)
        .map_err(|e| format!("the endpoint event {data:?} is not a URL: {e}"))?;
    if url.origin() != sse_url.origin() {
        return Err(format!(
            "the endpoint event names another origin ({}); refusing to send messages there",
            url.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_events_resolve_against_the_sse_url() {
        let base = Url::parse("http://127.0.0.1:3001/sse").unwrap();
        assert_eq!(
            endpoint_url(&base, "/message?sessionId=abc")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:3001/message?sessionId=abc"
        );
        assert_eq!(
            endpoint_url(&base, " messages/?session_id=1 ")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:3001/messages/?session_id=1"
        );
        let base = Url::parse("https://mcp.example.com/v1/sse").unwrap();
        assert_eq!(
            endpoint_url(&base, "https://mcp.example.com/v1/post?s=2")
                .unwrap()
                .as_str(),
            "https://mcp.example.com/v1/post?s=2"
        );
    }

    #[test]
    fn endpoint_events_must_stay_on_the_origin() {
        let base = Url::parse("https://mcp.example.com/sse").unwrap();
        for bad in [
            "https://evil.example.com/post",
            "http://mcp.example.com/post",
            "https://mcp.example.com:8443/post",
            "//evil.example.com/post",
        ] {
            assert!(endpoint_url(&base, bad).is_err(), "{bad}");
        }
    }
}
