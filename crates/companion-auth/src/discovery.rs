//! The discovery runner: from a 401 to a trusted authorization server (MCP 2025-11-25
//! §Authorization Server Discovery, with the 2025-03-26 fallbacks).

use companion_core::oauth::challenge::BearerChallenge;
use companion_core::oauth::origin_of;
use companion_core::oauth::resource_metadata::{self, ResourceMetadata, Source};
use companion_core::oauth::server_metadata::{self, IssuerCheck, ServerMetadata};
use url::Url;

use crate::error::AuthError;
use crate::http::{check_url, learned, Http};

const PRM: &str = "resource metadata";
const ASM: &str = "authorization server metadata";

/// What discovery established. Not secret: it is cached in the state file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Discovery {
    /// The protected resource metadata, when the server publishes it.
    pub resource_metadata: Option<ResourceMetadata>,
    /// The issuer whose metadata was used.
    pub issuer: String,
    /// The authorization server metadata (or the 2025-03-26 defaults).
    pub server: ServerMetadata,
    /// Whether this is the 2025-03-26 flow (no resource metadata).
    pub legacy: bool,
}

impl Discovery {
    /// The RFC 8707 resource: the metadata's `resource`, else the server URL itself.
    pub fn resource<'a>(&'a self, server_url: &'a str) -> &'a str {
        self.resource_metadata
            .as_ref()
            .map_or(server_url, |m| m.resource.as_str())
    }
}

/// Runs discovery for `server_url`, starting from the challenge that triggered it.
pub async fn discover(
    http: &Http,
    server_url: &str,
    challenge: Option<&BearerChallenge>,
    protocol_version: Option<&str>,
) -> Result<Discovery, AuthError> {
    let tl = http.timeline();
    let prm = find_resource_metadata(http, server_url, challenge).await?;
    let Some((meta, url)) = prm else {
        tl.note(
            PRM,
            "none published: using the MCP 2025-03-26 flow (metadata at the server's origin)",
        );
        return legacy(http, server_url, protocol_version).await;
    };
    learned(
        tl,
        PRM,
        format!(
            "resource {}; authorization servers {:?}; scopes {}",
            meta.resource,
            meta.authorization_servers,
            meta.scopes_supported
                .as_ref()
                .map_or_else(|| "not listed".to_owned(), |s| s.join(" "))
        ),
    );
    let Some(issuer) = meta.authorization_servers.first().cloned() else {
        return Err(AuthError::NoAuthorizationServer { url });
    };
    if meta.authorization_servers.len() > 1 {
        tl.note(
            ASM,
            format!("several authorization servers listed; using the first, {issuer}"),
        );
    }
    let server = find_server_metadata(http, &issuer).await?;
    Ok(Discovery {
        resource_metadata: Some(meta),
        issuer,
        server,
        legacy: false,
    })
}

async fn find_resource_metadata(
    http: &Http,
    server_url: &str,
    challenge: Option<&BearerChallenge>,
) -> Result<Option<(ResourceMetadata, String)>, AuthError> {
    let mut candidates: Vec<(String, Source)> = Vec::new();
    if let Some(url) = challenge.and_then(|c| c.resource_metadata.as_ref()) {
        candidates.push((url.clone(), Source::Challenge));
    }
    candidates.extend(resource_metadata::well_known_urls(server_url));
    for (url, source) in candidates {
        if let Err(e) = check_url(PRM, &url) {
            if source == Source::Challenge {
                return Err(e);
            }
            continue;
        }
        let resp = http
            .get_json(PRM, &url, resource_metadata::MAX_METADATA_BYTES, &[])
            .await?;
        if resp.status != 200 {
            continue;
        }
        let meta =
            resource_metadata::parse(&resp.body).map_err(|source| AuthError::ResourceMetadata {
                url: url.clone(),
                source,
            })?;
        // RFC 9728 §3.3, before any contact with an authorization server.
        resource_metadata::validate_resource(&meta, server_url, &source).map_err(|source| {
            AuthError::ResourceMetadata {
                url: url.clone(),
                source,
            }
        })?;
        return Ok(Some((meta, url)));
    }
    Ok(None)
}

