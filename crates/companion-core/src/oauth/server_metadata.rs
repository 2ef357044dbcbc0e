//! Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0): where to find it,
//! and whether to trust it.

use serde_json::Value;
use url::Url;

use super::url_util::origin_of;
use crate::server_url::is_loopback;

/// Largest metadata document we accept.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// The metadata URLs for an issuer, in the order of MCP 2025-11-25 §Authorization Server
/// Metadata Discovery. An issuer with a path gets no root fallback: the root document would
/// describe another tenant.
pub fn discovery_urls(issuer: &str) -> Vec<String> {
    let Ok(u) = Url::parse(issuer) else {
        return Vec::new();
    };
    let origin = origin_of(&u);
    let path = u.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

/// What the client uses from the metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerMetadata {
    /// `issuer`, exactly as sent.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// `registration_endpoint` (RFC 7591).
    pub registration_endpoint: Option<String>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_endpoint: Option<String>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `response_types_supported`.
    pub response_types_supported: Option<Vec<String>>,
    /// `grant_types_supported`.
    pub grant_types_supported: Option<Vec<String>>,
    /// `code_challenge_methods_supported`.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `client_id_metadata_document_supported`.
    pub client_id_metadata_document_supported: bool,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
}

impl ServerMetadata {
    /// Whether `scope` is listed in `scopes_supported`.
    pub fn supports_scope(&self, scope: &str) -> bool {
        self.scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == scope))
    }

    /// The 2025-03-26 fallback for servers without any metadata: `/authorize`, `/token` and
    /// `/register` at the MCP server's origin.
    pub fn legacy_defaults(mcp_url: &str) -> Option<Self> {
        let origin = origin_of(&Url::parse(mcp_url).ok()?);
        Some(Self {
            issuer: origin.clone(),
            authorization_endpoint: Some(format!("{origin}/authorize")),
            token_endpoint: Some(format!("{origin}/token")),
            registration_endpoint: Some(format!("{origin}/register")),
            // The 2025-03-26 spec makes PKCE S256 mandatory for such servers.
            code_challenge_methods_supported: Some(vec!["S256".to_owned()]),
            ..Self::default()
        })
    }
}

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerMetadataError {
    /// Not a JSON object.
    #[error("the authorization server metadata is not a JSON object: {0}")]
    NotJson(String),
    /// Larger than [`MAX_METADATA_BYTES`].
    #[error("the authorization server metadata is larger than {MAX_METADATA_BYTES} bytes")]
    TooLarge,
    /// No `issuer`.
    #[error("the authorization server metadata has no `issuer`")]
    NoIssuer,
    /// `issuer` is not the one the document was fetched for (RFC 8414 §3.3).
    #[error(
        "the authorization server metadata says its issuer is {found:?}, but it was fetched for \
         {expected:?}; refusing it (RFC 8414 §3.3: the two must be identical)"
    )]
    IssuerMismatch {
        /// The issuer we asked about.
        expected: String,
        /// What the document claims.
        found: String,
    },
    /// PKCE with S256 is not offered (MCP 2025-11-25 §Authorization Code Protection).
    #[error(
        "the authorization server does not offer PKCE with S256 (code_challenge_methods_supported \
         is {0}); MCP requires it, so sign-in cannot continue safely. Ask the server's \
         administrator to enable PKCE S256"
    )]
    NoPkceS256(String),
    /// A URL that must be https is not.
    #[error("{what} {url:?} is not https; only loopback addresses may use plain http")]
    Insecure {
        /// Which URL.
        what: &'static str,
        /// The URL.
        url: String,
    },
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// Parses a metadata document; optional fields that are missing or of the wrong type are
/// treated as absent.
pub fn parse(body: &[u8]) -> Result<ServerMetadata, ServerMetadataError> {
    if body.len() > MAX_METADATA_BYTES {
        return Err(ServerMetadataError::TooLarge);
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| ServerMetadataError::NotJson(e.to_string()))?;
    if !v.is_object() {
        return Err(ServerMetadataError::NotJson(
            "expected an object".to_owned(),
        ));
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(ServerMetadata {
        issuer: s("issuer").ok_or(ServerMetadataError::NoIssuer)?,
        authorization_endpoint: s("authorization_endpoint"),
        token_endpoint: s("token_endpoint"),
        registration_endpoint: s("registration_endpoint"),
        revocation_endpoint: s("revocation_endpoint"),
        scopes_supported: strings(v.get("scopes_supported")),
        response_types_supported: strings(v.get("response_types_supported")),
        grant_types_supported: strings(v.get("grant_types_supported")),
        code_challenge_methods_supported: strings(v.get("code_challenge_methods_supported")),
        token_endpoint_auth_methods_supported: strings(
            v.get("token_endpoint_auth_methods_supported"),
        ),
        client_id_metadata_document_supported: b("client_id_metadata_document_supported"),
        authorization_response_iss_parameter_supported: b(
            "authorization_response_iss_parameter_supported",
        ),
    })
}

/// How strictly to compare `issuer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerCheck {
    /// RFC 8414 §3.3: identical strings. Used whenever the issuer came from protected resource
    /// metadata, as in every current-spec flow.
    Exact,
    /// The 2025-03-26 flow without resource metadata: the document was fetched from the MCP
    /// server's own origin, and that spec defined no issuer check. Its issuer must be on the
    /// same origin, which is all that flow can establish.
    SameOrigin,
}

