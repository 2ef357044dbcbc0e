//! Provider profiles: what real authorization servers need beyond the spec.
//!
//! Detected from the issuer, overridable per server (`auth.profile`). A profile only ever adds
//! or removes request parameters; it never weakens a check (issuer, resource metadata, PKCE,
//! HTTPS).

use url::Url;

/// Known providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The spec as written.
    Generic,
    /// Auth0: needs `audience`, or it issues opaque tokens no API accepts.
    Auth0,
    /// Microsoft Entra ID: rejects RFC 8707 `resource`; scopes are `<resource>/.default`.
    Entra,
    /// Okta: registration usually needs credentials, so a pre-registered client.
    Okta,
    /// Google: a refresh token only with `access_type=offline` and `prompt=consent`.
    Google,
    /// Keycloak: issuers with a path (`/realms/NAME`).
    Keycloak,
}

impl Profile {
    /// Every profile name, for help and errors.
    pub const NAMES: &'static [&'static str] = &[
        "auto", "generic", "auth0", "entra", "okta", "google", "keycloak",
    ];

    /// Parses a name (`auto` is `None`: detect).
    pub fn from_name(s: &str) -> Option<Option<Self>> {
        Some(match s {
            "auto" => None,
            "generic" => Some(Self::Generic),
            "auth0" => Some(Self::Auth0),
            "entra" => Some(Self::Entra),
            "okta" => Some(Self::Okta),
            "google" => Some(Self::Google),
            "keycloak" => Some(Self::Keycloak),
            _ => return None,
        })
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Auth0 => "auth0",
            Self::Entra => "entra",
            Self::Okta => "okta",
            Self::Google => "google",
            Self::Keycloak => "keycloak",
        }
    }

    /// Recognises a provider from its issuer URL.
    pub fn detect(issuer: &str) -> Self {
        let Ok(u) = Url::parse(issuer) else {
            return Self::Generic;
        };
        let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
        let ends = |suffix: &str| host == suffix || host.ends_with(&format!(".{suffix}"));
        if ends("auth0.com") {
            Self::Auth0
        } else if ends("login.microsoftonline.com")
            || ends("sts.windows.net")
            || ends("login.microsoftonline.us")
        {
            Self::Entra
        } else if ends("okta.com") || ends("oktapreview.com") || ends("okta-emea.com") {
            Self::Okta
        } else if host == "accounts.google.com" {
            Self::Google
        } else if u.path().contains("/realms/") {
            Self::Keycloak
        } else {
            Self::Generic
        }
    }

    /// Adjusts an authorization (and the matching token request) for this provider.
    pub fn adjust(self, r: &mut RequestShape) {
        let has = |params: &[(String, String)], k: &str| params.iter().any(|(n, _)| n == k);
        match self {
            Self::Auth0 => {
                if !has(&r.extra, "audience") {
                    if let Some(aud) = r.resource.clone().or_else(|| r.server_resource.clone()) {
                        r.extra.push(("audience".to_owned(), aud));
                    }
                }
            }
            Self::Entra => {
                let resource = r.resource.take().or_else(|| r.server_resource.clone());
                if r.scopes.as_ref().is_none_or(Vec::is_empty) {
                    if let Some(res) = resource {
                        r.scopes = Some(vec![
                            format!("{}/.default", res.trim_end_matches('/')),
                            "offline_access".to_owned(),
                        ]);
                    }
                }
            }
            Self::Google => {
                for (k, v) in [("access_type", "offline"), ("prompt", "consent")] {
                    if !has(&r.extra, k) {
                        r.extra.push((k.to_owned(), v.to_owned()));
                    }
                }
            }
            Self::Okta | Self::Keycloak | Self::Generic => {}
        }
    }

    /// What to tell a user whose sign-in could not start, if this provider has a known cause.
    pub fn registration_hint(self) -> Option<&'static str> {
        match self {
            Self::Auth0 => Some("Auth0 has dynamic registration off by default: create a Native application in Auth0 (allow the callback http://127.0.0.1/callback) and add its client id with `mcp-companion add NAME URL --client-id ID --audience URL`"),
            Self::Okta => Some("Okta needs a pre-registered client: create a Native app integration (PKCE) in Okta and add its client id with `mcp-companion add NAME URL --client-id ID`"),
            Self::Entra => Some("Microsoft Entra ID has no dynamic registration: register an app (Mobile and desktop, redirect http://localhost), then `mcp-companion add NAME URL --client-id APP_ID --no-resource`"),
            Self::Google | Self::Keycloak | Self::Generic => None,
        }
    }
}

/// The parts of a request a profile may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestShape {
    /// Extra authorization parameters.
    pub extra: Vec<(String, String)>,
    /// The RFC 8707 resource to send (`None`: omitted).
    pub resource: Option<String>,
    /// The scopes to request (`None`: no scope parameter).
    pub scopes: Option<Vec<String>>,
    /// The server's own resource identifier, even when `resource` is omitted.
    pub server_resource: Option<String>,
}

