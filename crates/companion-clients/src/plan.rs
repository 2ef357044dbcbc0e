//! What to change in a client's file, as text-to-text functions.
//!
//! [`install`], [`uninstall`] and [`inspect`] take the file's text (or `None` when it does not
//! exist) and return the new text and what happened to each server. They never touch the disk;
//! [`crate::file`] reads, backs up and writes.

use serde::Serialize;

use crate::client::{Format, Target};
use crate::entry::{Drift, Installed, RawEntry, CONNECT};
use crate::error::ClientsError;
use crate::{jsonc, toml_file};

/// What happened (or would happen) to one server's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// A new entry was added.
    Added,
    /// Our entry was already there and current.
    Unchanged,
    /// Our entry runs another binary; left as it is (`--repair` fixes it).
    Drifted(Drift),
    /// Our entry's command was pointed at the current binary.
    Repaired,
    /// An entry with this name exists and is not ours; left as it is.
    Conflict,
    /// Our entry was removed.
    Removed,
    /// There is no entry with this name.
    NotInstalled,
    /// Our entry connects to a server MCP Companion no longer has; left as it is.
    Orphaned,
}

/// One server and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// The entry's key (the server's name).
    pub server: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The result of planning a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The new text, or `None` when the file stays as it is.
    pub text: Option<String>,
    /// Per-server outcomes, in the order asked.
    pub actions: Vec<Action>,
}

/// What `install` should do.
#[derive(Clone, Copy)]
pub struct InstallRequest<'a> {
    /// The absolute path of the running `mcp-companion`.
    pub command: &'a str,
    /// The servers to add (already checked against MCP Companion's config).
    pub servers: &'a [String],
    /// Also point every drifted entry of a configured server at `command`.
    pub repair: bool,
    /// Every server in MCP Companion's config.
    pub configured: &'a [String],
    /// Whether a command path exists (tells a moved binary from a deleted one).
    pub exists: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for InstallRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallRequest")
            .field("command", &self.command)
            .field("servers", &self.servers)
            .field("repair", &self.repair)
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

/// Which entries `uninstall` removes.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// These names.
    Servers(&'a [String]),
    /// Every entry of ours, configured or orphaned.
    All,
}

/// What is installed in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// Our entries with their health.
    pub installed: Vec<Installed>,
    /// The keys of the other servers in the file (not ours).
    pub others: Vec<String>,
}

/// A minimal document to start from when the file does not exist (or is blank).
fn empty_document(format: Format) -> &'static str {
    match format {
        Format::Json => "{}\n",
        Format::Toml => "",
    }
}

fn entries(target: &Target, text: &str) -> Result<Vec<RawEntry>, ClientsError> {
    let path = &target.path;
    let found = match target.format {
        Format::Json if text.trim().is_empty() => None,
        Format::Json => jsonc::entries(path, text, &target.key_path)?,
        Format::Toml => toml_file::entries(path, text, toml_key(target))?,
    };
    Ok(found.unwrap_or_default())
}

/// Codex's servers table is a single top-level key.
fn toml_key(target: &Target) -> &str {
    target
        .key_path
        .first()
        .map_or("mcp_servers", String::as_str)
}

fn connect_args(server: &str) -> Vec<String> {
    vec![CONNECT.to_owned(), server.to_owned()]
}

fn add(target: &Target, text: &str, server: &str, command: &str) -> Result<String, ClientsError> {
    let args = connect_args(server);
    match target.format {
        Format::Json => jsonc::add_member(
            &target.path,
            text,
            &target.key_path,
            server,
            &jsonc::NewValue::Entry {
                entry_type: target.entry_type,
                command,
                args: &args,
            },
        ),
        Format::Toml => {
            toml_file::add_entry(&target.path, text, toml_key(target), server, command, &args)
        }
    }
}

fn set_command(
    target: &Target,
    text: &str,
    key: &str,
    command: &str,
) -> Result<String, ClientsError> {
    match target.format {
        Format::Json => {
            let mut keys = target.key_path.clone();
            keys.push(key.to_owned());
            jsonc::set_string(&target.path, text, &keys, "command", command)
        }
        Format::Toml => toml_file::set_command(&target.path, text, toml_key(target), key, command),
    }
}

