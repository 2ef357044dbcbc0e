//! A scripted HTTP/1.1 server on 127.0.0.1 for the bridge's tests and bench: it records every
//! request byte for byte and answers with exactly the bytes a test scripts (JSON bodies, SSE
//! streams cut or held open), which an SDK server cannot be told to do. It is also fast, so
//! the bench measures the bridge rather than the server.
//!
//! Included with `#[path]` by `tests/tests/bridge.rs` and `tests/benches/bridge.rs`.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// An SSE stream: each chunk after its delay; then the connection closes, or is held open.
    Sse {
        headers: Vec<(String, String)>,
        chunks: Vec<(Duration, Vec<u8>)>,
        hold: bool,
    },
}

impl Reply {
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self::Full {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn status(status: u16) -> Self {
        Self::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        match &mut self {
            Self::Full { headers, .. } | Self::Sse { headers, .. } => {
                headers.push((k.to_owned(), v.to_owned()));
            }
        }
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server; stops when dropped.
pub struct Upstream {
    pub url: String,
    pub log: Arc<Mutex<Vec<Request>>>,
    _stop: std::sync::mpsc::Sender<()>,
}

impl Upstream {
    /// Serves `handler` at `http://127.0.0.1:PORT/mcp` on its own thread.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve(None, handler)
    }

    /// Serves `handler` at `https://127.0.0.1:PORT/mcp`, with the certificate in
    /// `tests/fixtures/tls/server.pem`, issued by the test CA `tests/fixtures/tls/ca.pem` (which
    /// no system trusts).
    pub fn start_tls(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.join("server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Self::serve(
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            handler,
        )
    }

    fn serve(
        tls: Option<tokio_rustls::TlsAcceptor>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            ready_tx.send(listener.local_addr().unwrap()).unwrap();
            rt.spawn(async move {
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let _ = sock.set_nodelay(true);
                    let (handler, log) = (Arc::clone(&handler), Arc::clone(&log2));
                    match tls.clone() {
                        None => drop(tokio::spawn(serve(sock, handler, log))),
                        Some(acceptor) => drop(tokio::spawn(async move {
                            if let Ok(s) = acceptor.accept(sock).await {
                                Box::pin(serve(s, handler, log)).await;
                            }
                        })),
                    }
                }
            });
            // Runs the server until the Upstream is dropped.
            rt.block_on(async {
                loop {
                    match stopped.try_recv() {
                        Err(std::sync::mpsc::TryRecvError::Empty) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        _ => return,
                    }
                }
            });
            rt.shutdown_background();
        });
        let addr = ready.recv().unwrap();
        Self {
            url: format!("{scheme}://{addr}/mcp"),
            log,
            _stop: stop,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    pub fn posts(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }
}

async fn serve(
    mut sock: impl AsyncRead + AsyncWrite + Unpin,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Request>>>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        // Head.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 16 * 1024];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let path = first.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = vec![0u8; 64 * 1024];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);
        let req = Request {
            method,
            path,
            headers,
            body,
        };
        let reply = handler(&req);
        log.lock().unwrap().push(req);
        match reply {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&body);
                if sock.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Sse {
                headers,
                chunks,
                hold,
            } => {
                let mut out = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n".to_owned();
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                if sock.write_all(out.as_bytes()).await.is_err() {
                    return;
                }
                for (delay, chunk) in chunks {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if sock.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                if hold {
                    std::future::pending::<()>().await;
                }
                return;
            }
        }
    }
}

/// The answer to an `initialize` request: protocol 2025-11-25, no capabilities, from a server
/// called `name` at `version`.
pub fn initialize_reply(r: &Request, name: &str, version: &str) -> Reply {
    result_reply(
        r,
        &format!(
            r#"{{"protocolVersion":"2025-11-25","capabilities":{{}},"serverInfo":{{"name":"{name}","version":"{version}"}}}}"#
        ),
    )
}

/// The JSON response to request `r` whose `result` is the JSON text `result`.
pub fn result_reply(r: &Request, result: &str) -> Reply {
    Reply::json(format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
        id_of(&r.body)
    ))
}

/// The JSON-RPC id of a request body, as JSON text, when it is a single message.
pub fn id_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id").map(ToString::to_string))
        .unwrap_or_else(|| "null".to_owned())
}

/// The method of a request body, when it is a single message.
pub fn method_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
