//! `install`, `uninstall`, `clients`: MCP Companion's entries in MCP clients' config files.
//!
//! Glue over `companion_clients`: resolve the client's file, pick the servers from MCP
//! Companion's config, run the pure plan through `file::update`, and print what happened.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use companion_clients::file::{self, Update, UpdateOptions};
use companion_clients::plan::{self, InstallRequest, Outcome, Selection};
use companion_clients::{locate, Client, ClientsError, Drift, Installed, Scope, Target};
use companion_core::suggest::did_you_mean;
use serde_json::json;

use super::Env;
use crate::args::{ClientArg, ClientsArgs, InstallArgs, UninstallArgs};
use crate::output::Failure;

fn client(c: ClientArg) -> Client {
    match c {
        ClientArg::ClaudeDesktop => Client::ClaudeDesktop,
        ClientArg::Cursor => Client::Cursor,
        ClientArg::Vscode => Client::VsCode,
        ClientArg::ClaudeCode => Client::ClaudeCode,
        ClientArg::Codex => Client::Codex,
        ClientArg::Windsurf => Client::Windsurf,
    }
}

fn failure(e: ClientsError) -> Failure {
    if matches!(
        e,
        ClientsError::Parse { .. } | ClientsError::WrongType { .. }
    ) {
        Failure::usage(e.to_string())
            .hint("fix the file by hand (or move it aside); MCP Companion did not change it")
    } else if e.is_config_error() {
        Failure::usage(e.to_string())
    } else {
        Failure::failed(e.to_string())
    }
}

/// `--project DIR` as the absolute path clients key projects by.
fn scope(project: Option<&Path>) -> Result<Scope, Failure> {
    let Some(dir) = project else {
        return Ok(Scope::User);
    };
    let abs = fs::canonicalize(dir)
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| Failure::usage(format!("--project {}: no such directory", dir.display())))?;
    // Windows' canonical form has a `\\?\` prefix no client writes.
    let text = abs.to_string_lossy();
    Ok(Scope::Project(match text.strip_prefix(r"\\?\") {
        Some(rest) => PathBuf::from(rest),
        None => abs.clone(),
    }))
}

fn target(c: ClientArg, project: Option<&Path>) -> Result<Target, Failure> {
    let environment = file::environment().map_err(failure)?;
    locate(client(c), &scope(project)?, &environment).map_err(failure)
}

fn configured(env: &Env) -> Result<(companion_core::config::Config, Vec<String>), Failure> {
    let loaded = env.config.load()?;
    let names = loaded.config.names().map(str::to_owned).collect();
    Ok((loaded.config, names))
}

pub(crate) fn install(env: &Env, a: &InstallArgs) -> Result<(), Failure> {
    let target = target(a.client, a.project.as_deref())?;
    let (config, names) = configured(env)?;
    let servers = match (&a.server, a.all) {
        (Some(name), _) => vec![super::servers::find(&config, name)?
            .name
            .as_str()
            .to_owned()],
        (None, true) if names.is_empty() => {
            return Err(Failure::usage("no servers are configured yet")
                .hint("add one with `mcp-companion add NAME URL`"))
        }
        (None, true) => names.clone(),
        (None, false) if a.repair => Vec::new(),
        (None, false) => {
            return Err(
                Failure::usage("say which servers to install: --server NAME or --all")
                    .hint("`mcp-companion list` shows the configured servers"),
            )
        }
    };
    let command = file::running_binary().map_err(failure)?;
    let opts = UpdateOptions {
        dry_run: a.diff,
        ..UpdateOptions::now()
    };
    let update = file::update(&target.path, &opts, |text, _| {
        plan::install(
            &target,
            text,
            &InstallRequest {
                command: &command,
                servers: &servers,
                repair: a.repair,
                configured: &names,
                exists: &file::command_exists,
            },
        )
    })
    .map_err(failure)?;
    report(&target, &update, a.diff, &command);
    let refused: Vec<&str> = update
        .plan
        .actions
        .iter()
        .filter(|x| servers.contains(&x.server))
        .filter(|x| matches!(x.outcome, Outcome::Conflict | Outcome::Drifted(_)))
        .map(|x| x.server.as_str())
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "not installed in {}: {}",
            target.client.display_name(),
            refused.join(", ")
        )))
    }
}

