//! `add`, `list`, `show`, `remove`.

use std::io::{self, Write};

use companion_core::config::{
    AuthConfig, ClientAuthMethod, ClientCredentialsSettings, Config, OAuthSettings,
    ResourceSetting, ServerConfig, SigningAlg, Transport,
};
use companion_core::name::ServerName;
use companion_core::oauth::profile::Profile;
use companion_core::secret::Secret;
use companion_core::server_url::ServerUrl;
use companion_core::suggest::did_you_mean;
use companion_store::keychain::accounts;
use serde_json::json;

use super::{secret, Env};
use crate::args::{AddArgs, AuthMode, ClientAuthArg, ListArgs, RemoveArgs, ShowArgs, TransportArg};
use crate::output::Failure;

pub(crate) fn add(env: &Env, a: AddArgs) -> Result<(), Failure> {
    let name = ServerName::parse(&a.name).map_err(|e| Failure::usage(e.to_string()))?;
    let url = ServerUrl::parse(&a.url).map_err(|e| Failure::usage(e.to_string()))?;
    let mut a = a;
    if a.bearer || a.token_command.is_some() {
        a.auth = AuthMode::Bearer;
    }
    // Options are checked before the key file is read or a secret is asked for.
    let mut auth = auth(&a)?;
    let key = match &a.private_key {
        Some(path) => Some(secret::read_private_key(path, a.key_alg.map(Into::into))?),
        None => None,
    };
    if let (AuthConfig::ClientCredentials(c), Some((_, alg))) = (&mut auth, &key) {
        c.key_alg = Some(*alg);
    }
    let server = ServerConfig {
        name,
        url,
        transport: transport(a.transport),
        auth,
    };
    // The organization's refusal comes before any secret is asked for.
    if let Err(e) = env.config.check_add(&server) {
        let managed = env
            .config
            .load()
            .is_ok_and(|l| l.config.is_managed(server.name.as_str()));
        let f = Failure::from(e);
        return Err(if managed {
            f.hint(format!(
                "to give it a secret: mcp-companion secret set {} (see `mcp-companion secret set \
                 --help`)",
                server.name
            ))
        } else {
            f
        });
    }
    // Secrets go to the keychain first: if that fails, the config is not touched.
    let mut secrets = read_secrets(&a, &server)?;
    if let Some((pem, _)) = key {
        secrets.push((accounts::private_key(server.name.as_str()), pem));
    }
    let keychain = secret::keychain();
    let stored = secret::store(&keychain, &secrets)?;
    // The store validates the whole entry the way the file would be read, so a bad scope or
    // parameter is refused now, not at the next start.
    if let Err(e) = env.config.add(&server) {
        keychain.undo(stored);
        return Err(e.into());
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "Added {} ({}).", server.name, server.url);
    if !secrets.is_empty() {
        let _ = writeln!(
            out,
            "Stored {} secret{} in the OS keychain.",
            secrets.len(),
            if secrets.len() == 1 { "" } else { "s" }
        );
    }
    if let AuthConfig::Bearer {
        token_command: None,
    } = &server.auth
    {
        if let Some((_, t)) = secrets.first() {
            secret::report_expiry(t, &mut out);
        }
    }
    if a.private_key.is_some() {
        let _ = writeln!(
            out,
            "MCP Companion keeps its own copy of the key; it does not need the file any more."
        );
    }
    let _ = writeln!(out, "Config: {}", env.config.path().display());
    Ok(())
}

/// The secrets this `add` asks for, by keychain account (a private key is read from its file
/// separately).
fn read_secrets(a: &AddArgs, s: &ServerConfig) -> Result<Vec<(String, Secret)>, Failure> {
    use secret::read_secret;
    let name = s.name.as_str();
    let mut out = Vec::new();
    match &s.auth {
        AuthConfig::Bearer { token_command: None } => out.push((accounts::bearer(name), read_secret(&format!("Bearer token for {name} (input hidden): "))?)),
        AuthConfig::Headers { headers } => {
            for h in headers {
                out.push((accounts::header(name, h), read_secret(&format!("Value of {h} for {name} (input hidden): "))?));
            }
        }
        AuthConfig::OAuth(o) if a.client_secret => {
            if o.client_id.is_none() {
                return Err(Failure::usage("--client-secret needs --client-id (the pre-registered client it belongs to)"));
            }
            out.push((accounts::client_secret(name), read_secret(&format!("Client secret for {name} (input hidden): "))?));
        }
        AuthConfig::ClientCredentials(c) if c.token_endpoint_auth_method != ClientAuthMethod::PrivateKeyJwt => {
            out.push((accounts::client_secret(name), read_secret(&format!("Client secret for {name} (input hidden): "))?));
        }
        _ if a.client_secret => return Err(Failure::usage("--client-secret applies to --auth oauth (with --client-id) and --auth client-credentials")),
        _ => {}
    }
    Ok(out)
}

