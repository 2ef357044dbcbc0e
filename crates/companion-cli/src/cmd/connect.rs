//! `connect`: resolve the target, set up logging and credentials, run `companion_mcp::bridge`.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use companion_broker::{BrokerClient, BrokerError, Endpoint, ErrorKind, StartCommand};
use companion_core::config::{AuthConfig, Transport};
use companion_core::server_url::ServerUrl;
use companion_mcp::bridge::{
    self, CredentialError, CredentialErrorKind, HeaderName, HeaderValue, Options, Token,
    TokenFuture, TokenSource,
};

use super::Env;
use crate::args::{ConnectArgs, TransportArg};
use crate::output::Failure;

/// A server's static credentials.
struct StaticCredentials {
    /// The headers, marked sensitive so they never appear in logs.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// When the bearer token expires, if it is a JWT (Unix seconds).
    expires: Option<u64>,
}

/// The static credentials of a server, read from the keychain.
fn static_headers(
    server: &companion_core::config::ServerConfig,
) -> Result<StaticCredentials, String> {
    use companion_store::keychain::{accounts, OsKeychain, SecretStore};
    let keychain = SecretStore::new(OsKeychain::for_user());
    let name = server.name.as_str();
    // (header, keychain account, prefix of the value, the `secret set` option that stores it)
    let wanted: Vec<(String, String, &str, String)> = match &server.auth {
        AuthConfig::Bearer {
            token_command: None,
        } => vec![(
            "Authorization".to_owned(),
            accounts::bearer(name),
            "Bearer ",
            "--bearer".to_owned(),
        )],
        AuthConfig::Headers { headers } => headers
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    accounts::header(name, h),
                    "",
                    format!("--header {h}"),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let mut expires = None;
    for (header, account, prefix, option) in wanted {
        let value = keychain
            .get(&account)
            .map_err(|e| format!("{name}: {e}"))?
            .ok_or_else(|| format!("{name}: no value for {header} in the keychain; store it with `mcp-companion secret set {name} {option}`"))?;
        if matches!(server.auth, AuthConfig::Bearer { .. }) {
            expires = companion_core::oauth::token::jwt_expiry(value.expose());
        }
        let mut v =
            HeaderValue::from_str(&format!("{prefix}{}", value.expose())).map_err(|_| {
                format!("{name}: the stored {header} value is not a valid header value")
            })?;
        v.set_sensitive(true);
        let n = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("{name}: {header} is not a valid header name"))?;
        out.push((n, v));
    }
    Ok(StaticCredentials {
        headers: out,
        expires,
    })
}

