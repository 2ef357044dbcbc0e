//! Installing into, repairing and removing from every client's real-looking config file, in a
//! temporary home, through the same `file::update` + `plan` calls the CLI makes.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use companion_clients::file::{self, UpdateOptions};
use companion_clients::plan::{self, InstallRequest, Outcome, Selection};
use companion_clients::{locate, Client, ClientsError, Drift, Environment, Scope, Target};

const BIN: &str = "/opt/mcp-companion/bin/mcp-companion";
const OLD_BIN: &str = "/usr/local/Cellar/mcp-companion/0.0.9/bin/mcp-companion";

fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

/// A temporary home with one client's file in place.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn env(&self) -> Environment {
        Environment::linux(self.dir.path())
    }

    fn target(&self, client: Client) -> Target {
        locate(client, &Scope::User, &self.env()).unwrap()
    }

    /// The target with `fixture` copied into place.
    fn with(&self, client: Client, fixture_rel: &str) -> Target {
        let t = self.target(client);
        fs::create_dir_all(t.path.parent().unwrap()).unwrap();
        fs::write(&t.path, fixture(fixture_rel)).unwrap();
        t
    }
}

fn no_file(_: &str) -> bool {
    false
}

fn install_with(
    t: &Target,
    command: &str,
    servers: &[String],
    repair: bool,
    configured: &[String],
    opts: &UpdateOptions<'_>,
) -> Result<file::Update, ClientsError> {
    file::update(&t.path, opts, |text, _| {
        plan::install(
            t,
            text,
            &InstallRequest {
                command,
                servers,
                repair,
                configured,
                exists: &no_file,
            },
        )
    })
}

fn install(t: &Target, servers: &[&str]) -> file::Update {
    let s = names(servers);
    install_with(t, BIN, &s, false, &s, &UpdateOptions::now()).unwrap()
}

fn uninstall(t: &Target, which: Selection<'_>) -> file::Update {
    file::update(&t.path, &UpdateOptions::now(), |text, original| {
        plan::uninstall(t, text, which, original)
    })
    .unwrap()
}

fn inspect(t: &Target, configured: &[&str]) -> plan::Inspection {
    let text = fs::read_to_string(&t.path).unwrap();
    plan::inspect(t, &text, BIN, &names(configured), &|p| p == OLD_BIN).unwrap()
}

fn outcomes(u: &file::Update) -> Vec<(String, Outcome)> {
    u.plan
        .actions
        .iter()
        .map(|a| (a.server.clone(), a.outcome))
        .collect()
}

/// Every client, with its fixture.
const CASES: [(Client, &str); 6] = [
    (
        Client::ClaudeDesktop,
        "claude-desktop/claude_desktop_config.json",
    ),
    (Client::Cursor, "cursor/mcp.json"),
    (Client::VsCode, "vscode/mcp.json"),
    (Client::ClaudeCode, "claude-code/.claude.json"),
    (Client::Codex, "codex/config.toml"),
    (Client::Windsurf, "windsurf/mcp_config.json"),
];

#[test]
fn install_then_uninstall_gives_back_the_original_bytes_for_every_client() {
    for (client, rel) in CASES {
        let h = Home::new();
        let t = h.with(client, rel);
        let original = fixture(rel);

        let u = install(&t, &["linear", "tools"]);
        assert!(u.written, "{client:?}");
        assert_eq!(
            outcomes(&u),
            [
                ("linear".to_owned(), Outcome::Added),
                ("tools".to_owned(), Outcome::Added)
            ]
        );
        let installed = fs::read_to_string(&t.path).unwrap();
        assert_ne!(installed, original);
        // Every line of the original is still there, in order (a comma may have been added).
        let mut lines = installed.lines();
        for line in original.lines() {
            assert!(
                lines.any(|l| l.replace(',', "") == line.replace(',', "")),
                "{client:?} lost {line:?}:\n{installed}"
            );
        }
        let seen = inspect(&t, &["linear", "tools"]);
        assert_eq!(seen.installed.len(), 2, "{client:?}");
        assert!(seen
            .installed
            .iter()
            .all(|i| i.command == BIN && i.drift.is_none() && !i.orphaned));
        // Claude Code's user scope starts without servers (the fixture's are a project's).
        assert!(
            client == Client::ClaudeCode || !seen.others.is_empty(),
            "{client:?} keeps its own servers"
        );
        if let Some(ty) = t.entry_type {
            assert!(
                installed.contains(&format!("\"type\": \"{ty}\"")),
                "{installed}"
            );
        }
        if client != Client::VsCode && client != Client::Codex {
            // Strict-JSON clients must still be able to read their file.
            let v: serde_json::Value = serde_json::from_str(&installed)
                .unwrap_or_else(|e| panic!("{client:?}: {e}\n{installed}"));
            let entry = &v["mcpServers"]["linear"];
            assert_eq!(entry["command"], BIN);
            assert_eq!(entry["args"], serde_json::json!(["connect", "linear"]));
        }
        if original.contains("\r\n") {
            assert!(
                !installed.replace("\r\n", "").contains('\n'),
                "{client:?} mixed line ends"
            );
        }

        let u = uninstall(&t, Selection::All);
        assert_eq!(
            outcomes(&u),
            [
                ("linear".to_owned(), Outcome::Removed),
                ("tools".to_owned(), Outcome::Removed)
            ]
        );
        assert_eq!(
            fs::read_to_string(&t.path).unwrap(),
            original,
            "{client:?} round trip"
        );
        assert_eq!(file::backups(&t.path).len(), 1, "{client:?}: one backup");
    }
}

