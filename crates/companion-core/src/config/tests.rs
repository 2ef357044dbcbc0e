//! Fixture tests for the config model. Fixtures are in `fixtures/config/`.

use super::edit::{add_server, remove_server, EditError};
use super::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/config/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Result<Config, ConfigError> {
    Config::parse(name, &fixture(name))
}

#[test]
fn full_file_parses_with_every_mode() {
    let c = parse("valid-full.toml").unwrap();
    let names: Vec<&str> = c.names().collect();
    assert_eq!(
        names,
        ["linear", "tools", "legacy", "jwt", "vault", "keyed", "robot"]
    );

    let linear = c.get("linear").unwrap();
    assert_eq!(linear.url.as_str(), "https://mcp.linear.app/mcp");
    assert_eq!(linear.transport, Transport::Auto);
    assert_eq!(linear.auth, AuthConfig::OAuth(OAuthSettings::default()));

    let tools = c.get("tools").unwrap();
    assert_eq!(tools.transport, Transport::StreamableHttp);
    let AuthConfig::OAuth(o) = &tools.auth else {
        panic!("{:?}", tools.auth)
    };
    assert_eq!(o.client_id.as_deref(), Some("companion-desktop"));
    assert_eq!(
        o.scopes.as_deref(),
        Some(&["tools:read".to_owned(), "tools:write".to_owned()][..])
    );
    assert_eq!(
        o.extra_authorize_params,
        [
            (
                "audience".to_owned(),
                "https://tools.example.com/mcp".to_owned()
            ),
            ("prompt".to_owned(), "consent".to_owned())
        ]
    );
    assert_eq!(o.resource, ResourceSetting::Omit);

    assert_eq!(c.get("legacy").unwrap().transport, Transport::Sse);
    assert_eq!(c.get("legacy").unwrap().auth, AuthConfig::None);
    assert_eq!(
        c.get("jwt").unwrap().auth,
        AuthConfig::Bearer {
            token_command: None
        }
    );
    assert_eq!(
        c.get("vault").unwrap().auth,
        AuthConfig::Bearer {
            token_command: Some("vault read -field=token secret/mcp".into())
        }
    );
    assert_eq!(
        c.get("keyed").unwrap().auth,
        AuthConfig::Headers {
            headers: vec!["X-Client-Id".into(), "X-Client-Secret".into()]
        }
    );
    let AuthConfig::ClientCredentials(cc) = &c.get("robot").unwrap().auth else {
        panic!()
    };
    assert_eq!(cc.client_id, "robot-1");
    assert_eq!(
        cc.token_endpoint_auth_method,
        ClientAuthMethod::ClientSecretPost
    );
}

#[test]
fn empty_and_versionless_files_are_fine() {
    assert_eq!(parse("empty.toml").unwrap(), Config::default());
    assert_eq!(parse("no-version.toml").unwrap().servers.len(), 1);
}

#[test]
fn syntax_error_names_file_and_line() {
    let e = parse("broken-syntax.toml").unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("broken-syntax.toml:4:"), "{msg}");
    assert_eq!(e.problems[0].kind, ProblemKind::Syntax);
}

#[test]
fn newer_version_is_refused_for_its_version() {
    let e = parse("newer-version.toml").unwrap_err();
    assert!(e.is_unknown_version());
    assert_eq!(e.problems.len(), 1, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("newer-version.toml:1:11: version: this file is config version 2"),
        "{msg}"
    );
    assert!(msg.contains("left exactly as it is"), "{msg}");
}

#[test]
fn other_versions_are_refused() {
    for bad in ["version = 0", "version = \"1\"", "version = -3"] {
        let e = Config::parse("c.toml", bad).unwrap_err();
        assert!(e.is_unknown_version(), "{bad}: {e}");
    }
}

