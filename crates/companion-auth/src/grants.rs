//! Grants without a browser: client credentials (RFC 6749 §4.4, with `private_key_jwt` per
//! RFC 7523 §2.2) and enterprise-managed authorization (ID-JAG: an RFC 8693 token exchange at
//! the identity provider, then an RFC 7523 JWT bearer grant at the authorization server).

use companion_core::oauth::token::{self, ClientAuth, TokenResponse, MAX_TOKEN_RESPONSE_BYTES};
use companion_core::secret::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::AuthError;
use crate::http::Http;

/// How long a client assertion is valid.
const ASSERTION_LIFETIME_S: u64 = 300;

/// Signing algorithms for `private_key_jwt` (the config's own type).
pub use companion_core::config::SigningAlg;

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// Signs a client assertion: `iss` = `sub` = the client id, `aud` = the authorization server's
/// issuer (as the MCP client credentials extension specifies), `kid` in the header when given.
pub fn client_assertion(
    client_id: &str,
    audience: &str,
    pem: &Secret,
    alg: SigningAlg,
    key_id: Option<&str>,
) -> Result<Secret, AuthError> {
    let (key, algorithm) = encoding_key(pem, alg)?;
    let now = crate::now_unix();
    let claims = AssertionClaims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        iat: now,
        exp: now + ASSERTION_LIFETIME_S,
        jti: companion_core::oauth::pkce::random_token(crate::random()),
    };
    let mut header = Header::new(algorithm);
    header.typ = Some("JWT".to_owned());
    header.kid = key_id.map(str::to_owned);
    // jsonwebtoken's errors describe the key's kind, never its bytes.
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Secret::new)
        .map_err(|e| AuthError::Assertion(format!("cannot sign with the private key: {e}")))
}

fn encoding_key(pem: &Secret, alg: SigningAlg) -> Result<(EncodingKey, Algorithm), AuthError> {
    let (key, algorithm) = match alg {
        SigningAlg::Es256 => (
            EncodingKey::from_ec_pem(pem.expose().as_bytes()),
            Algorithm::ES256,
        ),
        SigningAlg::Rs256 => (
            EncodingKey::from_rsa_pem(pem.expose().as_bytes()),
            Algorithm::RS256,
        ),
    };
    let key = key.map_err(|e| {
        AuthError::Assertion(format!(
            "the private key is not a PKCS#8 PEM key for {algorithm:?}: {e}"
        ))
    })?;
    Ok((key, algorithm))
}

/// Checks that `pem` is a private key that can sign client assertions, by signing one: with
/// `alg` when given, else with whichever of ES256 and RS256 the key is for. Returns the
/// algorithm. The error says what the text is instead (never the text itself).
pub fn check_signing_key(pem: &Secret, alg: Option<SigningAlg>) -> Result<SigningAlg, KeyProblem> {
    let text = pem.expose();
    let signs = |a: SigningAlg| client_assertion("check", "check", pem, a, None).is_ok();
    let candidates = match alg {
        Some(a) => vec![a],
        None => vec![SigningAlg::Es256, SigningAlg::Rs256],
    };
    if let Some(a) = candidates.into_iter().find(|a| signs(*a)) {
        return Ok(a);
    }
    let label = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"));
    Err(match (label, alg) {
        (None, _) => KeyProblem::NotPem,
        (Some("ENCRYPTED PRIVATE KEY"), _) => KeyProblem::Encrypted,
        (Some(l), _) if l.contains("PUBLIC KEY") || l.contains("CERTIFICATE") => {
            KeyProblem::NotPrivate(l.to_owned())
        }
        (Some("EC PRIVATE KEY"), _) => KeyProblem::NotPkcs8,
        (Some(_), Some(a)) if signs(other(a)) => KeyProblem::WrongAlg {
            asked: a,
            actual: other(a),
        },
        (Some(l), _) => KeyProblem::Unsupported(l.to_owned()),
    })
}

fn other(a: SigningAlg) -> SigningAlg {
    match a {
        SigningAlg::Es256 => SigningAlg::Rs256,
        SigningAlg::Rs256 => SigningAlg::Es256,
    }
}

/// Why a private key cannot sign client assertions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// No PEM block at all.
    #[error("is not a PEM file (no -----BEGIN ... ----- line)")]
    NotPem,
    /// A password-protected key.
    #[error("holds an encrypted private key, which MCP Companion cannot unlock")]
    Encrypted,
    /// A public key or a certificate.
    #[error("holds a {0}, not a private key")]
    NotPrivate(String),
    /// A SEC1 (`EC PRIVATE KEY`) key.
    #[error(
        "holds an EC key in SEC1 form (BEGIN EC PRIVATE KEY); PKCS#8 (BEGIN PRIVATE KEY) is needed"
    )]
    NotPkcs8,
    /// A key of the other algorithm.
    #[error("holds a key for {}, not {}", actual.as_str(), asked.as_str())]
    WrongAlg {
        /// The algorithm asked for.
        asked: SigningAlg,
        /// The one the key is for.
        actual: SigningAlg,
    },
    /// Anything else (another curve, Ed25519, a damaged key).
    #[error("holds a {0} that is neither a P-256 (ES256) nor an RSA (RS256) private key")]
    Unsupported(String),
}

