//! From [`raw`](super::raw) to [`Config`]: every rule, with the position of every problem.

use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::raw::{RawAuth, RawFile, RawServer, VersionOnly};
use super::{
    AuthConfig, ClientAuthMethod, ClientCredentialsSettings, Config, ConfigError, OAuthSettings,
    Problem, ProblemKind, Redirect, ResourceSetting, ServerConfig, SigningAlg, Transport,
    CONFIG_VERSION,
};
use crate::name::ServerName;
use crate::oauth::profile::Profile;
use crate::server_url::ServerUrl;

/// Keys that would hold a secret. They are refused with a pointer to the keychain, wherever
/// they appear.
const SECRET_KEYS: &[&str] = &[
    "client_secret",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "bearer",
    "bearer_token",
    "password",
    "api_key",
    "apikey",
    "private_key",
];

/// Authorization request parameters that the engine sets itself and a user may not override.
const RESERVED_AUTHORIZE_PARAMS: &[(&str, &str)] = &[
    (
        "response_type",
        "the engine always uses the authorization code flow",
    ),
    ("client_id", "set `client_id` in the auth table instead"),
    ("redirect_uri", "the engine picks its own loopback redirect"),
    (
        "state",
        "the engine generates a fresh state for every sign-in",
    ),
    (
        "code_challenge",
        "the engine generates PKCE for every sign-in",
    ),
    ("code_challenge_method", "the engine always uses S256"),
    ("scope", "set `scopes` in the auth table instead"),
    ("resource", "set `resource` in the auth table instead"),
];

/// Header names that the bridge manages itself.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        kind: ProblemKind,
        span: Option<Range<usize>>,
        field: Option<String>,
        message: String,
        hint: Option<String>,
    ) {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.problems.push(Problem {
            line,
            column,
            field,
            message,
            hint,
            kind,
        });
    }

    fn invalid(&mut self, span: Range<usize>, field: String, message: String) {
        self.push(ProblemKind::Invalid, Some(span), Some(field), message, None);
    }

    fn invalid_hint(&mut self, span: Range<usize>, field: String, message: String, hint: &str) {
        self.push(
            ProblemKind::Invalid,
            Some(span),
            Some(field),
            message,
            Some(hint.to_owned()),
        );
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError {
                file: self.file.to_owned(),
                problems: self.problems,
            })
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

pub(super) fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    parse_with_policy(file, text, false).map(|(c, _)| c)
}

/// Parses a file that may carry a `[policy]` table (the managed file).
pub(super) fn parse_with_policy(
    file: &str,
    text: &str,
    allow_policy: bool,
) -> Result<(Config, Option<super::managed::Policy>), ConfigError> {
    let mut cx = Ctx {
        file,
        text,
        problems: Vec::new(),
    };

    // Pass 1: the version alone.
    let version: VersionOnly = match toml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            syntax_error(&mut cx, &e);
            return cx.finish((Config::default(), None));
        }
    };
    if let Some(v) = version.version {
        let span = v.span();
        match v.get_ref() {
            toml::Value::Integer(CONFIG_VERSION) => {}
            toml::Value::Integer(n) if *n > CONFIG_VERSION => {
                cx.push(
                    ProblemKind::UnknownVersion,
                    Some(span),
                    Some("version".into()),
                    format!(
                        "this file is config version {n}, written by a newer MCP Companion; \
                         this build understands version {CONFIG_VERSION}"
                    ),
                    Some("upgrade MCP Companion; the file was left exactly as it is".to_owned()),
                );
                return cx.finish((Config::default(), None));
            }
            other => {
                cx.push(
                    ProblemKind::UnknownVersion,
                    Some(span),
                    Some("version".into()),
                    format!("unknown config version {other}; expected {CONFIG_VERSION}"),
                    Some(format!(
                        "write `version = {CONFIG_VERSION}` at the top of the file"
                    )),
                );
                return cx.finish((Config::default(), None));
            }
        }
    }

    // Pass 2: the whole file.
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            syntax_error(&mut cx, &e);
            return cx.finish((Config::default(), None));
        }
    };

    let mut servers = Vec::with_capacity(raw.servers.len());
    for (name, server) in raw.servers {
        if let Some(s) = server_config(&mut cx, name, server) {
            servers.push(s);
        }
    }
    let policy = match raw.policy {
        None => None,
        Some(p) if !allow_policy => {
            cx.invalid_hint(
                p.span(),
                "policy".to_owned(),
                "only the administrator's managed.toml may set a policy".to_owned(),
                "remove the [policy] table from this file",
            );
            None
        }
        Some(p) => {
            let p = p.into_inner();
            let mut allowed = Vec::new();
            for pat in p.allowed_server_urls.unwrap_or_default() {
                if pat.get_ref().trim().is_empty() {
                    cx.invalid(
                        pat.span(),
                        "policy.allowed_server_urls".to_owned(),
                        "a pattern cannot be empty".to_owned(),
                    );
                } else {
                    allowed.push(pat.into_inner());
                }
            }
            Some(super::managed::Policy {
                allowed_server_urls: allowed,
                allow_user_servers: p.allow_user_servers.unwrap_or(true),
            })
        }
    };
    cx.finish((
        Config {
            servers,
            managed: Vec::new(),
        },
        policy,
    ))
}

