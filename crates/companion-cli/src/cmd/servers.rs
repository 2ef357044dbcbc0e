//! `add`, `list`, `show`, `remove`.

use std::io::{self, Write};

use companion_core::config::{
    AuthConfig, ClientAuthMethod, ClientCredentialsSettings, Config, OAuthSettings,
    ResourceSetting, ServerConfig, Transport,
};
use companion_core::name::ServerName;
use companion_core::oauth::token::jwt_expiry;
use companion_core::secret::Secret;
use companion_core::server_url::ServerUrl;
use companion_core::suggest::did_you_mean;
use companion_store::keychain::{accounts, OsKeychain, SecretStore};
use serde_json::json;

use super::Env;
use crate::args::{AddArgs, AuthMode, ClientAuthArg, ListArgs, RemoveArgs, ShowArgs, TransportArg};
use crate::output::Failure;

pub(crate) fn add(env: &Env, a: AddArgs) -> Result<(), Failure> {
    let name = ServerName::parse(&a.name).map_err(|e| Failure::usage(e.to_string()))?;
    let url = ServerUrl::parse(&a.url).map_err(|e| Failure::usage(e.to_string()))?;
    let mut a = a;
    if a.bearer || a.token_command.is_some() {
        a.auth = AuthMode::Bearer;
    }
    let server = ServerConfig {
        name,
        url,
        transport: transport(a.transport),
        auth: auth(&a)?,
    };
    // Secrets go to the keychain first: if that fails, the config is not touched.
    let secrets = read_secrets(&a, &server)?;
    let keychain = SecretStore::new(OsKeychain::for_user());
    for (i, (account, value)) in secrets.iter().enumerate() {
        if let Err(e) = keychain.set(account, value) {
            for (done, _) in &secrets[..i] {
                let _ = keychain.delete(done);
            }
            return Err(Failure::failed(e.to_string())
                .hint("MCP Companion keeps secrets only in the OS keychain; nothing was saved"));
        }
    }
    // The store validates the whole entry the way the file would be read, so a bad scope or
    // parameter is refused now, not at the next start.
    if let Err(e) = env.config.add(&server) {
        for (account, _) in &secrets {
            let _ = keychain.delete(account);
        }
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
        if let Some(exp) = secrets.first().and_then(|(_, t)| jwt_expiry(t.expose())) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if exp <= now {
                let _ = writeln!(
                    io::stderr(),
                    "warning: this token has already expired; the server will refuse it"
                );
            } else {
                let _ = writeln!(out, "The token expires in {} h.", (exp - now) / 3600);
            }
        }
    }
    let _ = writeln!(out, "Config: {}", env.config.path().display());
    Ok(())
}

/// Reads a secret: without echo from a terminal, else one line from standard input.
fn read_secret(prompt: &str) -> Result<Secret, Failure> {
    use std::io::{BufRead, IsTerminal};
    let value = if io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| Failure::failed(format!("cannot read the secret: {e}")))?
    } else {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).map_err(|e| {
            Failure::failed(format!("cannot read the secret from standard input: {e}"))
        })?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if value.trim().is_empty() {
        return Err(Failure::usage("no secret was given; nothing was saved"));
    }
    Ok(Secret::new(value))
}

/// The secrets this `add` stores, by keychain account.
fn read_secrets(a: &AddArgs, s: &ServerConfig) -> Result<Vec<(String, Secret)>, Failure> {
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
        AuthConfig::ClientCredentials(c) if a.client_secret || c.token_endpoint_auth_method != ClientAuthMethod::PrivateKeyJwt => {
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
        || a.audience.is_some()
        || !a.authorize_params.is_empty()
        || a.client_metadata_url.is_some()
        || a.profile.is_some();
    if mode != AuthMode::Oauth && oauth_only {
        return Err(misplaced(
            "--resource/--no-resource/--audience/--authorize-param/--client-metadata-url/--profile",
            "oauth",
        ));
    }
    if mode != AuthMode::Headers && !a.headers.is_empty() {
        return Err(misplaced("--header", "headers"));
    }
    if mode != AuthMode::ClientCredentials && a.token_endpoint_auth.is_some() {
        return Err(misplaced("--token-endpoint-auth", "client-credentials"));
    }
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
                profile: match &a.profile {
                    None => None,
                    Some(p) => {
                        companion_core::oauth::profile::Profile::from_name(p).ok_or_else(|| {
                            Failure::usage(format!(
                                "--profile {p:?}: use one of {}",
                                companion_core::oauth::profile::Profile::NAMES.join(", ")
                            ))
                        })?
                    }
                },
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
                token_endpoint_auth_method: match a.token_endpoint_auth {
                    None | Some(ClientAuthArg::ClientSecretBasic) => {
                        ClientAuthMethod::ClientSecretBasic
                    }
                    Some(ClientAuthArg::ClientSecretPost) => ClientAuthMethod::ClientSecretPost,
                    Some(ClientAuthArg::PrivateKeyJwt) => ClientAuthMethod::PrivateKeyJwt,
                },
            })
        }
        AuthMode::None => AuthConfig::None,
    })
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
        v["managed"] = json!(loaded.config.is_managed(s.name.as_str()));
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
                o.profile.map_or_else(
                    || "auto (detected from the issuer at sign-in)".to_owned(),
                    |p| p.name().to_owned(),
                ),
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
            lines.push((
                "client auth",
                c.token_endpoint_auth_method.as_str().to_owned(),
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
            format!("your organization ({}); read-only", p.display()),
        )),
        _ => lines.push(("config file", loaded.path.display().to_string())),
    }
    let _ = writeln!(out, "{}", s.name);
    for (k, v) in lines {
        let _ = writeln!(out, "  {:<16}{v}", format!("{k}:"));
    }
    Ok(())
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
    let keychain = SecretStore::new(OsKeychain::for_user());
    if let Some(e) = accounts.iter().find_map(|acct| keychain.delete(acct).err()) {
        let _ = writeln!(
            io::stderr(),
            "warning: its secrets could not be removed from the keychain: {e}"
        );
    }
    let _ = writeln!(io::stdout(), "Removed {name}.");
    Ok(())
}
