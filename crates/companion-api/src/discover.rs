//! The wizard's discovery and the details pane's connection test, both reported step by step.

use std::path::Path;
use std::time::{Duration, Instant};

use companion_auth::{discovery, Http, Timeline, TimelineEvent};
use companion_core::config::ServerConfig;
use companion_core::oauth::profile::Profile;
use companion_core::server_url::ServerUrl;
use companion_mcp::probe::{self, BridgeChild, Elicitation, Link, ProbeOptions};
use companion_store::ConfigStore;

use crate::types::{ApiError, Discovered, ErrorKind, RegistrationKind, Step, TestReport};

const FIRST_CONTACT: &str = "first contact";

fn step(e: &TimelineEvent) -> Step {
    Step {
        at_ms: e.at_ms,
        step: e.step.clone(),
        method: e.method.clone(),
        url: e.url.clone(),
        status: e.status,
        took_ms: e.took_ms,
        note: e.note.clone(),
    }
}

fn timeline(on_step: impl Fn(Step) + Send + Sync + 'static) -> Timeline {
    Timeline::new().with_sink(move |e| on_step(step(e)))
}

/// A server name from a URL's host: `mcp.linear.app` → `linear`.
pub(crate) fn suggest_name(url: &str) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let labels: Vec<&str> = host
        .split('.')
        .filter(|l| !matches!(*l, "mcp" | "api" | "www" | "server" | "localhost"))
        .collect();
    let pick = match labels.as_slice() {
        [] => "server",
        [only] => only,
        [first, ..] => first,
    };
    let name: String = pick
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() || name.chars().all(|c| c.is_ascii_digit() || c == '-') {
        "server".to_owned()
    } else {
        name.to_owned()
    }
}

/// Asks the server what signing in involves, without signing in.
pub(crate) async fn run(
    url: &str,
    on_step: impl Fn(Step) + Send + Sync + 'static,
) -> Result<Discovered, ApiError> {
    let url = ServerUrl::parse(url).map_err(|e| ApiError::invalid(e.to_string()))?;
    let url = url.as_str();
    let tl = timeline(on_step);
    let http = Http::new(tl.clone()).map_err(|e| ApiError::failed(e.to_string()))?;
    // An `initialize` without credentials: a protected server answers 401 with its challenge.
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": probe::PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-companion", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let at_ms = tl.elapsed_ms();
    let started = Instant::now();
    let sent = http
        .client()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let why = companion_auth::http::describe_failure(&e);
            tl.push(TimelineEvent {
                at_ms,
                step: FIRST_CONTACT.into(),
                method: Some("POST".into()),
                url: Some(url.to_owned()),
                status: None,
                took_ms: Some(took_ms),
                note: why.clone(),
            });
            return Err(ApiError::new(
                ErrorKind::Network,
                format!("cannot reach {url}: {why}. Check the URL and your network"),
            ));
        }
    };
    let status = resp.status().as_u16();
    let bearer = companion_auth::http::bearer_challenge(resp.headers());
    let note = match status {
        401 => "the server asks for a sign-in".to_owned(),
        200..=299 => "the server answered without credentials: no sign-in needed".to_owned(),
        404 => "nothing at this URL (404)".to_owned(),
        405 => "POST not allowed: a legacy HTTP+SSE server".to_owned(),
        s => format!("unexpected answer {s}"),
    };
    tl.push(TimelineEvent {
        at_ms,
        step: FIRST_CONTACT.into(),
        method: Some("POST".into()),
        url: Some(url.to_owned()),
        status: Some(status),
        took_ms: Some(took_ms),
        note,
    });
    let mut found = Discovered {
        url: url.to_owned(),
        suggested_name: suggest_name(url),
        auth_required: false,
        issuer: None,
        registration: RegistrationKind::None,
        scopes: Vec::new(),
        profile: None,
        profile_hint: None,
        steps: Vec::new(),
    };
    match status {
        401 => {}
        200..=299 | 405 => {
            found.steps = tl.events().iter().map(step).collect();
            return Ok(found);
        }
        404 => {
            return Err(ApiError::invalid(format!(
                "there is no MCP server at {url} (404); check the path, often /mcp or /sse"
            )))
        }
        s => {
            return Err(ApiError::new(
                ErrorKind::Network,
                format!("{url} answered HTTP {s}; is this an MCP server URL?"),
            ))
        }
    }
    found.auth_required = true;
    let d = discovery::discover(&http, url, bearer.as_ref(), None)
        .await
        .map_err(|e| {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            ApiError::new(ErrorKind::Network, format!("{e}{hint}"))
        })?;
    found.registration = if d.server.registration_endpoint.is_some() {
        RegistrationKind::Dynamic
    } else if d.server.client_id_metadata_document_supported {
        RegistrationKind::MetadataDocument
    } else {
        RegistrationKind::PreRegistered
    };
    found.scopes = bearer
        .and_then(|b| b.scope)
        .or_else(|| {
            d.resource_metadata
                .as_ref()
                .and_then(|m| m.scopes_supported.clone())
        })
        .or_else(|| d.server.scopes_supported.clone())
        .unwrap_or_default();
    let profile = Profile::detect(&d.issuer);
    if profile != Profile::Generic {
        found.profile = Some(profile.name().to_owned());
        found.profile_hint = profile.registration_hint().map(str::to_owned);
    }
    found.issuer = Some(d.issuer);
    found.steps = tl.events().iter().map(step).collect();
    Ok(found)
}

/// A whole MCP session through a real bridge (`mcp-companion connect NAME`), as an MCP client
/// would run it: the bridge gets its token from the broker.
pub(crate) async fn test_connection(
    cli: &Path,
    config: &ConfigStore,
    s: &ServerConfig,
    on_step: impl Fn(Step) + Send + Sync + 'static,
) -> Result<TestReport, ApiError> {
    let tl = timeline(on_step);
    let url = s.url.as_str().to_owned();
    let args = vec![
        "--config".to_owned(),
        config.path().display().to_string(),
        "connect".to_owned(),
        s.name.as_str().to_owned(),
        "--step-up-timeout".to_owned(),
        "20".to_owned(),
    ];
    let (child, rx) = BridgeChild::spawn(cli, &args, url.clone()).map_err(|e| {
        ApiError::failed(format!(
            "cannot start the bridge {}: {e}; reinstall MCP Companion",
            cli.display()
        ))
    })?;
    let opts = ProbeOptions {
        elicitation: Elicitation::Off,
        calls: Vec::new(),
        call_all_tools: false,
        request_timeout: Duration::from_secs(20),
    };
    let r = probe::run(&url, (Link::Bridge(child), rx), None, tl, &opts).await;
    Ok(TestReport {
        ok: r.ok,
        protocol_version: r.protocol_version,
        server_info: r.server_info.map(|v| {
            let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            match v.get("version").and_then(|n| n.as_str()) {
                Some(ver) => format!("{name} {ver}"),
                None => name.to_owned(),
            }
        }),
        tools: r.tools,
        error: r.error,
        hint: r.hint,
        steps: r.timeline.iter().map(step).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_host() {
        assert_eq!(suggest_name("https://mcp.linear.app/mcp"), "linear");
        assert_eq!(
            suggest_name("https://api.githubcopilot.com/mcp/"),
            "githubcopilot"
        );
        assert_eq!(suggest_name("https://wiki.corp.example.com/mcp"), "wiki");
        assert_eq!(suggest_name("http://127.0.0.1:8080/mcp"), "server");
        assert_eq!(suggest_name("http://localhost:8080/mcp"), "server");
        assert_eq!(suggest_name("https://my_tools.example/mcp"), "my-tools");
    }
}