/// POSTs a token request and parses the answer.
pub async fn request_token(
    http: &Http,
    step: &'static str,
    endpoint: &str,
    params: &[(&str, &str)],
    auth: &ClientAuth,
) -> Result<TokenResponse, AuthError> {
    let req = token::token_request(params, auth);
    let resp = http
        .post_form(
            step,
            endpoint,
            &req.body,
            req.authorization.as_ref(),
            MAX_TOKEN_RESPONSE_BYTES,
        )
        .await?;
    token::parse_token_response(resp.status, &resp.body).map_err(|source| AuthError::Token {
        url: endpoint.to_owned(),
        source,
    })
}

/// Inputs of the ID-JAG exchange at the identity provider.
#[derive(Debug, Clone)]
pub struct IdJagInputs {
    /// The IdP's token endpoint.
    pub idp_token_endpoint: String,
    /// The user's ID token from the IdP.
    pub id_token: Secret,
    /// Our client id at the IdP, if it wants one.
    pub idp_client_id: Option<String>,
}

/// RFC 8693 exchange of an ID token for an Identity Assertion JWT Authorization Grant.
pub async fn exchange_for_id_jag(
    http: &Http,
    inputs: &IdJagInputs,
    audience: &str,
    resource: Option<&str>,
) -> Result<Secret, AuthError> {
    let mut params = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id-jag",
        ),
        ("audience", audience),
        ("subject_token", inputs.id_token.expose()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
    ];
    if let Some(r) = resource {
        params.push(("resource", r));
    }
    if let Some(c) = &inputs.idp_client_id {
        params.push(("client_id", c));
    }
    let req = token::token_request(
        &params,
        &ClientAuth::None {
            client_id: String::new(),
        },
    );
    // `ClientAuth::None` appends `client_id=`; the exchange's own client_id (if any) is above.
    let body = Secret::new(req.body.expose().trim_end_matches("&client_id=").to_owned());
    let resp = http
        .post_form(
            "identity provider token exchange",
            &inputs.idp_token_endpoint,
            &body,
            None,
            MAX_TOKEN_RESPONSE_BYTES,
        )
        .await?;
    let t = token::parse_token_response(resp.status, &resp.body).map_err(|source| {
        AuthError::Token {
            url: inputs.idp_token_endpoint.clone(),
            source,
        }
    })?;
    Ok(t.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 key generated for this test only.
    const EC_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRYCvNioZBpZLzxnt
C6Y5hgG9qganLminUh0rUMGexyKhRANCAAT6W8mTl9zMQcmUmVhhghf3LPbt4eAZ
YHE3ELVUIJlxj9ByoGtn9+XvP2ZIFzyplENUL+Iu9I03P6xZk0Yk0jmk
-----END PRIVATE KEY-----
";

    #[test]
    fn signs_an_es256_assertion_with_the_right_claims() {
        let jwt = client_assertion(
            "conformance-test-client",
            "http://localhost:9",
            &Secret::new(EC_PEM),
            SigningAlg::Es256,
            Some("k-1"),
        )
        .unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        use base64::Engine;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], "conformance-test-client");
        assert_eq!(claims["sub"], "conformance-test-client");
        assert_eq!(claims["aud"], "http://localhost:9");
        assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
        let header: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[0])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "k-1");
    }

    #[test]
    fn a_bad_key_is_a_clear_error() {
        let e = client_assertion("c", "a", &Secret::new("not a key"), SigningAlg::Es256, None)
            .unwrap_err();
        assert!(e.to_string().contains("PKCS#8"), "{e}");
        assert_eq!(SigningAlg::parse("es256"), Some(SigningAlg::Es256));
        assert_eq!(SigningAlg::parse("HS256"), None);
    }

    #[test]
    fn keys_are_checked_by_signing_and_problems_are_named() {
        let ec = Secret::new(EC_PEM);
        assert_eq!(check_signing_key(&ec, None), Ok(SigningAlg::Es256));
        assert_eq!(
            check_signing_key(&ec, Some(SigningAlg::Es256)),
            Ok(SigningAlg::Es256)
        );
        assert_eq!(
            check_signing_key(&ec, Some(SigningAlg::Rs256)),
            Err(KeyProblem::WrongAlg {
                asked: SigningAlg::Rs256,
                actual: SigningAlg::Es256
            })
        );
        let p = |t: &str| check_signing_key(&Secret::new(t), None).unwrap_err();
        assert_eq!(p("hello"), KeyProblem::NotPem);
        assert_eq!(
            p("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
            KeyProblem::Encrypted
        );
        assert_eq!(
            p("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
            KeyProblem::NotPkcs8
        );
        assert!(matches!(
            p("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            KeyProblem::NotPrivate(_)
        ));
        let damaged = EC_PEM.replace("RYCv", "AAAA");
        let e = p(&damaged);
        assert!(matches!(e, KeyProblem::Unsupported(_)), "{e:?}");
        assert!(!e.to_string().contains("AAAA"), "never the key's text");
    }
}
