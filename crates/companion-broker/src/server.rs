//! The broker: the one owner of every token for the user.
//!
//! Each server has a slot with two locks. A short `std` mutex guards what is known (the token
//! set, its generation, the state); an async `flight` mutex is held for the whole of any refresh
//! or sign-in, so N callers that find the token expired wait for one refresh and all receive
//! its result (single flight, deduplicated by generation). A bridge that reports a rejected
//! token names the generation it used: if a newer one exists, it simply gets that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use companion_auth::{
    AuthError, AuthSettings, AuthorizeMode, Authorizer, Http, Timeline, TokenSet,
};
use companion_core::config::{AuthConfig, ServerConfig};
use companion_core::oauth::challenge::{self, BearerChallenge};
use companion_core::oauth::registration::{client_auth, Registration};
use companion_core::oauth::token::token_request;
use companion_core::secret::Secret;
use companion_store::ConfigStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::broadcast;

use crate::endpoint::{peer_is, Bound};
use crate::protocol::{
    BrokerError, ErrorKind, Event, Op, RecentEvent, Reply, Request, Response, ServerStatus, State,
    PROTOCOL_VERSION, RECENT_EVENTS,
};
use crate::vault::Vault;

/// Longest backoff between refresh retries after transient failures.
const MAX_BACKOFF_S: u64 = 60;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How the broker is set up.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// The user's config file.
    pub config: ConfigStore,
    /// Keychain and state file.
    pub vault: Vault,
    /// "daemon" or "tray".
    pub host: String,
    /// How often the refresh loop looks at expiries (and detects a wake from sleep).
    pub tick: Duration,
    /// How long a keychain call may take. A locked keychain may be showing the user an unlock
    /// prompt, or (with no desktop to show it on) never answer at all.
    pub keychain_timeout: Duration,
}

#[derive(Debug, Default)]
struct Known {
    loaded: bool,
    tokens: Option<TokenSet>,
    generation: u64,
    state: Option<State>,
    error: Option<String>,
    step_up: Option<Vec<String>>,
    retry_at: u64,
    backoff: u64,
    refreshed_at: Option<u64>,
    recent: std::collections::VecDeque<RecentEvent>,
    /// When a bridge was last told to have the person sign in (events at most once a minute).
    waiting_since: u64,
}

#[derive(Debug, Default)]
struct Slot {
    flight: tokio::sync::Mutex<()>,
    known: Mutex<Known>,
}