#[test]
fn claude_code_projects_round_trip_too() {
    let h = Home::new();
    h.with(Client::ClaudeCode, "claude-code/.claude.json");
    let original = fixture("claude-code/.claude.json");
    for dir in ["/home/dana/src/shop", "/home/dana/src/new-project"] {
        let t = locate(Client::ClaudeCode, &Scope::Project(dir.into()), &h.env()).unwrap();
        install(&t, &["linear"]);
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&t.path).unwrap()).unwrap();
        let servers = &v["projects"][dir]["mcpServers"];
        assert_eq!(servers["linear"]["type"], "stdio");
        assert_eq!(servers["linear"]["command"], BIN);
        assert!(v.get("mcpServers").is_none(), "user scope untouched");
        uninstall(&t, Selection::Servers(&names(&["linear"])));
        assert_eq!(fs::read_to_string(&t.path).unwrap(), original, "{dir}");
    }
}

#[test]
fn installing_twice_changes_nothing_the_second_time() {
    for (client, rel) in CASES {
        let h = Home::new();
        let t = h.with(client, rel);
        install(&t, &["linear"]);
        let once = fs::read(&t.path).unwrap();
        let u = install(&t, &["linear"]);
        assert!(!u.written, "{client:?}");
        assert_eq!(outcomes(&u), [("linear".to_owned(), Outcome::Unchanged)]);
        assert_eq!(fs::read(&t.path).unwrap(), once, "{client:?}");
        assert_eq!(
            file::backups(&t.path).len(),
            1,
            "{client:?}: no second backup"
        );
    }
}

#[test]
fn the_first_change_is_backed_up_once() {
    let h = Home::new();
    let t = h.with(Client::Cursor, "cursor/mcp.json");
    let u = install(&t, &["linear"]);
    let backup = u.backup.unwrap();
    assert!(backup
        .to_string_lossy()
        .contains("mcp.json.mcp-companion-backup-"));
    assert_eq!(
        fs::read_to_string(&backup).unwrap(),
        fixture("cursor/mcp.json")
    );
    assert!(install(&t, &["tools"]).backup.is_none());
    assert!(uninstall(&t, Selection::All).backup.is_none());
    assert_eq!(file::backups(&t.path), [backup]);
}

#[test]
fn a_malformed_file_is_left_alone_and_the_error_has_line_and_column() {
    for (client, rel, position) in [
        (
            Client::Cursor,
            "malformed/mcp.json",
            ":3:30: Expected comma",
        ),
        (Client::Codex, "malformed/config.toml", ":5:"),
    ] {
        let h = Home::new();
        let t = h.with(client, rel);
        let e = install_with(
            &t,
            BIN,
            &names(&["linear"]),
            false,
            &names(&["linear"]),
            &UpdateOptions::now(),
        )
        .unwrap_err();
        assert!(e.is_config_error());
        let msg = e.to_string();
        let expected = format!("{}{position}", t.path.display());
        assert!(msg.starts_with(&expected), "{msg} / {expected}");
        let e = file::update(&t.path, &UpdateOptions::now(), |text, o| {
            plan::uninstall(&t, text, Selection::All, o)
        })
        .unwrap_err();
        assert!(e.to_string().starts_with(&expected), "{e}");
        assert_eq!(fs::read_to_string(&t.path).unwrap(), fixture(rel));
        assert!(file::backups(&t.path).is_empty());
    }
}

#[test]
fn servers_that_are_not_an_object_are_refused_with_a_position() {
    let h = Home::new();
    let t = h.target(Client::Windsurf);
    fs::create_dir_all(t.path.parent().unwrap()).unwrap();
    fs::write(&t.path, "{\n  \"mcpServers\": []\n}\n").unwrap();
    let e = install_with(
        &t,
        BIN,
        &names(&["x"]),
        false,
        &names(&["x"]),
        &UpdateOptions::now(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:17: `mcpServers` should be an object",
            t.path.display()
        )
    );
}

