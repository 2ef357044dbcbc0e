//! What a front end can ask of MCP Companion: the list of servers with their live status,
//! one server's details, discovery for the add-server wizard, add / edit / remove, sign-in and
//! sign-out, a connection test, MCP clients, settings.
//!
//! The tray app's Tauri commands are one-line adapters over [`Api`]; everything worth a test
//! lives here, where it runs without WebKit. Credentials stay with the broker and the keychain:
//! this crate writes secrets typed into a form straight to the keychain and never returns one.
//!
//! The types that cross IPC are in [`types`] and are exported to TypeScript by
//! [`bindings::typescript`].

#![deny(missing_docs)]

pub mod bindings;
mod clients;
pub mod desktop;
mod discover;
mod edit;
mod logs;
mod settings;
pub mod types;

use std::path::PathBuf;

use companion_broker::{BrokerClient, Endpoint, Op, Reply, ServerStatus, State};
use companion_core::config::{AuthConfig, ResourceSetting, ServerConfig};
use companion_core::tray;
use companion_store::{ConfigStore, Paths};

pub use crate::types::*;

/// The API over the user's configuration, keychain and broker.
#[derive(Debug, Clone)]
pub struct Api {
    paths: Paths,
    config: ConfigStore,
    endpoint: Endpoint,
    /// The `mcp-companion` program, for bridges (client config, connection tests).
    cli: PathBuf,
}

impl Api {
    /// The API for this user; `cli` is the `mcp-companion` program MCP clients launch.
    pub fn for_user(cli: PathBuf) -> Result<Self, ApiError> {
        let paths = Paths::for_user().map_err(|e| ApiError::failed(e.to_string()))?;
        Ok(Self::new(paths, Endpoint::for_user(), cli))
    }

    /// The API over explicit places (tests).
    pub fn new(paths: Paths, endpoint: Endpoint, cli: PathBuf) -> Self {
        let config = ConfigStore::new(&paths);
        Self {
            paths,
            config,
            endpoint,
            cli,
        }
    }

    /// The `mcp-companion` program beside `exe` (the tray or the window), the way an installer
    /// lays them out.
    pub fn cli_beside(exe: &std::path::Path) -> PathBuf {
        exe.with_file_name(format!("mcp-companion{}", std::env::consts::EXE_SUFFIX))
    }

    async fn broker(&self) -> Result<BrokerClient, ApiError> {
        BrokerClient::connect(&self.endpoint).await.map_err(|e| {
            ApiError::failed(format!(
                "the credential broker is not running ({e}); restart MCP Companion"
            ))
        })
    }

    async fn call(&self, op: Op) -> Result<Reply, ApiError> {
        self.broker().await?.call(op).await.map_err(broker_error)
    }

    /// Every server with its live status.
    pub async fn servers(&self) -> Result<Vec<ServerView>, ApiError> {
        let loaded = self.config.load().map_err(store_error)?;
        let statuses = self.statuses().await?;
        Ok(loaded
            .config
            .servers
            .iter()
            .map(|s| {
                let status = statuses.iter().find(|st| st.name == s.name.as_str());
                view(s, status, loaded.config.is_managed(s.name.as_str()))
            })
            .collect())
    }

    /// The broker's status of every configured server.
    async fn statuses(&self) -> Result<Vec<ServerStatus>, ApiError> {
        Ok(match self.call(Op::Status).await? {
            Reply::Status { servers } => servers,
            _ => Vec::new(),
        })
    }

    /// One server's details.
    pub async fn details(&self, name: &str) -> Result<ServerDetails, ApiError> {
        let loaded = self.config.load().map_err(store_error)?;
        let s = loaded.config.get(name).ok_or_else(|| not_found(name))?;
        let managed = loaded.config.is_managed(name);
        let statuses = self.statuses().await?;
        let server = view(s, statuses.iter().find(|st| st.name == name), managed);
        let state = companion_store::state_file::StateStore::at(self.paths.state_file())
            .load()
            .ok()
            .and_then(|st| st.servers.get(name).cloned());
        let mut fields = fields(s, state.as_ref());
        if managed {
            fields.push(Field {
                label: "managed by".into(),
                value: loaded.managed_path.as_ref().map_or_else(
                    || "your organization".to_owned(),
                    |p| format!("your organization ({}); read-only", p.display()),
                ),
            });
        }
        Ok(ServerDetails {
            fields,
            client_config: self.client_config(name),
            log: logs::tail(&self.paths.log_dir(), name, 200),
            edit: (!managed).then(|| edit::form_of(s)),
            server,
        })
    }

