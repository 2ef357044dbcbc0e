//! `secret set` / `secret clear`, and what `add` shares with them: reading a secret without
//! echo, reading and checking a private key file, and storing several secrets at once.

use std::io::{self, Write};
use std::path::Path;

use companion_auth::grants::{check_signing_key, KeyProblem};
use companion_core::config::{AuthConfig, ClientAuthMethod, ServerConfig, SigningAlg};
use companion_core::oauth::token::jwt_expiry;
use companion_core::secret::Secret;
use companion_store::keychain::{accounts, OsKeychain, SecretStore, Written};

use super::servers::find;
use super::Env;
use crate::args::{SecretClearArgs, SecretCommand, SecretSetArgs};
use crate::output::Failure;

/// A PEM key is a few KB; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The user's keychain.
pub(super) fn keychain() -> SecretStore<OsKeychain> {
    SecretStore::new(OsKeychain::for_user())
}

/// Reads a secret: without echo from a terminal, else one line from standard input.
pub(super) fn read_secret(prompt: &str) -> Result<Secret, Failure> {
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

/// Reads a PEM private key file and checks that it can sign client assertions (with `alg`
/// when given). Returns the key and its algorithm. Errors name the file and what to do; they
/// never quote the file's content.
pub(super) fn read_private_key(
    path: &Path,
    alg: Option<SigningAlg>,
) -> Result<(Secret, SigningAlg), Failure> {
    let shown = path.display();
    let unreadable = |why: String| {
        Failure::usage(format!("cannot read the private key file {shown}: {why}")).hint(
            "give the path of a PEM file with the client's private key (PKCS#8, \
             -----BEGIN PRIVATE KEY-----)",
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("it is not a file".to_owned()));
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(unreadable(format!(
            "it is {} bytes, far more than a PEM private key",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(
            Failure::usage(format!("{shown} is not a PEM text file (binary DER?)")).hint(format!(
                "convert it to PEM: openssl pkey -inform DER -in {shown} -out key.pem"
            )),
        );
    };
    let pem = Secret::new(text);
    let alg = check_signing_key(&pem, alg).map_err(|p| {
        let hint = match &p {
            KeyProblem::Encrypted => format!(
                "write an unencrypted copy for MCP Companion to keep in the keychain, then \
                 delete the copy: openssl pkey -in {shown} -out key.pem"
            ),
            KeyProblem::NotPkcs8 => {
                format!("convert it to PKCS#8: openssl pkey -in {shown} -out key.pem")
            }
            KeyProblem::NotPrivate(_) => "give the private key; the authorization server is \
                                          the one that gets the public key"
                .to_owned(),
            KeyProblem::WrongAlg { asked, actual } => format!(
                "give a {} key, or (when adding a server) --key-alg {}",
                asked.as_str(),
                actual.as_str()
            ),
            _ => "MCP Companion signs with ES256 (P-256 keys) or RS256 (RSA keys), from a \
                  PKCS#8 PEM file; `openssl pkey -in FILE -out key.pem` converts most keys"
                .to_owned(),
        };
        Failure::usage(format!("{shown} {p}")).hint(hint)
    })?;
    Ok((pem, alg))
}

/// Stores every secret, or none (see [`SecretStore::set_all`]); the returned
/// [`Written`] puts the keychain back if a later step fails.
pub(super) fn store(
    kc: &SecretStore<OsKeychain>,
    secrets: &[(String, Secret)],
) -> Result<Written, Failure> {
    kc.set_all(secrets).map_err(|e| {
        Failure::failed(e.to_string())
            .hint("MCP Companion keeps secrets only in the OS keychain; nothing was saved")
    })
}

/// Says when a static bearer token (a JWT) expires, or warns that it already has.
pub(super) fn report_expiry(token: &Secret, out: &mut impl Write) {
    let Some(exp) = jwt_expiry(token.expose()) else {
        return;
    };
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

/// One kind of secret a server can have.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    ClientSecret,
    Bearer,
    Header(String),
    PrivateKey,
}

impl Kind {
    fn account(&self, server: &str) -> String {
        match self {
            Self::ClientSecret => accounts::client_secret(server),
            Self::Bearer => accounts::bearer(server),
            Self::Header(h) => accounts::header(server, h),
            Self::PrivateKey => accounts::private_key(server),
        }
    }

    fn option(&self) -> String {
        match self {
            Self::ClientSecret => "--client-secret".to_owned(),
            Self::Bearer => "--bearer".to_owned(),
            Self::Header(h) => format!("--header {h}"),
            Self::PrivateKey => "--private-key".to_owned(),
        }
    }

    fn describe(&self, server: &str) -> String {
        match self {
            Self::ClientSecret => format!("the client secret of {server}"),
            Self::Bearer => format!("the bearer token of {server}"),
            Self::Header(h) => format!("the {h} value of {server}"),
            Self::PrivateKey => format!("the private key of {server}"),
        }
    }
}

/// The secrets a server's auth mode uses.
fn kinds(auth: &AuthConfig) -> Vec<Kind> {
    match auth {
        AuthConfig::OAuth(o) if o.client_id.is_some() => vec![Kind::ClientSecret],
        AuthConfig::Bearer {
            token_command: None,
        } => vec![Kind::Bearer],
        AuthConfig::Headers { headers } => headers.iter().cloned().map(Kind::Header).collect(),
        AuthConfig::ClientCredentials(c)
            if c.token_endpoint_auth_method == ClientAuthMethod::PrivateKeyJwt =>
        {
            vec![Kind::PrivateKey]
        }
        AuthConfig::ClientCredentials(_) => vec![Kind::ClientSecret],
        AuthConfig::OAuth(_) | AuthConfig::Bearer { .. } | AuthConfig::None => Vec::new(),
    }
}

/// The auth mode in words, for messages.
fn mode_text(auth: &AuthConfig) -> String {
    match auth {
        AuthConfig::OAuth(o) if o.client_id.is_none() => {
            "oauth with a client registered at sign-in".to_owned()
        }
        AuthConfig::OAuth(_) => "oauth with a pre-registered client".to_owned(),
        AuthConfig::Bearer {
            token_command: Some(_),
        } => "bearer with a token command".to_owned(),
        AuthConfig::ClientCredentials(c) => {
            format!(
                "client_credentials ({})",
                c.token_endpoint_auth_method.as_str()
            )
        }
        other => other.mode_name().to_owned(),
    }
}

/// What a server takes, as `secret set` options, for hints.
fn takes(s: &ServerConfig) -> String {
    let name = s.name.as_str();
    let options: Vec<String> = kinds(&s.auth).iter().map(Kind::option).collect();
    if options.is_empty() {
        return match &s.auth {
            AuthConfig::OAuth(_) => format!(
                "{name} keeps no secret of yours: sign in with `mcp-companion login {name}`"
            ),
            AuthConfig::Bearer {
                token_command: Some(c),
            } => format!("{name} keeps no secret: its token is printed by `{c}`"),
            _ => format!("{name} needs no secret"),
        };
    }
    let options = options
        .iter()
        .map(|o| {
            if o == "--private-key" {
                "--private-key FILE".to_owned()
            } else {
                o.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!("{name} takes: mcp-companion secret set {name} {options}")
}

/// Checks that `kind` is a secret `s` uses; returns it as the server spells it.
fn applies(s: &ServerConfig, kind: Kind) -> Result<Kind, Failure> {
    let name = s.name.as_str();
    let wanted = kinds(&s.auth);
    if let Kind::Header(h) = &kind {
        if let Some(k) = wanted
            .iter()
            .find(|k| matches!(k, Kind::Header(w) if w.eq_ignore_ascii_case(h)))
        {
            return Ok(k.clone());
        }
        if let AuthConfig::Headers { headers } = &s.auth {
            return Err(Failure::usage(format!(
                "{name} does not list the header {h}; its headers are {}",
                headers.join(", ")
            ))
            .hint(takes(s)));
        }
    } else if wanted.contains(&kind) {
        return Ok(kind);
    }
    Err(Failure::usage(format!(
        "{name} uses auth mode {}, so {} does not apply",
        mode_text(&s.auth),
        kind.option()
    ))
    .hint(takes(s)))
}

pub(crate) fn run(env: &Env, c: SecretCommand) -> Result<(), Failure> {
    match c {
        SecretCommand::Set(a) => set(env, &a),
        SecretCommand::Clear(a) => clear(env, &a),
    }
}

fn managed_note(loaded: &companion_store::config_file::Loaded, name: &str) -> String {
    if loaded.config.is_managed(name) {
        format!(" ({name} is managed by your organization; its settings stay locked)")
    } else {
        String::new()
    }
}

fn set(env: &Env, a: &SecretSetArgs) -> Result<(), Failure> {
    let loaded = env.config.load()?;
    let s = find(&loaded.config, &a.name)?;
    let name = s.name.as_str();
    let mut asked = Vec::new();
    if a.client_secret {
        asked.push(Kind::ClientSecret);
    }
    if a.bearer {
        asked.push(Kind::Bearer);
    }
    asked.extend(a.headers.iter().cloned().map(Kind::Header));
    if a.private_key.is_some() {
        asked.push(Kind::PrivateKey);
    }
    // Every option is checked before anything is read, so a mistake costs no typing.
    let kinds = asked
        .into_iter()
        .map(|k| applies(s, k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut secrets = Vec::new();
    for kind in &kinds {
        let value = match (kind, &a.private_key) {
            (Kind::PrivateKey, Some(path)) => {
                let configured = match &s.auth {
                    AuthConfig::ClientCredentials(c) => c.key_alg,
                    _ => None,
                };
                read_private_key(path, configured)?.0
            }
            _ => read_secret(&format!(
                "{} (input hidden): ",
                capitalized(&kind.describe(name))
            ))?,
        };
        secrets.push((kind.account(name), value));
    }
    let kc = keychain();
    // Nothing after this can fail in a way that would need the old values back.
    drop(store(&kc, &secrets)?);
    let mut out = io::stdout().lock();
    for kind in &kinds {
        let _ = writeln!(
            out,
            "Stored {} in the OS keychain{}.",
            kind.describe(name),
            managed_note(&loaded, name)
        );
    }
    if let Some((_, token)) = secrets
        .iter()
        .zip(&kinds)
        .find(|(_, k)| **k == Kind::Bearer)
        .map(|(s, _)| s)
    {
        report_expiry(token, &mut out);
    }
    if a.private_key.is_some() {
        let _ = writeln!(
            out,
            "MCP Companion keeps its own copy of the key; it does not need the file any more."
        );
    }
    forget_token(s);
    Ok(())
}

/// A client-credentials server's cached token was made with the old credentials: drop it, so
/// the next request uses the new ones. The running broker forgets it (memory and keychain);
/// with none running, the keychain entry goes. Best effort: the token expires anyway.
fn forget_token(s: &ServerConfig) {
    if !matches!(s.auth, AuthConfig::ClientCredentials(_)) {
        return;
    }
    let name = s.name.as_str().to_owned();
    let via_broker = super::broker::runtime().ok().and_then(|rt| {
        rt.block_on(async {
            let mut c =
                companion_broker::BrokerClient::connect(&companion_broker::Endpoint::for_user())
                    .await
                    .ok()?;
            c.call(companion_broker::Op::Forget {
                server: name.clone(),
            })
            .await
            .ok()
        })
    });
    if via_broker.is_none() {
        let _ = keychain().delete(&companion_store::keychain::accounts::tokens(&name));
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn clear(env: &Env, a: &SecretClearArgs) -> Result<(), Failure> {
    let loaded = env.config.load()?;
    let s = find(&loaded.config, &a.name)?;
    let name = s.name.as_str();
    let kinds: Vec<Kind> = if a.all {
        // Whatever the mode uses, and what an earlier mode of the same name may have left.
        let mut k = vec![Kind::ClientSecret, Kind::Bearer, Kind::PrivateKey];
        if let AuthConfig::Headers { headers } = &s.auth {
            k.extend(headers.iter().cloned().map(Kind::Header));
        }
        k
    } else {
        // Clearing is never refused for the mode: a secret left by an earlier setting can go.
        let mut k = Vec::new();
        if a.client_secret {
            k.push(Kind::ClientSecret);
        }
        if a.bearer {
            k.push(Kind::Bearer);
        }
        k.extend(a.headers.iter().cloned().map(Kind::Header));
        if a.private_key {
            k.push(Kind::PrivateKey);
        }
        k
    };
    let kc = keychain();
    let mut out = io::stdout().lock();
    let mut removed = 0;
    for kind in &kinds {
        let account = kind.account(name);
        let present = kc
            .get(&account)
            .map_err(|e| Failure::failed(e.to_string()))?
            .is_some();
        if present {
            kc.delete(&account)
                .map_err(|e| Failure::failed(e.to_string()))?;
            removed += 1;
            let _ = writeln!(out, "Removed {} from the OS keychain.", kind.describe(name));
        } else if !a.all {
            let _ = writeln!(
                out,
                "{} was not in the OS keychain; nothing to remove.",
                capitalized(&kind.describe(name))
            );
        }
    }
    if a.all && removed == 0 {
        let _ = writeln!(out, "{name} had no secrets in the OS keychain.");
    }
    if removed > 0 {
        forget_token(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_core::config::{ClientCredentialsSettings, OAuthSettings};
    use companion_core::name::ServerName;
    use companion_core::server_url::ServerUrl;

    fn server(auth: AuthConfig) -> ServerConfig {
        let mut s = ServerConfig::new(
            ServerName::parse("srv").unwrap(),
            ServerUrl::parse("https://srv.example.com/mcp").unwrap(),
        );
        s.auth = auth;
        s
    }

    fn cc(method: ClientAuthMethod) -> AuthConfig {
        AuthConfig::ClientCredentials(ClientCredentialsSettings {
            client_id: "robot".into(),
            scopes: None,
            token_endpoint_auth_method: method,
            key_alg: None,
            key_id: None,
            profile: None,
        })
    }

    #[test]
    fn a_secret_must_be_one_the_auth_mode_uses() {
        let keyed = server(AuthConfig::Headers {
            headers: vec!["X-Api-Key".into(), "X-Client-Id".into()],
        });
        assert_eq!(
            applies(&keyed, Kind::Header("x-api-key".into())).unwrap(),
            Kind::Header("X-Api-Key".into()),
            "the configured spelling"
        );
        let e = applies(&keyed, Kind::Header("X-Other".into())).unwrap_err();
        assert_eq!(e.code, crate::output::EXIT_USAGE);
        assert_eq!(
            e.message,
            "srv does not list the header X-Other; its headers are X-Api-Key, X-Client-Id"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("srv takes: mcp-companion secret set srv --header X-Api-Key --header X-Client-Id")
        );

        let signer = server(cc(ClientAuthMethod::PrivateKeyJwt));
        assert!(applies(&signer, Kind::PrivateKey).is_ok());
        let e = applies(&signer, Kind::ClientSecret).unwrap_err();
        assert_eq!(
            e.message,
            "srv uses auth mode client_credentials (private_key_jwt), so --client-secret does not apply"
        );
        assert!(e.hint.unwrap().ends_with("--private-key FILE"));

        let robot = server(cc(ClientAuthMethod::ClientSecretPost));
        assert!(applies(&robot, Kind::ClientSecret).is_ok());
        let e = applies(&robot, Kind::Header("X".into())).unwrap_err();
        assert!(e.message.contains("so --header X does not apply"), "{e:?}");

        let dynamic = server(AuthConfig::OAuth(OAuthSettings::default()));
        let e = applies(&dynamic, Kind::ClientSecret).unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("srv keeps no secret of yours: sign in with `mcp-companion login srv`")
        );
        let preregistered = server(AuthConfig::OAuth(OAuthSettings {
            client_id: Some("desk".into()),
            ..OAuthSettings::default()
        }));
        assert!(applies(&preregistered, Kind::ClientSecret).is_ok());
        let command = server(AuthConfig::Bearer {
            token_command: Some("vault read x".into()),
        });
        assert!(applies(&command, Kind::Bearer)
            .unwrap_err()
            .hint
            .unwrap()
            .contains("printed by `vault read x`"));
    }

    #[test]
    fn key_files_are_named_with_what_is_wrong() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing.pem");
        let e = read_private_key(&missing, None).unwrap_err();
        assert!(
            e.message.starts_with(&format!(
                "cannot read the private key file {}",
                missing.display()
            )),
            "{e:?}"
        );
        let public = d.path().join("public.pem");
        std::fs::write(
            &public,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let e = read_private_key(&public, None).unwrap_err();
        assert_eq!(
            e.message,
            format!("{} holds a PUBLIC KEY, not a private key", public.display())
        );
        let der = d.path().join("key.der");
        std::fs::write(&der, [0x30, 0x82, 0xff, 0xfe]).unwrap();
        let e = read_private_key(&der, None).unwrap_err();
        assert!(e.hint.unwrap().contains("-inform DER"));
    }
}
