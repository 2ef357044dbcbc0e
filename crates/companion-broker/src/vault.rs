//! What the broker keeps about a server: tokens and client secrets in the keychain, discovery
//! and registration (non-secret) in the state file.

use std::sync::Arc;

use companion_auth::discovery::Discovery;
use companion_auth::TokenSet;
use companion_core::oauth::registration::Registration;
use companion_core::oauth::token::Expiry;
use companion_core::secret::Secret;
use companion_store::keychain::{KeychainError, RawStore, SecretStore};
use companion_store::state_file::StateStore;
use serde_json::{json, Value};

/// Keychain accounts of a server.
fn account(server: &str, kind: &str) -> String {
    format!("{server}/{kind}")
}

/// The broker's storage.
#[derive(Debug, Clone)]
pub struct Vault {
    secrets: Arc<SecretStore<Box<dyn RawStore>>>,
    state: StateStore,
}

impl Vault {
    /// Secrets in `raw`, state in `state`.
    pub fn new(raw: Box<dyn RawStore>, state: StateStore) -> Self {
        Self {
            secrets: Arc::new(SecretStore::new(raw)),
            state,
        }
    }

    /// The token set of `server`, from the keychain. Blocking: call off the async threads.
    pub fn load_tokens(&self, server: &str) -> Result<Option<TokenSet>, KeychainError> {
        let Some(blob) = self.secrets.get(&account(server, "tokens"))? else {
            return Ok(None);
        };
        let v: Value = serde_json::from_str(blob.expose())
            .map_err(|_| KeychainError::Corrupt(account(server, "tokens")))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(access) = s("access_token") else {
            return Err(KeychainError::Corrupt(account(server, "tokens")));
        };
        Ok(Some(TokenSet {
            access_token: Secret::new(access),
            refresh_token: s("refresh_token").map(Secret::new),
            expiry: Expiry {
                obtained_at: v["obtained_at"].as_u64().unwrap_or(0),
                expires_at: v["expires_at"].as_u64(),
            },
            scopes: v["scopes"].as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
            issuer: s("issuer").unwrap_or_default(),
        }))
    }

    /// Stores `server`'s token set. Blocking.
    pub fn save_tokens(&self, server: &str, t: &TokenSet) -> Result<(), KeychainError> {
        let blob = json!({
            "v": 1,
            "access_token": t.access_token.expose(),
            "refresh_token": t.refresh_token.as_ref().map(Secret::expose),
            "obtained_at": t.expiry.obtained_at,
            "expires_at": t.expiry.expires_at,
            "scopes": t.scopes,
            "issuer": t.issuer,
        });
        self.secrets
            .set(&account(server, "tokens"), &Secret::new(blob.to_string()))
    }

    /// Forgets `server`'s tokens. Blocking.
    pub fn delete_tokens(&self, server: &str) -> Result<(), KeychainError> {
        self.secrets.delete(&account(server, "tokens"))
    }

    /// Any secret, by account. Blocking.
    pub fn secret(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        self.secrets.get(account)
    }

    /// The client secret of a pre-registered client. Blocking.
    pub fn client_secret(&self, server: &str) -> Result<Option<Secret>, KeychainError> {
        self.secrets.get(&account(server, "client-secret"))
    }

    /// Discovery and registration from the state file, with the client secret from the keychain.
    pub fn load_client(
        &self,
        server: &str,
    ) -> Result<(Option<Discovery>, Option<Registration>), KeychainError> {
        let state = self.state.load().ok();
        let Some(entry) = state.as_ref().and_then(|s| s.servers.get(server)) else {
            return Ok((None, None));
        };
        let f = &entry.fields;
        let discovery = f
            .get("discovery")
            .and_then(|d| serde_json::from_value(d.clone()).ok());
        let registration = match f.get("client_id").and_then(Value::as_str) {
            Some(id) => {
                let secret = if f
                    .get("has_client_secret")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    self.secrets.get(&account(server, "client-secret"))?
                } else {
                    None
                };
                Some(Registration {
                    client_id: id.to_owned(),
                    client_secret: secret,
                    token_endpoint_auth_method: f
                        .get("token_endpoint_auth_method")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            }
            None => None,
        };
        Ok((discovery, registration))
    }

    /// Remembers discovery and registration (the secret goes to the keychain). Blocking.
    pub fn save_client(
        &self,
        server: &str,
        d: Option<&Discovery>,
        reg: Option<&Registration>,
        configured_client: bool,
    ) -> Result<(), String> {
        if let Some(secret) = reg
            .and_then(|r| r.client_secret.as_ref())
            .filter(|_| !configured_client)
        {
            self.secrets
                .set(&account(server, "client-secret"), secret)
                .map_err(|e| e.to_string())?;
        }
        let mut state = self.state.load().map_err(|e| e.to_string())?;
        let entry = state.servers.entry(server.to_owned()).or_default();
        if let Some(d) = d {
            entry.fields.insert(
                "discovery".into(),
                serde_json::to_value(d).map_err(|e| e.to_string())?,
            );
            entry.fields.insert("issuer".into(), json!(d.server.issuer));
        }
        if let Some(r) = reg.filter(|_| !configured_client) {
            entry.fields.insert("client_id".into(), json!(r.client_id));
            entry.fields.insert(
                "token_endpoint_auth_method".into(),
                json!(r.token_endpoint_auth_method),
            );
            entry
                .fields
                .insert("has_client_secret".into(), json!(r.client_secret.is_some()));
        }
        self.state.save(&state).map_err(|e| e.to_string())
    }

    /// Records the last status (for `status` without a broker, and the tray at start). Blocking.
    pub fn save_status(&self, server: &str, status: &str) {
        if let Ok(mut state) = self.state.load() {
            let entry = state.servers.entry(server.to_owned()).or_default();
            if entry.fields.get("last_status").and_then(Value::as_str) != Some(status) {
                entry.fields.insert("last_status".into(), json!(status));
                let _ = self.state.save(&state);
            }
        }
    }
}
