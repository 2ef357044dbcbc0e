//! Token requests and responses (RFC 6749 §4.1.3, §5, §6; RFC 6749 §4.4 client credentials;
//! RFC 8693 token exchange; RFC 7523 JWT bearer), client authentication (§2.3), and expiry math.

use serde_json::Value;
use url::form_urlencoded;

use crate::secret::Secret;

/// Largest token response we accept.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 1024 * 1024;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: `client_id` in the body.
    None {
        /// The client id.
        client_id: String,
    },
    /// HTTP Basic (`client_secret_basic`).
    Basic {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: Secret,
    },
    /// Credentials in the body (`client_secret_post`).
    Post {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: Secret,
    },
    /// A signed JWT assertion (`private_key_jwt`, RFC 7523 §2.2).
    PrivateKeyJwt {
        /// The client id.
        client_id: String,
        /// The signed assertion.
        assertion: Secret,
    },
}

impl ClientAuth {
    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::None { client_id }
            | Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }
}

/// A form-encoded token request, ready to POST.
#[derive(Debug)]
pub struct TokenRequest {
    /// `application/x-www-form-urlencoded` body. Contains secrets: never log it.
    pub body: Secret,
    /// The `Authorization` header value, for Basic client authentication.
    pub authorization: Option<Secret>,
}

/// Builds a token request from grant parameters and client authentication.
pub fn token_request(params: &[(&str, &str)], auth: &ClientAuth) -> TokenRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let mut authorization = None;
    match auth {
        ClientAuth::None { client_id } => {
            form.append_pair("client_id", client_id);
        }
        ClientAuth::Basic { client_id, secret } => {
            authorization = Some(Secret::new(basic_auth(client_id, secret.expose())));
        }
        ClientAuth::Post { client_id, secret } => {
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", secret.expose());
        }
        ClientAuth::PrivateKeyJwt {
            client_id,
            assertion,
        } => {
            form.append_pair("client_id", client_id);
            form.append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            );
            form.append_pair("client_assertion", assertion.expose());
        }
    }
    TokenRequest {
        body: Secret::new(form.finish()),
        authorization,
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(client_id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: Secret,
    /// `token_type` as sent.
    pub token_type: String,
    /// `expires_in`, in seconds.
    pub expires_in: Option<u64>,
    /// `refresh_token`.
    pub refresh_token: Option<Secret>,
    /// `scope` granted, split.
    pub scope: Option<Vec<String>>,
    /// `issued_token_type` (RFC 8693).
    pub issued_token_type: Option<String>,
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The server answered with an OAuth error (RFC 6749 §5.2).
    #[error("the token endpoint answered {status} {error}{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Server {
        /// HTTP status.
        status: u16,
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// Not a token response.
    #[error("the token endpoint answered {status} with something that is not a token response: {reason}")]
    Malformed {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        reason: String,
    },
}

impl TokenError {
    /// The OAuth `error` code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Server { error, .. } => Some(error),
            Self::Malformed { .. } => None,
        }
    }

    /// Whether retrying later may succeed: 5xx, or `temporarily_unavailable`. A refresh that
    /// fails this way keeps its refresh token.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Server { status, error, .. } => {
                *status >= 500 || error == "temporarily_unavailable"
            }
            Self::Malformed { status, .. } => *status >= 500 || *status == 429,
        }
    }

    /// Whether the grant itself is dead (`invalid_grant`): the user must sign in again.
    pub fn is_invalid_grant(&self) -> bool {
        self.code() == Some("invalid_grant")
    }
}

/// Parses a token endpoint response. Lenient on `expires_in` sent as a string (some servers do).
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, TokenError> {
    let malformed = |reason: String| TokenError::Malformed { status, reason };
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(malformed(format!(
            "larger than {MAX_TOKEN_RESPONSE_BYTES} bytes"
        )));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let preview: String = String::from_utf8_lossy(body).chars().take(120).collect();
        malformed(format!("{e}; body starts {preview:?}"))
    })?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if !(200..300).contains(&status) || v.get("error").is_some() {
        return Err(match s("error") {
            Some(error) => TokenError::Server {
                status,
                error,
                description: s("error_description"),
            },
            None => malformed("an error status without an OAuth `error`".to_owned()),
        });
    }
    let access_token = s("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("no access_token".to_owned()))?;
    let token_type = s("token_type").unwrap_or_else(|| "Bearer".to_owned());
    let is_bearer =
        token_type.eq_ignore_ascii_case("bearer") || token_type.eq_ignore_ascii_case("n_a");
    if !is_bearer {
        return Err(malformed(format!(
            "token_type {token_type:?} is not Bearer"
        )));
    }
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        token_type,
        expires_in,
        refresh_token: s("refresh_token")
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        scope: s("scope").map(|x| x.split_whitespace().map(str::to_owned).collect()),
        issued_token_type: s("issued_token_type"),
    })
}

/// The `exp` claim of a JWT, read without verifying it (only to show the user when a pasted
/// token expires; the server verifies it).
pub fn jwt_expiry(token: &str) -> Option<u64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("exp")?.as_u64()
}

/// What to tell the user once the stored bearer token of `server` has expired (`status` and
/// every request through the bridge say the same).
pub fn expired_bearer(server: &str) -> String {
    format!(
        "the stored bearer token has expired; store a new one with `mcp-companion secret set {server} --bearer`"
    )
}

/// When a token expires, from when it was obtained. Seconds since the Unix epoch, from the
/// caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// When the token was obtained.
    pub obtained_at: u64,
    /// When it expires, if the server said.
    pub expires_at: Option<u64>,
}