    /// The JSON an MCP client needs to launch the bridge for `name`.
    pub fn client_config(&self, name: &str) -> String {
        let v = serde_json::json!({
            "mcpServers": {
                name: {
                    "command": self.cli.display().to_string(),
                    "args": ["connect", name],
                }
            }
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Signs in to `name` (a person asked: the browser opens).
    pub async fn sign_in(&self, name: &str) -> Result<(), ApiError> {
        self.call(Op::SignIn {
            server: name.to_owned(),
            headless: false,
        })
        .await
        .map(drop)
    }

    /// Signs out of `name`: the tokens are revoked and forgotten.
    pub async fn sign_out(&self, name: &str) -> Result<(), ApiError> {
        self.call(Op::SignOut {
            server: name.to_owned(),
        })
        .await
        .map(drop)
    }

    /// Discovery for the wizard: what signing in to `url` will involve. `on_step` sees each step
    /// as it happens.
    pub async fn discover(
        &self,
        url: &str,
        on_step: impl Fn(Step) + Send + Sync + 'static,
    ) -> Result<Discovered, ApiError> {
        discover::run(url, on_step).await
    }

    /// Adds a server; secrets go to the keychain, everything else to the config file.
    pub fn add_server(&self, new: &NewServer) -> Result<(), ApiError> {
        edit::add(&self.config, new)
    }

    /// Replaces server `name`'s settings; empty secrets keep the stored ones.
    pub fn update_server(&self, name: &str, new: &NewServer) -> Result<(), ApiError> {
        edit::update(&self.config, name, new)
    }

    /// Removes a server, signing out first and forgetting its secrets.
    pub async fn remove_server(&self, name: &str) -> Result<(), ApiError> {
        let loaded = self.config.load().map_err(store_error)?;
        let s = loaded
            .config
            .get(name)
            .ok_or_else(|| not_found(name))?
            .clone();
        if loaded.config.is_managed(name) {
            return Err(ApiError::new(
                ErrorKind::Managed,
                format!(
                    "{name} is managed by your organization; ask your administrator to remove it"
                ),
            ));
        }
        if matches!(s.auth, AuthConfig::OAuth(_)) {
            // Revoke while the configuration still knows the server. Best effort: a dead
            // authorization server must not keep a person from removing it.
            let _ = self.sign_out(name).await;
        }
        edit::remove(&self.config, &self.paths, &s)
    }

    /// Runs a whole MCP session against `name` through a real bridge, as an MCP client would.
    pub async fn test_connection(
        &self,
        name: &str,
        on_step: impl Fn(Step) + Send + Sync + 'static,
    ) -> Result<TestReport, ApiError> {
        let loaded = self.config.load().map_err(store_error)?;
        let s = loaded.config.get(name).ok_or_else(|| not_found(name))?;
        discover::test_connection(&self.cli, &self.config, s, on_step).await
    }

    /// The app's settings.
    pub fn settings(&self) -> Settings {
        settings::load(&self.paths)
    }

    /// Saves the app's settings.
    pub fn save_settings(&self, s: &Settings) -> Result<(), ApiError> {
        settings::save(&self.paths, s)
    }

    /// Every MCP client and where MCP Companion stands in it.
    pub fn clients(&self) -> Result<Vec<ClientView>, ApiError> {
        let names = self.server_names()?;
        clients::list(&self.cli, &names)
    }

    /// Installs every configured server into `client`, or repairs drifted entries.
    pub fn install_client(&self, client: &str) -> Result<String, ApiError> {
        let names = self.server_names()?;
        clients::install(&self.cli, client, &names)
    }

    /// Removes MCP Companion's entries from `client`.
    pub fn uninstall_client(&self, client: &str) -> Result<String, ApiError> {
        clients::uninstall(&self.cli, client)
    }

    fn server_names(&self) -> Result<Vec<String>, ApiError> {
        Ok(self
            .config
            .load()
            .map_err(store_error)?
            .config
            .names()
            .map(str::to_owned)
            .collect())
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!("there is no server named {name:?}"),
    )
}

fn state_of(s: State) -> ServerState {
    match s {
        State::SignedIn => ServerState::SignedIn,
        State::Expiring => ServerState::Expiring,
        State::NeedsSignIn => ServerState::NeedsSignIn,
        State::StepUpRequired => ServerState::StepUpRequired,
        State::Error => ServerState::Error,
        State::NotRequired => ServerState::NotRequired,
    }
}

/// A server's view from its configuration and the broker's status (if it answered).
pub fn view(s: &ServerConfig, status: Option<&ServerStatus>, managed: bool) -> ServerView {
    let line = status.map_or_else(
        || tray::ServerLine {
            name: s.name.as_str().to_owned(),
            health: tray::Health::Unknown,
        },
        ServerStatus::tray_line,
    );
    ServerView {
        name: s.name.as_str().to_owned(),
        url: s.url.as_str().to_owned(),
        auth: s.auth.mode_name().to_owned(),
        state: status.map_or(ServerState::Unknown, |st| state_of(st.state)),
        status_line: tray::status_line(&line.health),
        expires_in: status.and_then(|st| st.expires_in),
        scopes: status.and_then(|st| st.scopes.clone()).unwrap_or_default(),
        issuer: status.and_then(|st| st.issuer.clone()),
        error: status.and_then(|st| st.error.clone()),
        managed,
        refreshed_at: status.and_then(|st| st.refreshed_at),
        bridges: status.map_or(0, |st| st.bridges),
        recent: status
            .map(|st| {
                st.recent
                    .iter()
                    .map(|r| RecentView {
                        at: r.at,
                        state: state_of(r.state),
                        message: r.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn fields(
    s: &ServerConfig,
    state: Option<&companion_store::state_file::ServerState>,
) -> Vec<Field> {
    let mut out = Vec::new();
    let mut push = |label: &str, value: String| {
        out.push(Field {
            label: label.to_owned(),
            value,
        });
    };
    push("transport", s.transport.as_str().to_owned());
    push("auth", s.auth.mode_name().to_owned());
    let learned = |key: &str| {
        state
            .and_then(|st| st.fields.get(key))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    match &s.auth {
        AuthConfig::OAuth(o) => {
            push(
                "client id",
                o.client_id
                    .clone()
                    .or_else(|| learned("client_id"))
                    .unwrap_or_else(|| "registered at sign-in".to_owned()),
            );
            push(
                "registration",
                if o.client_id.is_some() {
                    "pre-registered client".to_owned()
                } else if o.client_metadata_url.is_some() {
                    "client ID metadata document".to_owned()
                } else if learned("client_id").is_some() {
                    "dynamic registration".to_owned()
                } else {
                    "at the first sign-in".to_owned()
                },
            );
            push(
                "requested scopes",
                o.scopes
                    .as_ref()
                    .map_or_else(|| "what the server advertises".to_owned(), |s| s.join(" ")),
            );
            for (k, v) in &o.extra_authorize_params {
                push("authorize parameter", format!("{k}={v}"));
            }
            push(
                "resource",
                match &o.resource {
                    ResourceSetting::Default => "the server's own (RFC 8707)".to_owned(),
                    ResourceSetting::Omit => "not sent".to_owned(),
                    ResourceSetting::Uri(u) => u.clone(),
                },
            );
            let detected = learned("issuer").map(|i| {
                companion_core::oauth::profile::Profile::detect(&i)
                    .name()
                    .to_owned()
            });
            push(
                "profile",
                match (o.profile, detected) {
                    (Some(p), _) => p.name().to_owned(),
                    (None, Some(d)) => format!("{d} (detected from the issuer)"),
                    (None, None) => "detected from the issuer at sign-in".to_owned(),
                },
            );
        }
        AuthConfig::ClientCredentials(c) => {
            push("client id", c.client_id.clone());
            push(
                "client auth",
                c.token_endpoint_auth_method.as_str().to_owned(),
            );
        }
        AuthConfig::Headers { headers } => {
            push(
                "headers",
                format!("{} (values in the keychain)", headers.join(", ")),
            );
        }
        AuthConfig::Bearer {
            token_command: Some(c),
        } => push("token", format!("printed by `{c}`")),
        AuthConfig::Bearer {
            token_command: None,
        } => push("token", "kept in the keychain".to_owned()),
        AuthConfig::None => {}
    }
    if let Some(i) = learned("issuer") {
        push("issuer", i);
    }
    out
}

fn store_error(e: companion_store::config_file::StoreError) -> ApiError {
    let kind = if e.is_managed_refusal() {
        ErrorKind::Managed
    } else if e.is_config_error() {
        ErrorKind::Invalid
    } else {
        ErrorKind::Failed
    };
    ApiError::new(kind, e.to_string())
}

fn broker_error(e: companion_broker::BrokerError) -> ApiError {
    use companion_broker::ErrorKind as K;
    let kind = match e.kind {
        K::UnknownServer => ErrorKind::NotFound,
        K::Keychain => ErrorKind::Keychain,
        K::Transient => ErrorKind::Network,
        K::Config => ErrorKind::Invalid,
        _ => ErrorKind::Failed,
    };
    ApiError::new(kind, e.message)
}
