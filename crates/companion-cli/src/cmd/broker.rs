//! `login`, `logout`, `status`, `daemon`: thin shells over the broker.

use std::io::{self, Write};
use std::time::Duration;

use companion_broker::{
    Broker, BrokerClient, BrokerError, BrokerOptions, Endpoint, EndpointError, ErrorKind, Op,
    Reply, StartCommand, State,
};
use companion_store::keychain::{OsKeychain, RawStore};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Env;
use crate::args::{DaemonArgs, DebugTokenArgs, LoginArgs, LogoutArgs, StatusArgs};
use crate::output::Failure;

/// Keychain entries of this run live under this namespace (tests; see companion_store::keychain).
const NAMESPACE_VAR: &str = "MCP_COMPANION_KEYCHAIN_NAMESPACE";

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))
}

impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Self {
        let usage = matches!(
            e.kind,
            ErrorKind::UnknownServer | ErrorKind::NotOAuth | ErrorKind::Config
        );
        let f = if usage {
            Failure::usage(e.message)
        } else {
            Failure::failed(e.message)
        };
        match e.kind {
            ErrorKind::Keychain => f.hint("MCP Companion keeps tokens only in the OS keychain"),
            _ => f,
        }
    }
}

/// Connects to the broker, starting `mcp-companion daemon` if none runs.
pub(crate) async fn client(env: &Env) -> Result<BrokerClient, Failure> {
    let program = std::env::current_exe()
        .map_err(|e| Failure::failed(format!("cannot find this program's path: {e}")))?;
    let log = env.paths.log_dir().join("broker.log");
    let start = StartCommand {
        program,
        args: vec!["daemon".to_owned()],
        log,
    };
    Ok(BrokerClient::connect_or_start(&Endpoint::for_user(), &start).await?)
}

pub(crate) fn login(env: &Env, a: &LoginArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let mut c = client(env).await?;
        if !a.headless {
            let _ = writeln!(
                io::stderr(),
                "Opening your browser to sign in to {}…",
                a.name
            );
        }
        let r = c
            .call(Op::SignIn {
                server: a.name.clone(),
                headless: a.headless,
            })
            .await?;
        if let Reply::Done { done } = r {
            let _ = writeln!(io::stdout(), "{}{}", done[..1].to_uppercase(), &done[1..]);
        }
        Ok(())
    })
}

pub(crate) fn logout(env: &Env, a: &LogoutArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let mut c = client(env).await?;
        if let Reply::Done { done } = c
            .call(Op::SignOut {
                server: a.name.clone(),
            })
            .await?
        {
            let _ = writeln!(io::stdout(), "{}{}", done[..1].to_uppercase(), &done[1..]);
        }
        Ok(())
    })
}

pub(crate) fn status(env: &Env, a: &StatusArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let mut c = client(env).await?;
        let Reply::Status { servers } = c.call(Op::Status).await? else {
            return Err(Failure::failed("the broker gave an unexpected answer"));
        };
        let mut out = io::stdout().lock();
        if a.json {
            let _ = writeln!(out, "{:#}", json!({ "servers": servers }));
            return Ok(());
        }
        if servers.is_empty() {
            let _ = writeln!(
                out,
                "No servers yet. Add one with: mcp-companion add NAME URL"
            );
        }
        for s in servers {
            let state = match s.state {
                State::SignedIn => match s.expires_in {
                    Some(e) => format!("signed in · expires in {}", human(e)),
                    None => "signed in".to_owned(),
                },
                State::Expiring => format!("expiring · in {}", human(s.expires_in.unwrap_or(0))),
                State::NeedsSignIn => {
                    format!("needs sign-in · run `mcp-companion login {}`", s.name)
                }
                State::StepUpRequired => format!(
                    "needs approval for more scopes · run `mcp-companion login {}`",
                    s.name
                ),
                State::Error => format!("error · {}", s.error.as_deref().unwrap_or("unknown")),
                State::NotRequired => format!("no sign-in needed ({})", s.auth),
            };
            let _ = writeln!(out, "{:<20} {state}", s.name);
            if let Some(scopes) = &s.scopes {
                let _ = writeln!(out, "{:<20}   scopes: {}", "", scopes.join(" "));
            }
            if let Some(issuer) = &s.issuer {
                let _ = writeln!(out, "{:<20}   issuer: {issuer}", "");
            }
        }
        Ok(())
    })
}

fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// Prints a fingerprint of the current token (never the token) for tests and support.
pub(crate) fn debug_token(env: &Env, a: &DebugTokenArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let mut c = client(env).await?;
        let t = c.get_token(&a.name, a.min_ttl).await?;
        let fp: String = Sha256::digest(t.access_token.expose().as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(
            io::stdout(),
            "{}",
            json!({"fingerprint": fp, "expires_at": t.expires_at, "generation": t.generation})
        );
        Ok(())
    })
}

pub(crate) fn daemon(env: &Env, a: &DaemonArgs) -> Result<(), Failure> {
    init_logging();
    let namespace = std::env::var(NAMESPACE_VAR).ok();
    let keychain = OsKeychain::new(OsKeychain::service_name(namespace.as_deref()));
    tracing::info!(service = keychain.service(), "using the OS keychain");
    let raw: Box<dyn RawStore> = Box::new(keychain);
    let opts = BrokerOptions {
        config: env.config.clone(),
        vault: companion_broker::vault::Vault::new(raw, env.state.clone()),
        host: "daemon".to_owned(),
        tick: Duration::from_secs(a.tick.max(1)),
        keychain_timeout: Duration::from_secs(a.keychain_timeout.max(1)),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let ep = Endpoint::for_user();
        let bound = match ep.bind().await {
            Ok(b) => b,
            Err(EndpointError::AlreadyRunning(p)) => {
                tracing::info!(socket = %p.display(), "a broker is already running; leaving it to serve");
                return Ok(());
            }
            Err(e) => return Err(Failure::failed(e.to_string())),
        };
        let broker = Broker::new(opts);
        tokio::select! {
            () = broker.serve(bound) => Ok(()),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; stopping");
                Ok(())
            }
        }
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MCP_COMPANION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(false)
        .try_init();
}