impl Slot {
    fn with<R>(&self, f: impl FnOnce(&mut Known) -> R) -> R {
        match self.known.lock() {
            Ok(mut k) => f(&mut k),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

#[derive(Debug)]
struct Inner {
    opts: BrokerOptions,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    events: broadcast::Sender<Event>,
    /// Connected bridges per server: connections that asked for a token, until they close.
    bridges: Mutex<HashMap<String, u32>>,
    /// Sign-ins waiting for an `mcp-companion://oauth/callback` link from the app.
    app_redirects: Arc<companion_auth::AppRedirects>,
}

/// The broker. Cheap to clone; every clone is the same broker.
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

fn token_reply(t: &TokenSet, generation: u64) -> Reply {
    Reply::Token {
        access_token: t.access_token.expose().to_owned(),
        expires_at: t.expiry.expires_at,
        generation,
    }
}

fn fresh(t: &TokenSet, min_ttl: u64) -> bool {
    !t.expiry.needs_refresh(now(), min_ttl) && t.expiry.remaining(now()) != Some(0)
}

fn keychain_err(e: companion_store::keychain::KeychainError) -> BrokerError {
    BrokerError::new(ErrorKind::Keychain, e.to_string())
}

impl BrokerOptions {
    /// The user's broker: their config file and state file, secrets in the OS keychain under
    /// this build's namespace (`MCP_COMPANION_KEYCHAIN_NAMESPACE` overrides it, for tests).
    pub fn for_user(host: &str) -> Result<Self, String> {
        use companion_store::keychain::{OsKeychain, RawStore};
        let paths = companion_store::Paths::for_user().map_err(|e| e.to_string())?;
        let keychain = OsKeychain::for_user();
        tracing::info!(service = keychain.service(), "using the OS keychain");
        let raw: Box<dyn RawStore> = Box::new(keychain);
        Ok(Self {
            config: ConfigStore::new(&paths),
            vault: Vault::new(
                raw,
                companion_store::state_file::StateStore::at(paths.state_file()),
            ),
            host: host.to_owned(),
            tick: Duration::from_secs(15),
            keychain_timeout: Duration::from_secs(30),
        })
    }
}

/// Binds the user's endpoint and serves until the process ends. Returns at once, with
/// `Ok(false)`, when another broker already serves the user.
pub async fn serve_for_user(opts: BrokerOptions) -> Result<bool, crate::EndpointError> {
    let bound = match crate::Endpoint::for_user().bind().await {
        Ok(b) => b,
        Err(crate::EndpointError::AlreadyRunning(p)) => {
            tracing::info!(socket = %p.display(), "a broker is already running; leaving it to serve");
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    Broker::new(opts).serve(bound).await;
    Ok(true)
}

impl Broker {
    /// A broker with these options. Nothing runs until [`Broker::serve`].
    pub fn new(opts: BrokerOptions) -> Self {
        let (events, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                opts,
                slots: Mutex::default(),
                events,
                bridges: Mutex::default(),
                app_redirects: companion_auth::AppRedirects::new(),
            }),
        }
    }

    /// Status events, for an in-process subscriber such as the tray.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn slot(&self, server: &str) -> Arc<Slot> {
        let mut slots = match self.inner.slots.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        slots.entry(server.to_owned()).or_default().clone()
    }

    fn emit(&self, server: &str, state: State, message: Option<String>) {
        let note = match (&message, state) {
            (Some(m), _) => Some(m.clone()),
            (None, State::NeedsSignIn) => Some("needs sign-in".to_owned()),
            (None, State::SignedIn) => Some("signed in".to_owned()),
            (None, _) => None,
        };
        if let Some(message) = note {
            self.slot(server).with(|k| {
                if k.recent.len() == RECENT_EVENTS {
                    k.recent.pop_front();
                }
                k.recent.push_back(RecentEvent {
                    at: now(),
                    state,
                    message,
                });
            });
        }
        let _ = self.inner.events.send(Event {
            server: server.to_owned(),
            state,
            message,
        });
        let vault = self.inner.opts.vault.clone();
        let (server, label) = (server.to_owned(), format!("{state:?}"));
        tokio::task::spawn_blocking(move || vault.save_status(&server, &label));
    }

    fn server(&self, name: &str) -> Result<ServerConfig, BrokerError> {
        let loaded = self
            .inner
            .opts
            .config
            .load()
            .map_err(|e| BrokerError::new(ErrorKind::Config, e.to_string()))?;
        loaded.config.get(name).cloned().ok_or_else(|| {
            let hint = companion_core::suggest::did_you_mean(name, loaded.config.names())
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            BrokerError::new(
                ErrorKind::UnknownServer,
                format!("no server called {name:?}{hint}"),
            )
        })
    }

    fn settings(&self, name: &str, headless: bool) -> Result<AuthSettings, BrokerError> {
        let s = self.server(name)?;
        let AuthConfig::OAuth(o) = &s.auth else {
            return Err(BrokerError::new(
                ErrorKind::NotOAuth,
                format!(
                    "{name} uses auth mode {:?}: there is nothing to sign in to",
                    s.auth.mode_name()
                ),
            ));
        };
        let mut a = AuthSettings::new(s.url.to_string());
        a.client_id.clone_from(&o.client_id);
        a.scopes.clone_from(&o.scopes);
        a.extra_authorize_params
            .clone_from(&o.extra_authorize_params);
        a.resource = o.resource.clone();
        a.client_metadata_url.clone_from(&o.client_metadata_url);
        a.profile = o.profile;
        a.redirect = o.redirect;
        a.app_redirects = Some(self.inner.app_redirects.clone());
        a.mode = if headless {
            AuthorizeMode::Headless
        } else {
            AuthorizeMode::Browser
        };
        Ok(a)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Vault) -> T + Send + 'static,
    ) -> Result<T, BrokerError> {
        let vault = self.inner.opts.vault.clone();
        let limit = self.inner.opts.keychain_timeout;
        match tokio::time::timeout(limit, tokio::task::spawn_blocking(move || f(vault))).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BrokerError::new(ErrorKind::Keychain, format!("keychain task failed: {e}"))),
            Err(_) => Err(keychain_err(companion_store::keychain::KeychainError::Locked { service: companion_store::keychain::platform_name(), how: "It did not answer within the time limit: it is probably locked and waiting for you to unlock it." })),
        }
    }

    async fn ensure_loaded(&self, server: &str, slot: &Slot) -> Result<(), BrokerError> {
        if slot.with(|k| k.loaded) {
            return Ok(());
        }
        let name = server.to_owned();
        let tokens = self
            .blocking(move |v| v.load_tokens(&name))
            .await?
            .map_err(keychain_err)?;
        slot.with(|k| {
            if !k.loaded {
                k.loaded = true;
                k.tokens = tokens;
                k.generation += 1;
            }
        });
        Ok(())
    }

    /// Answers one request.
    pub async fn handle(&self, op: Op) -> Result<Reply, BrokerError> {
        match op {
            Op::Hello => Ok(Reply::Hello {
                version: PROTOCOL_VERSION,
                pid: std::process::id(),
                host: self.inner.opts.host.clone(),
            }),
            Op::GetToken { server, min_ttl } => {
                let r = self.get_token(&server, min_ttl).await;
                if matches!(&r, Err(e) if e.kind == ErrorKind::NeedsSignIn) {
                    self.bridge_waits(&server);
                }
                r
            }
            Op::ReportRejected {
                server,
                generation,
                status,
                www_authenticate,
            } => {
                self.report_rejected(&server, generation, status, &www_authenticate)
                    .await
            }
            Op::SignIn { server, headless } => self.sign_in(&server, headless).await,
            Op::SignOut { server } => self.sign_out(&server).await,
            Op::Status => self.status().await,
            Op::Forget { server } => self.forget(&server).await,
            Op::Callback { url } => self
                .inner
                .app_redirects
                .deliver(&url)
                .map(|()| Reply::Done {
                    done: "delivered to the waiting sign-in".to_owned(),
                })
                .map_err(|e| BrokerError::new(ErrorKind::BadRequest, e.to_string())),
            Op::Subscribe => Err(BrokerError::new(
                ErrorKind::BadRequest,
                "subscribe is handled by the connection",
            )),
        }
    }

    /// A valid access token with at least `min_ttl` seconds left.
    pub async fn get_token(&self, server: &str, min_ttl: u64) -> Result<Reply, BrokerError> {
        let slot = self.slot(server);
        if let Some(r) = slot.with(|k| {
            k.tokens
                .as_ref()
                .filter(|t| k.loaded && k.step_up.is_none() && fresh(t, min_ttl))
                .map(|t| token_reply(t, k.generation))
        }) {
            return Ok(r);
        }
        let command = self.token_command(server)?;
        let machine = if command.is_some() {
            None
        } else {
            self.client_credentials(server).await?
        };
        if machine.is_none() && command.is_none() {
            self.settings(server, false)?;
        }
        let _flight = slot.flight.lock().await;
        self.ensure_loaded(server, &slot).await?;
        // Whoever held the flight before us may have refreshed already.
        if let Some(r) = slot.with(|k| {
            k.tokens
                .as_ref()
                .filter(|t| fresh(t, min_ttl))
                .map(|t| token_reply(t, k.generation))
        }) {
            return Ok(r);
        }
        if let Some(cmd) = command {
            return self.command_token_locked(server, &slot, &cmd).await;
        }
        if let Some(settings) = machine {
            return self.machine_grant_locked(server, &slot, settings).await;
        }
        self.refresh_locked(server, &slot).await
    }

    /// For a server in `client_credentials` mode: the settings of its grant, with the client
    /// secret or private key from the keychain. `None` for other modes.
    async fn client_credentials(&self, name: &str) -> Result<Option<AuthSettings>, BrokerError> {
        use companion_core::config::ClientAuthMethod;
        use companion_store::keychain::accounts;
        let s = self.server(name)?;
        let AuthConfig::ClientCredentials(cc) = &s.auth else {
            return Ok(None);
        };
        let method = cc.token_endpoint_auth_method;
        let (account, what, flag) = match method {
            ClientAuthMethod::PrivateKeyJwt => (
                accounts::private_key(name),
                "private key",
                "--private-key FILE",
            ),
            _ => (
                accounts::client_secret(name),
                "client secret",
                "--client-secret",
            ),
        };
        let stored = self
            .blocking(move |v| v.secret(&account))
            .await?
            .map_err(keychain_err)?
            .ok_or_else(|| {
                BrokerError::new(
                    ErrorKind::AuthFailed,
                    format!(
                        "{name} has no {what} in the keychain: store it with \
                         `mcp-companion secret set {name} {flag}`"
                    ),
                )
            })?;
        let mut a = AuthSettings::new(s.url.to_string());
        a.scopes.clone_from(&cc.scopes);
        a.profile = cc.profile;
        a.grant = match method {
            ClientAuthMethod::PrivateKeyJwt => {
                // The key was checked when it was stored; check again (it may predate a
                // `key_alg` in the config) so a mismatch names the fix, not a signing error.
                let alg = companion_auth::grants::check_signing_key(&stored, cc.key_alg).map_err(
                    |p| {
                        BrokerError::new(
                            ErrorKind::AuthFailed,
                            format!(
                                "the private key of {name} in the keychain {p}: store another \
                                 with `mcp-companion secret set {name} --private-key FILE`"
                            ),
                        )
                    },
                )?;
                companion_auth::Grant::PrivateKeyJwt {
                    client_id: cc.client_id.clone(),
                    key_pem: stored,
                    alg,
                    key_id: cc.key_id.clone(),
                }
            }
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                companion_auth::Grant::ClientSecret {
                    client_id: cc.client_id.clone(),
                    secret: stored,
                    post: method == ClientAuthMethod::ClientSecretPost,
                }
            }
        };
        Ok(Some(a))
    }

    /// Discovery and registration remembered for `server` (off the async threads).
    async fn load_client(
        &self,
        server: &str,
    ) -> Result<
        (
            Option<companion_auth::discovery::Discovery>,
            Option<Registration>,
        ),
        BrokerError,
    > {
        let name = server.to_owned();
        self.blocking(move |v| v.load_client(&name))
            .await?
            .map_err(keychain_err)
    }

    /// Records a failed sign-in or grant (state, event for the tray) and turns it into the
    /// error for the caller, with what the user can do.
    fn auth_failed(&self, server: &str, slot: &Slot, e: &AuthError) -> BrokerError {
        let msg = e
            .hint()
            .map_or_else(|| e.to_string(), |h| format!("{e}. {h}"));
        slot.with(|k| {
            k.state = Some(State::Error);
            k.error = Some(msg.clone());
        });
        self.emit(server, State::Error, Some(msg.clone()));
        BrokerError::new(
            if e.is_transient() {
                ErrorKind::Transient
            } else {
                ErrorKind::AuthFailed
            },
            msg,
        )
    }

    /// Makes `t` the server's current token: a new generation, state signed in, errors and
    /// backoff cleared (a pending step-up stays pending), and an event for the tray. Returns the
    /// reply for the caller.
    fn install(&self, server: &str, slot: &Slot, t: &TokenSet) -> Reply {
        let reply = slot.with(|k| {
            k.loaded = true;
            k.tokens = Some(t.clone());
            k.generation += 1;
            k.state = Some(State::SignedIn);
            k.error = None;
            k.backoff = 0;
            k.retry_at = 0;
            k.refreshed_at = Some(now());
            k.waiting_since = 0;
            token_reply(t, k.generation)
        });
        self.emit(server, State::SignedIn, None);
        reply
    }

    /// For a bearer server whose token a command prints: the command.
    fn token_command(&self, name: &str) -> Result<Option<String>, BrokerError> {
        Ok(match self.server(name)?.auth {
            AuthConfig::Bearer {
                token_command: Some(c),
            } => Some(c),
            _ => None,
        })
    }

    /// Runs a server's token command and caches what it prints (in memory only) until the
    /// token expires: its JWT `exp`, or five minutes for an opaque token.
    async fn command_token_locked(
        &self,
        server: &str,
        slot: &Slot,
        command: &str,
    ) -> Result<Reply, BrokerError> {
        let fail = |why: String| {
            BrokerError::new(
                ErrorKind::AuthFailed,
                format!("the token command of {server} ({command}) {why}"),
            )
        };
        let mut cmd = if cfg!(windows) {
            let mut c = tokio::process::Command::new("cmd");
            c.arg("/C").arg(command);
            c
        } else {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(command);
            c
        };
        cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .map_err(|_| fail("did not finish within 60 s".to_owned()))?
            .map_err(|e| fail(format!("could not be started: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(fail(format!(
                "failed ({}): {}",
                out.status,
                err.lines().last().unwrap_or_default()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(token) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(fail("printed no token".to_owned()));
        };
        let expires_at = companion_core::oauth::token::jwt_expiry(token).unwrap_or(now() + 300);
        let t = TokenSet {
            access_token: Secret::new(token),
            refresh_token: None,
            expiry: companion_core::oauth::token::Expiry {
                obtained_at: now(),
                expires_at: Some(expires_at),
            },
            scopes: None,
            issuer: String::new(),
        };
        Ok(self.install(server, slot, &t))
    }

    /// Runs the client credentials grant (there is no refresh token: a new grant replaces an
    /// expiring token), holding the slot's flight lock.
    async fn machine_grant_locked(
        &self,
        server: &str,
        slot: &Slot,
        settings: AuthSettings,
    ) -> Result<Reply, BrokerError> {
        let url = settings.server_url.clone();
        let (discovery, _) = self.load_client(server).await?;
        let http = http()?;
        let mut a = Authorizer::new(settings, http);
        let challenge = match discovery {
            Some(d) => {
                a = a.with_discovery(d);
                (401, None)
            }
            None => unauthorized_challenge(&url).await,
        };
        let t = match a.on_challenge(challenge.0, challenge.1, None).await {
            Ok(t) => t.clone(),
            Err(e) => return Err(self.auth_failed(server, slot, &e)),
        };
        let (name, saved, disc) = (server.to_owned(), t.clone(), a.discovery().cloned());
        self.blocking(move |v| {
            v.save_tokens(&name, &saved).map_err(|e| e.to_string())?;
            v.save_client(&name, disc.as_ref(), None, true)
        })
        .await?
        .map_err(|e| BrokerError::new(ErrorKind::Keychain, e))?;
        Ok(self.install(server, slot, &t))
    }

    /// Refreshes while holding the slot's flight lock.
    async fn refresh_locked(&self, server: &str, slot: &Slot) -> Result<Reply, BrokerError> {
        let Some(current) = slot.with(|k| k.tokens.clone()) else {
            return Err(BrokerError::needs_sign_in(server));
        };
        if current.refresh_token.is_none() {
            slot.with(|k| k.state = Some(State::NeedsSignIn));
            return Err(BrokerError::new(
                ErrorKind::NeedsSignIn,
                format!(
                    "Your session with {server} has ended and cannot be renewed. {}",
                    BrokerError::needs_sign_in(server).message
                ),
            ));
        }
        let (retry_at, still_valid) =
            slot.with(|k| (k.retry_at, current.expiry.remaining(now()) != Some(0)));
        if retry_at > now() {
            return if still_valid {
                Ok(slot.with(|k| token_reply(&current, k.generation)))
            } else {
                Err(BrokerError::new(
                    ErrorKind::Transient,
                    format!(
                        "{server}'s authorization server is unavailable; retrying in {} s",
                        retry_at - now()
                    ),
                ))
            };
        }
        let settings = self.settings(server, false)?;
        let configured_id = settings.client_id.clone();
        let (discovery, registration) = self.load_client(server).await?;
        let Some(discovery) = discovery else {
            return Err(BrokerError::needs_sign_in(server));
        };
        let registration = match configured_id {
            Some(id) => Some(self.configured_registration(server, id).await?),
            None => registration,
        };
        let Some(registration) = registration else {
            return Err(BrokerError::needs_sign_in(server));
        };
        let http = http()?;
        let mut a = Authorizer::new(settings, http)
            .with_discovery(discovery)
            .with_registration(registration)
            .with_token(current.clone());
        match a.refresh().await {
            Ok(()) => {
                let Some(t) = a.token().cloned() else {
                    return Err(BrokerError::new(
                        ErrorKind::AuthFailed,
                        "the refresh returned no token",
                    ));
                };
                let (name, saved) = (server.to_owned(), t.clone());
                self.blocking(move |v| v.save_tokens(&name, &saved))
                    .await?
                    .map_err(keychain_err)?;
                tracing::info!(server, "token refreshed");
                Ok(self.install(server, slot, &t))
            }
            Err(AuthError::Token { source, .. }) if source.is_invalid_grant() => {
                // The grant is gone (revoked, expired, or a refresh token replayed): only a
                // person can fix that. Forget the dead tokens so nobody retries them.
                tracing::warn!(
                    server,
                    "refresh rejected with invalid_grant: sign-in needed"
                );
                let name = server.to_owned();
                let _ = self.blocking(move |v| v.delete_tokens(&name)).await;
                slot.with(|k| {
                    k.tokens = None;
                    k.generation += 1;
                    k.state = Some(State::NeedsSignIn);
                    k.error = Some(source.to_string());
                });
                self.emit(
                    server,
                    State::NeedsSignIn,
                    Some(format!("{server}: the sign-in expired or was revoked")),
                );
                Err(BrokerError::needs_sign_in(server))
            }
            Err(e) if e.is_transient() => {
                let (backoff, valid) = slot.with(|k| {
                    k.backoff = (k.backoff * 2).clamp(1, MAX_BACKOFF_S);
                    k.retry_at = now() + k.backoff;
                    k.error = Some(e.to_string());
                    (k.backoff, current.expiry.remaining(now()) != Some(0))
                });
                tracing::warn!(server, error = %e, backoff, "refresh failed; keeping the refresh token and retrying later");
                if valid {
                    Ok(slot.with(|k| token_reply(&current, k.generation)))
                } else {
                    Err(BrokerError::new(
                        ErrorKind::Transient,
                        format!("{e}; retrying in {backoff} s"),
                    ))
                }
            }
            Err(e) => {
                slot.with(|k| {
                    k.state = Some(State::Error);
                    k.error = Some(e.to_string());
                });
                self.emit(server, State::Error, Some(e.to_string()));
                Err(BrokerError::new(ErrorKind::AuthFailed, e.to_string()))
            }
        }
    }

    async fn configured_registration(
        &self,
        server: &str,
        client_id: String,
    ) -> Result<Registration, BrokerError> {
        let name = server.to_owned();
        let secret = self
            .blocking(move |v| v.client_secret(&name))
            .await?
            .map_err(keychain_err)?;
        Ok(Registration {
            client_id,
            client_secret: secret,
            token_endpoint_auth_method: None,
        })
    }

    /// A server rejected a token.
    pub async fn report_rejected(
        &self,
        server: &str,
        generation: u64,
        status: u16,
        challenges: &[String],
    ) -> Result<Reply, BrokerError> {
        let slot = self.slot(server);
        if self.token_command(server)?.is_none() && self.client_credentials(server).await?.is_none()
        {
            self.settings(server, false)?;
        }
        let _flight = slot.flight.lock().await;
        self.ensure_loaded(server, &slot).await?;
        let refs: Vec<&str> = challenges.iter().map(String::as_str).collect();
        let ch = challenge::bearer(&refs);
        if status == 403
            && ch
                .as_ref()
                .is_some_and(BearerChallenge::is_insufficient_scope)
        {
            let scopes = ch.and_then(|c| c.scope).unwrap_or_default();
            let wanted = scopes.join(" ");
            slot.with(|k| {
                k.step_up = Some(scopes);
                k.state = Some(State::StepUpRequired);
            });
            let message = format!("{server} asks for scope {wanted}");
            self.emit(server, State::StepUpRequired, Some(message.clone()));
            return Err(BrokerError::new(ErrorKind::StepUpRequired, format!("{message}: approve it from the MCP Companion tray menu, or run `mcp-companion login {server}`")));
        }
        // Someone already replaced the rejected token: hand out the new one.
        if let Some(r) = slot.with(|k| {
            k.tokens
                .as_ref()
                .filter(|_| k.generation != generation)
                .map(|t| token_reply(t, k.generation))
        }) {
            return Ok(r);
        }
        // The current token was rejected: drop it and refresh (or, for a machine client, grant
        // again).
        slot.with(|k| {
            if let Some(t) = k.tokens.as_mut() {
                t.expiry.expires_at = Some(0);
            }
        });
        if let Some(cmd) = self.token_command(server)? {
            return self.command_token_locked(server, &slot, &cmd).await;
        }
        if let Some(settings) = self.client_credentials(server).await? {
            return self.machine_grant_locked(server, &slot, settings).await;
        }
        self.refresh_locked(server, &slot).await
    }

    /// Signs in: a person is present (CLI `login`, tray click).
    pub async fn sign_in(&self, server: &str, headless: bool) -> Result<Reply, BrokerError> {
        let mut settings = self.settings(server, headless)?;
        if settings.client_id.is_some() {
            // A pre-registered confidential client: its secret is in the keychain.
            let name = server.to_owned();
            settings.client_secret = self
                .blocking(move |v| v.client_secret(&name))
                .await?
                .map_err(keychain_err)?;
        }
        let configured_client = settings.client_id.is_some();
        let slot = self.slot(server);
        let before = slot.with(|k| k.generation);
        let _flight = slot.flight.lock().await;
        // Several sign-in requests at once (two clicks, a click and a `login`) open one browser
        // tab: whoever waited for the first one gets its result.
        if slot.with(|k| {
            k.generation != before && k.state == Some(State::SignedIn) && k.tokens.is_some()
        }) {
            return Ok(Reply::Done {
                done: format!("signed in to {server}"),
            });
        }
        self.ensure_loaded(server, &slot).await?;
        let url = settings.server_url.clone();
        let (discovery, registration) = self.load_client(server).await?;
        let http = http()?;
        let step_up = slot.with(|k| k.step_up.clone());
        let (status, challenge) = match &step_up {
            Some(scopes) => (
                403,
                Some(BearerChallenge {
                    error: Some("insufficient_scope".into()),
                    scope: Some(scopes.clone()),
                    ..Default::default()
                }),
            ),
            None => unauthorized_challenge(&url).await,
        };
        let mut a = Authorizer::new(settings, http);
        if let Some(d) = discovery {
            a = a.with_discovery(d);
        }
        if let Some(r) = registration.filter(|_| !configured_client) {
            a = a.with_registration(r);
        }
        if step_up.is_some() {
            if let Some(t) = slot.with(|k| k.tokens.clone()) {
                a = a.with_token(t);
            }
        }
        tracing::info!(server, headless, "signing in");
        let t = match a.on_challenge(status, challenge, None).await {
            Ok(t) => t.clone(),
            Err(e) => return Err(self.auth_failed(server, &slot, &e)),
        };
        let (name, saved) = (server.to_owned(), t.clone());
        let (disc, reg) = (a.discovery().cloned(), a.registration().cloned());
        self.blocking(move |v| {
            v.save_tokens(&name, &saved).map_err(|e| e.to_string())?;
            v.save_client(&name, disc.as_ref(), reg.as_ref(), configured_client)
        })
        .await?
        .map_err(|e| BrokerError::new(ErrorKind::Keychain, e))?;
        slot.with(|k| k.step_up = None);
        self.install(server, &slot, &t);
        Ok(Reply::Done {
            done: format!(
                "signed in to {server}{}",
                t.scopes
                    .as_ref()
                    .map(|s| format!(" with scope {}", s.join(" ")))
                    .unwrap_or_default()
            ),
        })
    }

    /// Revokes (RFC 7009, where supported) and forgets the tokens.
    pub async fn sign_out(&self, server: &str) -> Result<Reply, BrokerError> {
        let configured = self.settings(server, false)?.client_id;
        let slot = self.slot(server);
        let _flight = slot.flight.lock().await;
        self.ensure_loaded(server, &slot).await?;
        let tokens = slot.with(|k| k.tokens.clone());
        let (discovery, registration) = self.load_client(server).await?;
        let registration = match configured {
            Some(id) => Some(self.configured_registration(server, id).await?),
            None => registration,
        };
        let mut revoked = 0;
        if let (Some(t), Some(d), Some(reg)) = (&tokens, &discovery, &registration) {
            if let Some(endpoint) = &d.server.revocation_endpoint {
                let auth = client_auth(reg, &d.server);
                if let Ok(http) = http() {
                    let mut pairs: Vec<(&Secret, &str)> = Vec::new();
                    if let Some(r) = &t.refresh_token {
                        pairs.push((r, "refresh_token"));
                    }
                    pairs.push((&t.access_token, "access_token"));
                    for (token, hint) in pairs {
                        let req = token_request(
                            &[("token", token.expose()), ("token_type_hint", hint)],
                            &auth,
                        );
                        match http
                            .post_form(
                                "revocation",
                                endpoint,
                                &req.body,
                                req.authorization.as_ref(),
                                64 * 1024,
                            )
                            .await
                        {
                            Ok(r) if r.status == 200 => revoked += 1,
                            Ok(r) => {
                                tracing::warn!(server, status = r.status, "revocation refused")
                            }
                            Err(e) => tracing::warn!(server, error = %e, "revocation failed"),
                        }
                    }
                }
            }
        }
        let name = server.to_owned();
        self.blocking(move |v| v.delete_tokens(&name))
            .await?
            .map_err(keychain_err)?;
        slot.with(|k| {
            k.tokens = None;
            k.generation += 1;
            k.state = Some(State::NeedsSignIn);
            k.step_up = None;
            k.error = None;
        });
        self.emit(server, State::NeedsSignIn, None);
        Ok(Reply::Done {
            done: if revoked > 0 {
                format!("signed out of {server}; the server revoked the tokens")
            } else {
                format!("signed out of {server}; tokens forgotten")
            },
        })
    }

    /// Every configured server's state.
    pub async fn status(&self) -> Result<Reply, BrokerError> {
        let loaded = self
            .inner
            .opts
            .config
            .load()
            .map_err(|e| BrokerError::new(ErrorKind::Config, e.to_string()))?;
        let mut servers = Vec::new();
        for s in &loaded.config.servers {
            let name = s.name.as_str();
            let mut st = ServerStatus {
                name: name.to_owned(),
                url: s.url.to_string(),
                auth: s.auth.mode_name().to_owned(),
                state: State::NotRequired,
                expires_in: None,
                scopes: None,
                issuer: None,
                error: None,
                refreshed_at: None,
                bridges: self.bridges(name),
                recent: Vec::new(),
            };
            if matches!(
                s.auth,
                AuthConfig::Bearer {
                    token_command: None
                }
            ) {
                let name = name.to_owned();
                let token = self
                    .blocking(move |v| {
                        v.secret(&companion_store::keychain::accounts::bearer(&name))
                    })
                    .await
                    .and_then(|r| r.map_err(keychain_err));
                match token {
                    Ok(Some(t)) => match companion_core::oauth::token::jwt_expiry(t.expose()) {
                        Some(exp) if exp <= now() => {
                            st.state = State::Error;
                            st.error = Some(companion_core::oauth::token::expired_bearer(
                                s.name.as_str(),
                            ));
                        }
                        Some(exp) => {
                            st.expires_in = Some(exp - now());
                            st.state = if exp - now() < 24 * 3600 {
                                State::Expiring
                            } else {
                                State::SignedIn
                            };
                        }
                        None => st.state = State::SignedIn,
                    },
                    Ok(None) => {
                        st.state = State::Error;
                        st.error = Some(format!("no bearer token in the keychain; store one with `mcp-companion secret set {} --bearer`", s.name));
                    }
                    Err(e) => {
                        st.state = State::Error;
                        st.error = Some(e.message);
                    }
                }
            } else if matches!(s.auth, AuthConfig::ClientCredentials(_)) {
                let slot = self.slot(name);
                if self.ensure_loaded(name, &slot).await.is_ok() {
                    slot.with(|k| {
                        st.state = match (&k.tokens, k.state) {
                            (_, Some(State::Error)) => State::Error,
                            (Some(t), _) if t.expiry.remaining(now()) != Some(0) => State::SignedIn,
                            _ => State::NotRequired,
                        };
                        st.expires_in = k.tokens.as_ref().and_then(|t| t.expiry.remaining(now()));
                        st.error.clone_from(&k.error);
                    });
                }
            } else if matches!(s.auth, AuthConfig::OAuth(_)) {
                let slot = self.slot(name);
                if let Err(e) = self.ensure_loaded(name, &slot).await {
                    st.state = State::Error;
                    st.error = Some(e.message);
                } else {
                    slot.with(|k| {
                        st.state = match (&k.tokens, k.state) {
                            (_, Some(State::StepUpRequired)) => State::StepUpRequired,
                            (None, Some(State::Error)) => State::Error,
                            (None, _) => State::NeedsSignIn,
                            (Some(t), _)
                                if t.expiry.remaining(now()) == Some(0)
                                    && t.refresh_token.is_none() =>
                            {
                                State::NeedsSignIn
                            }
                            (Some(t), _)
                                if t.expiry.needs_refresh(now(), 0)
                                    && t.refresh_token.is_none() =>
                            {
                                State::Expiring
                            }
                            (Some(_), _) => State::SignedIn,
                        };
                        if let Some(t) = &k.tokens {
                            st.expires_in = t.expiry.remaining(now());
                            st.scopes.clone_from(&t.scopes);
                            st.issuer = Some(t.issuer.clone()).filter(|i| !i.is_empty());
                        }
                        st.error.clone_from(&k.error);
                    });
                }
            }
            self.slot(name).with(|k| {
                st.refreshed_at = k.tokens.as_ref().and(k.refreshed_at);
                st.recent = k.recent.iter().cloned().collect();
            });
            servers.push(st);
        }
        Ok(Reply::Status { servers })
    }

    /// A bridge asked for a token and was told to have the person sign in: an event for the
    /// tray (which notifies once per episode), at most once a minute per server.
    fn bridge_waits(&self, server: &str) {
        let due = self.slot(server).with(|k| {
            let due = now().saturating_sub(k.waiting_since) >= 60;
            if due {
                k.waiting_since = now();
            }
            due
        });
        if due {
            self.emit(
                server,
                State::NeedsSignIn,
                Some("an MCP client is waiting for a sign-in".to_owned()),
            );
        }
    }

    /// Drops `server`'s token from memory and the keychain, without revoking it.
    pub async fn forget(&self, server: &str) -> Result<Reply, BrokerError> {
        self.server(server)?;
        let slot = self.slot(server);
        let _flight = slot.flight.lock().await;
        let name = server.to_owned();
        self.blocking(move |v| v.delete_tokens(&name))
            .await?
            .map_err(keychain_err)?;
        slot.with(|k| {
            k.loaded = true;
            k.tokens = None;
            k.generation += 1;
            k.state = None;
            k.error = None;
            k.step_up = None;
        });
        Ok(Reply::Done {
            done: format!("forgot {server}'s cached token"),
        })
    }

    fn bridges(&self, server: &str) -> u32 {
        match self.inner.bridges.lock() {
            Ok(b) => b.get(server).copied().unwrap_or(0),
            Err(p) => p.into_inner().get(server).copied().unwrap_or(0),
        }
    }

    fn count_bridge(&self, server: &str, delta: i32) {
        let mut b = match self.inner.bridges.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let n = b.entry(server.to_owned()).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            b.remove(server);
        }
    }

    fn clear_backoff(&self) {
        if let Ok(slots) = self.inner.slots.lock() {
            for slot in slots.values() {
                slot.with(|k| k.retry_at = 0);
            }
        }
    }

    /// Refreshes tokens that are about to expire. Also run after a wake from sleep.
    async fn refresh_due(&self) {
        let slots: Vec<(String, Arc<Slot>)> = match self.inner.slots.lock() {
            Ok(s) => s.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => return,
        };
        for (server, slot) in slots {
            let due = slot.with(|k| {
                k.tokens
                    .as_ref()
                    .is_some_and(|t| t.refresh_token.is_some() && t.expiry.needs_refresh(now(), 0))
                    && k.retry_at <= now()
            });
            if due {
                let _flight = slot.flight.lock().await;
                let still_due = slot.with(|k| {
                    k.tokens
                        .as_ref()
                        .is_some_and(|t| t.expiry.needs_refresh(now(), 0))
                });
                if still_due {
                    let _ = self.refresh_locked(&server, &slot).await;
                }
            }
        }
    }

    /// Serves the socket until the process ends.
    pub async fn serve(self, bound: Bound) {
        let refresher = self.clone();
        let tick = self.inner.opts.tick;
        tokio::spawn(async move {
            let (mut wall, mut mono) = (SystemTime::now(), Instant::now());
            let mut route = local_route();
            loop {
                tokio::time::sleep(tick).await;
                let slept = SystemTime::now().duration_since(wall).unwrap_or_default();
                let woke = slept > mono.elapsed() + Duration::from_secs(30);
                if woke {
                    tracing::info!(
                        asleep_s = (slept - mono.elapsed()).as_secs(),
                        "the machine woke up; checking tokens"
                    );
                }
                let now_route = local_route();
                let moved = now_route != route;
                if moved {
                    tracing::info!("the network changed; checking tokens");
                    route = now_route;
                }
                if woke || moved {
                    // Earlier failures were likely the network: retry now, not after the backoff.
                    refresher.clear_backoff();
                }
                (wall, mono) = (SystemTime::now(), Instant::now());
                refresher.refresh_due().await;
            }
        });
        tracing::info!(socket = %bound.socket.display(), host = %self.inner.opts.host, "broker listening");
        loop {
            let Ok((stream, _)) = bound.listener.accept().await else {
                continue;
            };
            if !peer_is(&stream, bound.uid) {
                tracing::warn!("refused a connection from another user");
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move { me.connection(stream).await });
        }
    }

    async fn connection(self, stream: UnixStream) {
        let mut bridge = BridgeGuard {
            broker: self.clone(),
            servers: std::collections::HashSet::new(),
        };
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let req: Request = match serde_json::from_str(&line) {
                Ok(r) => r,
                Err(e) => {
                    let resp = Response {
                        id: 0,
                        ok: None,
                        err: Some(BrokerError::new(
                            ErrorKind::BadRequest,
                            format!("not a broker request: {e}"),
                        )),
                    };
                    if write(&mut w, &resp).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if req.v != PROTOCOL_VERSION {
                let resp = Response { id: req.id, ok: None, err: Some(BrokerError::new(ErrorKind::BadRequest, format!("unsupported_version: this broker speaks protocol {PROTOCOL_VERSION}, the client {}; update MCP Companion", req.v))) };
                let _ = write(&mut w, &resp).await;
                continue;
            }
            if matches!(req.op, Op::Subscribe) {
                let mut rx = self.subscribe();
                let ack = Response {
                    id: req.id,
                    ok: Some(Reply::Done {
                        done: "subscribed".into(),
                    }),
                    err: None,
                };
                if write(&mut w, &ack).await.is_err() {
                    return;
                }
                while let Ok(ev) = rx.recv().await {
                    let Ok(mut line) = serde_json::to_vec(&ev) else {
                        continue;
                    };
                    line.push(b'\n');
                    if w.write_all(&line).await.is_err() {
                        return;
                    }
                }
                return;
            }
            if let Op::GetToken { server, .. } = &req.op {
                if bridge.servers.insert(server.clone()) {
                    self.count_bridge(server, 1);
                }
            }
            let result = self.handle(req.op).await;
            let resp = match result {
                Ok(ok) => Response {
                    id: req.id,
                    ok: Some(ok),
                    err: None,
                },
                Err(err) => Response {
                    id: req.id,
                    ok: None,
                    err: Some(err),
                },
            };
            if write(&mut w, &resp).await.is_err() {
                return;
            }
        }
    }
}

/// Counts a connection as a bridge of each server it asked a token for, until it closes.
struct BridgeGuard {
    broker: Broker,
    servers: std::collections::HashSet<String>,
}

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        for s in &self.servers {
            self.broker.count_bridge(s, -1);
        }
    }
}

async fn write(w: &mut tokio::net::unix::OwnedWriteHalf, resp: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await
}

/// The local address the default route would use: it changes when the machine joins another
/// network (Wi-Fi to Ethernet, VPN up or down). No packet is sent: connecting a UDP socket only
/// picks a route.
fn local_route() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    s.connect(("192.0.2.1", 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// An HTTP client for one OAuth operation (its own timeline).
fn http() -> Result<Http, BrokerError> {
    Http::new(Timeline::new()).map_err(|e| BrokerError::new(ErrorKind::AuthFailed, e.to_string()))
}

/// Asks the server without a token, to learn its challenge (where its metadata is, which scope).
async fn unauthorized_challenge(url: &str) -> (u16, Option<BearerChallenge>) {
    let Ok(client) = companion_auth::tls::reqwest_builder(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
    else {
        return (401, None);
    };
    let body = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-companion","version":"0"}}}"#;
    match client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
    {
        Ok(r) if r.status().as_u16() == 401 || r.status().as_u16() == 403 => (
            r.status().as_u16(),
            companion_auth::http::bearer_challenge(r.headers()),
        ),
        _ => (401, None),
    }
}
