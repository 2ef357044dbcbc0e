//! The authorizer: given a 401 or 403 from an MCP server, obtain a token that works.
//!
//! It keeps what it learned (discovery, registration, the current token) so a step-up or a
//! refresh does not start from scratch, and it bounds authorization attempts so a server that
//! keeps refusing cannot make it loop.

use std::time::Duration;

use companion_core::config::ResourceSetting;
use companion_core::oauth::authorize::{
    self, AuthorizationRequest, CallbackError, CallbackExpectation,
};
use companion_core::oauth::challenge::BearerChallenge;
use companion_core::oauth::pkce::{random_token, Pkce};
use companion_core::oauth::profile::{Profile, RequestShape};
use companion_core::oauth::registration::{self, Registration};
use companion_core::oauth::scope::{self, ScopeInputs};
use companion_core::oauth::server_metadata::require_pkce_s256;
use companion_core::oauth::token::{ClientAuth, Expiry, TokenResponse};
use companion_core::secret::Secret;
use url::Url;

use crate::discovery::{self, Discovery};
use crate::error::AuthError;
use crate::grants::{self, IdJagInputs, SigningAlg};
use crate::http::{location, Http};
use crate::loopback::Listener;

/// At most this many authorizations per authorizer (MCP: retry "no more than a few times").
pub const MAX_AUTHORIZATIONS: u32 = 3;
const HEADLESS_HOPS: usize = 20;

/// How the authorization step reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeMode {
    /// Open the system browser.
    Browser,
    /// Follow the authorization redirects ourselves, only to our own loopback listener (tests,
    /// and servers that authorize without a person).
    Headless,
}

/// Which grant obtains tokens.
#[derive(Debug, Clone)]
pub enum Grant {
    /// Authorization code with PKCE: a person signs in.
    AuthorizationCode,
    /// Client credentials with a secret (Basic or body).
    ClientSecret {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: Secret,
        /// `true` for `client_secret_post`.
        post: bool,
    },
    /// Client credentials with a signed assertion (`private_key_jwt`).
    PrivateKeyJwt {
        /// The client id.
        client_id: String,
        /// PKCS#8 PEM private key.
        key_pem: Secret,
        /// Signing algorithm.
        alg: SigningAlg,
        /// The `kid` of the assertion's header, if the server needs one.
        key_id: Option<String>,
    },
    /// Enterprise-managed authorization (ID-JAG), then a JWT bearer grant with a client secret.
    IdJag {
        /// Our client id at the authorization server.
        client_id: String,
        /// Our client secret there.
        client_secret: Secret,
        /// The identity provider side.
        idp: IdJagInputs,
    },
}

/// Everything the authorizer needs to know about a server.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The MCP server URL, as configured.
    pub server_url: String,
    /// The grant.
    pub grant: Grant,
    /// A pre-registered client id (authorization code grant).
    pub client_id: Option<String>,
    /// Its secret, if confidential.
    pub client_secret: Option<Secret>,
    /// A Client ID Metadata Document URL.
    pub client_metadata_url: Option<String>,
    /// Scopes to request instead of the advertised ones.
    pub scopes: Option<Vec<String>>,
    /// Extra authorization parameters.
    pub extra_authorize_params: Vec<(String, String)>,
    /// The RFC 8707 resource setting.
    pub resource: ResourceSetting,
    /// Browser or headless.
    pub mode: AuthorizeMode,
    /// Allow headless authorization against non-loopback servers (tests only).
    pub insecure_test_mode: bool,
    /// How long to wait for the browser.
    pub callback_timeout: Duration,
    /// The provider profile; `None` detects it from the issuer.
    pub profile: Option<Profile>,
    /// Where the browser comes back.
    pub redirect: companion_core::config::Redirect,
    /// Where app-scheme redirects arrive (the broker's registry); needed for
    /// [`Redirect::App`](companion_core::config::Redirect::App).
    pub app_redirects: Option<std::sync::Arc<crate::AppRedirects>>,
}