pub(crate) fn run(env: &Env, a: &ConnectArgs) -> Result<(), Failure> {
    let mut opts;
    let mut tokens: Option<Box<dyn TokenSource>> = None;
    let log_name;
    if a.target.contains("://") {
        let url = ServerUrl::parse(&a.target).map_err(|e| Failure::usage(e.to_string()))?;
        opts = Options::new(url.as_str());
        log_name = "connect-url.log".to_owned();
    } else {
        let loaded = env.config.load()?;
        let server = super::servers::find(&loaded.config, &a.target)?;
        opts = Options::new(server.url.as_str());
        opts.transport = server.transport;
        log_name = format!("connect-{}.log", server.name);
        match &server.auth {
            AuthConfig::OAuth(_)
            | AuthConfig::ClientCredentials(_)
            | AuthConfig::Bearer {
                token_command: Some(_),
            } => {
                tokens = Some(Box::new(BrokerTokens {
                    server: server.name.to_string(),
                    start: super::broker::start_command(env)?,
                    client: None,
                }));
            }
            AuthConfig::None => {}
            AuthConfig::Bearer {
                token_command: None,
            }
            | AuthConfig::Headers { .. } => {
                match static_headers(server) {
                    Ok(StaticCredentials { headers, expires }) => {
                        opts.headers.extend(headers);
                        // Checked before each request, not only now: a bridge runs for days.
                        opts.refuse_from = expires.map(|exp| {
                            let advice =
                                companion_core::oauth::token::expired_bearer(server.name.as_str());
                            (exp, format!("{}: {advice}", server.name))
                        });
                    }
                    Err(why) => opts.refuse = Some(why),
                }
                let option = match &server.auth {
                    AuthConfig::Headers { headers } => headers
                        .iter()
                        .map(|h| format!("--header {h}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => "--bearer".to_owned(),
                };
                opts.refused_hint = Some(format!(
                    "it may have expired or been revoked; store a new one with `mcp-companion secret set {} {option}`",
                    server.name
                ));
            }
        }
    }
    if let Some(t) = a.transport {
        opts.transport = match t {
            TransportArg::Auto => Transport::Auto,
            TransportArg::StreamableHttp => Transport::StreamableHttp,
            TransportArg::Sse => Transport::Sse,
        };
    }
    for h in &a.headers {
        opts.headers
            .push(header(h, |v| std::env::var(v).ok()).map_err(Failure::usage)?);
    }
    if a.max_message_bytes == 0 {
        return Err(Failure::usage("--max-message-bytes must be at least 1"));
    }
    opts.max_message = a.max_message_bytes;
    opts.step_up_timeout = Duration::from_secs(a.step_up_timeout);
    init_logging(env, &log_name);
    tracing::info!(url = %opts.url, transport = opts.transport.as_str(), "connecting");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let (input, output) = stdio()?;
    let result = runtime.block_on(bridge::run(opts, tokens, input, output, signals()));
    // Tasks still running (open streams, a pending POST) are simply dropped: the session has
    // been ended and stdout flushed.
    runtime.shutdown_background();
    result.map_err(|e| Failure::failed(e.to_string()))
}

/// stdin and stdout as plain files: the bridge polls pipes and sockets itself and buffers the
/// rest; std's line-buffered stdout would add a write per line (and a lock per call).
#[cfg(unix)]
fn stdio() -> Result<(bridge::Stdin, bridge::Stdout), Failure> {
    use std::os::fd::AsFd;
    let dup = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(std::fs::File::from)
            .map_err(|e| Failure::failed(format!("cannot use stdio: {e}")))
    };
    Ok((
        bridge::Stdin::File(dup(io::stdin().as_fd())?),
        bridge::Stdout::File(dup(io::stdout().as_fd())?),
    ))
}

#[cfg(not(unix))]
fn stdio() -> Result<(bridge::Stdin, bridge::Stdout), Failure> {
    Ok((
        bridge::Stdin::Reader(Box::new(io::stdin())),
        bridge::Stdout::Writer(Box::new(io::stdout())),
    ))
}

/// Resolves when the process is asked to stop (SIGTERM, SIGINT).
async fn signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Logs go to stderr (MCP clients show it in their logs) and to a file in the log directory.
fn init_logging(env: &Env, file_name: &str) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MCP_COMPANION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let dir = env.paths.log_dir();
    let file = companion_store::atomic::create_private_dir(&dir)
        .and_then(|()| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(dir.join(file_name))
        })
        .ok();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let _ = match file {
        Some(f) => builder
            .with_writer(io::stderr.and(Mutex::new(f)))
            .try_init(),
        None => builder.with_writer(io::stderr).try_init(),
    };
}

/// Parses `Name: value`, expanding `${VAR}` in the value from `lookup` (the environment).
fn header(
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| format!("--header {raw:?}: write it as 'Name: value'"))?;
    let name = name.trim();
    let value = expand(value.trim(), &lookup).map_err(|e| format!("--header {name}: {e}"))?;
    let value = value.trim();
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("--header {name:?}: not a valid header name"))?;
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| format!("--header {name}: the value has characters a header cannot carry"))?;
    // Header values are often secrets: keep them out of any debug output.
    value.set_sensitive(true);
    Ok((name, value))
}

