//! The file as written: serde data with the position of every value.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// Just the version, read first so that a newer file is refused for its version rather than
/// for fields this build does not know.
#[derive(Debug, Deserialize)]
pub(super) struct VersionOnly {
    pub(super) version: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[allow(dead_code)] // checked by `VersionOnly`
    pub(super) version: Option<toml::Value>,
    #[serde(default)]
    pub(super) servers: IndexMap<Spanned<String>, Spanned<RawServer>>,
    /// Only in the managed file: what the organization allows.
    pub(super) policy: Option<Spanned<RawPolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) allowed_server_urls: Option<Vec<Spanned<String>>>,
    pub(super) allow_user_servers: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) url: Spanned<String>,
    pub(super) transport: Option<Spanned<String>>,
    pub(super) auth: Option<Spanned<RawAuth>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(super) mode: Option<Spanned<String>>,
    pub(super) client_id: Option<Spanned<String>>,
    pub(super) scopes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) extra_authorize_params: Option<Spanned<IndexMap<Spanned<String>, Spanned<String>>>>,
    pub(super) resource: Option<Spanned<String>>,
    pub(super) headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) client_metadata_url: Option<Spanned<String>>,
    pub(super) profile: Option<Spanned<String>>,
    pub(super) redirect: Option<Spanned<String>>,
    pub(super) token_command: Option<Spanned<String>>,
    pub(super) token_endpoint_auth_method: Option<Spanned<String>>,
    pub(super) key_alg: Option<Spanned<String>>,
    pub(super) key_id: Option<Spanned<String>>,
}