impl Expiry {
    /// From a response's `expires_in`.
    pub fn new(now: u64, expires_in: Option<u64>) -> Self {
        Self {
            obtained_at: now,
            expires_at: expires_in.map(|e| now.saturating_add(e)),
        }
    }

    /// Seconds left, or `None` if the server gave no lifetime.
    pub fn remaining(&self, now: u64) -> Option<u64> {
        self.expires_at.map(|e| e.saturating_sub(now))
    }

    /// How early to refresh: the smaller of 60 s and a tenth of the token's lifetime, so a
    /// token that lives 30 s is not refreshed on every request.
    pub fn refresh_margin(&self) -> u64 {
        match self.expires_at {
            Some(e) => (e.saturating_sub(self.obtained_at) / 10).min(60),
            None => 0,
        }
    }

    /// Whether to refresh now, given a caller that needs `min_remaining` seconds of validity.
    pub fn needs_refresh(&self, now: u64, min_remaining: u64) -> bool {
        match self.remaining(now) {
            Some(r) => r <= self.refresh_margin().max(min_remaining),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_token_response() {
        let t = parse_token_response(200, br#"{"access_token":"test-token-1","token_type":"Bearer","expires_in":3600,"scope":"mcp:basic mcp:write"}"#).unwrap();
        assert_eq!(t.access_token.expose(), "test-token-1");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scope.unwrap(), ["mcp:basic", "mcp:write"]);
        assert!(t.refresh_token.is_none());
        assert!(!format!("{:?}", t.access_token).contains("test-token"));
    }

    #[test]
    fn lenient_and_strict_parts() {
        let t = parse_token_response(
            200,
            br#"{"access_token":"a","token_type":"bearer","expires_in":"120","refresh_token":"r"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(120));
        assert_eq!(t.refresh_token.unwrap().expose(), "r");
        assert!(parse_token_response(200, br#"{"access_token":"a","token_type":"mac"}"#).is_err());
        assert!(parse_token_response(200, br#"{"token_type":"Bearer"}"#).is_err());
        assert!(parse_token_response(200, b"<html>").is_err());
    }

    #[test]
    fn errors_are_classified() {
        let e = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"grant revoked"}"#,
        )
        .unwrap_err();
        assert!(e.is_invalid_grant() && !e.is_transient());
        assert_eq!(
            e.to_string(),
            "the token endpoint answered 400 invalid_grant: grant revoked"
        );
        let e = parse_token_response(503, br#"{"error":"temporarily_unavailable"}"#).unwrap_err();
        assert!(e.is_transient());
        let e = parse_token_response(502, b"Bad Gateway").unwrap_err();
        assert!(e.is_transient() && e.code().is_none());
        let e = parse_token_response(400, b"{}").unwrap_err();
        assert!(!e.is_transient());
    }

    #[test]
    fn client_authentication_forms() {
        let r = token_request(
            &[("grant_type", "authorization_code"), ("code", "c")],
            &ClientAuth::None {
                client_id: "id".into(),
            },
        );
        assert_eq!(
            r.body.expose(),
            "grant_type=authorization_code&code=c&client_id=id"
        );
        assert!(r.authorization.is_none());
        let r = token_request(
            &[("grant_type", "client_credentials")],
            &ClientAuth::Basic {
                client_id: "pre-registered-client".into(),
                secret: Secret::new("pre-registered-secret"),
            },
        );
        assert_eq!(r.body.expose(), "grant_type=client_credentials");
        // base64("pre-registered-client:pre-registered-secret")
        assert_eq!(
            r.authorization.unwrap().expose(),
            "Basic cHJlLXJlZ2lzdGVyZWQtY2xpZW50OnByZS1yZWdpc3RlcmVkLXNlY3JldA=="
        );
        let r = token_request(
            &[],
            &ClientAuth::Post {
                client_id: "i d".into(),
                secret: Secret::new("s&s"),
            },
        );
        assert_eq!(r.body.expose(), "client_id=i+d&client_secret=s%26s");
        let r = token_request(
            &[],
            &ClientAuth::PrivateKeyJwt {
                client_id: "c".into(),
                assertion: Secret::new("x.y.z"),
            },
        );
        assert!(r.body.expose().contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"));
        assert_eq!(
            basic_auth("a:b", "c"),
            format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a%3Ab:c")
            )
        );
    }

    #[test]
    fn jwt_expiry_is_read_without_verification() {
        // {"alg":"HS256"}.{"sub":"x","exp":1900000000}.sig
        assert_eq!(
            jwt_expiry("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjoxOTAwMDAwMDAwfQ.c2ln"),
            Some(1_900_000_000)
        );
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(
            jwt_expiry("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
            None
        );
    }

    #[test]
    fn expiry_math() {
        let e = Expiry::new(1000, Some(3600));
        assert_eq!(e.refresh_margin(), 60);
        assert!(!e.needs_refresh(1000 + 3539, 0));
        assert!(e.needs_refresh(1000 + 3540, 0));
        assert!(
            e.needs_refresh(1000, 3600),
            "a caller needing the whole lifetime"
        );
        let short = Expiry::new(0, Some(30));
        assert_eq!(
            short.refresh_margin(),
            3,
            "a 30 s token is refreshed 3 s early, not every time"
        );
        assert!(!short.needs_refresh(10, 0));
        assert!(short.needs_refresh(27, 0));
        assert_eq!(short.remaining(100), Some(0));
        let forever = Expiry::new(0, None);
        assert!(!forever.needs_refresh(u64::MAX, 100));
    }
}
