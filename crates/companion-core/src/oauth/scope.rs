//! Which scopes to ask for (MCP 2025-11-25 §Scope Selection Strategy, SEP-2207).

use super::resource_metadata::ResourceMetadata;
use super::server_metadata::ServerMetadata;

/// The inputs of scope selection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeInputs<'a> {
    /// `scope` from the 401/403 challenge that started this sign-in.
    pub challenge: Option<&'a [String]>,
    /// Scopes the user configured for the server.
    pub configured: Option<&'a [String]>,
    /// Scopes of the current grant, kept on step-up so the new token does not lose them.
    pub previously_granted: Option<&'a [String]>,
    /// The protected resource metadata.
    pub resource: Option<&'a ResourceMetadata>,
    /// The authorization server metadata.
    pub server: Option<&'a ServerMetadata>,
}

/// The `scope` to request, or `None` to send no `scope` parameter at all.
///
/// 1. the challenge's scopes (authoritative for the request that failed), joined with the
///    scopes already granted on a step-up;
/// 2. else the configured scopes;
/// 3. else every scope in the resource metadata's `scopes_supported`;
/// 4. else nothing: never invented defaults.
///
/// `offline_access` is added only when the authorization server lists it, so that a refresh
/// token can be issued, and only alongside other scopes.
pub fn select(i: ScopeInputs<'_>) -> Option<Vec<String>> {
    let mut scopes: Vec<String> = if let Some(c) = i.challenge.filter(|c| !c.is_empty()) {
        let mut v = i
            .previously_granted
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        v.extend(c.iter().cloned());
        v
    } else if let Some(c) = i.configured.filter(|c| !c.is_empty()) {
        c.to_vec()
    } else if let Some(s) = i
        .resource
        .and_then(|r| r.scopes_supported.as_ref())
        .filter(|s| !s.is_empty())
    {
        s.clone()
    } else {
        return None;
    };
    if i.server.is_some_and(|s| s.supports_scope("offline_access")) {
        scopes.push("offline_access".to_owned());
    }
    let mut seen = Vec::with_capacity(scopes.len());
    for s in scopes {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    Some(seen)
}

/// Joins scopes for the wire.
pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    fn prm(scopes: Option<&[&str]>) -> ResourceMetadata {
        ResourceMetadata {
            resource: "https://x.io/mcp".into(),
            authorization_servers: vec![],
            scopes_supported: scopes.map(v),
            scopes_by_tool: vec![],
            resource_name: None,
        }
    }

    #[test]
    fn challenge_first() {
        let c = v(&["mcp:basic"]);
        let r = prm(Some(&["mcp:basic", "mcp:read"]));
        let got = select(ScopeInputs {
            challenge: Some(&c),
            resource: Some(&r),
            ..Default::default()
        });
        assert_eq!(got.unwrap(), ["mcp:basic"]);
    }

    #[test]
    fn then_all_of_scopes_supported() {
        let r = prm(Some(&["mcp:basic", "mcp:read", "mcp:write"]));
        let got = select(ScopeInputs {
            resource: Some(&r),
            ..Default::default()
        });
        assert_eq!(got.unwrap(), ["mcp:basic", "mcp:read", "mcp:write"]);
    }

    #[test]
    fn otherwise_no_scope_at_all() {
        let r = prm(None);
        let s = ServerMetadata::default();
        assert_eq!(
            select(ScopeInputs {
                resource: Some(&r),
                server: Some(&s),
                ..Default::default()
            }),
            None
        );
        assert_eq!(select(ScopeInputs::default()), None);
    }

    #[test]
    fn configured_beats_metadata_but_not_a_challenge() {
        let conf = v(&["custom"]);
        let r = prm(Some(&["a"]));
        assert_eq!(
            select(ScopeInputs {
                configured: Some(&conf),
                resource: Some(&r),
                ..Default::default()
            })
            .unwrap(),
            ["custom"]
        );
        let c = v(&["needed"]);
        assert_eq!(
            select(ScopeInputs {
                challenge: Some(&c),
                configured: Some(&conf),
                ..Default::default()
            })
            .unwrap(),
            ["needed"]
        );
    }

    #[test]
    fn step_up_keeps_what_was_granted() {
        let granted = v(&["mcp:basic"]);
        let c = v(&["mcp:basic", "mcp:write"]);
        let got = select(ScopeInputs {
            challenge: Some(&c),
            previously_granted: Some(&granted),
            ..Default::default()
        });
        assert_eq!(got.unwrap(), ["mcp:basic", "mcp:write"]);
    }

    #[test]
    fn offline_access_only_when_listed() {
        let r = prm(Some(&["mcp:basic"]));
        let with = ServerMetadata {
            scopes_supported: Some(v(&["mcp:basic", "offline_access"])),
            ..Default::default()
        };
        let without = ServerMetadata {
            scopes_supported: Some(v(&["mcp:basic", "mcp:read"])),
            ..Default::default()
        };
        assert_eq!(
            select(ScopeInputs {
                resource: Some(&r),
                server: Some(&with),
                ..Default::default()
            })
            .unwrap(),
            ["mcp:basic", "offline_access"]
        );
        assert_eq!(
            select(ScopeInputs {
                resource: Some(&r),
                server: Some(&without),
                ..Default::default()
            })
            .unwrap(),
            ["mcp:basic"]
        );
    }
}