/// Where this sign-in's callback arrives.
enum Receiver {
    Loopback(Listener),
    App(std::sync::Arc<crate::AppRedirects>),
}

type Wait = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, AuthError>> + Send>>;

impl AuthSettings {
    /// Defaults for `server_url`: authorization code in the browser, everything discovered.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            grant: Grant::AuthorizationCode,
            client_id: None,
            client_secret: None,
            client_metadata_url: None,
            scopes: None,
            extra_authorize_params: Vec::new(),
            resource: ResourceSetting::Default,
            mode: AuthorizeMode::Browser,
            insecure_test_mode: false,
            callback_timeout: Duration::from_secs(300),
            profile: None,
            redirect: companion_core::config::Redirect::Loopback,
            app_redirects: None,
        }
    }
}

/// A token and what is known about it.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, if any.
    pub refresh_token: Option<Secret>,
    /// When it was obtained and expires.
    pub expiry: Expiry,
    /// Scopes granted (or requested, when the server did not say).
    pub scopes: Option<Vec<String>>,
    /// The authorization server that issued it.
    pub issuer: String,
}

/// Obtains and renews tokens for one server.
#[derive(Debug)]
pub struct Authorizer {
    settings: AuthSettings,
    http: Http,
    discovery: Option<Discovery>,
    registration: Option<Registration>,
    token: Option<TokenSet>,
    authorizations: u32,
}

impl Authorizer {
    /// A fresh authorizer.
    pub fn new(settings: AuthSettings, http: Http) -> Self {
        Self {
            settings,
            http,
            discovery: None,
            registration: None,
            token: None,
            authorizations: 0,
        }
    }

    /// The current token.
    pub fn token(&self) -> Option<&TokenSet> {
        self.token.as_ref()
    }

