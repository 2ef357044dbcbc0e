//! Protected Resource Metadata (RFC 9728): where it lives, what it says, and whether it may be
//! believed.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::url_util::{canonical_resource_eq, origin_of, resource_covers};

/// Largest metadata document we accept.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// How the metadata URL was found, which decides what its `resource` must be (RFC 9728 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// From the `resource_metadata` parameter of a 401 challenge.
    Challenge,
    /// The path-aware well-known URL built from the server URL.
    PathAware,
    /// The root well-known URL built from the server's origin.
    Root,
}

/// Where to look for the metadata, in the order the MCP spec gives (after any challenge URL):
/// path-aware first, then the root. For a server URL without a path, just the root.
pub fn well_known_urls(server_url: &str) -> Vec<(String, Source)> {
    let Ok(u) = Url::parse(server_url) else {
        return Vec::new();
    };
    let origin = origin_of(&u);
    let path = u.path().trim_end_matches('/');
    let mut out = Vec::new();
    if !path.is_empty() {
        let mut url = format!("{origin}{WELL_KNOWN}{path}");
        if let Some(q) = u.query() {
            url.push('?');
            url.push_str(q);
        }
        out.push((url, Source::PathAware));
    }
    out.push((format!("{origin}{WELL_KNOWN}"), Source::Root));
    out
}

/// The parts of the metadata an MCP client uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceMetadata {
    /// The protected resource's identifier: the RFC 8707 `resource` to request.
    pub resource: String,
    /// Issuer identifiers of the authorization servers, as sent.
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// Tool → scopes, from a non-standard `scopes` map some servers publish.
    pub scopes_by_tool: Vec<(String, Vec<String>)>,
    /// `resource_name`, for display.
    pub resource_name: Option<String>,
}

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not JSON, or not an object.
    #[error("the protected resource metadata is not a JSON object: {0}")]
    NotJson(String),
    /// A required field is missing or has the wrong type.
    #[error("the protected resource metadata has no valid `{0}`")]
    Missing(&'static str),
    /// The document is larger than [`MAX_METADATA_BYTES`].
    #[error("the protected resource metadata is larger than {MAX_METADATA_BYTES} bytes")]
    TooLarge,
    /// `resource` names another server (RFC 9728 §3.3): it must not be used.
    #[error(
        "the protected resource metadata is for {found:?}, not for {expected:?}; refusing to \
         use it (RFC 9728 §3.3), because a token obtained with it could reach another server"
    )]
    ResourceMismatch {
        /// What it should have said.
        expected: String,
        /// What it said.
        found: String,
    },
}