#[test]
fn secrets_are_pointed_at_the_keychain() {
    let e = parse("secret-in-file.toml").unwrap_err();
    assert_eq!(e.problems[0].kind, ProblemKind::Secret);
    let msg = e.to_string();
    assert!(msg.contains("secret-in-file.toml:9:"), "{msg}");
    assert!(msg.contains("`client_secret` looks like a secret"), "{msg}");
    assert!(msg.contains("keychain"), "{msg}");
    assert!(
        !msg.contains("s3cr3t"),
        "the secret itself is never echoed: {msg}"
    );
}

#[test]
fn every_problem_is_reported_with_its_field_and_line() {
    let e = parse("many-problems.toml").unwrap_err();
    let msg = e.to_string();
    let expect = [
        "many-problems.toml:3:10: servers.bad name: server name \"bad name\" has ' '",
        "many-problems.toml:7:7: servers.insecure.url: \"http://mcp.example.com/mcp\" uses plain http",
        "many-problems.toml:8:13: servers.insecure.transport: unknown transport \"carrier-pigeon\"",
        "many-problems.toml:14:13: servers.mixed.auth.client_id: is not used with mode = \"bearer\"",
        "many-problems.toml:19:17: servers.params.auth.scopes: \"two words\" is not a valid scope",
        "many-problems.toml:20:28: servers.params.auth.extra_authorize_params.state: cannot be overridden",
        "many-problems.toml:21:12: servers.params.auth.resource: \"not a uri\" is neither",
        "many-problems.toml:27:12: servers.hdr.auth.headers: \"X-Api-Key\" looks like a header with its value",
        "many-problems.toml:27:30: servers.hdr.auth.headers: \"Content-Type\" is managed by the bridge",
    ];
    for line in expect {
        assert!(msg.contains(line), "missing {line:?} in:\n{msg}");
    }
    assert_eq!(e.problems.len(), expect.len(), "{msg}");
    assert!(
        !msg.contains("123"),
        "a header value is never echoed: {msg}"
    );
}