/// Replaces each `${VAR}` with the variable's value.
fn expand(value: &str, lookup: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {value:?}"))?;
        let var = &after[..end];
        if var.is_empty() {
            return Err("empty ${} in the value".to_owned());
        }
        let v = lookup(var).ok_or_else(|| format!("the environment variable {var} is not set"))?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Tokens from the credential broker, connected (and started) on first use and reconnected
/// after the broker went away.
#[derive(Debug)]
struct BrokerTokens {
    server: String,
    start: StartCommand,
    client: Option<BrokerClient>,
}

fn credential_error(e: BrokerError) -> CredentialError {
    CredentialError {
        kind: match e.kind {
            ErrorKind::NeedsSignIn => CredentialErrorKind::NeedsSignIn,
            ErrorKind::StepUpRequired => CredentialErrorKind::StepUpRequired,
            _ => CredentialErrorKind::Other,
        },
        message: e.message,
    }
}

/// What to ask the broker.
enum Ask {
    Token(u64),
    Rejected {
        generation: u64,
        status: u16,
        challenges: Vec<String>,
    },
}

impl BrokerTokens {
    async fn ask(&mut self, ask: Ask) -> Result<Token, CredentialError> {
        if self.client.is_none() {
            let c = BrokerClient::connect_or_start(&Endpoint::for_user(), &self.start)
                .await
                .map_err(credential_error)?;
            self.client = Some(c);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(CredentialError {
                kind: CredentialErrorKind::Other,
                message: "no connection to the MCP Companion broker".to_owned(),
            });
        };
        let answer = match ask {
            Ask::Token(min_ttl) => client.get_token(&self.server, min_ttl).await,
            Ask::Rejected {
                generation,
                status,
                challenges,
            } => {
                client
                    .report_rejected(&self.server, generation, status, challenges)
                    .await
            }
        };
        match answer {
            Ok(t) => Ok(Token {
                access_token: t.access_token,
                expires_at: t.expires_at,
                generation: t.generation,
            }),
            Err(e) => {
                if e.kind == ErrorKind::BadRequest {
                    // The connection broke (or the broker speaks another version): reconnect
                    // on the next call rather than reuse it.
                    self.client = None;
                }
                Err(credential_error(e))
            }
        }
    }
}

impl TokenSource for BrokerTokens {
    fn token(&mut self, min_ttl: u64) -> TokenFuture<'_> {
        Box::pin(self.ask(Ask::Token(min_ttl)))
    }

    fn rejected(
        &mut self,
        generation: u64,
        status: u16,
        challenges: Vec<String>,
    ) -> TokenFuture<'_> {
        Box::pin(self.ask(Ask::Rejected {
            generation,
            status,
            challenges,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "TOKEN" => Some("s3cret".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn headers_expand_variables() {
        let (n, v) = header("Authorization: Bearer ${TOKEN}", env).unwrap();
        assert_eq!(n.as_str(), "authorization");
        assert_eq!(v.to_str().unwrap(), "Bearer s3cret");
        let (n, v) = header("X-Api-Key:${TOKEN}", env).unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-api-key", "s3cret"));
        let (_, v) = header("X-A: a:b $TOKEN ${EMPTY}", env).unwrap();
        assert_eq!(v.to_str().unwrap(), "a:b $TOKEN");
    }

    #[test]
    fn bad_headers_are_explained() {
        assert!(header("no colon", env)
            .unwrap_err()
            .contains("'Name: value'"));
        assert!(header("X-A: ${MISSING}", env)
            .unwrap_err()
            .contains("MISSING is not set"));
        assert!(header("X-A: ${TOKEN", env)
            .unwrap_err()
            .contains("unclosed"));
        assert!(header("Bad Name: v", env)
            .unwrap_err()
            .contains("not a valid header name"));
        assert!(header("X-A: a\u{1}b", env).is_err());
    }
}