fn syntax_error(cx: &mut Ctx<'_>, e: &toml::de::Error) {
    let message = e.message().trim().to_owned();
    let span = e.span();
    // `deny_unknown_fields` names the key: point secrets at the keychain instead of listing the
    // expected fields.
    if let Some(key) = unknown_field(&message) {
        if is_secret_key(key) {
            cx.push(
                ProblemKind::Secret,
                span,
                None,
                format!("`{key}` looks like a secret, and secrets never go in this file"),
                Some(
                    "delete the line; secrets live in the OS keychain: store one with \
                     `mcp-companion secret set NAME --bearer`, `--header NAME`, \
                     `--client-secret` or `--private-key FILE`"
                        .to_owned(),
                ),
            );
            return;
        }
    }
    cx.push(ProblemKind::Syntax, span, None, message, None);
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    SECRET_KEYS.contains(&k.as_str())
}

fn server_config(
    cx: &mut Ctx<'_>,
    name: Spanned<String>,
    server: Spanned<RawServer>,
) -> Option<ServerConfig> {
    let name_span = name.span();
    let name_str = name.into_inner();
    let field = |f: &str| format!("servers.{name_str}.{f}");
    let before = cx.problems.len();

    let name = match ServerName::parse(&name_str) {
        Ok(n) => Some(n),
        Err(e) => {
            cx.invalid(name_span, format!("servers.{name_str}"), e.to_string());
            None
        }
    };

    let server = server.into_inner();
    let url = match ServerUrl::parse(server.url.get_ref()) {
        Ok(u) => Some(u),
        Err(e) => {
            cx.invalid(server.url.span(), field("url"), e.to_string());
            None
        }
    };

    let transport = match &server.transport {
        None => Transport::Auto,
        Some(t) => Transport::from_name(t.get_ref()).unwrap_or_else(|| {
            cx.invalid(
                t.span(),
                field("transport"),
                format!(
                    "unknown transport {:?}; expected one of {}",
                    t.get_ref(),
                    Transport::NAMES.join(", ")
                ),
            );
            Transport::Auto
        }),
    };

    let auth = match server.auth {
        None => AuthConfig::OAuth(OAuthSettings::default()),
        Some(a) => auth_config(cx, &field("auth"), a.into_inner()),
    };

    if cx.problems.len() > before {
        return None;
    }
    Some(ServerConfig {
        name: name?,
        url: url?,
        transport,
        auth,
    })
}

