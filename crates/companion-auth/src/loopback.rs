//! The loopback redirect listener (RFC 8252 §7.3): where the browser comes back with the code.
//!
//! Bound to `127.0.0.1` on a port the OS picks, never `0.0.0.0`. It answers one valid callback
//! and stops; requests for other paths, or carrying another sign-in's `state`, are turned away
//! without ending the wait. A hand-written HTTP/1.1 responder is enough here and keeps a server
//! framework out of the binary: the browser sends one GET, we answer one small page.

use std::time::Duration;

use companion_core::oauth::authorize::CallbackError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout_at, Instant};

use crate::error::AuthError;

/// The path we register as the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
const MAX_REQUEST_HEAD: usize = 16 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    port: u16,
}

impl Listener {
    /// Binds `127.0.0.1:0`.
    pub async fn bind() -> Result<Self, AuthError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| AuthError::Io {
                what: "cannot open the sign-in redirect listener on 127.0.0.1",
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| AuthError::Io {
                what: "redirect listener",
                source,
            })?
            .port();
        Ok(Self { listener, port })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits for the callback, at most `wait`. `check` validates the query string (state, iss,
    /// error) and returns the code.
    pub async fn wait(
        self,
        wait: Duration,
        check: impl Fn(&str) -> Result<String, CallbackError>,
    ) -> Result<String, AuthError> {
        let deadline = Instant::now() + wait;
        loop {
            let accepted = timeout_at(deadline, self.listener.accept()).await;
            let Ok(accepted) = accepted else {
                return Err(AuthError::CallbackTimeout(wait.as_secs()));
            };
            let Ok((mut stream, _)) = accepted else {
                continue;
            };
            let Some(target) = read_target(&mut stream).await else {
                continue;
            };
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            if path != CALLBACK_PATH {
                respond(
                    &mut stream,
                    404,
                    "Not found",
                    "This address only receives MCP Companion sign-ins.",
                )
                .await;
                continue;
            }
            match check(query) {
                Ok(code) => {
                    respond(
                        &mut stream,
                        200,
                        "Signed in",
                        "You are signed in. You can close this tab and return to your MCP client.",
                    )
                    .await;
                    return Ok(code);
                }
                Err(CallbackError::StateMismatch) => {
                    respond(&mut stream, 400, "Not this sign-in", "MCP Companion is not waiting for this sign-in response (it may be from an older attempt). Start the sign-in again if needed.").await;
                }
                Err(e) => {
                    respond(&mut stream, 400, "Sign-in failed", &e.to_string()).await;
                    return Err(e.into());
                }
            }
        }
    }
}

/// Reads the request head and returns the request target of a GET.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = timeout_at(deadline, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || buf.len() + n > MAX_REQUEST_HEAD {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next()?.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Some(target.to_owned()),
        _ => None,
    }
}

async fn respond(stream: &mut TcpStream, status: u16, title: &str, message: &str) {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>MCP Companion: {t}</title>\
         <style>body{{font:16px system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em;color:#24293d}}\
         h1{{font-size:1.4em}}</style></head><body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    );
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    fn check(q: &str) -> Result<String, CallbackError> {
        companion_core::oauth::authorize::parse_callback(
            q,
            companion_core::oauth::authorize::CallbackExpectation {
                state: "s1",
                issuer: "https://as",
                iss_required: false,
            },
        )
    }

    #[tokio::test]
    async fn binds_loopback_ignores_strangers_and_returns_the_code() {
        let l = Listener::bind().await.unwrap();
        let uri = l.redirect_uri();
        assert!(
            uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"),
            "{uri}"
        );
        let port: u16 = uri
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/callback")
            .parse()
            .unwrap();
        let waiter = tokio::spawn(l.wait(Duration::from_secs(10), check));
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(get(port, "/callback?code=x&state=other")
            .await
            .starts_with("HTTP/1.1 400"));
        let ok = get(port, "/callback?code=the-code&state=s1").await;
        assert!(
            ok.starts_with("HTTP/1.1 200") && ok.contains("You are signed in"),
            "{ok}"
        );
        assert_eq!(waiter.await.unwrap().unwrap(), "the-code");
        // Single use: the port is closed now.
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn an_error_ends_the_wait_with_a_clear_page() {
        let l = Listener::bind().await.unwrap();
        let port = l.listener.local_addr().unwrap().port();
        let waiter = tokio::spawn(l.wait(Duration::from_secs(10), check));
        let page = get(
            port,
            "/callback?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state=s1",
        )
        .await;
        assert!(
            page.contains("access_denied") && page.contains("&lt;b&gt;no"),
            "escaped: {page}"
        );
        assert!(matches!(
            waiter.await.unwrap(),
            Err(AuthError::Callback(CallbackError::Denied { .. }))
        ));
    }

    #[tokio::test]
    async fn times_out() {
        let l = Listener::bind().await.unwrap();
        assert!(matches!(
            l.wait(Duration::from_millis(50), check).await,
            Err(AuthError::CallbackTimeout(_))
        ));
    }
}
