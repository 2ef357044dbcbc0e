//! Talking to the broker: what `connect`, the CLI and the tray use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use companion_core::secret::Secret;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::endpoint::{Endpoint, EndpointError};
use crate::protocol::{
    BrokerError, ErrorKind, Event, Op, Reply, Request, Response, PROTOCOL_VERSION,
};

/// How long `connect_or_start` waits for a freshly started broker.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the broker.
#[derive(Debug)]
pub struct BrokerClient {
    reader: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

/// A token handed out by the broker.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access_token: Secret,
    /// When it expires (Unix seconds), if known.
    pub expires_at: Option<u64>,
    /// Its generation, to name it when reporting a rejection.
    pub generation: u64,
}

/// The tray's argument for a start that wants the broker, not the window: a tray started this
/// way while another tray runs (or is still starting, its broker not yet bound) exits quietly.
/// Bridges, the CLI, the window and the login item start the tray with it; without it, a second
/// launch is a person asking for MCP Companion, and opens the window.
pub const TRAY_BACKGROUND_ARG: &str = "--background";

/// How to start a broker when none runs.
#[derive(Debug, Clone)]
pub struct StartCommand {
    /// The program (normally this binary).
    pub program: PathBuf,
    /// Its arguments (normally `["daemon"]`).
    pub args: Vec<String>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl StartCommand {
    /// Starts the tray `program` (which embeds the broker) in the background.
    pub fn tray(program: PathBuf, log: PathBuf) -> Self {
        Self {
            program,
            args: vec![TRAY_BACKGROUND_ARG.to_owned()],
            log,
        }
    }
}

fn transport_error(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::new(
        ErrorKind::BadRequest,
        format!("lost the connection to the MCP Companion broker: {e}"),
    )
}

impl BrokerClient {
    /// Connects to a running broker.
    pub async fn connect(ep: &Endpoint) -> Result<Self, EndpointError> {
        let stream = ep.connect().await?;
        let (r, w) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(r).lines(),
            writer: w,
            next_id: 0,
        })
    }

    /// Connects, starting a broker first if none runs. Several processes doing this at once
    /// end up talking to one broker: the endpoint admits one.
    pub async fn connect_or_start(
        ep: &Endpoint,
        start: &StartCommand,
    ) -> Result<Self, BrokerError> {
        if let Ok(c) = Self::connect(ep).await {
            return Ok(c);
        }
        spawn_detached(start).map_err(|e| {
            BrokerError::new(
                ErrorKind::BadRequest,
                format!(
                    "cannot start the MCP Companion broker ({}): {e}",
                    start.program.display()
                ),
            )
        })?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            match Self::connect(ep).await {
                Ok(c) => return Ok(c),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(BrokerError::new(
                        ErrorKind::BadRequest,
                        format!(
                            "the MCP Companion broker did not start within {} s ({e}); see {}",
                            START_TIMEOUT.as_secs(),
                            start.log.display()
                        ),
                    ))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Sends one request and waits for its answer.
    pub async fn call(&mut self, op: Op) -> Result<Reply, BrokerError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut line = serde_json::to_vec(&Request {
            v: PROTOCOL_VERSION,
            id,
            op,
        })
        .map_err(transport_error)?;
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .await
            .map_err(transport_error)?;
        loop {
            let Some(text) = self.reader.next_line().await.map_err(transport_error)? else {
                return Err(transport_error("the broker closed the connection"));
            };
            let resp: Response = serde_json::from_str(&text).map_err(transport_error)?;
            if resp.id != id {
                continue;
            }
            return match (resp.ok, resp.err) {
                (Some(ok), _) => Ok(ok),
                (None, Some(err)) => Err(err),
                (None, None) => Err(transport_error("an empty answer")),
            };
        }
    }

    /// A valid token for `server` with at least `min_ttl` seconds left.
    pub async fn get_token(&mut self, server: &str, min_ttl: u64) -> Result<Token, BrokerError> {
        token(
            self.call(Op::GetToken {
                server: server.to_owned(),
                min_ttl,
            })
            .await?,
        )
    }

    /// Reports that `server` rejected the token of `generation`; returns a replacement.
    pub async fn report_rejected(
        &mut self,
        server: &str,
        generation: u64,
        status: u16,
        www_authenticate: Vec<String>,
    ) -> Result<Token, BrokerError> {
        token(
            self.call(Op::ReportRejected {
                server: server.to_owned(),
                generation,
                status,
                www_authenticate,
            })
            .await?,
        )
    }

    /// Turns the connection into an event stream; read events with [`BrokerClient::next_event`].
    pub async fn subscribe(&mut self) -> Result<(), BrokerError> {
        self.call(Op::Subscribe).await.map(|_| ())
    }

    /// The next event, after [`BrokerClient::subscribe`].
    pub async fn next_event(&mut self) -> Option<Event> {
        let line = self.reader.next_line().await.ok()??;
        serde_json::from_str(&line).ok()
    }
}

fn token(r: Reply) -> Result<Token, BrokerError> {
    match r {
        Reply::Token {
            access_token,
            expires_at,
            generation,
        } => Ok(Token {
            access_token: Secret::new(access_token),
            expires_at,
            generation,
        }),
        _ => Err(transport_error("an unexpected answer")),
    }
}

/// Starts the broker in its own process group, detached from our stdio, logging to a file.
fn spawn_detached(start: &StartCommand) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    if let Some(dir) = start.log.parent() {
        companion_store::atomic::create_private_dir(dir)?;
    }
    let log = open_log(&start.log)?;
    let mut cmd = std::process::Command::new(&start.program);
    cmd.args(&start.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0);
    // Reap it in the background if it exits while we live (the loser of a start race does).
    let mut child = cmd.spawn()?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}