/// Adds the requested servers' entries, and with `repair` re-points drifted ones.
///
/// An existing entry with the same name that is not ours is never touched ([`Outcome::Conflict`]).
/// A missing file is created, with the minimal structure, only if an entry is added.
pub fn install(
    target: &Target,
    text: Option<&str>,
    req: &InstallRequest<'_>,
) -> Result<Plan, ClientsError> {
    let original = text.filter(|t| !t.trim().is_empty());
    let mut cur = original.unwrap_or(empty_document(target.format)).to_owned();
    let found = entries(target, &cur)?;
    let mut actions = Vec::new();
    for server in req.servers {
        let outcome = match found.iter().find(|e| &e.key == server) {
            None => {
                cur = add(target, &cur, server, req.command)?;
                Outcome::Added
            }
            Some(e) if !e.is_ours() => Outcome::Conflict,
            Some(e) => match e
                .command
                .as_deref()
                .and_then(|c| Drift::of(c, req.command, req.exists))
            {
                None => Outcome::Unchanged,
                Some(_) if req.repair => {
                    cur = set_command(target, &cur, &e.key, req.command)?;
                    Outcome::Repaired
                }
                Some(d) => Outcome::Drifted(d),
            },
        };
        actions.push(Action {
            server: server.clone(),
            outcome,
        });
    }
    // The rest of our entries: repair the drifted, point out the orphaned.
    for e in found
        .iter()
        .filter(|e| e.is_ours() && !req.servers.contains(&e.key))
    {
        let outcome = if !req.configured.iter().any(|c| c == e.server()) {
            Outcome::Orphaned
        } else if let Some(d) = e
            .command
            .as_deref()
            .and_then(|c| Drift::of(c, req.command, req.exists))
        {
            if req.repair {
                cur = set_command(target, &cur, &e.key, req.command)?;
                Outcome::Repaired
            } else {
                Outcome::Drifted(d)
            }
        } else {
            continue;
        };
        actions.push(Action {
            server: e.key.clone(),
            outcome,
        });
    }
    let changed = match original {
        Some(t) => cur != t,
        None => actions.iter().any(|a| a.outcome == Outcome::Added),
    };
    Ok(Plan {
        text: changed.then_some(cur),
        actions,
    })
}

/// Removes our entries.
///
/// An entry with a requested name that is not ours is never removed ([`Outcome::Conflict`]).
/// When the servers object is left empty and `original` (the file before MCP Companion first
/// changed it, from the backup) did not have it, the key is removed too, and so on up the key
/// path: that is what makes install-then-uninstall give back the original bytes. Without
/// `original` (no backup: the file did not exist before, or the backup was deleted) the empty
/// object stays.
pub fn uninstall(
    target: &Target,
    text: Option<&str>,
    which: Selection<'_>,
    original: Option<&str>,
) -> Result<Plan, ClientsError> {
    let Some(before) = text.filter(|t| !t.trim().is_empty()) else {
        let actions = match which {
            Selection::Servers(names) => names
                .iter()
                .map(|n| Action {
                    server: n.clone(),
                    outcome: Outcome::NotInstalled,
                })
                .collect(),
            Selection::All => Vec::new(),
        };
        return Ok(Plan {
            text: None,
            actions,
        });
    };
    let found = entries(target, before)?;
    let chosen: Vec<(String, Option<&RawEntry>)> = match which {
        Selection::Servers(names) => names
            .iter()
            .map(|n| (n.clone(), found.iter().find(|e| &e.key == n)))
            .collect(),
        Selection::All => found
            .iter()
            .filter(|e| e.is_ours())
            .map(|e| (e.key.clone(), Some(e)))
            .collect(),
    };
    let mut cur = before.to_owned();
    let mut actions = Vec::new();
    for (server, entry) in chosen {
        let outcome = match entry {
            None => Outcome::NotInstalled,
            Some(e) if !e.is_ours() => Outcome::Conflict,
            Some(e) => {
                cur = remove(target, &cur, &e.key, original)?;
                Outcome::Removed
            }
        };
        actions.push(Action { server, outcome });
    }
    if actions.iter().any(|a| a.outcome == Outcome::Removed) && target.format == Format::Json {
        cur = prune_json(target, cur, original)?;
    }
    Ok(Plan {
        text: (cur != before).then_some(cur),
        actions,
    })
}

fn remove(
    target: &Target,
    text: &str,
    key: &str,
    original: Option<&str>,
) -> Result<String, ClientsError> {
    match target.format {
        Format::Json => jsonc::remove_member(&target.path, text, &target.key_path, key),
        Format::Toml => {
            let table = toml_key(target);
            let prune = original.is_some_and(|o| !toml_file::has_key(o, table));
            toml_file::remove_entry(&target.path, text, table, key, prune)
        }
    }
}

/// Removes the empty objects on the key path that `original` did not have, deepest first.
fn prune_json(
    target: &Target,
    mut text: String,
    original: Option<&str>,
) -> Result<String, ClientsError> {
    let Some(original) = original else {
        return Ok(text);
    };
    let keys = &target.key_path;
    for depth in (1..=keys.len()).rev() {
        let here = &keys[..depth];
        if !jsonc::is_empty_object(&target.path, &text, here)? || jsonc::has_key(original, here) {
            break;
        }
        text = jsonc::remove_member(&target.path, &text, &keys[..depth - 1], &keys[depth - 1])?;
    }
    Ok(text)
}

/// Lists our entries in `text` with their health, and the other servers.
pub fn inspect(
    target: &Target,
    text: &str,
    command: &str,
    configured: &[String],
    exists: &dyn Fn(&str) -> bool,
) -> Result<Inspection, ClientsError> {
    let found = entries(target, text)?;
    let mut inspection = Inspection {
        installed: Vec::new(),
        others: Vec::new(),
    };
    for e in found {
        if !e.is_ours() {
            inspection.others.push(e.key);
            continue;
        }
        let cmd = e.command.clone().unwrap_or_default();
        inspection.installed.push(Installed {
            server: e.server().to_owned(),
            drift: Drift::of(&cmd, command, exists),
            orphaned: !configured.iter().any(|c| c == e.server()),
            command: cmd,
            key: e.key,
        });
    }
    Ok(inspection)
}