    /// What discovery learned, once it ran.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// The client registration in use, once there is one (to persist it).
    pub fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }

    /// Starts from a registration obtained earlier (for the same issuer).
    pub fn with_registration(mut self, reg: Registration) -> Self {
        self.registration = Some(reg);
        self
    }

    /// Starts from a token obtained earlier (to refresh it).
    pub fn with_token(mut self, t: TokenSet) -> Self {
        self.token = Some(t);
        self
    }

    /// The HTTP client (and its timeline).
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// Starts from an earlier discovery (for the same server).
    pub fn with_discovery(mut self, d: Discovery) -> Self {
        self.discovery = Some(d);
        self
    }

    /// How many authorizations were run.
    pub fn authorizations(&self) -> u32 {
        self.authorizations
    }

    /// Reacts to a 401 or 403 from the MCP server: returns a new token to retry with, or an
    /// error saying why there will be none.
    pub async fn on_challenge(
        &mut self,
        status: u16,
        challenge: Option<BearerChallenge>,
        protocol_version: Option<&str>,
    ) -> Result<&TokenSet, AuthError> {
        let tl = self.http.timeline().clone();
        let challenge_scopes = challenge.as_ref().and_then(|c| c.scope.clone());
        if status == 403
            && challenge
                .as_ref()
                .is_some_and(BearerChallenge::is_insufficient_scope)
        {
            // A token that already holds every scope the server asks for was refused anyway:
            // another sign-in cannot help.
            if let (Some(token), Some(needed)) = (&self.token, &challenge_scopes) {
                let granted = token.scopes.clone().unwrap_or_default();
                if needed.iter().all(|s| granted.contains(s)) {
                    return Err(AuthError::StepUpExhausted {
                        scopes: needed.join(" "),
                        attempts: self.authorizations,
                    });
                }
            }
            tl.note(
                "step-up",
                format!(
                    "the server asks for scope {}",
                    challenge_scopes
                        .as_deref()
                        .map(scope::join)
                        .unwrap_or_default()
                ),
            );
        } else if status == 401
            && self
                .token
                .as_ref()
                .is_some_and(|t| t.refresh_token.is_some())
            && self.discovery.is_some()
        {
            match self.refresh().await {
                Ok(()) => return self.current(),
                Err(e) => tl.note("refresh", format!("refresh failed ({e}); signing in again")),
            }
        }
        if self.authorizations >= MAX_AUTHORIZATIONS {
            return Err(AuthError::StepUpExhausted {
                scopes: challenge_scopes
                    .as_deref()
                    .map(scope::join)
                    .unwrap_or_default(),
                attempts: self.authorizations,
            });
        }
        if self.discovery.is_none() {
            self.discovery = Some(
                discovery::discover(
                    &self.http,
                    &self.settings.server_url,
                    challenge.as_ref(),
                    protocol_version,
                )
                .await?,
            );
        }
        self.authorizations += 1;
        let response = match self.settings.grant.clone() {
            Grant::AuthorizationCode => {
                self.authorization_code(challenge_scopes.as_deref()).await?
            }
            Grant::ClientSecret {
                client_id,
                secret,
                post,
            } => {
                let auth = if post {
                    ClientAuth::Post { client_id, secret }
                } else {
                    ClientAuth::Basic { client_id, secret }
                };
                self.client_credentials(&auth, challenge_scopes.as_deref())
                    .await?
            }
            Grant::PrivateKeyJwt {
                client_id,
                key_pem,
                alg,
                key_id,
            } => {
                let issuer = self.discovered()?.server.issuer.clone();
                let assertion = grants::client_assertion(
                    &client_id,
                    &issuer,
                    &key_pem,
                    alg,
                    key_id.as_deref(),
                )?;
                self.client_credentials(
                    &ClientAuth::PrivateKeyJwt {
                        client_id,
                        assertion,
                    },
                    challenge_scopes.as_deref(),
                )
                .await?
            }
            Grant::IdJag {
                client_id,
                client_secret,
                idp,
            } => self.id_jag(&client_id, client_secret, &idp).await?,
        };
        self.store(response, None);
        self.current()
    }

    fn current(&self) -> Result<&TokenSet, AuthError> {
        self.token
            .as_ref()
            .ok_or_else(|| AuthError::Config("no token was obtained".to_owned()))
    }

    fn discovered(&self) -> Result<&Discovery, AuthError> {
        self.discovery
            .as_ref()
            .ok_or_else(|| AuthError::Config("discovery has not run".to_owned()))
    }

    /// The provider profile in use: configured, else detected from the issuer.
    pub fn profile(&self) -> Profile {
        self.settings.profile.unwrap_or_else(|| {
            self.discovery
                .as_ref()
                .map_or(Profile::Generic, |d| Profile::detect(&d.server.issuer))
        })
    }

    /// Extra parameters, resource and scopes for a request, with the profile's adjustments.
    fn shape(&self, scopes: Option<Vec<String>>) -> Result<RequestShape, AuthError> {
        let d = self.discovered()?;
        let server_resource = d.resource(&self.settings.server_url).to_owned();
        let resource = match &self.settings.resource {
            ResourceSetting::Default => Some(server_resource.clone()),
            ResourceSetting::Omit => None,
            ResourceSetting::Uri(u) => Some(u.clone()),
        };
        let mut shape = RequestShape {
            extra: self.settings.extra_authorize_params.clone(),
            resource,
            scopes,
            server_resource: Some(server_resource),
        };
        self.profile().adjust(&mut shape);
        Ok(shape)
    }

    fn resource(&self) -> Result<Option<String>, AuthError> {
        Ok(self.shape(None)?.resource)
    }

    fn store(&mut self, t: TokenResponse, requested: Option<Vec<String>>) {
        let issuer = self
            .discovery
            .as_ref()
            .map(|d| d.server.issuer.clone())
            .unwrap_or_default();
        // Keep the old refresh token when a refresh returns none (RFC 6749 §6).
        let refresh = t
            .refresh_token
            .or_else(|| self.token.as_ref().and_then(|o| o.refresh_token.clone()));
        self.http.timeline().note(
            "token",
            format!(
                "access token obtained{}{}{}",
                t.expires_in
                    .map(|e| format!(", expires in {e} s"))
                    .unwrap_or_default(),
                if refresh.is_some() {
                    ", with a refresh token"
                } else {
                    ""
                },
                t.scope
                    .as_ref()
                    .map(|s| format!(", scope {}", s.join(" ")))
                    .unwrap_or_default()
            ),
        );
        self.token = Some(TokenSet {
            access_token: t.access_token,
            refresh_token: refresh,
            expiry: Expiry::new(crate::now_unix(), t.expires_in),
            scopes: t
                .scope
                .or(requested)
                .or_else(|| self.token.as_ref().and_then(|o| o.scopes.clone())),
            issuer,
        });
    }

    /// Uses the refresh token. On failure the old token set is kept (a transient error must
    /// not lose the refresh token).
    pub async fn refresh(&mut self) -> Result<(), AuthError> {
        let d = self.discovered()?.clone();
        let Some(refresh) = self.token.as_ref().and_then(|t| t.refresh_token.clone()) else {
            return Err(AuthError::Config("no refresh token".to_owned()));
        };
        let endpoint = d.server.token_endpoint.clone().ok_or_else(|| {
            AuthError::Config("the authorization server has no token endpoint".to_owned())
        })?;
        let resource = self.resource()?;
        let auth = self.client_auth()?;
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
        ];
        if let Some(r) = resource.as_deref() {
            params.push(("resource", r));
        }
        let t = grants::request_token(&self.http, "refresh", &endpoint, &params, &auth).await?;
        self.store(t, None);
        Ok(())
    }

    fn client_auth(&self) -> Result<ClientAuth, AuthError> {
        match &self.settings.grant {
            Grant::ClientSecret {
                client_id,
                secret,
                post: false,
            } => Ok(ClientAuth::Basic {
                client_id: client_id.clone(),
                secret: secret.clone(),
            }),
            Grant::ClientSecret {
                client_id,
                secret,
                post: true,
            } => Ok(ClientAuth::Post {
                client_id: client_id.clone(),
                secret: secret.clone(),
            }),
            _ => {
                let reg = self
                    .registration
                    .as_ref()
                    .ok_or_else(|| AuthError::Config("no client registration".to_owned()))?;
                Ok(registration::client_auth(reg, &self.discovered()?.server))
            }
        }
    }

    async fn client_credentials(
        &self,
        auth: &ClientAuth,
        challenge: Option<&[String]>,
    ) -> Result<TokenResponse, AuthError> {
        let d = self.discovered()?;
        let endpoint = d.server.token_endpoint.clone().ok_or_else(|| {
            AuthError::Config("the authorization server has no token endpoint".to_owned())
        })?;
        let scopes = scope::select(ScopeInputs {
            challenge,
            configured: self.settings.scopes.as_deref(),
            resource: d.resource_metadata.as_ref(),
            ..Default::default()
        });
        // The provider profile shapes the request as for a sign-in (Auth0's `audience`,
        // Entra's `.default` scope and no `resource`).
        let shaped = self.shape(scopes)?.client_credentials_params();
        let mut params = vec![("grant_type", "client_credentials")];
        params.extend(shaped.iter().map(|(k, v)| (*k, v.as_str())));
        grants::request_token(&self.http, "client credentials", &endpoint, &params, auth).await
    }

    async fn id_jag(
        &self,
        client_id: &str,
        client_secret: Secret,
        idp: &IdJagInputs,
    ) -> Result<TokenResponse, AuthError> {
        let d = self.discovered()?;
        let endpoint = d.server.token_endpoint.clone().ok_or_else(|| {
            AuthError::Config("the authorization server has no token endpoint".to_owned())
        })?;
        let resource = self.resource()?;
        let jag =
            grants::exchange_for_id_jag(&self.http, idp, &d.server.issuer, resource.as_deref())
                .await?;
        let params = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", jag.expose()),
        ];
        let auth = ClientAuth::Basic {
            client_id: client_id.to_owned(),
            secret: client_secret,
        };
        grants::request_token(&self.http, "JWT bearer grant", &endpoint, &params, &auth).await
    }

    async fn authorization_code(
        &mut self,
        challenge: Option<&[String]>,
    ) -> Result<TokenResponse, AuthError> {
        let d = self.discovered()?.clone();
        let tl = self.http.timeline().clone();
        require_pkce_s256(&d.server).map_err(|source| AuthError::ServerMetadata {
            url: d.issuer.clone(),
            source,
        })?;
        let previously = self.token.as_ref().and_then(|t| t.scopes.clone());
        let scopes = scope::select(ScopeInputs {
            challenge,
            configured: self.settings.scopes.as_deref(),
            previously_granted: previously.as_deref(),
            resource: d.resource_metadata.as_ref(),
            server: Some(&d.server),
        });
        let shape = self.shape(scopes)?;
        let (scopes, resource, extra) = (shape.scopes, shape.resource, shape.extra);
        let mut reregistered = false;
        loop {
            let receiver = match (self.settings.redirect, &self.settings.app_redirects) {
                (companion_core::config::Redirect::Loopback, _) => {
                    Receiver::Loopback(Listener::bind().await?)
                }
                (companion_core::config::Redirect::App, Some(r)) => Receiver::App(r.clone()),
                (companion_core::config::Redirect::App, None) => {
                    return Err(AuthError::Config(format!(
                        "this server's sign-in comes back to {}, which only the MCP Companion \
                         app receives: sign in from the tray app, or run `mcp-companion login` \
                         while it runs",
                        companion_core::deeplink::CALLBACK_URI
                    )))
                }
            };
            let redirect_uri = match &receiver {
                Receiver::Loopback(l) => l.redirect_uri(),
                Receiver::App(_) => companion_core::deeplink::CALLBACK_URI.to_owned(),
            };
            if self.registration.is_none() {
                // RFC 7591 makes `scope` optional, and servers such as oidc-provider refuse
                // resource-server scopes in it: register without, unless the server already
                // refused a scope for being outside the registration.
                let registered_scope = if reregistered {
                    scopes.as_deref()
                } else {
                    None
                };
                self.registration = Some(self.register(&d, &redirect_uri, registered_scope).await?);
            }
            let reg = self
                .registration
                .clone()
                .ok_or_else(|| AuthError::Config("no client registration".to_owned()))?;
            let auth = self.client_auth()?;
            let pkce = Pkce::from_random(crate::random());
            let state = random_token(crate::random());
            let state_key = state.clone();
            let endpoint = d.server.authorization_endpoint.clone().ok_or_else(|| {
                AuthError::Config(format!(
                    "the authorization server {} has no authorization endpoint",
                    d.issuer
                ))
            })?;
            let url = authorize::authorization_url(&AuthorizationRequest {
                endpoint: &endpoint,
                client_id: &reg.client_id,
                redirect_uri: &redirect_uri,
                state: &state,
                code_challenge: pkce.challenge(),
                scope: scopes.as_deref(),
                resource: resource.as_deref(),
                extra: &extra,
            })
            .map_err(|e| AuthError::Config(e.to_string()))?;
            tl.note(
                "authorize",
                format!(
                    "scope {}; resource {}; redirect {redirect_uri}",
                    scopes
                        .as_deref()
                        .map_or_else(|| "(none)".to_owned(), scope::join),
                    resource.as_deref().unwrap_or("(omitted)")
                ),
            );
            let issuer = d.server.issuer.clone();
            let iss_required = d.server.authorization_response_iss_parameter_supported;
            let check = move |q: &str| {
                authorize::parse_callback(
                    q,
                    CallbackExpectation {
                        state: &state,
                        issuer: &issuer,
                        iss_required,
                    },
                )
            };
            let timeout = self.settings.callback_timeout;
            let app = match &receiver {
                Receiver::App(r) => Some(r.clone()),
                Receiver::Loopback(_) => None,
            };
            let wait: Wait = match receiver {
                Receiver::Loopback(l) => Box::pin(l.wait(timeout, check)),
                Receiver::App(r) => {
                    let waiter = r.expect(&state_key);
                    Box::pin(async move {
                        let q = waiter.wait(timeout).await?;
                        check(&q).map_err(AuthError::Callback)
                    })
                }
            };
            let result = match self.settings.mode {
                AuthorizeMode::Browser => {
                    crate::browser::open_url(&url)?;
                    tl.note(
                        "authorize",
                        "opened the browser; waiting for the sign-in to finish",
                    );
                    wait.await
                }
                AuthorizeMode::Headless => {
                    self.check_headless(&endpoint)?;
                    let drive = async {
                        let arrived =
                            drive_headless(&self.http, &url, &redirect_uri, &endpoint).await?;
                        // An app-scheme redirect: no HTTP request reaches it; deliver it as the
                        // app would.
                        if let (Some(link), Some(r)) = (arrived, &app) {
                            r.deliver(&link)
                                .map_err(|e| AuthError::Headless(e.to_string()))?;
                        }
                        Ok::<(), AuthError>(())
                    };
                    let (code, driven) = tokio::join!(wait, drive);
                    match (code, driven) {
                        (Ok(c), _) => Ok(c),
                        (Err(_), Err(e)) => Err(e),
                        (Err(e), Ok(())) => Err(e),
                    }
                }
            };
            let code = match result {
                Err(AuthError::Callback(CallbackError::Denied { error, .. }))
                    if error == "invalid_scope"
                        && !reregistered
                        && d.server.registration_endpoint.is_some()
                        && self.settings.client_id.is_none() =>
                {
                    // The registration's scope was too narrow for the scope now needed:
                    // register again with the union and try once more.
                    tl.note("registration", "the server refused the wider scope for this registration; registering again");
                    self.registration = None;
                    reregistered = true;
                    continue;
                }
                other => other?,
            };
            let token_endpoint = d.server.token_endpoint.clone().ok_or_else(|| {
                AuthError::Config("the authorization server has no token endpoint".to_owned())
            })?;
            let verifier = pkce.into_verifier();
            let mut params = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier.expose()),
            ];
            if let Some(r) = resource.as_deref() {
                params.push(("resource", r));
            }
            let t =
                grants::request_token(&self.http, "code exchange", &token_endpoint, &params, &auth)
                    .await?;
            return Ok(TokenResponse {
                scope: t.scope.clone().or_else(|| scopes.clone()),
                ..t
            });
        }
    }

    fn check_headless(&self, endpoint: &str) -> Result<(), AuthError> {
        if headless_allowed(
            &self.settings.server_url,
            endpoint,
            self.settings.insecure_test_mode,
        ) {
            Ok(())
        } else {
            Err(AuthError::Config("headless authorization is only allowed for servers on this machine (or with --insecure-test-mode); use --authorize browser".to_owned()))
        }
    }

    async fn register(
        &self,
        d: &Discovery,
        redirect_uri: &str,
        scopes: Option<&[String]>,
    ) -> Result<Registration, AuthError> {
        let tl = self.http.timeline();
        if let Some(id) = &self.settings.client_id {
            tl.note(
                "registration",
                format!("using the pre-registered client id {id}"),
            );
            return Ok(Registration {
                client_id: id.clone(),
                client_secret: self.settings.client_secret.clone(),
                token_endpoint_auth_method: None,
            });
        }
        if let (true, Some(url)) = (
            d.server.client_id_metadata_document_supported,
            &self.settings.client_metadata_url,
        ) {
            tl.note(
                "registration",
                format!("using the client ID metadata document {url} as client id"),
            );
            return Ok(Registration {
                client_id: url.clone(),
                client_secret: None,
                token_endpoint_auth_method: Some("none".to_owned()),
            });
        }
        let Some(endpoint) = &d.server.registration_endpoint else {
            return Err(AuthError::NoRegistration {
                issuer: d.issuer.clone(),
                provider_hint: self.profile().registration_hint(),
            });
        };
        let body = registration::registration_body(&[redirect_uri.to_owned()], scopes);
        let resp = self
            .http
            .post_json("registration", endpoint, &body, 64 * 1024)
            .await?;
        let reg = registration::parse_registration(resp.status, &resp.body).map_err(|source| {
            AuthError::Registration {
                url: endpoint.clone(),
                source,
            }
        })?;
        tl.note(
            "registration",
            format!(
                "registered dynamically as {} ({})",
                reg.client_id,
                reg.token_endpoint_auth_method
                    .as_deref()
                    .unwrap_or("auth method not stated")
            ),
        );
        Ok(reg)
    }
}

