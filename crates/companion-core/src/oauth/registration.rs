//! Client registration: dynamic (RFC 7591) and the choice of token endpoint authentication.

use serde_json::{json, Value};

use super::server_metadata::ServerMetadata;
use super::token::ClientAuth;
use crate::secret::Secret;

/// Our client's name on consent screens.
pub const CLIENT_NAME: &str = "MCP Companion";

/// The RFC 7591 registration request for a native app with loopback redirects.
pub fn registration_body(redirect_uris: &[String], scope: Option<&[String]>) -> Value {
    let mut body = json!({
        "client_name": CLIENT_NAME,
        "application_type": "native",
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if let Some(s) = scope.filter(|s| !s.is_empty()) {
        body["scope"] = json!(s.join(" "));
    }
    body
}

/// A client registration, from any source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for confidential clients.
    pub client_secret: Option<Secret>,
    /// The method the server assigned, if it said.
    pub token_endpoint_auth_method: Option<String>,
}

/// Why registration failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The server refused.
    #[error("the authorization server refused to register MCP Companion ({status} {error}{})", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// HTTP status.
        status: u16,
        /// `error`, or a summary of the body.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// Not a registration response.
    #[error("the registration endpoint answered {status} with something that is not a registration: {reason}")]
    Malformed {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        reason: String,
    },
}

/// Parses a registration response.
pub fn parse_registration(status: u16, body: &[u8]) -> Result<Registration, RegistrationError> {
    let v: Result<Value, _> = serde_json::from_slice(body);
    if !(200..300).contains(&status) {
        let (error, description) = match &v {
            Ok(v) => (
                v.get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_owned(),
                v.get("error_description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
            Err(_) => (
                String::from_utf8_lossy(body).chars().take(120).collect(),
                None,
            ),
        };
        return Err(RegistrationError::Refused {
            status,
            error,
            description,
        });
    }
    let v = v.map_err(|e| RegistrationError::Malformed {
        status,
        reason: e.to_string(),
    })?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Registration {
        client_id: s("client_id").filter(|c| !c.is_empty()).ok_or(
            RegistrationError::Malformed {
                status,
                reason: "no client_id".to_owned(),
            },
        )?,
        client_secret: s("client_secret")
            .filter(|c| !c.is_empty())
            .map(Secret::new),
        token_endpoint_auth_method: s("token_endpoint_auth_method"),
    })
}

/// Token endpoint authentication methods this client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No client authentication.
    None,
    /// HTTP Basic.
    ClientSecretBasic,
    /// Body parameters.
    ClientSecretPost,
}

/// Picks the token endpoint authentication: what the registration assigned, else what the
/// server supports for a client that has a secret (RFC 8414's default list is
/// `client_secret_basic`), else none.
pub fn choose_auth_method(reg: &Registration, server: &ServerMetadata) -> AuthMethod {
    match reg.token_endpoint_auth_method.as_deref() {
        Some("client_secret_basic") if reg.client_secret.is_some() => {
            return AuthMethod::ClientSecretBasic
        }
        Some("client_secret_post") if reg.client_secret.is_some() => {
            return AuthMethod::ClientSecretPost
        }
        Some("none") => return AuthMethod::None,
        _ => {}
    }
    if reg.client_secret.is_none() {
        return AuthMethod::None;
    }
    let default = ["client_secret_basic".to_owned()];
    let supported = server
        .token_endpoint_auth_methods_supported
        .as_deref()
        .unwrap_or(&default);
    if supported.iter().any(|m| m == "client_secret_basic") {
        AuthMethod::ClientSecretBasic
    } else if supported.iter().any(|m| m == "client_secret_post") {
        AuthMethod::ClientSecretPost
    } else {
        AuthMethod::None
    }
}

/// The token endpoint authentication for a registration at a server.
pub fn client_auth(reg: &Registration, server: &ServerMetadata) -> ClientAuth {
    let client_id = reg.client_id.clone();
    let secret = || reg.client_secret.clone().unwrap_or_else(|| Secret::new(""));
    match choose_auth_method(reg, server) {
        AuthMethod::None => ClientAuth::None { client_id },
        AuthMethod::ClientSecretBasic => ClientAuth::Basic {
            client_id,
            secret: secret(),
        },
        AuthMethod::ClientSecretPost => ClientAuth::Post {
            client_id,
            secret: secret(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_app_registration() {
        let b = registration_body(
            &["http://127.0.0.1:5/callback".into()],
            Some(&["a".into(), "b".into()]),
        );
        assert_eq!(b["application_type"], "native");
        assert_eq!(
            b["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(b["scope"], "a b");
        assert!(registration_body(&[], None).get("scope").is_none());
    }

    fn reg(method: Option<&str>, secret: bool) -> Registration {
        Registration {
            client_id: "c".into(),
            client_secret: secret.then(|| Secret::new("s")),
            token_endpoint_auth_method: method.map(str::to_owned),
        }
    }

    fn server(methods: Option<&[&str]>) -> ServerMetadata {
        ServerMetadata {
            token_endpoint_auth_methods_supported: methods
                .map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn auth_method_choice() {
        // token-endpoint-auth-* scenarios: the registration response decides.
        assert_eq!(
            choose_auth_method(
                &reg(Some("client_secret_basic"), true),
                &server(Some(&["client_secret_basic"]))
            ),
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(
            choose_auth_method(
                &reg(Some("client_secret_post"), true),
                &server(Some(&["client_secret_post"]))
            ),
            AuthMethod::ClientSecretPost
        );
        assert_eq!(
            choose_auth_method(&reg(Some("none"), false), &server(Some(&["none"]))),
            AuthMethod::None
        );
        // metadata-*: a secret but the server only supports none.
        assert_eq!(
            choose_auth_method(&reg(None, true), &server(Some(&["none"]))),
            AuthMethod::None
        );
        // pre-registration: a secret and basic supported.
        assert_eq!(
            choose_auth_method(&reg(None, true), &server(Some(&["client_secret_basic"]))),
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(
            choose_auth_method(&reg(None, true), &server(None)),
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(
            choose_auth_method(&reg(None, false), &server(None)),
            AuthMethod::None
        );
    }

    #[test]
    fn responses() {
        let r = parse_registration(201, br#"{"client_id":"test-client-id","client_secret":"test-client-secret","redirect_uris":[]}"#).unwrap();
        assert_eq!(r.client_id, "test-client-id");
        assert_eq!(r.client_secret.unwrap().expose(), "test-client-secret");
        let e = parse_registration(
            400,
            br#"{"error":"invalid_redirect_uri","error_description":"loopback only"}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("invalid_redirect_uri: loopback only"),
            "{e}"
        );
        assert!(parse_registration(201, b"{}").is_err());
        assert!(parse_registration(500, b"boom").is_err());
    }
}