fn transport(t: TransportArg) -> Transport {
    match t {
        TransportArg::Auto => Transport::Auto,
        TransportArg::StreamableHttp => Transport::StreamableHttp,
        TransportArg::Sse => Transport::Sse,
    }
}

/// Builds the auth settings and refuses options that do not apply to the chosen mode.
fn auth(a: &AddArgs) -> Result<AuthConfig, Failure> {
    let mode = a.auth;
    let misplaced = |flag: &str, wanted: &str| {
        Failure::usage(format!("{flag} only applies to --auth {wanted}"))
    };
    let oauth_only = a.resource.is_some()
        || a.no_resource
        || a.app_redirect
        || a.audience.is_some()
        || !a.authorize_params.is_empty()
        || a.client_metadata_url.is_some();
    if mode != AuthMode::Oauth && oauth_only {
        return Err(misplaced(
            "--resource/--no-resource/--audience/--authorize-param/--client-metadata-url/--app-redirect",
            "oauth",
        ));
    }
    if !matches!(mode, AuthMode::Oauth | AuthMode::ClientCredentials) && a.profile.is_some() {
        return Err(misplaced(
            "--profile",
            "oauth and --auth client-credentials",
        ));
    }
    if mode != AuthMode::Headers && !a.headers.is_empty() {
        return Err(misplaced("--header", "headers"));
    }
    if mode != AuthMode::ClientCredentials
        && (a.token_endpoint_auth.is_some() || a.private_key.is_some())
    {
        return Err(misplaced(
            "--token-endpoint-auth/--private-key",
            "client-credentials",
        ));
    }
    let method = match (a.token_endpoint_auth, &a.private_key) {
        (None | Some(ClientAuthArg::PrivateKeyJwt), Some(_)) => ClientAuthMethod::PrivateKeyJwt,
        (Some(other), Some(_)) => {
            return Err(Failure::usage(format!(
                "--private-key is for private_key_jwt, not --token-endpoint-auth {}",
                if other == ClientAuthArg::ClientSecretPost {
                    "client-secret-post"
                } else {
                    "client-secret-basic"
                }
            )))
        }
        (Some(ClientAuthArg::PrivateKeyJwt), None) => {
            return Err(Failure::usage(
                "--token-endpoint-auth private-key-jwt needs --private-key FILE (a PEM file \
                 with the client's private key; it is read once and kept in the OS keychain)",
            ))
        }
        (None | Some(ClientAuthArg::ClientSecretBasic), None) => {
            ClientAuthMethod::ClientSecretBasic
        }
        (Some(ClientAuthArg::ClientSecretPost), None) => ClientAuthMethod::ClientSecretPost,
    };
    if matches!(mode, AuthMode::Bearer | AuthMode::None | AuthMode::Headers)
        && (a.client_id.is_some() || !a.scopes.is_empty())
    {
        return Err(misplaced(
            "--client-id/--scope",
            "oauth or client-credentials",
        ));
    }
    let scopes = (!a.scopes.is_empty()).then(|| a.scopes.clone());
    Ok(match mode {
        AuthMode::Oauth => {
            let mut params = Vec::new();
            if let Some(aud) = &a.audience {
                params.push(("audience".to_owned(), aud.clone()));
            }
            for p in &a.authorize_params {
                let Some((k, v)) = p.split_once('=') else {
                    return Err(Failure::usage(format!(
                        "--authorize-param {p:?} is not KEY=VALUE"
                    )));
                };
                params.push((k.trim().to_owned(), v.to_owned()));
            }
            AuthConfig::OAuth(OAuthSettings {
                client_id: a.client_id.clone(),
                scopes,
                extra_authorize_params: params,
                resource: match (&a.resource, a.no_resource) {
                    (_, true) => ResourceSetting::Omit,
                    (Some(r), false) => ResourceSetting::Uri(r.clone()),
                    (None, false) => ResourceSetting::Default,
                },
                client_metadata_url: a.client_metadata_url.clone(),
                redirect: if a.app_redirect {
                    companion_core::config::Redirect::App
                } else {
                    companion_core::config::Redirect::Loopback
                },
                profile: profile_arg(a)?,
            })
        }
        AuthMode::Bearer => AuthConfig::Bearer {
            token_command: a.token_command.clone(),
        },
        AuthMode::Headers => {
            if a.headers.is_empty() {
                return Err(Failure::usage(
                    "--auth headers needs at least one --header NAME",
                ));
            }
            AuthConfig::Headers {
                headers: a.headers.clone(),
            }
        }
        AuthMode::ClientCredentials => {
            let Some(client_id) = a.client_id.clone() else {
                return Err(Failure::usage(
                    "--auth client-credentials needs --client-id",
                ));
            };
            AuthConfig::ClientCredentials(ClientCredentialsSettings {
                client_id,
                scopes,
                token_endpoint_auth_method: method,
                // Set from the key once it is read.
                key_alg: None,
                key_id: a.key_id.clone(),
                profile: profile_arg(a)?,
            })
        }
        AuthMode::None => AuthConfig::None,
    })
}