#[test]
fn another_writer_between_our_read_and_write_is_not_clobbered() {
    let h = Home::new();
    let t = h.with(Client::VsCode, "vscode/mcp.json");
    let calls = Cell::new(0);
    // The client saves its own change once, right after we computed ours.
    let other_writer = |p: &Path| {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            let text = fs::read_to_string(p).unwrap();
            fs::write(p, text.replace("\"fetch\"", "\"fetch-renamed\"")).unwrap();
        }
    };
    let opts = UpdateOptions {
        before_replace: Some(&other_writer),
        ..UpdateOptions::now()
    };
    let u = install_with(
        &t,
        BIN,
        &names(&["linear"]),
        false,
        &names(&["linear"]),
        &opts,
    )
    .unwrap();
    assert!(u.written);
    assert_eq!(calls.get(), 2, "recomputed once");
    let text = fs::read_to_string(&t.path).unwrap();
    assert!(text.contains("\"fetch-renamed\""), "their change kept");
    assert!(text.contains("\"linear\": {"), "ours made");
    // The backup is of the file as it was when we wrote, their change included.
    let backup = fs::read_to_string(u.backup.unwrap()).unwrap();
    assert!(backup.contains("\"fetch-renamed\"") && !backup.contains("linear"));
}

#[test]
fn a_writer_that_never_stops_gets_a_clear_error_and_keeps_its_file() {
    let h = Home::new();
    let t = h.with(Client::Codex, "codex/config.toml");
    let n = Cell::new(0);
    let busy = |p: &Path| {
        n.set(n.get() + 1);
        fs::write(
            p,
            format!("{}# save {}\n", fixture("codex/config.toml"), n.get()),
        )
        .unwrap();
    };
    let opts = UpdateOptions {
        before_replace: Some(&busy),
        ..UpdateOptions::now()
    };
    let e = install_with(&t, BIN, &names(&["x"]), false, &names(&["x"]), &opts).unwrap_err();
    assert!(matches!(e, ClientsError::Contended { .. }), "{e}");
    assert!(e.to_string().contains("kept changing"), "{e}");
    assert_eq!(n.get(), file::ATTEMPTS);
    assert!(fs::read_to_string(&t.path).unwrap().ends_with("# save 3\n"));
    assert!(file::backups(&t.path).is_empty());
}

#[test]
fn drift_is_detected_and_repaired_touching_only_the_command() {
    for (client, rel) in CASES {
        let h = Home::new();
        let t = h.with(client, rel);
        let all = names(&["linear", "tools"]);
        // Installed by an older build that lived elsewhere.
        install_with(&t, OLD_BIN, &all, false, &all, &UpdateOptions::now()).unwrap();
        let old = fs::read_to_string(&t.path).unwrap();

        let seen = inspect(&t, &["linear", "tools"]);
        assert!(
            seen.installed
                .iter()
                .all(|i| i.drift == Some(Drift::Elsewhere)),
            "{client:?}"
        );
        // Plain install reports the drift (here the old binary is gone) and leaves it.
        let u = install_with(&t, BIN, &all[..1], false, &all, &UpdateOptions::now()).unwrap();
        assert!(!u.written);
        assert_eq!(
            outcomes(&u),
            [
                ("linear".to_owned(), Outcome::Drifted(Drift::Missing)),
                ("tools".to_owned(), Outcome::Drifted(Drift::Missing))
            ]
        );

        // --repair alone fixes every drifted entry of a configured server.
        let u = install_with(&t, BIN, &[], true, &all, &UpdateOptions::now()).unwrap();
        assert_eq!(
            outcomes(&u),
            [
                ("linear".to_owned(), Outcome::Repaired),
                ("tools".to_owned(), Outcome::Repaired)
            ]
        );
        let repaired = fs::read_to_string(&t.path).unwrap();
        assert_eq!(repaired, old.replace(OLD_BIN, BIN), "{client:?}");
        assert!(inspect(&t, &["linear", "tools"])
            .installed
            .iter()
            .all(|i| i.drift.is_none()));
    }
}

#[test]
fn orphans_are_reported_and_only_uninstall_all_removes_them() {
    let h = Home::new();
    let t = h.with(
        Client::ClaudeDesktop,
        "claude-desktop/claude_desktop_config.json",
    );
    install(&t, &["linear", "retired"]);
    let seen = inspect(&t, &["linear"]);
    let retired = seen
        .installed
        .iter()
        .find(|i| i.server == "retired")
        .unwrap();
    assert!(retired.orphaned);
    // Install --repair does not resurrect it; it is reported.
    let u = install_with(
        &t,
        BIN,
        &names(&["linear"]),
        true,
        &names(&["linear"]),
        &UpdateOptions::now(),
    )
    .unwrap();
    assert_eq!(
        outcomes(&u),
        [
            ("linear".to_owned(), Outcome::Unchanged),
            ("retired".to_owned(), Outcome::Orphaned)
        ]
    );
    uninstall(&t, Selection::All);
    assert_eq!(
        fs::read_to_string(&t.path).unwrap(),
        fixture("claude-desktop/claude_desktop_config.json")
    );
}