#[test]
fn unknown_fields_are_refused_with_their_line() {
    let e = Config::parse("c.toml", "[servers.a]\nurl = \"https://a.io\"\nurll = 1\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("c.toml:3:1: unknown field `urll`"), "{msg}");
}

#[test]
fn wrong_types_are_refused() {
    let e = Config::parse("c.toml", "[servers.a]\nurl = 42\n").unwrap_err();
    assert!(e.to_string().starts_with("c.toml:2:7:"), "{e}");
    let e = Config::parse("c.toml", "servers = []\n").unwrap_err();
    assert!(e.to_string().starts_with("c.toml:1:"), "{e}");
}

#[test]
fn client_credentials_needs_a_client_id_and_headers_need_names() {
    let text = "[servers.a]\nurl = \"https://a.io\"\nauth.mode = \"client_credentials\"\n\
                [servers.b]\nurl = \"https://b.io\"\nauth.mode = \"headers\"\n";
    let msg = Config::parse("c.toml", text).unwrap_err().to_string();
    assert!(
        msg.contains("servers.a.auth.client_id: is required"),
        "{msg}"
    );
    assert!(msg.contains("servers.b.auth.headers: is required"), "{msg}");
}

#[test]
fn hostile_input_does_not_panic() {
    let huge = format!(
        "[servers.a]\nurl = \"https://{}.io\"\n",
        "a".repeat(1 << 20)
    );
    let _ = Config::parse("c.toml", &huge);
    for junk in [
        "\u{0}",
        "[[[",
        "version = 1e400",
        "[servers]\na = 1",
        "\u{feff}version = 1",
    ] {
        let _ = Config::parse("c.toml", junk);
    }
}

fn server(name: &str, url: &str) -> ServerConfig {
    ServerConfig::new(
        ServerName::parse(name).unwrap(),
        ServerUrl::parse(url).unwrap(),
    )
}

#[test]
fn add_to_an_empty_file_writes_a_commented_versioned_file() {
    let out = add_server(
        "c.toml",
        "",
        &server("linear", "https://mcp.linear.app/mcp"),
    )
    .unwrap();
    assert!(out.starts_with(edit::NEW_FILE_HEADER), "{out}");
    assert!(out.contains("version = 1\n"), "{out}");
    assert!(
        out.contains("[servers.linear]\nurl = \"https://mcp.linear.app/mcp\"\n"),
        "{out}"
    );
    assert!(!out.contains("[servers]\n"), "no empty parent table: {out}");
    assert_eq!(Config::parse("c.toml", &out).unwrap().servers.len(), 1);
}

#[test]
fn add_then_remove_preserves_the_rest_byte_for_byte() {
    let original = fixture("valid-full.toml");
    let mut s = server("new-one", "https://new.example.com/mcp");
    s.transport = Transport::Sse;
    s.auth = AuthConfig::OAuth(OAuthSettings {
        client_id: Some("cid".into()),
        scopes: Some(vec!["a".into(), "b".into()]),
        extra_authorize_params: vec![("audience".into(), "x".into())],
        resource: ResourceSetting::Uri("https://new.example.com".into()),
        client_metadata_url: None,
        profile: Some(crate::oauth::profile::Profile::Auth0),
        redirect: crate::config::Redirect::App,
    });
    let added = add_server("c.toml", &original, &s).unwrap();
    assert!(
        added.starts_with(&original),
        "existing text untouched:\n{added}"
    );
    let parsed = Config::parse("c.toml", &added).unwrap();
    assert_eq!(
        parsed.get("new-one"),
        Some(&s),
        "round trip through the file"
    );
    let removed = remove_server("c.toml", &added, &s.name).unwrap();
    assert_eq!(removed, original);
}

#[test]
fn every_mode_round_trips_through_add() {
    let c = parse("valid-full.toml").unwrap();
    let mut text = String::new();
    for s in &c.servers {
        text = add_server("c.toml", &text, s).unwrap();
    }
    assert_eq!(Config::parse("c.toml", &text).unwrap(), c, "{text}");
}

#[test]
fn remove_keeps_comments_elsewhere() {
    let original = fixture("valid-full.toml");
    let out = remove_server("c.toml", &original, &ServerName::parse("tools").unwrap()).unwrap();
    assert!(
        out.contains("# A realistic file a user wrote by hand"),
        "{out}"
    );
    assert!(out.contains("[servers.linear]      # the default"), "{out}");
    assert!(!out.contains("tools.example.com"), "{out}");
    assert_eq!(Config::parse("c.toml", &out).unwrap().servers.len(), 6);
}

#[test]
fn add_and_remove_refuse_what_they_should() {
    let original = fixture("valid-full.toml");
    assert!(matches!(
        add_server("c.toml", &original, &server("linear", "https://x.io")),
        Err(EditError::Exists(n)) if n == "linear"
    ));
    assert!(matches!(
        remove_server("c.toml", &original, &ServerName::parse("nope").unwrap()),
        Err(EditError::Missing(_))
    ));
    assert!(matches!(
        add_server(
            "c.toml",
            &fixture("broken-syntax.toml"),
            &server("b", "https://x.io")
        ),
        Err(EditError::Invalid(_))
    ));
    assert!(matches!(
        add_server("c.toml", &fixture("newer-version.toml"), &server("b", "https://x.io")),
        Err(EditError::Invalid(e)) if e.is_unknown_version()
    ));
}

#[test]
fn serialises_for_json_output_without_secrets() {
    let c = parse("valid-full.toml").unwrap();
    let json = serde_json::to_value(c.get("tools").unwrap()).unwrap();
    assert_eq!(json["name"], "tools");
    assert_eq!(json["transport"], "streamable-http");
    assert_eq!(json["auth"]["mode"], "oauth");
    assert_eq!(json["auth"]["client_id"], "companion-desktop");
    assert_eq!(json["auth"]["resource"], "omit");
    let keyed = serde_json::to_value(c.get("keyed").unwrap()).unwrap();
    assert_eq!(
        keyed["auth"],
        serde_json::json!({"mode": "headers", "headers": ["X-Client-Id", "X-Client-Secret"]})
    );
}

#[test]
fn private_key_jwt_records_the_algorithm_and_key_id_never_the_key() {
    let text = "[servers.signer]\nurl = \"https://s.io/mcp\"\n[servers.signer.auth]\n\
                mode = \"client_credentials\"\nclient_id = \"svc\"\n\
                token_endpoint_auth_method = \"private_key_jwt\"\nkey_alg = \"RS256\"\n\
                key_id = \"k-2024\"\n";
    let c = Config::parse("c.toml", text).unwrap();
    let signer = c.get("signer").unwrap();
    let AuthConfig::ClientCredentials(cc) = &signer.auth else {
        panic!("{:?}", signer.auth)
    };
    assert_eq!(
        cc.token_endpoint_auth_method,
        ClientAuthMethod::PrivateKeyJwt
    );
    assert_eq!(cc.key_alg, Some(SigningAlg::Rs256));
    assert_eq!(cc.key_id.as_deref(), Some("k-2024"));
    let out = add_server("c.toml", "", signer).unwrap();
    assert!(out.contains("key_alg = \"RS256\""), "{out}");
    assert_eq!(Config::parse("c.toml", &out).unwrap(), c, "{out}");
    let json = serde_json::to_value(signer).unwrap();
    assert_eq!(json["auth"]["key_alg"], "RS256");
    assert_eq!(json["auth"]["key_id"], "k-2024");

    // Key settings beside a client secret method are a mistake, named with its line.
    let e = Config::parse(
        "c.toml",
        "[servers.r]\nurl = \"https://r.io\"\n[servers.r.auth]\nmode = \"client_credentials\"\n\
         client_id = \"r\"\nkey_id = \"k\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("c.toml:6:10: servers.r.auth.key_id: is only used with token_endpoint_auth_method = \"private_key_jwt\""),
        "{e}"
    );
    let e = Config::parse(
        "c.toml",
        "[servers.r]\nurl = \"https://r.io\"\n[servers.r.auth]\nmode = \"client_credentials\"\n\
         client_id = \"r\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\nkey_alg = \"HS256\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown algorithm \"HS256\"; expected ES256 or RS256"),
        "{e}"
    );
    // The key itself never goes in the file.
    let e = Config::parse(
        "c.toml",
        "[servers.r]\nurl = \"https://r.io\"\n[servers.r.auth]\nmode = \"client_credentials\"\n\
         client_id = \"r\"\nprivate_key = \"-----BEGIN PRIVATE KEY-----\"\n",
    )
    .unwrap_err();
    assert_eq!(e.problems[0].kind, ProblemKind::Secret, "{e}");
    assert!(e.to_string().contains("secret set NAME"), "{e}");
}