pub(crate) fn uninstall(env: &Env, a: &UninstallArgs) -> Result<(), Failure> {
    let target = target(a.client, a.project.as_deref())?;
    let (_, names) = configured(env)?;
    let requested: Vec<String> = a.server.iter().cloned().collect();
    let which = match (a.server.is_some(), a.all) {
        (true, _) => Selection::Servers(&requested),
        (false, true) => Selection::All,
        (false, false) => {
            return Err(
                Failure::usage("say which entries to remove: --server NAME or --all")
                    .hint("`mcp-companion clients` shows what is installed where"),
            )
        }
    };
    let opts = UpdateOptions {
        dry_run: a.diff,
        ..UpdateOptions::now()
    };
    let update = file::update(&target.path, &opts, |text, original| {
        plan::uninstall(&target, text, which, original)
    })
    .map_err(failure)?;
    // A name that is neither configured nor in the file is most likely a typo.
    if let Some(name) = &a.server {
        let absent = update
            .plan
            .actions
            .iter()
            .any(|x| x.outcome == Outcome::NotInstalled);
        if absent && !names.contains(name) {
            let mut candidates = names.clone();
            candidates.extend(installed_keys(&target, update.before.as_deref()));
            let f = Failure::usage(format!(
                "no MCP Companion entry called {name:?} in {}",
                target.path.display()
            ));
            return Err(
                match did_you_mean(name, candidates.iter().map(String::as_str)) {
                    Some(s) => f.hint(format!("did you mean {s:?}?")),
                    None => f.hint("`mcp-companion clients` shows what is installed where"),
                },
            );
        }
    }
    let command = file::running_binary().unwrap_or_default();
    report(&target, &update, a.diff, &command);
    let refused: Vec<&str> = update
        .plan
        .actions
        .iter()
        .filter(|x| x.outcome == Outcome::Conflict)
        .map(|x| x.server.as_str())
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "not removed from {}: {} (not MCP Companion's entries)",
            target.client.display_name(),
            refused.join(", ")
        )))
    }
}

fn installed_keys(target: &Target, text: Option<&str>) -> Vec<String> {
    text.and_then(|t| plan::inspect(target, t, "", &[], &|_| true).ok())
        .map(|i| i.installed.into_iter().map(|e| e.key).collect())
        .unwrap_or_default()
}

/// Prints the per-server outcomes, the diff (`--diff`) or what was written.
fn report(target: &Target, update: &Update, dry_run: bool, command: &str) {
    let mut out = io::stdout().lock();
    let c = target.client;
    let _ = writeln!(out, "{} ({})", c.display_name(), target.path.display());
    let width = update
        .plan
        .actions
        .iter()
        .map(|x| x.server.len())
        .max()
        .unwrap_or(0);
    for x in &update.plan.actions {
        let _ = writeln!(
            out,
            "  {:<width$}  {}",
            x.server,
            outcome_text(c, &x.server, x.outcome, command)
        );
    }
    if dry_run {
        match &update.plan.text {
            Some(after) => {
                let label = target.path.display().to_string();
                let diff =
                    companion_clients::diff::unified(&label, update.before.as_deref(), after);
                let _ = write!(out, "\n{diff}");
                let _ = writeln!(out, "\n--diff: nothing was written.");
            }
            None => {
                let _ = writeln!(out, "No changes.");
            }
        }
        return;
    }
    if !update.written {
        let _ = writeln!(out, "No changes to the file.");
        return;
    }
    if let Some(b) = &update.backup {
        let _ = writeln!(out, "Backed up the original to {}.", b.display());
    }
    let _ = writeln!(out, "{}", restart_hint(c));
}

fn outcome_text(c: Client, server: &str, outcome: Outcome, command: &str) -> String {
    let id = c.id();
    match outcome {
        Outcome::Added => "added".to_owned(),
        Outcome::Unchanged => "already installed".to_owned(),
        Outcome::Repaired => format!("repaired: now runs {command}"),
        Outcome::Removed => "removed".to_owned(),
        Outcome::NotInstalled => "not installed".to_owned(),
        Outcome::Conflict => "left alone: an entry with this name exists and is not MCP \
                               Companion's (rename or remove it in the client first)"
            .to_owned(),
        Outcome::Drifted(d) => format!(
            "{}; `mcp-companion install {id} --repair` points it at this binary",
            drift_text(d)
        ),
        Outcome::Orphaned => format!(
            "orphaned: MCP Companion has no server {server:?}; \
             `mcp-companion uninstall {id} --server {server}` removes it"
        ),
        _ => format!("{outcome:?}"),
    }
}

fn drift_text(d: Drift) -> &'static str {
    match d {
        Drift::Missing => "drifted: runs an mcp-companion that no longer exists",
        Drift::Elsewhere => "drifted: runs another mcp-companion than this one",
    }
}