/// Fetches and validates the metadata of `issuer`, trying the spec's URLs in order.
pub async fn find_server_metadata(http: &Http, issuer: &str) -> Result<ServerMetadata, AuthError> {
    let urls = server_metadata::discovery_urls(issuer);
    if urls.is_empty() {
        return Err(AuthError::Refused {
            step: ASM,
            reason: format!("the issuer {issuer:?} is not a URL"),
        });
    }
    for url in &urls {
        let resp = http
            .get_json(ASM, url, server_metadata::MAX_METADATA_BYTES, &[])
            .await?;
        if resp.status != 200 {
            continue;
        }
        let meta =
            server_metadata::parse(&resp.body).map_err(|source| AuthError::ServerMetadata {
                url: url.clone(),
                source,
            })?;
        server_metadata::validate(&meta, issuer, IssuerCheck::Exact).map_err(|source| {
            AuthError::ServerMetadata {
                url: url.clone(),
                source,
            }
        })?;
        describe(http, &meta);
        return Ok(meta);
    }
    Err(AuthError::NoServerMetadata {
        issuer: issuer.to_owned(),
        tried: urls.join(", "),
    })
}

async fn legacy(
    http: &Http,
    server_url: &str,
    protocol_version: Option<&str>,
) -> Result<Discovery, AuthError> {
    let origin = Url::parse(server_url)
        .map(|u| origin_of(&u))
        .map_err(|_| AuthError::Config(format!("{server_url:?} is not a URL")))?;
    let headers: Vec<(&str, &str)> = protocol_version
        .map(|v| ("MCP-Protocol-Version", v))
        .into_iter()
        .collect();
    for url in [
        format!("{origin}/.well-known/oauth-authorization-server"),
        format!("{origin}/.well-known/openid-configuration"),
    ] {
        let resp = http
            .get_json(ASM, &url, server_metadata::MAX_METADATA_BYTES, &headers)
            .await?;
        if resp.status != 200 {
            continue;
        }
        let meta =
            server_metadata::parse(&resp.body).map_err(|source| AuthError::ServerMetadata {
                url: url.clone(),
                source,
            })?;
        server_metadata::validate(&meta, &origin, IssuerCheck::SameOrigin).map_err(|source| {
            AuthError::ServerMetadata {
                url: url.clone(),
                source,
            }
        })?;
        describe(http, &meta);
        return Ok(Discovery {
            resource_metadata: None,
            issuer: meta.issuer.clone(),
            server: meta,
            legacy: true,
        });
    }
    let meta = ServerMetadata::legacy_defaults(server_url)
        .ok_or_else(|| AuthError::Config(format!("{server_url:?} is not a URL")))?;
    http.timeline().note(
        ASM,
        format!(
            "none published: using the default endpoints {origin}/authorize, /token and /register"
        ),
    );
    Ok(Discovery {
        resource_metadata: None,
        issuer: origin,
        server: meta,
        legacy: true,
    })
}

fn describe(http: &Http, m: &ServerMetadata) {
    let registration = if m.client_id_metadata_document_supported {
        "client ID metadata documents and dynamic registration"
    } else if m.registration_endpoint.is_some() {
        "dynamic registration"
    } else {
        "no dynamic registration (a client id must be configured)"
    };
    learned(
        http.timeline(),
        ASM,
        format!(
            "issuer {}; {registration}; PKCE {}; token auth {}",
            m.issuer,
            m.code_challenge_methods_supported
                .as_ref()
                .map_or_else(|| "not listed".to_owned(), |v| v.join(",")),
            m.token_endpoint_auth_methods_supported
                .as_ref()
                .map_or_else(|| "not listed".to_owned(), |v| v.join(","))
        ),
    );
}