/// `--profile`, checked (`auto` is `None`).
fn profile_arg(a: &AddArgs) -> Result<Option<companion_core::oauth::profile::Profile>, Failure> {
    use companion_core::oauth::profile::Profile;
    match &a.profile {
        None => Ok(None),
        Some(p) => Profile::from_name(p).ok_or_else(|| {
            Failure::usage(format!(
                "--profile {p:?}: use one of {}",
                Profile::NAMES.join(", ")
            ))
        }),
    }
}

/// Tells the user which of their servers the organization's policy set aside.
fn warn(loaded: &companion_store::config_file::Loaded) {
    let mut err = io::stderr().lock();
    for w in &loaded.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
}

pub(crate) fn list(env: &Env, a: &ListArgs) -> Result<(), Failure> {
    let loaded = env.config.load()?;
    warn(&loaded);
    let mut out = io::stdout().lock();
    if a.json {
        let doc = json!({
            "config_file": loaded.path.display().to_string(),
            "servers": loaded.config.servers,
        });
        let _ = writeln!(out, "{doc:#}");
        return Ok(());
    }
    if loaded.config.servers.is_empty() {
        let _ = writeln!(
            out,
            "No servers yet. Add one with: mcp-companion add NAME URL"
        );
        return Ok(());
    }
    let rows: Vec<[String; 4]> = loaded
        .config
        .servers
        .iter()
        .map(|s| {
            let name = if loaded.config.is_managed(s.name.as_str()) {
                format!("{} (managed)", s.name)
            } else {
                s.name.to_string()
            };
            [
                name,
                s.auth.mode_name().to_owned(),
                s.transport.as_str().to_owned(),
                s.url.to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "AUTH", "TRANSPORT", "URL"].map(str::to_owned);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(())
}

/// Finds a server or fails with a usage error and a suggestion.
pub(crate) fn find<'c>(config: &'c Config, name: &str) -> Result<&'c ServerConfig, Failure> {
    if let Some(s) = config.get(name) {
        return Ok(s);
    }
    let mut f = Failure::usage(format!("no server called {name:?}"));
    f = match did_you_mean(name, config.names()) {
        Some(s) => f.hint(format!("did you mean {s:?}?")),
        None if config.servers.is_empty() => {
            f.hint("no servers are configured yet; add one with `mcp-companion add NAME URL`")
        }
        None => f.hint("`mcp-companion list` shows the configured servers"),
    };
    Err(f)
}

