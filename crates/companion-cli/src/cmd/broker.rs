//! `login`, `logout`, `status`, `daemon`: thin shells over the broker.

use std::io::{self, Write};
use std::time::Duration;

use companion_broker::{
    serve_for_user, BrokerClient, BrokerError, BrokerOptions, Endpoint, ErrorKind, Op, Reply,
    StartCommand, State,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Env;
use crate::args::{DaemonArgs, DebugTokenArgs, LoginArgs, LogoutArgs, StatusArgs};
use crate::output::Failure;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
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

/// Connects to the broker, starting one if none runs: the tray (`mcp-companion-tray`) when this is a desktop
/// session and the app is installed beside this program, otherwise `mcp-companion daemon`.
pub(crate) async fn client(env: &Env) -> Result<BrokerClient, Failure> {
    let start = start_command(env)?;
    Ok(BrokerClient::connect_or_start(&Endpoint::for_user(), &start).await?)
}

/// How to start a broker when none runs (see [`client`]).
pub(crate) fn start_command(env: &Env) -> Result<StartCommand, Failure> {
    let program = std::env::current_exe()
        .map_err(|e| Failure::failed(format!("cannot find this program's path: {e}")))?;
    let log = env.paths.log_dir().join("broker.log");
    let desktop =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let tray = program.with_file_name(format!(
        "mcp-companion-tray{}",
        std::env::consts::EXE_SUFFIX
    ));
    let start = if desktop && tray.exists() {
        StartCommand::tray(tray, log)
    } else {
        StartCommand {
            program,
            args: vec!["daemon".to_owned()],
            log,
        }
    };
    Ok(start)
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
    let mut opts = BrokerOptions::for_user("daemon").map_err(Failure::failed)?;
    opts.config = env.config.clone();
    opts.tick = Duration::from_secs(a.tick.max(1));
    opts.keychain_timeout = Duration::from_secs(a.keychain_timeout.max(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        tokio::select! {
            r = serve_for_user(opts) => r.map(|_| ()).map_err(|e| Failure::failed(e.to_string())),
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
