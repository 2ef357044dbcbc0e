//! The `mcp-companion` binary, run as a user would run it, in a temporary home.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Home {
    dir: tempfile::TempDir,
    /// The managed configuration file, when a test sets one.
    managed: std::cell::RefCell<Option<PathBuf>>,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            managed: std::cell::RefCell::new(None),
        }
    }

    fn config_file(&self) -> PathBuf {
        self.dir.path().join("xdg-config/mcp-companion/config.toml")
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
            .env(
                "MCP_COMPANION_MANAGED_CONFIG",
                self.managed
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| d.join("no-managed.toml")),
            )
            .output()
            .unwrap()
    }

    /// Runs and expects `code`; returns stdout.
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

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn add_list_show_remove_round_trip() {
    let h = Home::new();
    let (out, _) = h.expect(0, &["list"]);
    assert!(out.contains("No servers yet"), "{out}");

    let (out, _) = h.expect(0, &["add", "linear", "https://mcp.linear.app/mcp"]);
    assert!(out.contains("Added linear"), "{out}");
    h.expect(
        0,
        &[
            "add",
            "tools",
            "https://tools.example.com/mcp",
            "--client-id",
            "cid",
            "--audience",
            "https://tools.example.com/mcp",
            "--scope",
            "read",
            "--scope",
            "write",
            "--no-resource",
            "--transport",
            "streamable-http",
        ],
    );
    h.expect(
        0,
        &[
            "add",
            "local",
            "http://127.0.0.1:9/sse",
            "--auth",
            "none",
            "--transport",
            "sse",
        ],
    );

    let (out, _) = h.expect(0, &["list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[1].starts_with("linear ") && lines[1].contains("oauth"),
        "{out}"
    );
    assert!(
        lines[3].contains("sse") && lines[3].contains("http://127.0.0.1:9/sse"),
        "{out}"
    );

    let (out, _) = h.expect(0, &["list", "--json"]);
    let v = json(&out);
    let names: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["linear", "tools", "local"]);

    let (out, _) = h.expect(0, &["show", "tools", "--json"]);
    let v = json(&out);
    assert_eq!(v["url"], "https://tools.example.com/mcp");
    assert_eq!(v["transport"], "streamable-http");
    assert_eq!(v["auth"]["client_id"], "cid");
    assert_eq!(v["auth"]["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(
        v["auth"]["extra_authorize_params"][0],
        serde_json::json!(["audience", "https://tools.example.com/mcp"])
    );
    assert_eq!(v["auth"]["resource"], "omit");

    let (out, _) = h.expect(0, &["show", "tools"]);
    assert!(out.contains("client id:      cid"), "{out}");
    assert!(out.contains("resource:       not sent"), "{out}");

    h.expect(0, &["remove", "tools"]);
    let (out, _) = h.expect(0, &["list", "--json"]);
    assert_eq!(json(&out)["servers"].as_array().unwrap().len(), 2);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(h.config_file()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn malformed_config_exits_2_names_the_line_and_is_left_alone() {
    let h = Home::new();
    let path = h.config_file();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let broken = "version = 1\n\n[servers.a]\nurl = \"https://a.example.com/mcp\"\ntransport = \n";
    fs::write(&path, broken).unwrap();
    let before = fs::read(&path).unwrap();

    for args in [
        &["list"][..],
        &["show", "a"],
        &["add", "b", "https://b.example.com/mcp"],
        &["remove", "a"],
    ] {
        let (_, err) = h.expect(2, args);
        assert!(
            err.contains(&format!("{}:5:", path.display())),
            "{args:?}: {err}"
        );
        assert!(err.contains("did not change it"), "{err}");
        assert_eq!(
            fs::read(&path).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
}

#[test]
fn newer_config_version_is_refused_and_kept() {
    let h = Home::new();
    let path = h.config_file();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let newer = "version = 7\n[servers.a]\nurl = \"https://a.example.com/mcp\"\nfancy = true\n";
    fs::write(&path, newer).unwrap();
    let (_, err) = h.expect(2, &["add", "b", "https://b.example.com/mcp"]);
    assert!(err.contains("config version 7"), "{err}");
    assert!(err.contains("upgrade MCP Companion"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), newer);
}

#[test]
fn unknown_name_suggests_the_closest() {
    let h = Home::new();
    h.expect(0, &["add", "linear", "https://mcp.linear.app/mcp"]);
    let (_, err) = h.expect(2, &["show", "linaer"]);
    assert!(err.contains("no server called \"linaer\""), "{err}");
    assert!(err.contains("did you mean \"linear\"?"), "{err}");
    let (_, err) = h.expect(2, &["remove", "zzz"]);
    assert!(err.contains("mcp-companion list"), "{err}");
}

#[test]
fn bad_names_urls_and_options_are_usage_errors() {
    let h = Home::new();
    let cases: &[(&[&str], &str)] = &[
        (&["add", "my server", "https://x.io"], "use letters, digits"),
        (
            &["add", "x", "http://remote.example.com/mcp"],
            "must use https",
        ),
        (&["add", "x", "https://u:pw@x.io"], "user name or password"),
        (
            &[
                "add",
                "x",
                "https://x.io",
                "--auth",
                "none",
                "--client-id",
                "c",
            ],
            "only applies",
        ),
        (
            &["add", "x", "https://x.io", "--auth", "headers"],
            "needs at least one --header",
        ),
        (
            &["add", "x", "https://x.io", "--authorize-param", "state=1"],
            "cannot be overridden",
        ),
        (
            &["add", "x", "https://x.io", "--authorize-param", "noequals"],
            "not KEY=VALUE",
        ),
        (
            &["add", "x", "https://x.io", "--scope", "two words"],
            "not a valid scope",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, want) in cases {
        let (_, err) = h.expect(2, args);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("pw@"), "{err}");
    }
    assert!(!h.config_file().exists(), "nothing was written");
    h.expect(0, &["add", "x", "https://x.io"]);
    let (_, err) = h.expect(2, &["add", "x", "https://y.io"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let h = Home::new();
    let (out, _) = h.expect(0, &["--help"]);
    assert!(
        out.contains("Examples:") && out.contains("Exit codes:"),
        "{out}"
    );
    let (out, _) = h.expect(0, &["add", "--help"]);
    assert!(
        out.contains("--client-id") && out.contains("--no-resource"),
        "{out}"
    );
    let (out, _) = h.expect(0, &["--version"]);
    assert!(out.starts_with("mcp-companion "), "{out}");
}

#[test]
fn config_flag_points_elsewhere() {
    let h = Home::new();
    let other = h.dir.path().join("elsewhere/c.toml");
    let other_s = other.to_str().unwrap();
    h.expect(0, &["--config", other_s, "add", "a", "https://a.io"]);
    assert!(other.exists());
    assert!(!Path::new(&h.config_file()).exists());
    let (out, _) = h.expect(0, &["list", "--config", other_s]);
    assert!(out.contains("https://a.io"), "{out}");
}

#[test]
fn managed_configuration_is_merged_locked_and_enforced() {
    let h = Home::new();
    let managed = h.dir.path().join("managed.toml");
    fs::write(
        &managed,
        "version = 1\n\n[policy]\nallowed_server_urls = [\"https://*.corp.example.com/*\"]\n\n\
         [servers.wiki]\nurl = \"https://wiki.corp.example.com/mcp\"\nauth = { mode = \"oauth\", client_id = \"desktop\" }\n",
    )
    .unwrap();
    // A server the user added before the policy arrived.
    let path = h.config_file();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        &path,
        "version = 1\n[servers.rogue]\nurl = \"https://rogue.example.net/mcp\"\n",
    )
    .unwrap();
    *h.managed.borrow_mut() = Some(managed.clone());

    let (out, err) = h.expect(0, &["list"]);
    assert!(out.contains("wiki (managed)"), "{out}");
    assert!(!out.contains("rogue"), "{out}");
    assert!(err.contains("warning: server rogue (https://rogue.example.net/mcp) is ignored: your organization's policy allows only https://*.corp.example.com/*"), "{err}");

    let (out, _) = h.expect(0, &["show", "wiki", "--json"]);
    let v = json(&out);
    assert_eq!(v["managed"], true);
    assert_eq!(v["auth"]["client_id"], "desktop");
    let (out, _) = h.expect(0, &["show", "wiki"]);
    assert!(
        out.contains("managed by:") && out.contains("read-only"),
        "{out}"
    );

    let (_, err) = h.expect(2, &["remove", "wiki"]);
    assert!(
        err.contains("managed by your organization; ask your administrator"),
        "{err}"
    );
    let (_, err) = h.expect(2, &["add", "other", "https://other.example.org/mcp"]);
    assert!(
        err.contains("policy does not allow https://other.example.org/mcp"),
        "{err}"
    );
    let (_, err) = h.expect(2, &["add", "wiki", "https://x.corp.example.com/mcp"]);
    assert!(err.contains("is managed by your organization"), "{err}");
    h.expect(0, &["add", "tools", "https://tools.corp.example.com/mcp"]);
    let (out, _) = h.expect(0, &["list", "--json"]);
    let names: Vec<String> = json(&out)["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["wiki", "tools"]);

    // A broken managed file is an error that names it, and nothing is changed.
    fs::write(&managed, "[policy\n").unwrap();
    let (_, err) = h.expect(2, &["list"]);
    assert!(err.contains(&format!("{}:1:", managed.display())), "{err}");
}

#[test]
fn key_and_secret_options_are_checked_before_anything_is_read() {
    let h = Home::new();
    let d = h.dir.path();
    let cc = |extra: &[&str]| {
        let mut args = vec![
            "add",
            "robot",
            "https://robot.example.com/mcp",
            "--auth",
            "client-credentials",
            "--client-id",
            "robot",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |code: i32, args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        h.expect(code, &refs).1
    };

    let missing = d.join("missing.pem");
    let err = run(2, cc(&["--private-key", missing.to_str().unwrap()]));
    assert!(
        err.contains(&format!(
            "cannot read the private key file {}",
            missing.display()
        )) && err.contains("hint: give the path of a PEM file"),
        "{err}"
    );
    let sec1 = d.join("sec1.pem");
    fs::write(
        &sec1,
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = run(2, cc(&["--private-key", sec1.to_str().unwrap()]));
    assert!(
        err.contains("holds an EC key in SEC1 form")
            && err.contains(&format!("openssl pkey -in {}", sec1.display()))
            && !err.contains("MHcCAQEEIA"),
        "{err}"
    );
    let err = run(2, cc(&["--token-endpoint-auth", "private-key-jwt"]));
    assert!(err.contains("needs --private-key FILE"), "{err}");
    let err = run(
        2,
        cc(&[
            "--token-endpoint-auth",
            "client-secret-post",
            "--private-key",
            sec1.to_str().unwrap(),
        ]),
    );
    assert!(
        err.contains(
            "--private-key is for private_key_jwt, not --token-endpoint-auth client-secret-post"
        ),
        "{err}"
    );
    let (_, err) = h.expect(
        2,
        &[
            "add",
            "x",
            "https://x.example.com/mcp",
            "--private-key",
            "k.pem",
        ],
    );
    assert!(
        err.contains("only applies to --auth client-credentials"),
        "{err}"
    );
    let err = run(2, cc(&["--key-id", "k"]));
    assert!(
        err.contains("--private-key"),
        "clap: --key-id needs it: {err}"
    );
    let (out, _) = h.expect(0, &["list"]);
    assert!(out.contains("No servers yet"), "nothing was added: {out}");

    // `secret set` checks the server and its auth mode before asking for anything.
    h.expect(0, &["add", "linear", "https://mcp.linear.app/mcp"]);
    let (_, err) = h.expect(2, &["secret", "set", "lineer", "--client-secret"]);
    assert!(
        err.contains("no server called \"lineer\"") && err.contains("did you mean \"linear\"?"),
        "{err}"
    );
    let (_, err) = h.expect(2, &["secret", "set", "linear", "--client-secret"]);
    assert!(
        err.contains(
            "linear uses auth mode oauth with a client registered at sign-in, so --client-secret does not apply"
        ) && err.contains("hint: linear keeps no secret of yours: sign in with `mcp-companion login linear`"),
        "{err}"
    );
    let (_, err) = h.expect(2, &["secret", "set", "linear"]);
    assert!(err.contains("--client-secret"), "{err}");
    let (out, _) = h.expect(0, &["secret", "set", "--help"]);
    assert!(
        out.contains("mcp-companion secret set robot --private-key robot-key.pem"),
        "{out}"
    );
    let (out, _) = h.expect(0, &["secret", "--help"]);
    assert!(out.contains("secret clear robot --private-key"), "{out}");
}

#[test]
fn show_says_which_profile_applies() {
    let h = Home::new();
    h.expect(0, &["add", "linear", "https://mcp.linear.app/mcp"]);
    h.expect(
        0,
        &[
            "add",
            "tools",
            "https://tools.example.com/mcp",
            "--client-id",
            "desk",
            "--profile",
            "auth0",
        ],
    );
    let (out, _) = h.expect(0, &["show", "linear"]);
    assert!(
        out.contains("profile:        auto: detected from the issuer at the first sign-in"),
        "{out}"
    );
    let v = json(&h.expect(0, &["show", "linear", "--json"]).0);
    assert_eq!(v["profile"]["source"], "unknown", "{v:#}");
    assert_eq!(v["managed"], false);

    // After a sign-in, the state file remembers the issuer (never a secret).
    let state = h.dir.path().join("xdg-data/mcp-companion/state.json");
    fs::create_dir_all(state.parent().unwrap()).unwrap();
    fs::write(
        &state,
        r#"{"version":1,"servers":{"linear":{"issuer":"https://dev-1.okta.com"},"tools":{"issuer":"https://x.example.com"}}}"#,
    )
    .unwrap();
    let (out, _) = h.expect(0, &["show", "linear"]);
    assert!(
        out.contains("okta (detected from the issuer https://dev-1.okta.com)"),
        "{out}"
    );
    let v = json(&h.expect(0, &["show", "linear", "--json"]).0);
    assert_eq!(v["profile"]["name"], "okta");
    assert_eq!(v["profile"]["source"], "detected");
    assert_eq!(v["profile"]["issuer"], "https://dev-1.okta.com");
    let (out, _) = h.expect(0, &["show", "tools"]);
    assert!(out.contains("auth0 (configured)"), "{out}");
}