/// Headless authorization follows redirects without a person: only for a server and an
/// authorization endpoint on this machine, unless explicitly in test mode.
fn headless_allowed(server_url: &str, endpoint: &str, insecure_test_mode: bool) -> bool {
    let loopback =
        |u: &str| Url::parse(u).is_ok_and(|u| companion_core::server_url::is_loopback(&u));
    insecure_test_mode || (loopback(server_url) && loopback(endpoint))
}

/// Plays the browser: follows the authorization server's redirects (with cookies) until they
/// reach our redirect URI, then delivers the callback to our listener (or, for an app-scheme
/// redirect, returns it for the caller to deliver). Never leaves the authorization server's
/// origin except for that final hop.
async fn drive_headless(
    http: &Http,
    start: &str,
    redirect_uri: &str,
    endpoint: &str,
) -> Result<Option<String>, AuthError> {
    let client = crate::tls::reqwest_builder(true)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(crate::http::REQUEST_TIMEOUT)
        .build()
        .map_err(|e| AuthError::Headless(e.to_string()))?;
    let as_origin = Url::parse(endpoint)
        .map(|u| u.origin())
        .map_err(|e| AuthError::Headless(e.to_string()))?;
    let mut url = start.to_owned();
    for _ in 0..HEADLESS_HOPS {
        let started = std::time::Instant::now();
        let resp = client
            .get(&url)
            .send()
            .await
            .map_err(|e| AuthError::Headless(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        http.timeline().push(crate::timeline::TimelineEvent {
            at_ms: http.timeline().elapsed_ms(),
            step: "authorize (headless)".to_owned(),
            method: Some("GET".to_owned()),
            url: Some(url.split('?').next().unwrap_or_default().to_owned()),
            status: Some(status),
            took_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
            note: String::new(),
        });
        if !(300..400).contains(&status) {
            return Err(AuthError::Headless(format!("the authorization server answered {status} at {} instead of redirecting: it wants a person (login or consent)", url.split('?').next().unwrap_or_default())));
        }
        let headers = resp.headers().clone();
        let fake = crate::http::Response {
            status,
            headers,
            body: Vec::new(),
            url: url.clone(),
        };
        let next = location(&fake, &url)
            .ok_or_else(|| AuthError::Headless("a redirect without a Location".to_owned()))?;
        if next.starts_with(redirect_uri) {
            if !next.starts_with("http") {
                return Ok(Some(next));
            }
            // Deliver the callback; the listener answers and ends the wait.
            let _ = client.get(&next).send().await;
            return Ok(None);
        }
        let next_url = Url::parse(&next).map_err(|e| AuthError::Headless(e.to_string()))?;
        if next_url.origin() != as_origin {
            return Err(AuthError::Headless(format!("the authorization server redirected to {}, which is neither itself nor our redirect URI", next_url.origin().ascii_serialization())));
        }
        url = next;
    }
    Err(AuthError::Headless(format!(
        "more than {HEADLESS_HOPS} redirects"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headless_only_on_loopback_or_in_test_mode() {
        assert!(headless_allowed(
            "http://127.0.0.1:5/mcp",
            "http://localhost:6/authorize",
            false
        ));
        assert!(!headless_allowed(
            "https://mcp.example.com/mcp",
            "http://127.0.0.1:6/authorize",
            false
        ));
        assert!(!headless_allowed(
            "http://127.0.0.1:5/mcp",
            "https://login.example.com/authorize",
            false
        ));
        assert!(headless_allowed(
            "https://mcp.example.com/mcp",
            "https://login.example.com/authorize",
            true
        ));
    }
}
