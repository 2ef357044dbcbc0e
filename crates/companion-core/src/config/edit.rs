//! Format-preserving edits of `config.toml`.
//!
//! The user may have written comments and laid the file out their own way; `add` and `remove`
//! change only the server they touch (via `toml_edit`), and the result is validated again before
//! anyone writes it.

use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table};

use super::{
    AuthConfig, Config, ConfigError, ResourceSetting, ServerConfig, Transport, CONFIG_VERSION,
};
use crate::name::ServerName;

/// The first lines of a config file we create.
pub const NEW_FILE_HEADER: &str = "\
# MCP Companion configuration: which remote MCP servers to reach, and how.
# Secrets never go in this file: tokens, client secrets and header values live in the
# OS keychain. Edit by hand or with `mcp-companion add` / `remove`.
";

/// Why an edit could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The current file is not valid; it is left as it is.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// `add` of a name that exists.
    #[error("a server called {0:?} already exists; remove it first or pick another name")]
    Exists(String),
    /// `remove` of a name that does not exist.
    #[error("no server called {0:?}")]
    Missing(String),
}

/// Returns `text` with `server` added at the end.
pub fn add_server(file: &str, text: &str, server: &ServerConfig) -> Result<String, EditError> {
    let current = Config::parse(file, text)?;
    if current.get(server.name.as_str()).is_some() {
        return Err(EditError::Exists(server.name.to_string()));
    }
    let mut doc = if text.trim().is_empty() {
        let fresh = format!("{NEW_FILE_HEADER}\nversion = {CONFIG_VERSION}\n");
        fresh.parse::<DocumentMut>().unwrap_or_default()
    } else {
        // It parsed as a config above, so it parses as TOML.
        text.parse::<DocumentMut>().map_err(|_| {
            EditError::Invalid(ConfigError {
                file: file.to_owned(),
                problems: Vec::new(),
            })
        })?
    };
    if !doc.contains_key("version") {
        doc["version"] = value(CONFIG_VERSION);
    }
    let servers = doc.entry("servers").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(servers) = servers.as_table_mut() else {
        return Err(EditError::Invalid(ConfigError {
            file: file.to_owned(),
            problems: Vec::new(),
        }));
    };
    servers.insert(server.name.as_str(), Item::Table(server_table(server)));
    let out = doc.to_string();
    // Belt and braces: never hand back text we would refuse to read.
    Config::parse(file, &out)?;
    Ok(out)
}

/// Returns `text` without the server called `name`.
pub fn remove_server(file: &str, text: &str, name: &ServerName) -> Result<String, EditError> {
    let current = Config::parse(file, text)?;
    if current.get(name.as_str()).is_none() {
        return Err(EditError::Missing(name.to_string()));
    }
    let mut doc: DocumentMut = text.parse().map_err(|_| {
        EditError::Invalid(ConfigError {
            file: file.to_owned(),
            problems: Vec::new(),
        })
    })?;
    let removed = doc
        .get_mut("servers")
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.remove(name.as_str()));
    if removed.is_none() {
        return Err(EditError::Missing(name.to_string()));
    }
    let out = doc.to_string();
    Config::parse(file, &out)?;
    Ok(out)
}

fn strings(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

fn server_table(s: &ServerConfig) -> Table {
    let mut t = Table::new();
    t.insert("url", value(s.url.as_str()));
    if s.transport != Transport::Auto {
        t.insert("transport", value(s.transport.as_str()));
    }
    let mut auth = Table::new();
    match &s.auth {
        AuthConfig::OAuth(o) => {
            if let Some(id) = &o.client_id {
                auth.insert("client_id", value(id));
            }
            if let Some(scopes) = &o.scopes {
                auth.insert("scopes", value(strings(scopes)));
            }
            if !o.extra_authorize_params.is_empty() {
                let mut p = InlineTable::new();
                for (k, v) in &o.extra_authorize_params {
                    p.insert(k, v.as_str().into());
                }
                auth.insert("extra_authorize_params", value(p));
            }
            match &o.resource {
                ResourceSetting::Default => {}
                ResourceSetting::Omit => {
                    auth.insert("resource", value("omit"));
                }
                ResourceSetting::Uri(u) => {
                    auth.insert("resource", value(u));
                }
            }
            if let Some(u) = &o.client_metadata_url {
                auth.insert("client_metadata_url", value(u));
            }
            if let Some(p) = o.profile {
                auth.insert("profile", value(p.name()));
            }
            if o.redirect == crate::config::Redirect::App {
                auth.insert("redirect", value("app"));
            }
        }
        AuthConfig::Headers { headers } => {
            auth.insert("headers", value(strings(headers)));
        }
        AuthConfig::ClientCredentials(c) => {
            auth.insert("client_id", value(&c.client_id));
            if let Some(scopes) = &c.scopes {
                auth.insert("scopes", value(strings(scopes)));
            }
            auth.insert(
                "token_endpoint_auth_method",
                value(c.token_endpoint_auth_method.as_str()),
            );
            if let Some(alg) = c.key_alg {
                auth.insert("key_alg", value(alg.as_str()));
            }
            if let Some(p) = c.profile {
                auth.insert("profile", value(p.name()));
            }
            if let Some(kid) = &c.key_id {
                auth.insert("key_id", value(kid));
            }
        }
        AuthConfig::Bearer { token_command } => {
            if let Some(c) = token_command {
                auth.insert("token_command", value(c));
            }
        }
        AuthConfig::None => {}
    }
    // The default (OAuth, nothing preset) needs no auth table at all.
    let is_default = matches!(&s.auth, AuthConfig::OAuth(_)) && auth.is_empty();
    if !is_default {
        let mut with_mode = Table::new();
        with_mode.insert("mode", value(s.auth.mode_name()));
        for (k, v) in auth.iter() {
            with_mode.insert(k, v.clone());
        }
        t.insert("auth", Item::Table(with_mode));
    }
    t
}
