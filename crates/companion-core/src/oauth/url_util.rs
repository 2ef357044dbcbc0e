//! URL comparisons the spec needs.

use url::Url;

/// `scheme://host[:port]` of a URL, without a trailing slash.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Compares two resource identifiers the way the MCP spec's canonical URI rules do: scheme
/// and host case-insensitively (the `url` crate lower-cases them), default ports elided,
/// a trailing `/` on the path ignored. Query and path are otherwise compared exactly.
pub fn canonical_resource_eq(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => canonical(&a) == canonical(&b),
        _ => false,
    }
}

fn canonical(u: &Url) -> (String, String, Option<String>) {
    let path = u.path().trim_end_matches('/').to_owned();
    (origin_of(u), path, u.query().map(str::to_owned))
}

/// Whether `resource` names `server` or a parent of it: same origin, and its path is
/// `server`'s path or a `/`-bounded prefix of it.
pub(crate) fn resource_covers(resource: &str, server: &str) -> bool {
    let (Ok(r), Ok(s)) = (Url::parse(resource), Url::parse(server)) else {
        return false;
    };
    if origin_of(&r) != origin_of(&s) || r.query().is_some() {
        return false;
    }
    let rp = r.path().trim_end_matches('/');
    let sp = s.path().trim_end_matches('/');
    rp.is_empty()
        || sp == rp
        || sp
            .strip_prefix(rp)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_equality() {
        assert!(canonical_resource_eq(
            "https://X.io/mcp",
            "https://x.io/mcp/"
        ));
        assert!(canonical_resource_eq(
            "https://x.io:443/mcp",
            "https://x.io/mcp"
        ));
        assert!(!canonical_resource_eq(
            "https://x.io/mcp",
            "http://x.io/mcp"
        ));
        assert!(!canonical_resource_eq(
            "https://x.io/mcp",
            "https://x.io/MCP"
        ));
        assert!(!canonical_resource_eq(
            "https://x.io/mcp",
            "https://x.io/mcp?a=1"
        ));
        assert!(!canonical_resource_eq("nope", "nope"));
    }

    #[test]
    fn covering() {
        assert!(resource_covers("https://x.io", "https://x.io/mcp"));
        assert!(resource_covers("https://x.io/", "https://x.io/mcp"));
        assert!(resource_covers("https://x.io/a", "https://x.io/a/mcp"));
        assert!(resource_covers("https://x.io/mcp", "https://x.io/mcp"));
        assert!(!resource_covers("https://x.io/a", "https://x.io/ab"));
        assert!(!resource_covers(
            "https://evil.example.com/mcp",
            "http://localhost:1/mcp"
        ));
        assert!(!resource_covers(
            "https://x.io/mcp/more",
            "https://x.io/mcp"
        ));
    }
}