fn restart_hint(c: Client) -> String {
    match c {
        Client::ClaudeCode | Client::Codex => {
            format!("New {} sessions pick up the change.", c.display_name())
        }
        _ => format!("Restart {} to pick up the change.", c.display_name()),
    }
}

/// One client file's state, for `clients`.
struct Row {
    target: Target,
    exists: bool,
    error: Option<String>,
    installed: Vec<Installed>,
    others: Vec<String>,
    missing: Vec<String>,
}

pub(crate) fn list(env: &Env, a: &ClientsArgs) -> Result<(), Failure> {
    let environment = file::environment().map_err(failure)?;
    let (_, names) = configured(env)?;
    let command = file::running_binary().map_err(failure)?;
    let project = scope(a.project.as_deref())?;
    let mut rows = Vec::new();
    for c in Client::ALL {
        let mut scopes = vec![Scope::User];
        if c.has_project_scope() && project != Scope::User {
            scopes.push(project.clone());
        }
        for s in scopes {
            let target = locate(c, &s, &environment).map_err(failure)?;
            rows.push(row(target, &command, &names));
        }
    }
    let mut out = io::stdout().lock();
    if a.json {
        let doc = json!({
            "binary": command,
            "configured": names,
            "clients": rows.iter().map(row_json).collect::<Vec<_>>(),
        });
        let _ = writeln!(out, "{doc:#}");
        return Ok(());
    }
    let _ = writeln!(out, "This mcp-companion: {command}");
    for r in &rows {
        let t = &r.target;
        let scope = match &t.scope {
            Scope::User => String::new(),
            Scope::Project(p) => format!(" [project {}]", p.display()),
        };
        let _ = writeln!(
            out,
            "\n{}{scope}  {}",
            t.client.display_name(),
            t.path.display()
        );
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  error: {e}");
            continue;
        }
        if !r.exists {
            let _ = writeln!(out, "  no file yet");
        }
        let width = r.installed.iter().map(|i| i.key.len()).max().unwrap_or(0);
        for i in &r.installed {
            let _ = writeln!(out, "  {:<width$}  {}", i.key, health_text(t.client, i));
        }
        if r.exists && r.installed.is_empty() {
            let _ = writeln!(out, "  no MCP Companion entries");
        }
        if !r.missing.is_empty() {
            let _ = writeln!(out, "  not installed: {}", r.missing.join(", "));
        }
        if !r.others.is_empty() {
            let _ = writeln!(out, "  other servers: {}", r.others.join(", "));
        }
    }
    Ok(())
}

fn row(target: Target, command: &str, names: &[String]) -> Row {
    let mut r = Row {
        target,
        exists: false,
        error: None,
        installed: Vec::new(),
        others: Vec::new(),
        missing: names.to_vec(),
    };
    let text = match file::read(&r.target.path) {
        Ok(Some(t)) => t,
        Ok(None) => return r,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.exists = true;
    match plan::inspect(&r.target, &text, command, names, &file::command_exists) {
        Ok(i) => {
            r.missing
                .retain(|n| !i.installed.iter().any(|e| &e.server == n));
            r.installed = i.installed;
            r.others = i.others;
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

fn status(i: &Installed) -> &'static str {
    if i.orphaned {
        "orphaned"
    } else if i.drift.is_some() {
        "drifted"
    } else {
        "ok"
    }
}

fn health_text(c: Client, i: &Installed) -> String {
    let id = c.id();
    if i.orphaned {
        return format!(
            "orphaned: MCP Companion has no server {:?} (`mcp-companion uninstall {id} --all` \
             removes it)",
            i.server
        );
    }
    match i.drift {
        None => "ok".to_owned(),
        Some(d) => format!(
            "{} ({}); fix: mcp-companion install {id} --repair",
            drift_text(d),
            i.command
        ),
    }
}

fn row_json(r: &Row) -> serde_json::Value {
    let t = &r.target;
    let (scope, project) = match &t.scope {
        Scope::User => ("user", None),
        Scope::Project(p) => ("project", Some(p.display().to_string())),
    };
    json!({
        "client": t.client.id(),
        "name": t.client.display_name(),
        "scope": scope,
        "project": project,
        "file": t.path.display().to_string(),
        "exists": r.exists,
        "error": r.error,
        "installed": r.installed.iter().map(|i| json!({
            "key": i.key,
            "server": i.server,
            "command": i.command,
            "status": status(i),
            "drift": i.drift,
            "orphaned": i.orphaned,
        })).collect::<Vec<_>>(),
        "not_installed": r.missing,
        "other_servers": r.others,
    })
}