fn auth_config(cx: &mut Ctx<'_>, prefix: &str, raw: RawAuth) -> AuthConfig {
    let f = |name: &str| format!("{prefix}.{name}");
    let mode = raw.mode.as_ref().map_or("oauth", |m| m.get_ref().as_str());

    // Which fields each mode reads; any other field present is a mistake worth reporting.
    let allowed: &[&str] = match mode {
        "oauth" => &[
            "client_id",
            "scopes",
            "extra_authorize_params",
            "resource",
            "client_metadata_url",
            "profile",
            "redirect",
        ],
        "client_credentials" => &[
            "profile",
            "client_id",
            "scopes",
            "token_endpoint_auth_method",
            "key_alg",
            "key_id",
        ],
        "headers" => &["headers"],
        "bearer" => &["token_command"],
        "none" => &[],
        other => {
            let span = raw.mode.as_ref().map_or(0..0, Spanned::span);
            cx.invalid(
                span,
                f("mode"),
                format!(
                    "unknown auth mode {other:?}; expected one of {}",
                    AuthConfig::MODE_NAMES.join(", ")
                ),
            );
            return AuthConfig::None;
        }
    };
    let present: [(&str, Option<Range<usize>>); 12] = [
        ("redirect", raw.redirect.as_ref().map(Spanned::span)),
        (
            "token_command",
            raw.token_command.as_ref().map(Spanned::span),
        ),
        ("profile", raw.profile.as_ref().map(Spanned::span)),
        ("client_id", raw.client_id.as_ref().map(Spanned::span)),
        ("scopes", raw.scopes.as_ref().map(Spanned::span)),
        (
            "extra_authorize_params",
            raw.extra_authorize_params.as_ref().map(Spanned::span),
        ),
        ("resource", raw.resource.as_ref().map(Spanned::span)),
        ("headers", raw.headers.as_ref().map(Spanned::span)),
        (
            "client_metadata_url",
            raw.client_metadata_url.as_ref().map(Spanned::span),
        ),
        (
            "token_endpoint_auth_method",
            raw.token_endpoint_auth_method.as_ref().map(Spanned::span),
        ),
        ("key_alg", raw.key_alg.as_ref().map(Spanned::span)),
        ("key_id", raw.key_id.as_ref().map(Spanned::span)),
    ];
    for (name, span) in present {
        if let Some(span) = span {
            if !allowed.contains(&name) {
                cx.invalid(span, f(name), format!("is not used with mode = {mode:?}"));
            }
        }
    }

    let scopes = raw.scopes.map(|s| scopes(cx, &f("scopes"), s));
    match mode {
        "oauth" => AuthConfig::OAuth(OAuthSettings {
            client_id: raw.client_id.map(|c| client_id(cx, &f("client_id"), c)),
            scopes,
            extra_authorize_params: raw
                .extra_authorize_params
                .map(|p| authorize_params(cx, &f("extra_authorize_params"), p.into_inner()))
                .unwrap_or_default(),
            resource: raw.resource.map_or(ResourceSetting::Default, |r| {
                resource(cx, &f("resource"), r)
            }),
            client_metadata_url: raw
                .client_metadata_url
                .map(|u| client_metadata_url(cx, &f("client_metadata_url"), u)),
            profile: raw.profile.and_then(|p| profile(cx, &f("profile"), &p)),
            redirect: raw
                .redirect
                .map_or(Redirect::Loopback, |r| match r.get_ref().as_str() {
                    "loopback" => Redirect::Loopback,
                    "app" => Redirect::App,
                    other => {
                        cx.invalid(
                            r.span(),
                            f("redirect"),
                            format!(
                                "unknown redirect {other:?}; expected \"loopback\" (the default: \
                                 http://127.0.0.1 with any port) or \"app\" (the fixed {})",
                                crate::deeplink::CALLBACK_URI
                            ),
                        );
                        Redirect::Loopback
                    }
                }),
        }),
        "client_credentials" => {
            let id = match raw.client_id {
                Some(c) => client_id(cx, &f("client_id"), c),
                None => {
                    cx.push(
                        ProblemKind::Invalid,
                        None,
                        Some(f("client_id")),
                        "is required with mode = \"client_credentials\"".to_owned(),
                        None,
                    );
                    String::new()
                }
            };
            let method = match &raw.token_endpoint_auth_method {
                None => ClientAuthMethod::default(),
                Some(m) => match m.get_ref().as_str() {
                    "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
                    "client_secret_post" => ClientAuthMethod::ClientSecretPost,
                    "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
                    other => {
                        cx.invalid(
                            m.span(),
                            f("token_endpoint_auth_method"),
                            format!(
                                "unknown method {other:?}; expected client_secret_basic, \
                                 client_secret_post or private_key_jwt"
                            ),
                        );
                        ClientAuthMethod::default()
                    }
                },
            };
            let key_alg = raw.key_alg.and_then(|a| {
                let alg = SigningAlg::parse(a.get_ref());
                if alg.is_none() {
                    cx.invalid(
                        a.span(),
                        f("key_alg"),
                        format!(
                            "unknown algorithm {:?}; expected {}",
                            a.get_ref(),
                            SigningAlg::NAMES.join(" or ")
                        ),
                    );
                }
                key_only(cx, &f("key_alg"), a.span(), method);
                alg
            });
            let key_id = raw.key_id.map(|k| {
                let v = k.get_ref().trim().to_owned();
                if v.is_empty() || v.chars().any(char::is_control) {
                    cx.invalid(
                        k.span(),
                        f("key_id"),
                        "must be a non-empty key id without control characters".to_owned(),
                    );
                }
                key_only(cx, &f("key_id"), k.span(), method);
                v
            });
            AuthConfig::ClientCredentials(ClientCredentialsSettings {
                client_id: id,
                scopes,
                token_endpoint_auth_method: method,
                key_alg,
                key_id,
                profile: raw.profile.and_then(|p| profile(cx, &f("profile"), &p)),
            })
        }
        "headers" => {
            let headers = match raw.headers {
                Some(h) => header_names(cx, &f("headers"), h),
                None => {
                    cx.push(
                        ProblemKind::Invalid,
                        None,
                        Some(f("headers")),
                        "is required with mode = \"headers\": list the header names \
                         (their values are kept in the keychain)"
                            .to_owned(),
                        None,
                    );
                    Vec::new()
                }
            };
            AuthConfig::Headers { headers }
        }
        "bearer" => AuthConfig::Bearer {
            token_command: raw.token_command.map(|c| {
                let v = c.get_ref().trim().to_owned();
                if v.is_empty() {
                    cx.invalid(c.span(), f("token_command"), "cannot be empty".to_owned());
                }
                v
            }),
        },
        _ => AuthConfig::None,
    }
}