impl RequestShape {
    /// The parameters of a client credentials token request (RFC 6749 §4.4) after the
    /// profile's adjustments: `scope`, `resource` and `audience`. There is no authorization
    /// request, so authorization-only extras (Google's `access_type`, `prompt`) are dropped, and
    /// so is `offline_access`: a machine grant gets no refresh token.
    pub fn client_credentials_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let scopes: Vec<&str> = self
            .scopes
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|s| *s != "offline_access")
            .collect();
        if !scopes.is_empty() {
            out.push(("scope", scopes.join(" ")));
        }
        if let Some(r) = &self.resource {
            out.push(("resource", r.clone()));
        }
        if let Some((_, aud)) = self.extra.iter().find(|(k, _)| k == "audience") {
            out.push(("audience", aud.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_requests_follow_the_profile() {
        let base = |scopes: Option<Vec<&str>>| RequestShape {
            extra: Vec::new(),
            resource: Some("https://api.example.com/mcp".into()),
            scopes: scopes.map(|s| s.into_iter().map(str::to_owned).collect()),
            server_resource: Some("https://api.example.com/mcp".into()),
        };
        let params = |p: Profile, scopes: Option<Vec<&str>>| {
            let mut s = base(scopes);
            p.adjust(&mut s);
            s.client_credentials_params()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            params(Profile::Generic, Some(vec!["mcp:read"])),
            ["scope=mcp:read", "resource=https://api.example.com/mcp"]
        );
        // Auth0 ignores `resource`: the audience decides what the token is for.
        assert_eq!(
            params(Profile::Auth0, Some(vec!["mcp:read"])),
            [
                "scope=mcp:read",
                "resource=https://api.example.com/mcp",
                "audience=https://api.example.com/mcp"
            ]
        );
        // Entra: no `resource`, the `.default` scope of the resource, no offline_access.
        assert_eq!(
            params(Profile::Entra, None),
            ["scope=https://api.example.com/mcp/.default"]
        );
        // Google's authorization-only parameters have no place in a token request.
        assert_eq!(
            params(Profile::Google, None),
            ["resource=https://api.example.com/mcp"]
        );
    }

    #[test]
    fn detection_from_issuers() {
        assert_eq!(
            Profile::detect("https://acme.us.auth0.com/"),
            Profile::Auth0
        );
        assert_eq!(
            Profile::detect(
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
            ),
            Profile::Entra
        );
        assert_eq!(
            Profile::detect("https://acme.okta.com/oauth2/default"),
            Profile::Okta
        );
        assert_eq!(
            Profile::detect("https://accounts.google.com"),
            Profile::Google
        );
        assert_eq!(
            Profile::detect("https://sso.acme.io/realms/staff"),
            Profile::Keycloak
        );
        assert_eq!(
            Profile::detect("https://auth0.com.evil.io"),
            Profile::Generic
        );
        assert_eq!(Profile::detect("http://127.0.0.1:5"), Profile::Generic);
        assert_eq!(Profile::detect("::"), Profile::Generic);
    }

    fn shape() -> RequestShape {
        RequestShape {
            extra: vec![],
            resource: Some("https://api.acme.io/mcp".into()),
            scopes: None,
            server_resource: Some("https://api.acme.io/mcp".into()),
        }
    }

    #[test]
    fn auth0_gets_an_audience_unless_one_is_set() {
        let mut r = shape();
        Profile::Auth0.adjust(&mut r);
        assert_eq!(
            r.extra,
            [("audience".to_owned(), "https://api.acme.io/mcp".to_owned())]
        );
        let mut r = shape();
        r.extra.push(("audience".into(), "custom".into()));
        Profile::Auth0.adjust(&mut r);
        assert_eq!(r.extra.len(), 1);
    }

    #[test]
    fn entra_omits_resource_and_asks_for_default_scopes() {
        let mut r = shape();
        Profile::Entra.adjust(&mut r);
        assert_eq!(r.resource, None);
        assert_eq!(
            r.scopes.unwrap(),
            ["https://api.acme.io/mcp/.default", "offline_access"]
        );
        let mut r = shape();
        r.scopes = Some(vec!["api://x/read".into()]);
        Profile::Entra.adjust(&mut r);
        assert_eq!(r.scopes.unwrap(), ["api://x/read"]);
    }

    #[test]
    fn google_asks_for_offline_access() {
        let mut r = shape();
        Profile::Google.adjust(&mut r);
        assert_eq!(
            r.extra,
            [
                ("access_type".to_owned(), "offline".to_owned()),
                ("prompt".to_owned(), "consent".to_owned())
            ]
        );
        let mut g = shape();
        Profile::Generic.adjust(&mut g);
        assert_eq!(g, shape());
    }

    #[test]
    fn names_round_trip() {
        for n in Profile::NAMES {
            let p = Profile::from_name(n).unwrap();
            assert_eq!(p.map_or("auto", Profile::name), *n);
        }
        assert_eq!(Profile::from_name("azure"), None);
    }
}
