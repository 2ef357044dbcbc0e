//! Managed configuration: what an organization's administrators deploy, read-only, beside each
//! user's own file.
//!
//! `managed.toml` has the same `[servers.NAME]` tables as `config.toml` (with their profiles,
//! client ids and scopes) and may add a policy:
//!
//! ```toml
//! version = 1
//!
//! [policy]
//! allowed_server_urls = ["https://*.corp.example.com/*", "https://mcp.linear.app/*"]
//! allow_user_servers = true      # false: only the managed servers
//!
//! [servers.wiki]
//! url = "https://wiki.corp.example.com/mcp"
//! auth = { mode = "oauth", client_id = "mcp-companion-desktop" }
//! ```
//!
//! In URL patterns `*` matches within one part of the URL (never across a `/`), except at the
//! end of the pattern, where it matches the rest.
//!
//! Merging: managed servers come first and are locked (a user's server of the same name is
//! ignored, with a warning); a user's server whose URL the policy does not allow is ignored,
//! with a warning that says so.

use super::{Config, ConfigError};

/// What the organization allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// URL patterns (`*` matches any run of characters); empty means "any URL".
    pub allowed_server_urls: Vec<String>,
    /// Whether users may add servers of their own.
    pub allow_user_servers: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_server_urls: Vec::new(),
            allow_user_servers: true,
        }
    }
}

impl Policy {
    /// Whether a user may use a server at `url`.
    pub fn allows(&self, url: &str) -> bool {
        self.allowed_server_urls.is_empty()
            || self
                .allowed_server_urls
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &url.to_ascii_lowercase()))
    }
}

/// The parsed managed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    /// Its servers.
    pub config: Config,
    /// Its policy.
    pub policy: Policy,
}

/// Parses `managed.toml`.
pub fn parse(file: &str, text: &str) -> Result<Managed, ConfigError> {
    let (config, policy) = super::validate::parse_with_policy(file, text, true)?;
    Ok(Managed {
        config,
        policy: policy.unwrap_or_default(),
    })
}

/// The effective configuration and what was set aside, for the user to read.
pub fn merge(user: Config, managed: &Managed) -> (Config, Vec<String>) {
    let mut warnings = Vec::new();
    let mut servers = managed.config.servers.clone();
    let names: Vec<String> = servers.iter().map(|s| s.name.to_string()).collect();
    for s in user.servers {
        if names.iter().any(|n| n == s.name.as_str()) {
            warnings.push(format!(
                "server {} is also defined by your organization; its managed settings are used",
                s.name
            ));
        } else if !managed.policy.allow_user_servers {
            warnings.push(format!(
                "server {} is ignored: your organization allows only the servers it manages",
                s.name
            ));
        } else if !managed.policy.allows(s.url.as_str()) {
            warnings.push(format!(
                "server {} ({}) is ignored: your organization's policy allows only {}",
                s.name,
                s.url,
                managed.policy.allowed_server_urls.join(", ")
            ));
        } else {
            servers.push(s);
        }
    }
    (
        Config {
            servers,
            managed: names,
        },
        warnings,
    )
}

/// `*` matches any run of characters except `/` (so it cannot cross from the host into the
/// path: `https://*.corp.example.com/*` does not match `https://evil.io/x.corp.example.com/`);
/// a `*` that ends the pattern matches the rest of the URL. Everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', [])) => true,
            Some(('*', rest)) => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANAGED: &str = "version = 1\n\n[policy]\nallowed_server_urls = [\"https://*.corp.example.com/*\", \"https://mcp.linear.app/*\"]\n\n[servers.wiki]\nurl = \"https://wiki.corp.example.com/mcp\"\nauth = { mode = \"oauth\", client_id = \"desktop\" }\n";

    #[test]
    fn managed_servers_come_first_and_policy_filters_the_users() {
        let m = parse("managed.toml", MANAGED).unwrap();
        assert_eq!(m.policy.allowed_server_urls.len(), 2);
        let user = Config::parse(
            "config.toml",
            "[servers.wiki]\nurl = \"https://elsewhere.example.com/mcp\"\n[servers.linear]\nurl = \"https://mcp.linear.app/mcp\"\n[servers.rogue]\nurl = \"https://rogue.example.net/mcp\"\n",
        )
        .unwrap();
        let (merged, warnings) = merge(user, &m);
        let names: Vec<&str> = merged.names().collect();
        assert_eq!(names, ["wiki", "linear"]);
        assert_eq!(
            merged.get("wiki").unwrap().url.as_str(),
            "https://wiki.corp.example.com/mcp"
        );
        assert!(merged.is_managed("wiki") && !merged.is_managed("linear"));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("also defined by your organization"));
        assert!(
            warnings[1].contains("rogue")
                && warnings[1].contains("allows only https://*.corp.example.com/*")
        );
    }

    #[test]
    fn users_may_be_limited_to_managed_servers() {
        let m = parse("m", "[policy]\nallow_user_servers = false\n").unwrap();
        let user = Config::parse("c", "[servers.a]\nurl = \"https://a.io\"\n").unwrap();
        let (merged, warnings) = merge(user, &m);
        assert!(merged.servers.is_empty());
        assert!(warnings[0].contains("allows only the servers it manages"));
    }

    #[test]
    fn a_policy_in_the_users_file_is_refused_with_its_line() {
        let e = Config::parse(
            "config.toml",
            "version = 1\n[policy]\nallow_user_servers = false\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "config.toml:2:1: policy: only the administrator's managed.toml may set a policy"
            ),
            "{e}"
        );
    }

    #[test]
    fn globs() {
        assert!(glob(
            "https://*.corp.example.com/*",
            "https://wiki.corp.example.com/mcp"
        ));
        assert!(!glob(
            "https://*.corp.example.com/*",
            "https://corp.example.com.evil.io/mcp"
        ));
        assert!(!glob(
            "https://*.corp.example.com/*",
            "https://evil.io/x.corp.example.com/y"
        ));
        assert!(glob(
            "https://*.corp.example.com/*",
            "https://a.b.corp.example.com/deep/path"
        ));
        assert!(glob("*", "anything"));
        assert!(glob("https://a.io/mcp", "https://a.io/mcp"));
        assert!(!glob("https://a.io/mcp", "https://a.io/mcp2"));
        assert!(Policy::default().allows("https://any.where"));
        assert!(Policy {
            allowed_server_urls: vec!["HTTPS://A.IO/*".into()],
            allow_user_servers: true
        }
        .allows("https://a.io/x"));
    }
}
