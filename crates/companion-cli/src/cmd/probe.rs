//! `probe` / `doctor`: build the settings, run `companion_mcp::probe`, print the timeline.

use std::io::{self, Write};
use std::time::Duration;

use companion_auth::grants::{IdJagInputs, SigningAlg};
use companion_auth::{AuthSettings, AuthorizeMode, Authorizer, Grant, Http, Timeline};
use companion_core::config::{AuthConfig, ResourceSetting};
use companion_core::secret::Secret;
use companion_mcp::probe::{self, BridgeChild, Elicitation, Link, ProbeOptions, ProbeReport};
use companion_mcp::transport::StreamableHttp;
use serde_json::Value;

use super::Env;
use crate::args::{AuthorizeArg, ElicitationArg, GrantArg, ProbeArgs, StoreArg};
use crate::output::Failure;

/// The client ID metadata document URL the conformance suite expects.
const CONFORMANCE_CIMD: &str = "https://conformance-test.local/client-metadata.json";

/// Secrets handed over in-process (never through arguments).
#[derive(Default)]
struct Secrets {
    client_secret: Option<Secret>,
    private_key_pem: Option<Secret>,
    idp_id_token: Option<Secret>,
}

pub(crate) fn run(env: &Env, mut a: ProbeArgs) -> Result<(), Failure> {
    let mut secrets = Secrets::default();
    if a.conformance {
        conformance(&mut a, &mut secrets)?;
    }
    if a.store == StoreArg::Keychain {
        // The keychain belongs to the credential broker: the probe then talks to the server
        // through the real bridge, which gets its tokens from the broker (signed in with
        // `mcp-companion login`, refreshed and kept in the OS keychain).
        if a.target.contains("://") {
            return Err(Failure::usage("--store keychain uses a configured server's tokens: give its name (see `mcp-companion list`), not a URL"));
        }
        a.via_bridge = true;
    }
    let mut settings = settings(env, &a, &mut secrets)?;
    settings.callback_timeout = Duration::from_secs(a.timeout.max(1) * 10);
    let url = settings.server_url.clone();
    let opts = ProbeOptions {
        elicitation: match a.elicitation {
            ElicitationArg::AcceptDefaults => Elicitation::AcceptDefaults,
            ElicitationArg::Decline => Elicitation::Decline,
            ElicitationArg::Cancel => Elicitation::Cancel,
            ElicitationArg::Off => Elicitation::Off,
        },
        calls: match (&a.call, &a.args) {
            (Some(tool), args) => {
                let args: Value = match args {
                    Some(j) => serde_json::from_str(j)
                        .map_err(|e| Failure::usage(format!("--args is not JSON: {e}")))?,
                    None => Value::Object(serde_json::Map::new()),
                };
                if !args.is_object() {
                    return Err(Failure::usage("--args must be a JSON object"));
                }
                vec![(tool.clone(), args)]
            }
            (None, _) => Vec::new(),
        },
        call_all_tools: a.call_all_tools,
        request_timeout: Duration::from_secs(a.timeout.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let no_auth = a.no_auth || a.via_bridge;
    let bridge_args = a.via_bridge.then(|| {
        let mut args = vec![
            "--config".to_owned(),
            env.config.path().display().to_string(),
            "connect".to_owned(),
            a.target.clone(),
        ];
        args.extend(["--step-up-timeout".to_owned(), a.timeout.to_string()]);
        args
    });
    let report = runtime.block_on(async move {
        let timeline = Timeline::new();
        let http = Http::new(timeline.clone())?;
        let (link, rx) = match bridge_args {
            Some(args) => {
                let program = std::env::current_exe().map_err(|e| {
                    Failure::failed(format!("cannot find this program's path: {e}"))
                })?;
                let (child, rx) = BridgeChild::spawn(&program, &args, url.clone())
                    .map_err(|e| Failure::failed(format!("cannot start the bridge: {e}")))?;
                (Link::Bridge(child), rx)
            }
            None => {
                let (transport, rx) = StreamableHttp::new(url.clone(), Vec::new())
                    .map_err(|e| Failure::failed(e.to_string()))?;
                (Link::Http(transport), rx)
            }
        };
        let auth = (!no_auth).then(|| Authorizer::new(settings, http));
        Ok::<_, Failure>(probe::run(&url, (link, rx), auth, timeline, &opts).await)
    });
    let report = report?;
    print(&report, a.json);
    if report.ok {
        Ok(())
    } else {
        let mut f = Failure::failed(
            report
                .error
                .clone()
                .unwrap_or_else(|| "the probe failed".to_owned()),
        );
        if let Some(h) = &report.hint {
            f = f.hint(h.clone());
        }
        Err(f)
    }
}

impl From<companion_auth::AuthError> for Failure {
    fn from(e: companion_auth::AuthError) -> Self {
        let hint = e.hint();
        let f = Failure::failed(e.to_string());
        match hint {
            Some(h) => f.hint(h),
            None => f,
        }
    }
}

fn settings(env: &Env, a: &ProbeArgs, secrets: &mut Secrets) -> Result<AuthSettings, Failure> {
    let mut s;
    if a.target.contains("://") {
        companion_core::server_url::ServerUrl::parse(&a.target)
            .map_err(|e| Failure::usage(e.to_string()))?;
        s = AuthSettings::new(a.target.clone());
    } else {
        // A configured server: start from its settings.
        let loaded = env.config.load()?;
        let server = super::servers::find(&loaded.config, &a.target)?;
        s = AuthSettings::new(server.url.to_string());
        if let AuthConfig::OAuth(o) = &server.auth {
            s.client_id.clone_from(&o.client_id);
            s.scopes.clone_from(&o.scopes);
            s.extra_authorize_params
                .clone_from(&o.extra_authorize_params);
            s.resource = o.resource.clone();
            s.client_metadata_url.clone_from(&o.client_metadata_url);
        }
    }
    s.mode = match a.authorize {
        AuthorizeArg::Browser => AuthorizeMode::Browser,
        AuthorizeArg::Headless => AuthorizeMode::Headless,
    };
    s.insecure_test_mode = a.insecure_test_mode;
    if a.client_id.is_some() {
        s.client_id.clone_from(&a.client_id);
    }
    if a.client_metadata_url.is_some() {
        s.client_metadata_url.clone_from(&a.client_metadata_url);
    }
    if !a.scopes.is_empty() {
        s.scopes = Some(a.scopes.clone());
    }
    for p in &a.authorize_params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--authorize-param {p:?} is not KEY=VALUE")))?;
        s.extra_authorize_params.push((k.to_owned(), v.to_owned()));
    }
    if a.no_resource {
        s.resource = ResourceSetting::Omit;
    }
    let read_env = |var: &Option<String>, what: &str| -> Result<Option<Secret>, Failure> {
        match var {
            None => Ok(None),
            Some(v) => std::env::var(v).map(|x| Some(Secret::new(x))).map_err(|_| {
                Failure::usage(format!("{what}: the environment variable {v} is not set"))
            }),
        }
    };
    if let Some(sec) = read_env(&a.client_secret_env, "--client-secret-env")? {
        secrets.client_secret = Some(sec);
    }
    if let Some(t) = read_env(&a.idp_id_token_env, "--idp-id-token-env")? {
        secrets.idp_id_token = Some(t);
    }
    if let Some(path) = &a.private_key_pem {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        secrets.private_key_pem = Some(Secret::new(pem));
    }
    s.client_secret = secrets.client_secret.clone();
    s.grant = match a.grant {
        GrantArg::AuthorizationCode => Grant::AuthorizationCode,
        GrantArg::ClientCredentials => {
            let client_id = a
                .client_id
                .clone()
                .ok_or_else(|| Failure::usage("--grant client-credentials needs --client-id"))?;
            if let Some(key) = secrets.private_key_pem.take() {
                let alg = SigningAlg::parse(&a.signing_alg).ok_or_else(|| {
                    Failure::usage(format!(
                        "--signing-alg {:?}: use ES256 or RS256",
                        a.signing_alg
                    ))
                })?;
                Grant::PrivateKeyJwt {
                    client_id,
                    key_pem: key,
                    alg,
                    key_id: None,
                }
            } else {
                let secret = secrets.client_secret.clone().ok_or_else(|| Failure::usage("--grant client-credentials needs --client-secret-env VAR or --private-key-pem FILE"))?;
                Grant::ClientSecret {
                    client_id,
                    secret,
                    post: a.client_secret_post,
                }
            }
        }
        GrantArg::IdJag => {
            Grant::IdJag {
                client_id: a
                    .client_id
                    .clone()
                    .ok_or_else(|| Failure::usage("--grant id-jag needs --client-id"))?,
                client_secret: secrets.client_secret.clone().ok_or_else(|| {
                    Failure::usage("--grant id-jag needs --client-secret-env VAR")
                })?,
                idp: IdJagInputs {
                    idp_token_endpoint: a.idp_token_endpoint.clone().ok_or_else(|| {
                        Failure::usage("--grant id-jag needs --idp-token-endpoint")
                    })?,
                    id_token: secrets.idp_id_token.clone().ok_or_else(|| {
                        Failure::usage("--grant id-jag needs --idp-id-token-env VAR")
                    })?,
                    idp_client_id: a.idp_client_id.clone(),
                },
            }
        }
    };
    Ok(s)
}

/// The one scenario-aware layer: maps the conformance runner's environment onto ordinary
/// options. Protocol code never sees the scenario.
fn conformance(a: &mut ProbeArgs, secrets: &mut Secrets) -> Result<(), Failure> {
    a.authorize = AuthorizeArg::Headless;
    a.store = StoreArg::Memory;
    a.call_all_tools = true;
    a.elicitation = ElicitationArg::AcceptDefaults;
    a.client_metadata_url = Some(CONFORMANCE_CIMD.to_owned());
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let ctx: Value = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(s) if !s.trim().is_empty() => serde_json::from_str(&s)
            .map_err(|e| Failure::usage(format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}")))?,
        _ => return Ok(()),
    };
    let get = |k: &str| ctx.get(k).and_then(Value::as_str).map(str::to_owned);
    a.client_id = get("client_id");
    secrets.client_secret = get("client_secret").map(Secret::new);
    if let Some(pem) = get("private_key_pem") {
        a.grant = GrantArg::ClientCredentials;
        secrets.private_key_pem = Some(Secret::new(pem));
        a.signing_alg = get("signing_algorithm").unwrap_or_else(|| "ES256".to_owned());
    } else if let Some(token) = get("idp_id_token") {
        a.grant = GrantArg::IdJag;
        secrets.idp_id_token = Some(Secret::new(token));
        a.idp_token_endpoint = get("idp_token_endpoint");
        a.idp_client_id = get("idp_client_id");
    } else if scenario.contains("client-credentials") {
        a.grant = GrantArg::ClientCredentials;
    }
    Ok(())
}

fn print(r: &ProbeReport, json: bool) {
    let mut out = io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(r).unwrap_or_default()
        );
        return;
    }
    let _ = writeln!(out, "Probe of {}", r.url);
    for e in &r.timeline {
        match (&e.method, &e.url) {
            (Some(m), Some(u)) => {
                let status = e.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
                let took = e.took_ms.map(|t| format!(" ({t} ms)")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:>6} ms  {:<30} {m} {u} -> {status}{took}",
                    e.at_ms, e.step
                );
                if !e.note.is_empty() {
                    let _ = writeln!(out, "{:>10}{:<30} {}", "", "", e.note);
                }
            }
            _ => {
                let _ = writeln!(out, "{:>6} ms  {:<30} {}", e.at_ms, e.step, e.note);
            }
        }
    }
    if r.ok {
        let name = r
            .server_info
            .as_ref()
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let _ = writeln!(
            out,
            "OK: {name}, protocol {}, {} tools{}",
            r.protocol_version.as_deref().unwrap_or("?"),
            r.tools.len(),
            if r.calls.is_empty() {
                String::new()
            } else {
                format!(", {} calls", r.calls.len())
            }
        );
    }
}