#[test]
fn client_credentials_and_app_redirects_keep_their_profile_and_redirect() {
    let text = "version = 1\n\n[servers.robot]\nurl = \"https://r.example.com/mcp\"\n\
                auth = { mode = \"client_credentials\", client_id = \"r\", profile = \"auth0\" }\n\n\
                [servers.desk]\nurl = \"https://d.example.com/mcp\"\n\
                auth = { client_id = \"d\", redirect = \"app\" }\n";
    let c = Config::parse("c.toml", text).unwrap();
    let AuthConfig::ClientCredentials(cc) = &c.get("robot").unwrap().auth else {
        panic!()
    };
    assert_eq!(cc.profile, Some(crate::oauth::profile::Profile::Auth0));
    let AuthConfig::OAuth(o) = &c.get("desk").unwrap().auth else {
        panic!()
    };
    assert_eq!(o.redirect, Redirect::App);
    // Written back as read.
    for name in ["robot", "desk"] {
        let s = c.get(name).unwrap();
        let again = add_server("c.toml", "", s).unwrap();
        assert_eq!(Config::parse("c.toml", &again).unwrap().get(name), Some(s));
    }
    let e = Config::parse(
        "c.toml",
        "version = 1\n[servers.x]\nurl = \"https://x.example.com/mcp\"\nauth = { redirect = \"browser\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("redirect") && e.contains("\"app\""), "{e}");
}
