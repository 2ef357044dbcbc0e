//! `install`, `uninstall` and `clients`, run as a user would, in a temporary home.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// A home with `linear` and `tools` configured.
    fn new() -> Self {
        let h = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        h.expect(0, &["add", "linear", "https://mcp.linear.app/mcp"]);
        h.expect(0, &["add", "tools", "https://tools.example.com/mcp"]);
        h
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Puts `text` at `rel` under the home.
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new(env!("CARGO_BIN_EXE_mcp-companion"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d)
            .env("XDG_CONFIG_HOME", d.join("xdg-config"))
            .env("XDG_DATA_HOME", d.join("xdg-data"))
            .output()
            .unwrap()
    }

    /// Runs and expects `code`; returns stdout and stderr.
    fn expect(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "mcp-companion {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        (stdout, stderr)
    }
}

fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../companion-clients/fixtures")
        .join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn binary() -> String {
    fs::canonicalize(env!("CARGO_BIN_EXE_mcp-companion"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn backups(file: &Path) -> usize {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}.mcp-companion-backup-"))
        })
        .count()
}

#[test]
fn install_twice_then_uninstall_gives_back_the_original_file() {
    let h = Home::new();
    let original = fixture("cursor/mcp.json");
    let file = h.write(".cursor/mcp.json", &original);

    let (out, _) = h.expect(0, &["install", "cursor", "--all"]);
    assert!(
        out.contains("linear  added") && out.contains("tools   added"),
        "{out}"
    );
    assert!(out.contains("Backed up the original to"), "{out}");
    assert!(out.contains("Restart Cursor"), "{out}");
    let v = json(&fs::read_to_string(&file).unwrap());
    assert_eq!(v["mcpServers"]["linear"]["command"], binary().as_str());
    assert_eq!(
        v["mcpServers"]["tools"]["args"],
        serde_json::json!(["connect", "tools"])
    );
    assert_eq!(v["mcpServers"]["sentry"]["command"], "npx", "theirs kept");

    let installed = fs::read(&file).unwrap();
    let (out, _) = h.expect(0, &["install", "cursor", "--all"]);
    assert!(
        out.contains("already installed") && out.contains("No changes"),
        "{out}"
    );
    assert_eq!(fs::read(&file).unwrap(), installed);
    assert_eq!(backups(&file), 1);

    let (out, _) = h.expect(0, &["uninstall", "cursor", "--all"]);
    assert!(out.contains("linear  removed"), "{out}");
    assert_eq!(fs::read_to_string(&file).unwrap(), original);
}

#[test]
fn unknown_server_names_are_usage_errors_with_a_suggestion() {
    let h = Home::new();
    let (_, err) = h.expect(2, &["install", "windsurf", "--server", "linaer"]);
    assert!(err.contains("no server called \"linaer\""), "{err}");
    assert!(err.contains("did you mean \"linear\"?"), "{err}");
    let (_, err) = h.expect(2, &["uninstall", "windsurf", "--server", "tols"]);
    assert!(err.contains("did you mean \"tools\"?"), "{err}");
    // A configured server that is simply not installed there: nothing to do.
    let (out, _) = h.expect(0, &["uninstall", "windsurf", "--server", "tools"]);
    assert!(out.contains("tools  not installed"), "{out}");
    assert!(!h.path(".codeium/windsurf/mcp_config.json").exists());
}

#[test]
fn install_and_uninstall_need_to_be_told_which_servers() {
    let h = Home::new();
    let (_, err) = h.expect(2, &["install", "cursor"]);
    assert!(err.contains("--server NAME or --all"), "{err}");
    let (_, err) = h.expect(2, &["uninstall", "cursor"]);
    assert!(err.contains("--server NAME or --all"), "{err}");
    h.expect(2, &["install", "cursor", "--server", "linear", "--all"]);
    h.expect(2, &["install", "emacs", "--all"]);
    let (_, err) = h.expect(2, &["install", "codex", "--all", "--project", "."]);
    assert!(err.contains("Codex CLI has no project-level"), "{err}");
}

#[test]
fn a_malformed_client_file_exits_2_names_line_and_column_and_is_left_alone() {
    let h = Home::new();
    let bad = fixture("malformed/mcp.json");
    let file = h.write("xdg-config/Code/User/mcp.json", &bad);
    let (_, err) = h.expect(2, &["install", "vscode", "--all"]);
    assert!(
        err.contains(&format!("{}:3:30: Expected comma", file.display())),
        "{err}"
    );
    assert!(err.contains("did not change it"), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), bad);
    assert_eq!(backups(&file), 0);
    let (out, _) = h.expect(0, &["clients"]);
    assert!(out.contains("error: ") && out.contains(":3:30:"), "{out}");
}

#[test]
fn diff_shows_the_change_and_writes_nothing() {
    let h = Home::new();
    let file = h.path("xdg-config/Claude/claude_desktop_config.json");
    let (out, _) = h.expect(
        0,
        &["install", "claude-desktop", "--server", "linear", "--diff"],
    );
    assert!(out.contains("--- /dev/null\n"), "{out}");
    assert!(out.contains("+    \"linear\": {\n"), "{out}");
    assert!(out.contains("--diff: nothing was written."), "{out}");
    assert!(!file.exists());

    let original = fixture("claude-desktop/claude_desktop_config.json");
    h.write("xdg-config/Claude/claude_desktop_config.json", &original);
    h.expect(0, &["install", "claude-desktop", "--all"]);
    let (out, _) = h.expect(0, &["uninstall", "claude-desktop", "--all", "--diff"]);
    assert!(out.contains("-    \"tools\": {\r\n"), "{out:?}");
    assert_ne!(fs::read_to_string(&file).unwrap(), original);
}