/// Validates the issuer and the security of every endpoint.
pub fn validate(
    meta: &ServerMetadata,
    expected_issuer: &str,
    check: IssuerCheck,
) -> Result<(), ServerMetadataError> {
    let ok = match check {
        IssuerCheck::Exact => meta.issuer == expected_issuer,
        IssuerCheck::SameOrigin => match (Url::parse(&meta.issuer), Url::parse(expected_issuer)) {
            (Ok(a), Ok(b)) => origin_of(&a) == origin_of(&b),
            _ => false,
        },
    };
    if !ok {
        return Err(ServerMetadataError::IssuerMismatch {
            expected: expected_issuer.to_owned(),
            found: meta.issuer.clone(),
        });
    }
    for (what, url) in [
        ("the issuer", Some(&meta.issuer)),
        (
            "the authorization endpoint",
            meta.authorization_endpoint.as_ref(),
        ),
        ("the token endpoint", meta.token_endpoint.as_ref()),
        (
            "the registration endpoint",
            meta.registration_endpoint.as_ref(),
        ),
        ("the revocation endpoint", meta.revocation_endpoint.as_ref()),
    ] {
        if let Some(u) = url {
            require_secure(what, u)?;
        }
    }
    Ok(())
}

/// Refuses a URL that is not https, unless it points at this machine.
pub fn require_secure(what: &'static str, url: &str) -> Result<(), ServerMetadataError> {
    match Url::parse(url) {
        Ok(u) if u.scheme() == "https" => Ok(()),
        Ok(u) if u.scheme() == "http" && is_loopback(&u) => Ok(()),
        _ => Err(ServerMetadataError::Insecure {
            what,
            url: url.to_owned(),
        }),
    }
}

