//! How the probe reaches the server: Streamable HTTP directly, or through a bridge process
//! (`mcp-companion connect`) over its stdio, which is how the conformance suite tests the
//! bridge itself.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use companion_core::jsonrpc::{self, Kind};
use companion_core::secret::Secret;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::transport::{PostOutcome, StreamableHttp, TransportError};

/// The probe's connection to the server.
#[derive(Debug)]
pub enum Link {
    /// Streamable HTTP, directly.
    Http(StreamableHttp),
    /// A bridge child process, spoken to over its stdin and stdout.
    Bridge(BridgeChild),
}

/// `mcp-companion connect` (or any stdio MCP server) as a child process.
#[derive(Debug)]
pub struct BridgeChild {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl BridgeChild {
    /// Starts `program args…`; every line it prints on stdout arrives on the receiver. Its
    /// stderr is inherited (its logs end up beside the probe's output).
    pub fn spawn(
        program: &Path,
        args: &[String],
        url: impl Into<String>,
    ) -> std::io::Result<(Self, mpsc::UnboundedReceiver<Bytes>)> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("the child has no stdout"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let msg = line.trim_ascii();
                        if !msg.is_empty() && tx.send(Bytes::copy_from_slice(msg)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok((
            Self {
                child,
                stdin,
                url: url.into(),
            },
            rx,
        ))
    }

    fn broken(&self, e: &std::io::Error) -> TransportError {
        TransportError::Network {
            url: format!("{} (through the bridge)", self.url),
            reason: format!("the bridge process is gone: {e}"),
        }
    }

    /// Writes one message as one line.
    async fn send(&mut self, body: &[u8]) -> Result<(), TransportError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.broken(&std::io::Error::other("stdin closed")));
        };
        let mut line = Vec::with_capacity(body.len() + 1);
        line.extend_from_slice(body);
        line.push(b'\n');
        let r = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
        .await;
        r.map_err(|e| self.broken(&e))
    }

    /// Closes stdin (the bridge's signal to end the session) and waits for it to exit.
    async fn close(&mut self) {
        self.stdin = None;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl Link {
    /// The server's URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Http(t) => t.url(),
            Self::Bridge(b) => &b.url,
        }
    }

    /// How messages travel, for the timeline.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Self::Http(_) => "POST",
            Self::Bridge(_) => "stdio",
        }
    }

    /// Sends a message. Through the bridge, a request is [`PostOutcome::Delivering`] (its
    /// answer comes on stdout) and anything else [`PostOutcome::Accepted`].
    pub(crate) async fn post(&mut self, body: Bytes) -> Result<PostOutcome, TransportError> {
        match self {
            Self::Http(t) => t.post(body).await,
            Self::Bridge(b) => {
                b.send(&body).await?;
                let is_request = jsonrpc::peek(&body)
                    .is_ok_and(|p| p.kinds().iter().any(|k| matches!(k, Kind::Request { .. })));
                Ok(if is_request {
                    PostOutcome::Delivering
                } else {
                    PostOutcome::Accepted
                })
            }
        }
    }

    /// Sets the bearer token (the bridge gets its own from the broker).
    pub(crate) fn set_bearer(&self, token: Option<Secret>) {
        if let Self::Http(t) = self {
            t.set_bearer(token);
        }
    }

    /// Sets the negotiated protocol version (the bridge learns it itself).
    pub(crate) fn set_protocol_version(&self, v: Option<String>) {
        if let Self::Http(t) = self {
            t.set_protocol_version(v);
        }
    }

    /// Opens the standalone GET stream; `None` when the bridge does it.
    pub(crate) async fn open_get_stream(&self) -> Result<Option<bool>, TransportError> {
        match self {
            Self::Http(t) => t.open_get_stream().await.map(Some),
            Self::Bridge(_) => Ok(None),
        }
    }

    /// Ends the session: DELETE, or close the bridge's stdin and wait for it to exit.
    pub(crate) async fn close(&mut self) {
        match self {
            Self::Http(t) => t.delete().await,
            Self::Bridge(b) => b.close().await,
        }
    }
}
