//! The authorization request (RFC 6749 §4.1.1 with PKCE and RFC 8707 `resource`) and the
//! redirect back to us (RFC 6749 §4.1.2, RFC 9207 `iss`).

use url::Url;

use super::scope;

/// Everything that goes into an authorization URL.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'a> {
    /// `authorization_endpoint`.
    pub endpoint: &'a str,
    /// `client_id`.
    pub client_id: &'a str,
    /// `redirect_uri`.
    pub redirect_uri: &'a str,
    /// `state`.
    pub state: &'a str,
    /// `code_challenge` (S256).
    pub code_challenge: &'a str,
    /// `scope`, omitted when `None`.
    pub scope: Option<&'a [String]>,
    /// `resource` (RFC 8707), omitted when `None`. Must be the same string on the token request.
    pub resource: Option<&'a str>,
    /// Extra parameters (`audience`, `prompt`, …), appended last.
    pub extra: &'a [(String, String)],
}

/// Why no authorization URL could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the authorization endpoint {0:?} is not a valid URL")]
pub struct BadEndpoint(pub String);

/// Builds the URL the browser opens. Parameters already in the endpoint's query are kept.
pub fn authorization_url(r: &AuthorizationRequest<'_>) -> Result<String, BadEndpoint> {
    let mut u = Url::parse(r.endpoint).map_err(|_| BadEndpoint(r.endpoint.to_owned()))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", r.client_id)
            .append_pair("redirect_uri", r.redirect_uri)
            .append_pair("state", r.state)
            .append_pair("code_challenge", r.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(s) = r.scope.filter(|s| !s.is_empty()) {
            q.append_pair("scope", &scope::join(s));
        }
        if let Some(res) = r.resource {
            q.append_pair("resource", res);
        }
        for (k, v) in r.extra {
            q.append_pair(k, v);
        }
    }
    Ok(u.into())
}

/// What we expect on the redirect back.
#[derive(Debug, Clone, Copy)]
pub struct CallbackExpectation<'a> {
    /// The `state` we sent.
    pub state: &'a str,
    /// The issuer we started with.
    pub issuer: &'a str,
    /// Whether the server promised an `iss` parameter (RFC 9207).
    pub iss_required: bool,
}

/// Why the redirect back was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// `state` missing or different: not our sign-in (or a forgery).
    #[error("the sign-in response does not belong to this sign-in (state mismatch); ignored it")]
    StateMismatch,
    /// `iss` missing though promised, or naming another issuer (mix-up attack, RFC 9207).
    #[error(
        "the sign-in response came from issuer {found:?}, not {expected:?}; ignored it \
         (RFC 9207 mix-up protection)"
    )]
    IssuerMismatch {
        /// The issuer we used.
        expected: String,
        /// What `iss` said (empty when missing).
        found: String,
    },
    /// The authorization server refused.
    #[error("the authorization server refused the sign-in: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// No `code`.
    #[error("the sign-in response carries no authorization code")]
    NoCode,
}

/// Checks the redirect's query and returns the authorization code.
///
/// Order matters: `state` first, then `iss`, and only then is an `error` believed (RFC 9207
/// §2.4: an error from the wrong issuer must not be acted on).
pub fn parse_callback(
    query: &str,
    expect: CallbackExpectation<'_>,
) -> Result<String, CallbackError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("state") != Some(expect.state) {
        return Err(CallbackError::StateMismatch);
    }
    match get("iss") {
        Some(iss) if iss != expect.issuer => {
            return Err(CallbackError::IssuerMismatch {
                expected: expect.issuer.to_owned(),
                found: iss.to_owned(),
            })
        }
        None if expect.iss_required => {
            return Err(CallbackError::IssuerMismatch {
                expected: expect.issuer.to_owned(),
                found: String::new(),
            })
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        return Err(CallbackError::Denied {
            error: error.to_owned(),
            description: get("error_description").map(str::to_owned),
        });
    }
    get("code")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .ok_or(CallbackError::NoCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        scope: Option<&'a [String]>,
        extra: &'a [(String, String)],
    ) -> AuthorizationRequest<'a> {
        AuthorizationRequest {
            endpoint: "https://as.io/authorize?tenant=t1",
            client_id: "cid",
            redirect_uri: "http://127.0.0.1:5000/callback",
            state: "st",
            code_challenge: "ch",
            scope,
            resource: Some("https://x.io/mcp"),
            extra,
        }
    }

    #[test]
    fn builds_every_parameter() {
        let scopes = vec!["a".to_owned(), "b:c".to_owned()];
        let extra = vec![("audience".to_owned(), "https://api".to_owned())];
        let url = authorization_url(&req(Some(&scopes), &extra)).unwrap();
        assert_eq!(
            url,
            "https://as.io/authorize?tenant=t1&response_type=code&client_id=cid&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback\
             &state=st&code_challenge=ch&code_challenge_method=S256&scope=a+b%3Ac&resource=https%3A%2F%2Fx.io%2Fmcp&audience=https%3A%2F%2Fapi"
        );
    }

    #[test]
    fn no_scope_parameter_when_none() {
        let url = authorization_url(&req(None, &[])).unwrap();
        assert!(!url.contains("scope="), "{url}");
        assert!(authorization_url(&AuthorizationRequest {
            endpoint: "::",
            ..req(None, &[])
        })
        .is_err());
    }

    fn expect(iss_required: bool) -> CallbackExpectation<'static> {
        CallbackExpectation {
            state: "st",
            issuer: "https://as.io",
            iss_required,
        }
    }

    #[test]
    fn callback_happy_paths() {
        assert_eq!(
            parse_callback("code=abc&state=st", expect(false)).unwrap(),
            "abc"
        );
        assert_eq!(
            parse_callback("?code=a%2Bb&state=st&iss=https%3A%2F%2Fas.io", expect(true)).unwrap(),
            "a+b"
        );
    }

    #[test]
    fn state_is_checked_first() {
        assert_eq!(
            parse_callback("code=abc&state=other", expect(false)),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            parse_callback("code=abc", expect(false)),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            parse_callback("error=access_denied&state=x", expect(false)),
            Err(CallbackError::StateMismatch)
        );
    }

    #[test]
    fn issuer_rules() {
        assert!(matches!(
            parse_callback("code=a&state=st", expect(true)),
            Err(CallbackError::IssuerMismatch { .. })
        ));
        // An unexpected iss is checked even when not advertised; no normalisation.
        assert!(matches!(
            parse_callback("code=a&state=st&iss=https%3A%2F%2Fas.io%2F", expect(false)),
            Err(CallbackError::IssuerMismatch { .. })
        ));
        // An error from the wrong issuer is not believed.
        assert!(matches!(
            parse_callback(
                "error=access_denied&state=st&iss=https%3A%2F%2Fevil",
                expect(false)
            ),
            Err(CallbackError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn errors_become_clear_messages() {
        let e = parse_callback(
            "error=access_denied&error_description=User+said+no&state=st",
            expect(false),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the authorization server refused the sign-in: access_denied (User said no)"
        );
        assert_eq!(
            parse_callback("state=st&code=", expect(false)),
            Err(CallbackError::NoCode)
        );
    }
}