#[derive(Deserialize)]
struct Raw {
    resource: Option<Value>,
    authorization_servers: Option<Value>,
    scopes_supported: Option<Value>,
    scopes: Option<Value>,
    resource_name: Option<Value>,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// Parses a metadata document. Lenient where real servers differ from the RFC without harm:
/// `authorization_servers` may hold `{"issuer": "…"}` objects, and a `scopes` map of tool →
/// scopes is read beside `scopes_supported`.
pub fn parse(body: &[u8]) -> Result<ResourceMetadata, MetadataError> {
    if body.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge);
    }
    let raw: Raw =
        serde_json::from_slice(body).map_err(|e| MetadataError::NotJson(e.to_string()))?;
    let resource = raw
        .resource
        .as_ref()
        .and_then(Value::as_str)
        .filter(|r| Url::parse(r).is_ok())
        .ok_or(MetadataError::Missing("resource"))?
        .to_owned();
    let mut authorization_servers = Vec::new();
    if let Some(list) = raw.authorization_servers.as_ref().and_then(Value::as_array) {
        for entry in list {
            let issuer = entry
                .as_str()
                .or_else(|| entry.get("issuer").and_then(Value::as_str))
                .or_else(|| entry.get("url").and_then(Value::as_str));
            if let Some(i) = issuer {
                authorization_servers.push(i.to_owned());
            }
        }
    }
    let mut scopes_by_tool = Vec::new();
    if let Some(map) = raw.scopes.as_ref().and_then(Value::as_object) {
        for (tool, scopes) in map {
            let list = match scopes {
                Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                other => strings(other).unwrap_or_default(),
            };
            scopes_by_tool.push((tool.clone(), list));
        }
    }
    let mut scopes_supported = raw.scopes_supported.as_ref().and_then(strings);
    if scopes_supported.is_none() && !scopes_by_tool.is_empty() {
        // Only a per-tool map: its union is what the server can grant.
        let mut all: Vec<String> = Vec::new();
        for s in scopes_by_tool.iter().flat_map(|(_, s)| s) {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        scopes_supported = Some(all);
    }
    Ok(ResourceMetadata {
        resource,
        authorization_servers,
        scopes_supported,
        scopes_by_tool,
        resource_name: raw
            .resource_name
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Checks that the metadata describes `server_url` (RFC 9728 §3.3), before any contact with an
/// authorization server.
///
/// - path-aware well-known URL: `resource` is the server URL;
/// - root well-known URL: `resource` is the server's origin (or the server URL);
/// - a challenge's `resource_metadata`: `resource` is the server URL or a parent of it on the
///   same origin (the server names the protected resource it belongs to).
///
/// URLs are compared as canonical URIs (case of scheme and host, default port, trailing slash).
pub fn validate_resource(
    meta: &ResourceMetadata,
    server_url: &str,
    source: &Source,
) -> Result<(), MetadataError> {
    let ok = match source {
        Source::PathAware => canonical_resource_eq(&meta.resource, server_url),
        Source::Root => {
            canonical_resource_eq(&meta.resource, server_url)
                || Url::parse(server_url)
                    .is_ok_and(|u| canonical_resource_eq(&meta.resource, &origin_of(&u)))
        }
        Source::Challenge => resource_covers(&meta.resource, server_url),
    };
    if ok {
        Ok(())
    } else {
        Err(MetadataError::ResourceMismatch {
            expected: server_url.to_owned(),
            found: meta.resource.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_order() {
        assert_eq!(
            well_known_urls("http://localhost:40125/mcp"),
            [
                (
                    "http://localhost:40125/.well-known/oauth-protected-resource/mcp".to_owned(),
                    Source::PathAware
                ),
                (
                    "http://localhost:40125/.well-known/oauth-protected-resource".to_owned(),
                    Source::Root
                ),
            ]
        );
        assert_eq!(
            well_known_urls("https://x.io/"),
            [(
                "https://x.io/.well-known/oauth-protected-resource".to_owned(),
                Source::Root
            )]
        );
        assert_eq!(
            well_known_urls("https://x.io/a/b/")[0].0,
            "https://x.io/.well-known/oauth-protected-resource/a/b"
        );
        assert!(well_known_urls("not a url").is_empty());
    }

    #[test]
    fn parses_the_conformance_fixture() {
        // Observed from @modelcontextprotocol/conformance 0.1.16, auth/metadata-default.
        let m = parse(br#"{"resource":"http://localhost:40125/mcp","authorization_servers":["http://localhost:45821"]}"#).unwrap();
        assert_eq!(m.resource, "http://localhost:40125/mcp");
        assert_eq!(m.authorization_servers, ["http://localhost:45821"]);
        assert_eq!(m.scopes_supported, None);
        validate_resource(&m, "http://localhost:40125/mcp", &Source::Challenge).unwrap();
        validate_resource(&m, "http://localhost:40125/mcp", &Source::PathAware).unwrap();
    }

    #[test]
    fn lenient_forms() {
        let m = parse(br#"{"resource":"https://x.io/mcp","authorization_servers":[{"issuer":"https://as.io"},"https://as2.io",7],
            "scopes":{"read_file":["files:read"],"write_file":"files:write files:read"}}"#).unwrap();
        assert_eq!(m.authorization_servers, ["https://as.io", "https://as2.io"]);
        assert_eq!(m.scopes_supported.unwrap(), ["files:read", "files:write"]);
        assert_eq!(
            m.scopes_by_tool[1],
            (
                "write_file".to_owned(),
                vec!["files:write".to_owned(), "files:read".to_owned()]
            )
        );
    }

    #[test]
    fn root_metadata_may_name_the_origin() {
        let m = parse(br#"{"resource":"http://localhost:5","authorization_servers":["http://localhost:6/tenant1"]}"#).unwrap();
        validate_resource(&m, "http://localhost:5/mcp", &Source::Root).unwrap();
        assert!(validate_resource(&m, "http://localhost:5/mcp", &Source::PathAware).is_err());
    }

    #[test]
    fn mismatched_resource_is_refused() {
        // conformance auth/resource-mismatch.
        let m = parse(br#"{"resource":"https://evil.example.com/mcp","authorization_servers":["http://localhost:1"]}"#).unwrap();
        for src in [Source::Challenge, Source::PathAware, Source::Root] {
            let e = validate_resource(&m, "http://localhost:9/mcp", &src).unwrap_err();
            assert!(e.to_string().contains("evil.example.com"), "{e}");
        }
    }

    #[test]
    fn broken_documents() {
        assert!(matches!(
            parse(b"{not json"),
            Err(MetadataError::NotJson(_))
        ));
        assert!(matches!(parse(b"[]"), Err(MetadataError::NotJson(_))));
        assert_eq!(parse(b"{}"), Err(MetadataError::Missing("resource")));
        assert_eq!(
            parse(br#"{"resource": 5}"#),
            Err(MetadataError::Missing("resource"))
        );
        assert_eq!(
            parse(br#"{"resource": "relative/path"}"#),
            Err(MetadataError::Missing("resource"))
        );
        assert_eq!(
            parse(&vec![b' '; MAX_METADATA_BYTES + 1]),
            Err(MetadataError::TooLarge)
        );
        let m =
            parse(br#"{"resource":"https://x.io","authorization_servers":"https://as"}"#).unwrap();
        assert!(m.authorization_servers.is_empty());
    }
}