/// `key_alg` and `key_id` describe the private key of `private_key_jwt`, and nothing else.
fn key_only(cx: &mut Ctx<'_>, field: &str, span: Range<usize>, method: ClientAuthMethod) {
    if method != ClientAuthMethod::PrivateKeyJwt {
        cx.invalid_hint(
            span,
            field.to_owned(),
            format!(
                "is only used with token_endpoint_auth_method = \"private_key_jwt\" (this server \
                 uses {:?})",
                method.as_str()
            ),
            "remove it, or set token_endpoint_auth_method = \"private_key_jwt\"",
        );
    }
}

fn client_id(cx: &mut Ctx<'_>, field: &str, c: Spanned<String>) -> String {
    let v = c.get_ref().trim();
    if v.is_empty() {
        cx.invalid(c.span(), field.to_owned(), "cannot be empty".to_owned());
    }
    v.to_owned()
}

fn scopes(cx: &mut Ctx<'_>, field: &str, s: Spanned<Vec<Spanned<String>>>) -> Vec<String> {
    let mut out = Vec::new();
    for scope in s.into_inner() {
        let v = scope.get_ref();
        // RFC 6749 §3.3: scope tokens are printable ASCII without space, `"` or `\`.
        let ok = !v.is_empty()
            && v.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if ok {
            out.push(v.clone());
        } else {
            cx.invalid_hint(
                scope.span(),
                field.to_owned(),
                format!("{v:?} is not a valid scope"),
                "write each scope as its own string, e.g. scopes = [\"read\", \"write\"]",
            );
        }
    }
    out
}