/// Refuses to go on without PKCE S256. A missing list is a refusal too: the spec says to verify
/// support before proceeding, and an absent list proves nothing.
pub fn require_pkce_s256(meta: &ServerMetadata) -> Result<(), ServerMetadataError> {
    match &meta.code_challenge_methods_supported {
        Some(m) if m.iter().any(|x| x == "S256") => Ok(()),
        Some(m) => Err(ServerMetadataError::NoPkceS256(format!("{m:?}"))),
        None => Err(ServerMetadataError::NoPkceS256("absent".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_order() {
        assert_eq!(
            discovery_urls("http://localhost:45821"),
            [
                "http://localhost:45821/.well-known/oauth-authorization-server",
                "http://localhost:45821/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            discovery_urls("https://auth.example.com/tenant1/"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration"
            ]
        );
        assert!(discovery_urls("::").is_empty());
    }

    const FIXTURE: &[u8] = br#"{"issuer":"http://localhost:45821","authorization_endpoint":"http://localhost:45821/authorize",
        "token_endpoint":"http://localhost:45821/token","registration_endpoint":"http://localhost:45821/register",
        "response_types_supported":["code"],"grant_types_supported":["authorization_code","refresh_token"],
        "code_challenge_methods_supported":["S256"],"token_endpoint_auth_methods_supported":["none"]}"#;

    #[test]
    fn parses_and_validates_the_conformance_fixture() {
        let m = parse(FIXTURE).unwrap();
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("http://localhost:45821/token")
        );
        validate(&m, "http://localhost:45821", IssuerCheck::Exact).unwrap();
        require_pkce_s256(&m).unwrap();
        assert!(!m.client_id_metadata_document_supported);
    }

    #[test]
    fn issuer_compared_as_raw_strings() {
        let m = parse(FIXTURE).unwrap();
        // `url::Url` would serialise the expected issuer with a trailing slash: never compare so.
        let e = validate(&m, "http://localhost:45821/", IssuerCheck::Exact).unwrap_err();
        assert!(
            matches!(e, ServerMetadataError::IssuerMismatch { .. }),
            "{e}"
        );
        assert!(validate(&m, "http://LOCALHOST:45821", IssuerCheck::Exact).is_err());
    }

    #[test]
    fn legacy_same_origin() {
        let m = parse(br#"{"issuer":"http://localhost:5/oauth","authorization_endpoint":"http://localhost:5/oauth/authorize"}"#).unwrap();
        validate(&m, "http://localhost:5", IssuerCheck::SameOrigin).unwrap();
        assert!(validate(&m, "http://localhost:6", IssuerCheck::SameOrigin).is_err());
        assert!(validate(&m, "http://localhost:5", IssuerCheck::Exact).is_err());
    }

    #[test]
    fn pkce_is_required() {
        let mut m = parse(FIXTURE).unwrap();
        m.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert!(require_pkce_s256(&m)
            .unwrap_err()
            .to_string()
            .contains("S256"));
        m.code_challenge_methods_supported = None;
        assert!(require_pkce_s256(&m).is_err());
    }

    #[test]
    fn insecure_endpoints_are_refused() {
        let m =
            parse(br#"{"issuer":"https://as.io","token_endpoint":"http://as.io/token"}"#).unwrap();
        let e = validate(&m, "https://as.io", IssuerCheck::Exact).unwrap_err();
        assert!(e.to_string().contains("token endpoint"), "{e}");
        require_secure("x", "http://127.0.0.1:9/t").unwrap();
    }

    #[test]
    fn broken_documents() {
        assert!(matches!(
            parse(b"nope"),
            Err(ServerMetadataError::NotJson(_))
        ));
        assert!(matches!(
            parse(b"[1]"),
            Err(ServerMetadataError::NotJson(_))
        ));
        assert_eq!(parse(b"{}"), Err(ServerMetadataError::NoIssuer));
        let m = parse(br#"{"issuer":"https://a","scopes_supported":"x","code_challenge_methods_supported":[1]}"#).unwrap();
        assert_eq!(m.scopes_supported, None);
        assert_eq!(m.code_challenge_methods_supported, None);
    }

    #[test]
    fn legacy_defaults_at_origin() {
        let m = ServerMetadata::legacy_defaults("http://localhost:7/v1/mcp").unwrap();
        assert_eq!(
            m.authorization_endpoint.as_deref(),
            Some("http://localhost:7/authorize")
        );
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("http://localhost:7/token")
        );
        assert_eq!(
            m.registration_endpoint.as_deref(),
            Some("http://localhost:7/register")
        );
    }
}
