//! Add, edit and remove servers from a form: names and settings to the config file, secrets to
//! the keychain, in the order that loses nothing if a step fails.

use companion_core::config::{AuthConfig, OAuthSettings, ServerConfig};
use companion_core::name::ServerName;
use companion_core::oauth::profile::Profile;
use companion_core::secret::Secret;
use companion_core::server_url::ServerUrl;
use companion_store::keychain::{accounts, OsKeychain, SecretStore, Written};
use companion_store::{ConfigStore, Paths};

use crate::store_error;
use crate::types::{ApiError, ErrorKind, HeaderValue, NewAuth, NewServer};

/// The form's starting values for an existing server (secrets left empty: "keep").
pub(crate) fn form_of(s: &ServerConfig) -> NewServer {
    let auth = match &s.auth {
        AuthConfig::OAuth(o) => NewAuth::Oauth {
            client_id: o.client_id.clone().unwrap_or_default(),
            client_secret: String::new(),
            scopes: o.scopes.as_ref().map(|s| s.join(" ")).unwrap_or_default(),
            audience: o
                .extra_authorize_params
                .iter()
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            profile: o.profile.map_or("auto", Profile::name).to_owned(),
        },
        AuthConfig::Bearer { .. } => NewAuth::Bearer {
            token: String::new(),
        },
        AuthConfig::Headers { headers } => NewAuth::Headers {
            headers: headers
                .iter()
                .map(|h| HeaderValue {
                    name: h.clone(),
                    value: String::new(),
                })
                .collect(),
        },
        // Modes the form does not edit show as "none"; `update` refuses to change them.
        AuthConfig::ClientCredentials(_) | AuthConfig::None => NewAuth::None,
    };
    NewServer {
        name: s.name.as_str().to_owned(),
        url: s.url.as_str().to_owned(),
        auth,
    }
}

/// The config entry and the secrets a form describes. `existing` is the entry being edited.
fn build(
    new: &NewServer,
    existing: Option<&ServerConfig>,
) -> Result<(ServerConfig, Vec<(String, Secret)>), ApiError> {
    let name = ServerName::parse(new.name.trim()).map_err(|e| ApiError::invalid(e.to_string()))?;
    let url = ServerUrl::parse(&new.url).map_err(|e| ApiError::invalid(e.to_string()))?;
    let mut server = ServerConfig::new(name.clone(), url);
    if let Some(e) = existing {
        server.transport = e.transport;
    }
    let n = name.as_str();
    let mut secrets = Vec::new();
    let mut secret = |account: String, value: &str, what: &str| -> Result<(), ApiError> {
        if value.trim().is_empty() {
            // Editing: keep what the keychain holds. Adding: a value is required.
            if existing.is_some() {
                return Ok(());
            }
            return Err(ApiError::invalid(format!("{what} is empty")));
        }
        secrets.push((account, Secret::new(value.trim().to_owned())));
        Ok(())
    };
    server.auth = match &new.auth {
        NewAuth::Oauth {
            client_id,
            client_secret,
            scopes,
            audience,
            profile,
        } => {
            let mut o = match existing.map(|e| &e.auth) {
                Some(AuthConfig::OAuth(o)) => o.clone(),
                _ => OAuthSettings::default(),
            };
            o.client_id = Some(client_id.trim().to_owned()).filter(|c| !c.is_empty());
            let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
            o.scopes = (!scopes.is_empty()).then_some(scopes);
            o.extra_authorize_params.retain(|(k, _)| k != "audience");
            if !audience.trim().is_empty() {
                o.extra_authorize_params
                    .push(("audience".to_owned(), audience.trim().to_owned()));
            }
            o.profile = match Profile::from_name(profile.trim()) {
                Some(p) => p,
                None if profile.trim().is_empty() => None,
                None => {
                    return Err(ApiError::invalid(format!(
                        "unknown profile {profile:?}; one of {}",
                        Profile::NAMES.join(", ")
                    )))
                }
            };
            if !client_secret.trim().is_empty() {
                if o.client_id.is_none() {
                    return Err(ApiError::invalid(
                        "a client secret needs the client id it belongs to",
                    ));
                }
                secret(
                    accounts::client_secret(n),
                    client_secret,
                    "the client secret",
                )?;
            }
            AuthConfig::OAuth(o)
        }
        NewAuth::Bearer { token } => {
            secret(accounts::bearer(n), token, "the token")?;
            AuthConfig::Bearer {
                token_command: None,
            }
        }
        NewAuth::Headers { headers } => {
            if headers.is_empty() {
                return Err(ApiError::invalid("give at least one header"));
            }
            let mut names = Vec::new();
            for h in headers {
                let hn = h.name.trim();
                if hn.is_empty() {
                    return Err(ApiError::invalid("a header has no name"));
                }
                secret(
                    accounts::header(n, hn),
                    &h.value,
                    &format!("the value of {hn}"),
                )?;
                names.push(hn.to_owned());
            }
            AuthConfig::Headers { headers: names }
        }
        NewAuth::None => match existing.map(|e| &e.auth) {
            // The form cannot show these modes; keep them as they are.
            Some(a @ (AuthConfig::ClientCredentials(_) | AuthConfig::Bearer { .. })) => a.clone(),
            _ => AuthConfig::None,
        },
    };
    Ok((server, secrets))
}

fn keychain() -> SecretStore<OsKeychain> {
    SecretStore::new(OsKeychain::for_user())
}

fn keychain_error(e: companion_store::keychain::KeychainError) -> ApiError {
    ApiError::new(
        ErrorKind::Keychain,
        format!("{e}. MCP Companion keeps secrets only in the OS keychain; nothing was saved"),
    )
}