pub(crate) fn show(env: &Env, a: &ShowArgs) -> Result<(), Failure> {
    let loaded = env.config.load()?;
    warn(&loaded);
    let s = find(&loaded.config, &a.name)?;
    let mut out = io::stdout().lock();
    if a.json {
        let mut v = serde_json::to_value(s).map_err(|e| Failure::failed(e.to_string()))?;
        v["config_file"] = json!(loaded.path.display().to_string());
        let managed = loaded.config.is_managed(s.name.as_str());
        v["managed"] = json!(managed);
        if let (true, Some(p)) = (managed, &loaded.managed_path) {
            v["managed_file"] = json!(p.display().to_string());
        }
        if let AuthConfig::OAuth(o) = &s.auth {
            let (profile, source, issuer) = profile(env, s.name.as_str(), o);
            v["profile"] = json!({
                "name": profile.map(Profile::name),
                "source": source,
                "issuer": issuer,
            });
        }
        let _ = writeln!(out, "{v:#}");
        return Ok(());
    }
    let mut lines: Vec<(&str, String)> = vec![
        ("url", s.url.to_string()),
        ("transport", s.transport.as_str().to_owned()),
        ("auth", s.auth.mode_name().to_owned()),
    ];
    match &s.auth {
        AuthConfig::OAuth(o) => {
            lines.push((
                "client id",
                o.client_id
                    .clone()
                    .unwrap_or_else(|| "registered at sign-in".to_owned()),
            ));
            lines.push(("scopes", scope_text(o.scopes.as_deref())));
            for (k, v) in &o.extra_authorize_params {
                lines.push(("authorize param", format!("{k}={v}")));
            }
            lines.push((
                "resource",
                match &o.resource {
                    ResourceSetting::Default => "the server's own (RFC 8707)".to_owned(),
                    ResourceSetting::Omit => "not sent".to_owned(),
                    ResourceSetting::Uri(u) => u.clone(),
                },
            ));
            if let Some(u) = &o.client_metadata_url {
                lines.push(("client metadata", u.clone()));
            }
            lines.push((
                "profile",
                match profile(env, s.name.as_str(), o) {
                    (Some(p), "configured", _) => format!("{} (configured)", p.name()),
                    (Some(p), _, Some(issuer)) => {
                        format!("{} (detected from the issuer {issuer})", p.name())
                    }
                    _ => "auto: detected from the issuer at the first sign-in".to_owned(),
                },
            ));
        }
        AuthConfig::Headers { headers } => {
            lines.push((
                "headers",
                format!("{} (values in the keychain)", headers.join(", ")),
            ));
        }
        AuthConfig::ClientCredentials(c) => {
            lines.push(("client id", c.client_id.clone()));
            lines.push(("scopes", scope_text(c.scopes.as_deref())));
            let method = c.token_endpoint_auth_method.as_str();
            lines.push((
                "client auth",
                if c.token_endpoint_auth_method == ClientAuthMethod::PrivateKeyJwt {
                    let alg = c.key_alg.map_or("the key's algorithm", SigningAlg::as_str);
                    match &c.key_id {
                        Some(kid) => {
                            format!("{method} ({alg}, key id {kid}; the key is in the keychain)")
                        }
                        None => format!("{method} ({alg}; the key is in the keychain)"),
                    }
                } else {
                    format!("{method} (the secret is in the keychain)")
                },
            ));
        }
        AuthConfig::Bearer {
            token_command: Some(c),
        } => lines.push((
            "token",
            format!("printed by `{c}` (run by the broker, cached until it expires)"),
        )),
        AuthConfig::Bearer {
            token_command: None,
        } => lines.push(("token", "kept in the keychain".to_owned())),
        AuthConfig::None => {}
    }
    match (
        &loaded.managed_path,
        loaded.config.is_managed(s.name.as_str()),
    ) {
        (Some(p), true) => lines.push((
            "managed by",
            format!(
                "your organization ({}); locked, read-only (`mcp-companion secret set {}` \
                 stores its secrets)",
                p.display(),
                s.name
            ),
        )),
        _ => lines.push(("config file", loaded.path.display().to_string())),
    }
    let _ = writeln!(out, "{}", s.name);
    for (k, v) in lines {
        let _ = writeln!(out, "  {:<16}{v}", format!("{k}:"));
    }
    Ok(())
}

/// The provider profile that applies to an OAuth server: the configured one, else the one
/// detected from the issuer its last sign-in found (`None` before the first sign-in). Returns
/// the profile, where it comes from (`configured`, `detected`, `unknown`) and the issuer.
fn profile(
    env: &Env,
    name: &str,
    o: &OAuthSettings,
) -> (Option<Profile>, &'static str, Option<String>) {
    // State is derived and optional: an unreadable state file only means "not known yet".
    let issuer = env.state.load().ok().and_then(|st| {
        st.servers
            .get(name)
            .and_then(|e| e.fields.get("issuer"))
            .and_then(serde_json::Value::as_str)
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
    });
    match (o.profile, &issuer) {
        (Some(p), _) => (Some(p), "configured", issuer),
        (None, Some(i)) => (Some(Profile::detect(i)), "detected", issuer),
        (None, None) => (None, "unknown", None),
    }
}

fn scope_text(scopes: Option<&[String]>) -> String {
    match scopes {
        Some(s) if !s.is_empty() => s.join(" "),
        _ => "as the server asks".to_owned(),
    }
}

pub(crate) fn remove(env: &Env, a: &RemoveArgs) -> Result<(), Failure> {
    let loaded = env.config.load()?;
    let server = find(&loaded.config, &a.name)?.clone();
    let name = server.name.clone();
    env.config.remove(&name)?;
    // State is derived and non-secret: failing to tidy it must not fail the removal.
    if let Err(e) = env.state.forget(name.as_str()) {
        let _ = writeln!(io::stderr(), "warning: {e}");
    }
    // Its secrets go too. Best effort: the server is already gone from the config.
    let accounts = accounts::of_server(&server);
    let keychain = secret::keychain();
    if let Some(e) = accounts.iter().find_map(|acct| keychain.delete(acct).err()) {
        let _ = writeln!(
            io::stderr(),
            "warning: its secrets could not be removed from the keychain: {e}"
        );
    }
    let _ = writeln!(io::stdout(), "Removed {name}.");
    Ok(())
}