fn authorize_params(
    cx: &mut Ctx<'_>,
    field: &str,
    params: IndexMap<Spanned<String>, Spanned<String>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in params {
        let key = k.get_ref().as_str();
        if is_secret_key(key) {
            cx.push(
                ProblemKind::Secret,
                Some(k.span()),
                Some(format!("{field}.{key}")),
                "looks like a secret, and secrets never go in this file".to_owned(),
                Some("store a client secret with `mcp-companion add … --client-secret`".to_owned()),
            );
            continue;
        }
        if let Some((_, why)) = RESERVED_AUTHORIZE_PARAMS.iter().find(|(r, _)| *r == key) {
            cx.invalid_hint(
                k.span(),
                format!("{field}.{key}"),
                "cannot be overridden".to_owned(),
                why,
            );
            continue;
        }
        if key.is_empty() {
            cx.invalid(
                k.span(),
                field.to_owned(),
                "parameter names cannot be empty".to_owned(),
            );
            continue;
        }
        out.push((key.to_owned(), v.into_inner()));
    }
    out
}

fn resource(cx: &mut Ctx<'_>, field: &str, r: Spanned<String>) -> ResourceSetting {
    let v = r.get_ref().trim();
    if v == "omit" {
        return ResourceSetting::Omit;
    }
    match url::Url::parse(v) {
        Ok(u) if u.fragment().is_none() => ResourceSetting::Uri(v.to_owned()),
        _ => {
            cx.invalid_hint(
                r.span(),
                field.to_owned(),
                format!("{v:?} is neither \"omit\" nor an absolute URI without a #fragment"),
                "leave it out to send the server's own resource identifier",
            );
            ResourceSetting::Default
        }
    }
}

/// A provider profile name ("auto" is `None`).
fn profile(cx: &mut Ctx<'_>, field: &str, p: &Spanned<String>) -> Option<Profile> {
    match Profile::from_name(p.get_ref()) {
        Some(profile) => profile,
        None => {
            cx.invalid(
                p.span(),
                field.to_owned(),
                format!(
                    "unknown profile {:?}; expected one of {}",
                    p.get_ref(),
                    Profile::NAMES.join(", ")
                ),
            );
            None
        }
    }
}

fn client_metadata_url(cx: &mut Ctx<'_>, field: &str, u: Spanned<String>) -> String {
    let v = u.get_ref().trim();
    // A Client ID Metadata Document is fetched by the authorization server: it must be https
    // and have a path (MCP 2025-11-25, Client ID Metadata Documents).
    let ok = url::Url::parse(v)
        .is_ok_and(|p| p.scheme() == "https" && p.path() != "/" && p.fragment().is_none());
    if !ok {
        cx.invalid(
            u.span(),
            field.to_owned(),
            format!(
                "{v:?} must be an https URL with a path, such as https://example.com/client.json"
            ),
        );
    }
    v.to_owned()
}

fn header_names(cx: &mut Ctx<'_>, field: &str, h: Spanned<Vec<Spanned<String>>>) -> Vec<String> {
    let span = h.span();
    let list = h.into_inner();
    if list.is_empty() {
        cx.invalid(
            span,
            field.to_owned(),
            "list at least one header name".to_owned(),
        );
    }
    let mut out: Vec<String> = Vec::new();
    for name in list {
        let v = name.get_ref();
        // RFC 9110 §5.1: a field name is a token.
        let token = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if v.contains(':') {
            cx.push(
                ProblemKind::Secret,
                Some(name.span()),
                Some(field.to_owned()),
                format!("{:?} looks like a header with its value; only names go here", v.split(':').next().unwrap_or_default()),
                Some("header values live in the keychain: `mcp-companion add NAME URL --header 'X-Api-Key'` asks for the value".to_owned()),
            );
        } else if !token {
            cx.invalid(
                name.span(),
                field.to_owned(),
                format!("{v:?} is not a valid header name"),
            );
        } else if RESERVED_HEADERS.contains(&v.to_ascii_lowercase().as_str()) {
            cx.invalid(
                name.span(),
                field.to_owned(),
                format!("{v:?} is managed by the bridge itself and cannot be set"),
            );
        } else if out.iter().any(|o| o.eq_ignore_ascii_case(v)) {
            cx.invalid(
                name.span(),
                field.to_owned(),
                format!("{v:?} is listed twice"),
            );
        } else {
            out.push(v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_and_column() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4)); // after the two-byte é
        assert_eq!(line_col(t, 999), (3, 2));
    }
}
