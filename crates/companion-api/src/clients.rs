//! MCP clients for the window: where MCP Companion is installed, with Install / Repair / Remove.
//! The editing itself (format-preserving, atomic, backed up) is `companion_clients`, the same
//! code as `mcp-companion install`.

use std::path::Path;

use companion_clients::file::{self, UpdateOptions};
use companion_clients::plan::{self, InstallRequest, Outcome, Selection};
use companion_clients::{locate, Client, Drift, Scope, Target};

use crate::types::{ApiError, ClientView, Field};

fn target(client: &str) -> Result<Target, ApiError> {
    let c = Client::from_id(client).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown MCP client {client:?}; one of {}",
            Client::ALL
                .iter()
                .map(|c| c.id())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let env = file::environment().map_err(|e| ApiError::failed(e.to_string()))?;
    locate(c, &Scope::User, &env).map_err(|e| ApiError::failed(e.to_string()))
}

fn command(cli: &Path) -> String {
    cli.display().to_string()
}

/// Every client's user-level file and what it holds.
pub(crate) fn list(cli: &Path, names: &[String]) -> Result<Vec<ClientView>, ApiError> {
    let env = file::environment().map_err(|e| ApiError::failed(e.to_string()))?;
    let command = command(cli);
    let mut out = Vec::new();
    for c in Client::ALL {
        let t = locate(c, &Scope::User, &env).map_err(|e| ApiError::failed(e.to_string()))?;
        let mut v = ClientView {
            id: c.id().to_owned(),
            name: c.display_name().to_owned(),
            path: t.path.display().to_string(),
            exists: false,
            installed: Vec::new(),
            drifted: Vec::new(),
            missing: names.to_vec(),
            error: None,
        };
        match file::read(&t.path) {
            Ok(None) => {}
            Ok(Some(text)) => {
                v.exists = true;
                match plan::inspect(&t, &text, &command, names, &file::command_exists) {
                    Ok(i) => {
                        for e in &i.installed {
                            v.missing.retain(|n| n != &e.server);
                            v.installed.push(e.server.clone());
                            let why = if e.orphaned {
                                Some("MCP Companion has no such server any more")
                            } else {
                                match e.drift {
                                    Some(Drift::Missing) => Some("its program no longer exists"),
                                    Some(Drift::Elsewhere) => {
                                        Some("it runs another copy of mcp-companion")
                                    }
                                    None => None,
                                }
                            };
                            if let Some(why) = why {
                                v.drifted.push(Field {
                                    label: e.server.clone(),
                                    value: why.to_owned(),
                                });
                            }
                        }
                    }
                    Err(e) => v.error = Some(e.to_string()),
                }
            }
            Err(e) => v.error = Some(e.to_string()),
        }
        out.push(v);
    }
    Ok(out)
}

/// Installs every configured server into `client` and repairs drifted entries.
pub(crate) fn install(cli: &Path, client: &str, names: &[String]) -> Result<String, ApiError> {
    let t = target(client)?;
    if names.is_empty() {
        return Err(ApiError::invalid("add a server first"));
    }
    let command = command(cli);
    let update = file::update(&t.path, &UpdateOptions::now(), |text, _| {
        plan::install(
            &t,
            text,
            &InstallRequest {
                command: &command,
                servers: names,
                repair: true,
                configured: names,
                exists: &file::command_exists,
            },
        )
    })
    .map_err(|e| ApiError::failed(e.to_string()))?;
    let refused: Vec<&str> = update
        .plan
        .actions
        .iter()
        .filter(|x| matches!(x.outcome, Outcome::Conflict))
        .map(|x| x.server.as_str())
        .collect();
    if !refused.is_empty() {
        return Err(ApiError::failed(format!(
            "{} already has entries named {} that are not MCP Companion's; rename or remove them in {}",
            t.client.display_name(),
            refused.join(", "),
            t.path.display()
        )));
    }
    Ok(format!(
        "{} updated; restart it to pick up the change",
        t.client.display_name()
    ))
}

/// Removes every MCP Companion entry from `client`.
pub(crate) fn uninstall(_cli: &Path, client: &str) -> Result<String, ApiError> {
    let t = target(client)?;
    file::update(&t.path, &UpdateOptions::now(), |text, original| {
        plan::uninstall(&t, text, Selection::All, original)
    })
    .map_err(|e| ApiError::failed(e.to_string()))?;
    Ok(format!(
        "MCP Companion removed from {}",
        t.client.display_name()
    ))
}