/// Stores `secrets`; on failure, removes those already stored.
/// Stores every secret or none (see [`SecretStore::set_all`]).
fn store_secrets(
    k: &SecretStore<OsKeychain>,
    secrets: &[(String, Secret)],
) -> Result<Written, ApiError> {
    k.set_all(secrets).map_err(keychain_error)
}

pub(crate) fn add(config: &ConfigStore, new: &NewServer) -> Result<(), ApiError> {
    let (server, secrets) = build(new, None)?;
    let loaded = config.load().map_err(store_error)?;
    if loaded.config.get(server.name.as_str()).is_some() {
        return Err(ApiError::invalid(format!(
            "a server named {} already exists; pick another name",
            server.name
        )));
    }
    let k = keychain();
    let written = store_secrets(&k, &secrets)?;
    if let Err(e) = config.add(&server) {
        // The keychain goes back to what it held (nothing, normally).
        k.undo(written);
        return Err(store_error(e));
    }
    Ok(())
}

pub(crate) fn update(config: &ConfigStore, name: &str, new: &NewServer) -> Result<(), ApiError> {
    let loaded = config.load().map_err(store_error)?;
    let old = loaded
        .config
        .get(name)
        .cloned()
        .ok_or_else(|| crate::not_found(name))?;
    if new.name.trim() != name {
        return Err(ApiError::invalid(
            "a server cannot be renamed (MCP clients launch it by name); remove it and add it again",
        ));
    }
    let (server, secrets) = build(new, Some(&old))?;
    let k = keychain();
    let written = store_secrets(&k, &secrets)?;
    if let Err(e) = config.replace(&old.name, &server) {
        // The config still describes the old server: give it back its old secrets.
        k.undo(written);
        return Err(store_error(e));
    }
    // Header values whose header is gone are no longer needed.
    if let (AuthConfig::Headers { headers: was }, now) = (&old.auth, &server.auth) {
        let kept: &[String] = match now {
            AuthConfig::Headers { headers } => headers,
            _ => &[],
        };
        for h in was.iter().filter(|h| !kept.contains(h)) {
            let _ = k.delete(&accounts::header(name, h));
        }
    }
    Ok(())
}

pub(crate) fn remove(
    config: &ConfigStore,
    paths: &Paths,
    server: &ServerConfig,
) -> Result<(), ApiError> {
    config.remove(&server.name).map_err(store_error)?;
    // Derived state and secrets: best effort, the server is already gone from the config.
    let _ = companion_store::state_file::StateStore::at(paths.state_file())
        .forget(server.name.as_str());
    let k = keychain();
    for account in accounts::of_server(server) {
        let _ = k.delete(&account);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(client_id: &str, secret: &str) -> NewServer {
        NewServer {
            name: "wiki".into(),
            url: "https://wiki.example.com/mcp".into(),
            auth: NewAuth::Oauth {
                client_id: client_id.into(),
                client_secret: secret.into(),
                scopes: " mcp:read  mcp:write ".into(),
                audience: "https://wiki.example.com/mcp".into(),
                profile: "auth0".into(),
            },
        }
    }

    #[test]
    fn a_form_becomes_an_entry_and_keychain_secrets() {
        let (s, secrets) = build(&oauth("desk", "s3cret"), None).unwrap();
        let AuthConfig::OAuth(o) = &s.auth else {
            panic!()
        };
        assert_eq!(o.client_id.as_deref(), Some("desk"));
        assert_eq!(o.scopes.as_deref().unwrap(), ["mcp:read", "mcp:write"]);
        assert_eq!(
            o.extra_authorize_params,
            [(
                "audience".to_owned(),
                "https://wiki.example.com/mcp".to_owned()
            )]
        );
        assert_eq!(o.profile, Some(Profile::Auth0));
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].0, accounts::client_secret("wiki"));
        // And back to the form, with the secret left out.
        let form = form_of(&s);
        let NewAuth::Oauth {
            client_secret,
            scopes,
            ..
        } = &form.auth
        else {
            panic!()
        };
        assert_eq!(
            (client_secret.as_str(), scopes.as_str()),
            ("", "mcp:read mcp:write")
        );
        assert_eq!(build(&form, Some(&s)).unwrap().0, s);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut f = oauth("", "s3cret");
        assert!(build(&f, None).unwrap_err().message.contains("client id"));
        f.url = "http://wiki.example.com/mcp".into();
        assert_eq!(build(&f, None).unwrap_err().kind, ErrorKind::Invalid);
        let f = NewServer {
            name: "jwt".into(),
            url: "https://x.example/mcp".into(),
            auth: NewAuth::Bearer { token: " ".into() },
        };
        assert!(build(&f, None)
            .unwrap_err()
            .message
            .contains("token is empty"));
        let f = NewServer {
            name: "-x".into(),
            ..f
        };
        assert_eq!(build(&f, None).unwrap_err().kind, ErrorKind::Invalid);
    }

    #[test]
    fn editing_keeps_secrets_left_empty() {
        let (old, _) = build(
            &NewServer {
                name: "keyed".into(),
                url: "https://k.example/mcp".into(),
                auth: NewAuth::Headers {
                    headers: vec![HeaderValue {
                        name: "X-Api-Key".into(),
                        value: "v".into(),
                    }],
                },
            },
            None,
        )
        .unwrap();
        let form = form_of(&old);
        let (new, secrets) = build(&form, Some(&old)).unwrap();
        assert_eq!(new, old);
        assert!(secrets.is_empty());
    }
}