#[test]
fn an_entry_that_is_not_ours_is_never_touched() {
    let h = Home::new();
    let t = h.with(Client::Codex, "codex/config.toml");
    let u = install(&t, &["github"]);
    assert_eq!(outcomes(&u), [("github".to_owned(), Outcome::Conflict)]);
    assert!(!u.written);
    let u = uninstall(&t, Selection::Servers(&names(&["github", "nothing"])));
    assert_eq!(
        outcomes(&u),
        [
            ("github".to_owned(), Outcome::Conflict),
            ("nothing".to_owned(), Outcome::NotInstalled)
        ]
    );
    assert!(uninstall(&t, Selection::All).plan.actions.is_empty());
    assert_eq!(
        fs::read_to_string(&t.path).unwrap(),
        fixture("codex/config.toml")
    );
}

#[test]
fn a_missing_file_is_created_only_on_install() {
    let h = Home::new();
    let t = h.target(Client::Cursor);
    let u = uninstall(&t, Selection::Servers(&names(&["linear"])));
    assert_eq!(outcomes(&u), [("linear".to_owned(), Outcome::NotInstalled)]);
    assert!(!t.path.exists());
    let u = install_with(
        &t,
        BIN,
        &[],
        true,
        &names(&["linear"]),
        &UpdateOptions::now(),
    )
    .unwrap();
    assert!(
        !u.written && !t.path.exists(),
        "repair alone creates nothing"
    );

    let u = install(&t, &["linear"]);
    assert!(u.written && u.backup.is_none());
    assert_eq!(
        fs::read_to_string(&t.path).unwrap(),
        format!(
            "{{\n  \"mcpServers\": {{\n    \"linear\": {{\n      \"command\": \"{BIN}\",\n      \
             \"args\": [\"connect\", \"linear\"]\n    }}\n  }}\n}}\n"
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&t.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // With no backup we cannot tell that we created `mcpServers`, so it stays (documented).
    uninstall(&t, Selection::All);
    assert_eq!(
        fs::read_to_string(&t.path).unwrap(),
        "{\n  \"mcpServers\": {}\n}\n"
    );

    let codex = h.target(Client::Codex);
    install(&codex, &["linear"]);
    assert_eq!(
        fs::read_to_string(&codex.path).unwrap(),
        format!("[mcp_servers.linear]\ncommand = \"{BIN}\"\nargs = [\"connect\", \"linear\"]\n")
    );
    uninstall(&codex, Selection::All);
    assert_eq!(fs::read_to_string(&codex.path).unwrap(), "");
}

#[cfg(unix)]
#[test]
fn permissions_and_symlinks_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    let t = h.with(Client::Windsurf, "windsurf/mcp_config.json");
    // A dotfile manager's layout: the client's path is a link into a repository.
    let real: PathBuf = h.dir.path().join("dotfiles/mcp_config.json");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::rename(&t.path, &real).unwrap();
    std::os::unix::fs::symlink(&real, &t.path).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();

    install(&t, &["linear"]);
    assert!(fs::symlink_metadata(&t.path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::read_to_string(&real).unwrap().contains("\"linear\""));
    assert_eq!(
        fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn a_dry_run_shows_the_diff_and_writes_nothing() {
    let h = Home::new();
    let t = h.with(Client::Windsurf, "windsurf/mcp_config.json");
    let opts = UpdateOptions {
        dry_run: true,
        now: UNIX_EPOCH + Duration::from_secs(1),
        before_replace: None,
    };
    let all = names(&["linear"]);
    let u = install_with(&t, BIN, &all, false, &all, &opts).unwrap();
    assert!(!u.written && u.backup.is_none());
    let after = u.plan.text.as_deref().unwrap();
    let d = companion_clients::diff::unified("mcp_config.json", u.before.as_deref(), after);
    assert!(
        d.starts_with("--- mcp_config.json\n+++ mcp_config.json\n@@"),
        "{d}"
    );
    assert!(d.contains("\n+\t\t\"linear\": {\n"), "{d}");
    assert!(
        d.contains(&format!("\n+\t\t\t\"command\": \"{BIN}\",\n")),
        "{d}"
    );
    assert_eq!(
        fs::read_to_string(&t.path).unwrap(),
        fixture("windsurf/mcp_config.json")
    );
    assert!(file::backups(&t.path).is_empty());
}