#[test]
fn clients_reports_drift_and_orphans_and_repair_fixes_the_drift() {
    let h = Home::new();
    let codex = format!(
        "{}\n[mcp_servers.linear]\ncommand = \"/gone/bin/mcp-companion\" # old install\n\
         args = [\"connect\", \"linear\"]\n\n[mcp_servers.retired]\ncommand = \"{}\"\n\
         args = [\"connect\", \"retired\"]\n",
        fixture("codex/config.toml"),
        binary()
    );
    let file = h.write(".codex/config.toml", &codex);

    let (out, _) = h.expect(0, &["clients", "--json"]);
    let v = json(&out);
    assert_eq!(v["binary"], binary().as_str());
    let row = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == "codex")
        .unwrap();
    assert_eq!(row["exists"], true);
    assert_eq!(row["installed"][0]["key"], "linear");
    assert_eq!(row["installed"][0]["status"], "drifted");
    assert_eq!(row["installed"][0]["drift"], "missing");
    assert_eq!(row["installed"][1]["status"], "orphaned");
    assert_eq!(row["not_installed"], serde_json::json!(["tools"]));
    assert_eq!(
        row["other_servers"],
        serde_json::json!(["context7", "github"])
    );
    let cursor = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == "cursor")
        .unwrap();
    assert_eq!(cursor["exists"], false);

    let (out, _) = h.expect(0, &["clients"]);
    assert!(
        out.contains("drifted: runs an mcp-companion that no longer exists"),
        "{out}"
    );
    assert!(out.contains("install codex --repair"), "{out}");
    assert!(out.contains("orphaned"), "{out}");

    // A plain install of the drifted server refuses and says how to fix it.
    let (out, err) = h.expect(1, &["install", "codex", "--server", "linear"]);
    assert!(out.contains("--repair"), "{out}");
    assert!(err.contains("not installed in Codex CLI: linear"), "{err}");

    let (out, _) = h.expect(0, &["install", "codex", "--repair"]);
    assert!(out.contains("linear   repaired"), "{out}");
    assert!(out.contains("retired  orphaned"), "{out}");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        codex.replace("/gone/bin/mcp-companion", &binary())
    );
    let v = json(&h.expect(0, &["clients", "--json"]).0);
    let row = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == "codex")
        .unwrap();
    assert_eq!(row["installed"][0]["status"], "ok");

    // Both tables go, with the blank line before each header.
    h.expect(0, &["uninstall", "codex", "--all"]);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        fixture("codex/config.toml")
    );
}

#[test]
fn an_entry_that_is_not_ours_is_left_alone_and_exits_1() {
    let h = Home::new();
    let theirs = "{\n  \"mcpServers\": {\n    \"linear\": {\"command\": \"npx\", \"args\": [\"mcp-remote\"]}\n  }\n}\n";
    let file = h.write(".codeium/windsurf/mcp_config.json", theirs);
    let (out, err) = h.expect(1, &["install", "windsurf", "--all"]);
    assert!(out.contains("linear  left alone"), "{out}");
    assert!(out.contains("tools   added"), "{out}");
    assert!(err.contains("not installed in Windsurf: linear"), "{err}");
    let (_, err) = h.expect(1, &["uninstall", "windsurf", "--server", "linear"]);
    assert!(err.contains("not MCP Companion's"), "{err}");
    h.expect(0, &["uninstall", "windsurf", "--all"]);
    assert_eq!(fs::read_to_string(&file).unwrap(), theirs);
}

#[test]
fn claude_code_project_scope_uses_the_absolute_project_path() {
    let h = Home::new();
    let project = h.path("src/shop");
    fs::create_dir_all(&project).unwrap();
    let original = fixture("claude-code/.claude.json");
    let file = h.write(".claude.json", &original);
    let dir = project.to_str().unwrap();
    h.expect(
        0,
        &[
            "install",
            "claude-code",
            "--server",
            "linear",
            "--project",
            dir,
        ],
    );
    let v = json(&fs::read_to_string(&file).unwrap());
    let key = fs::canonicalize(&project).unwrap();
    let entry = &v["projects"][key.to_str().unwrap()]["mcpServers"]["linear"];
    assert_eq!(entry["type"], "stdio");
    assert_eq!(entry["args"], serde_json::json!(["connect", "linear"]));

    let (out, _) = h.expect(0, &["clients", "--project", dir]);
    assert!(
        out.contains(&format!("Claude Code [project {}]", key.display())),
        "{out}"
    );

    h.expect(0, &["uninstall", "claude-code", "--all", "--project", dir]);
    assert_eq!(fs::read_to_string(&file).unwrap(), original);
}

#[test]
fn help_teaches_with_examples() {
    let h = Home::new();
    for cmd in ["install", "uninstall", "clients"] {
        let (out, _) = h.expect(0, &[cmd, "--help"]);
        assert!(out.contains("Examples:"), "{cmd}: {out}");
    }
    let (out, _) = h.expect(0, &["install", "--help"]);
    assert!(
        out.contains("claude-desktop") && out.contains("--repair"),
        "{out}"
    );
}
