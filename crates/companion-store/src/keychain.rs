//! Secrets in the OS keychain: Secret Service on Linux, Keychain on macOS, Credential Manager
//! on Windows (through the `keyring` crate). Never a plain file, not even as a fallback.
//!
//! # Entries
//! Service `mcp-companion` (release builds), `mcp-companion.dev` (debug builds) or
//! `mcp-companion.<namespace>` (tests), so a development build never reads or overwrites a
//! user's real entries. Accounts are `<server>/<kind>`.
//!
//! # Size and atomicity
//! Windows caps a credential at 2,560 bytes of UTF-16. A value that fits is stored inline in
//! one entry (`v1=<value>`). A larger one (a 6 KB JWT, say) is split into parts of at most
//! [`PART_UTF16_UNITS`] UTF-16 units under a generation number, and the head entry
//! (`v1*<generation>:<parts>:<digest>`) is written **last**: a process killed mid-write leaves
//! the previous head, which still points at complete parts, and a reader checks the digest.
//! The parts of the old generation are deleted only after the new head is in place.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use companion_core::secret::Secret;
use sha2::{Digest, Sha256};

/// Largest part, in UTF-16 code units (Windows: 2,560 bytes = 1,280 units, with headroom).
pub const PART_UTF16_UNITS: usize = 1200;

/// Why the keychain could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeychainError {
    /// Locked, and unlocking needs the user.
    #[error(
        "{service} is locked, so MCP Companion cannot read or store tokens. {how} Nothing was \
         written to a plain file instead"
    )]
    Locked {
        /// The platform's keychain, by name.
        service: &'static str,
        /// How to unlock it.
        how: &'static str,
    },
    /// Missing or refusing.
    #[error("{service} is not available ({reason}). {how}")]
    Unavailable {
        /// The platform's keychain, by name.
        service: &'static str,
        /// What the platform said.
        reason: String,
        /// What to do.
        how: &'static str,
    },
    /// An entry exists but cannot be read back whole.
    #[error(
        "the keychain entry {0} is damaged (an interrupted write?); sign in again to replace it"
    )]
    Corrupt(String),
}

/// The platform's keychain, for messages.
#[cfg(target_os = "linux")]
const PLATFORM: (&str, &str, &str) = (
    "The Secret Service keychain (GNOME Keyring or KWallet)",
    "Unlock it: log in to your desktop session, or open Passwords and Keys (Seahorse) and unlock the Login keyring.",
    "Install and start a Secret Service provider such as gnome-keyring (Debian: apt install gnome-keyring) in your desktop session.",
);
#[cfg(target_os = "macos")]
const PLATFORM: (&str, &str, &str) = (
    "The macOS login Keychain",
    "Unlock it in Keychain Access (or log out and back in).",
    "Check Keychain Access for a damaged login keychain.",
);
#[cfg(target_os = "windows")]
const PLATFORM: (&str, &str, &str) = (
    "Windows Credential Manager",
    "Log in to Windows with your own account.",
    "Check that the Credential Manager service is running.",
);
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const PLATFORM: (&str, &str, &str) = (
    "The OS keychain",
    "Unlock it.",
    "Install a Secret Service provider.",
);

/// The platform keychain's name, for messages.
pub fn platform_name() -> &'static str {
    PLATFORM.0
}

fn locked() -> KeychainError {
    KeychainError::Locked {
        service: PLATFORM.0,
        how: PLATFORM.1,
    }
}

fn unavailable(reason: impl fmt::Display) -> KeychainError {
    KeychainError::Unavailable {
        service: PLATFORM.0,
        reason: reason.to_string(),
        how: PLATFORM.2,
    }
}

/// Single entries, as the platform stores them. Implementations need not split.
pub trait RawStore: Send + Sync + fmt::Debug {
    /// Reads an entry.
    fn get_raw(&self, account: &str) -> Result<Option<String>, KeychainError>;
    /// Writes an entry.
    fn set_raw(&self, account: &str, value: &str) -> Result<(), KeychainError>;
    /// Deletes an entry; deleting a missing one is not an error.
    fn delete_raw(&self, account: &str) -> Result<(), KeychainError>;
}

impl RawStore for Box<dyn RawStore> {
    fn get_raw(&self, account: &str) -> Result<Option<String>, KeychainError> {
        (**self).get_raw(account)
    }
    fn set_raw(&self, account: &str, value: &str) -> Result<(), KeychainError> {
        (**self).set_raw(account, value)
    }
    fn delete_raw(&self, account: &str) -> Result<(), KeychainError> {
        (**self).delete_raw(account)
    }
}

/// The OS keychain.
#[derive(Debug, Clone)]
pub struct OsKeychain {
    service: String,
}

impl OsKeychain {
    /// The keychain under `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    /// The service name for this build: `mcp-companion` for release builds, `.dev` suffixed for
    /// debug builds, or `.<namespace>` when one is given (tests).
    pub fn service_name(namespace: Option<&str>) -> String {
        match namespace {
            Some(n) if !n.is_empty() => format!("mcp-companion.{n}"),
            _ if cfg!(debug_assertions) => "mcp-companion.dev".to_owned(),
            _ => "mcp-companion".to_owned(),
        }
    }

    /// The user's keychain for this build (`MCP_COMPANION_KEYCHAIN_NAMESPACE` selects a separate
    /// namespace, for tests).
    pub fn for_user() -> Self {
        let namespace = std::env::var("MCP_COMPANION_KEYCHAIN_NAMESPACE").ok();
        Self::new(Self::service_name(namespace.as_deref()))
    }

    /// The service name in use.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(&self.service, account).map_err(map_err)
    }
}

fn map_err(e: keyring::Error) -> KeychainError {
    match e {
        keyring::Error::NoStorageAccess(_) => locked(),
        other => unavailable(other),
    }
}

impl RawStore for OsKeychain {
    fn get_raw(&self, account: &str) -> Result<Option<String>, KeychainError> {
        match self.entry(account)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(keyring::Error::BadEncoding(_)) => Err(KeychainError::Corrupt(account.to_owned())),
            Err(e) => Err(map_err(e)),
        }
    }

    fn set_raw(&self, account: &str, value: &str) -> Result<(), KeychainError> {
        self.entry(account)?.set_password(value).map_err(map_err)
    }

    fn delete_raw(&self, account: &str) -> Result<(), KeychainError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }
}

/// An in-memory store for tests and `--store memory`, with an optional per-entry limit to
/// check the splitting.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, String>>,
    /// Refuse entries longer than this many UTF-16 units (0: no limit).
    pub limit_utf16: usize,
}

impl MemoryStore {
    /// How many raw entries exist.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RawStore for MemoryStore {
    fn get_raw(&self, account: &str) -> Result<Option<String>, KeychainError> {
        Ok(self
            .entries
            .lock()
            .map_err(|_| unavailable("poisoned"))?
            .get(account)
            .cloned())
    }

    fn set_raw(&self, account: &str, value: &str) -> Result<(), KeychainError> {
        if self.limit_utf16 > 0 && value.encode_utf16().count() > self.limit_utf16 {
            return Err(unavailable(format!(
                "entry {account} is over the platform limit"
            )));
        }
        self.entries
            .lock()
            .map_err(|_| unavailable("poisoned"))?
            .insert(account.to_owned(), value.to_owned());
        Ok(())
    }

    fn delete_raw(&self, account: &str) -> Result<(), KeychainError> {
        self.entries
            .lock()
            .map_err(|_| unavailable("poisoned"))?
            .remove(account);
        Ok(())
    }
}

/// Keychain accounts, one place for every kind of secret a server can have.
pub mod accounts {
    /// The OAuth token set (access token, refresh token, expiry).
    pub fn tokens(server: &str) -> String {
        format!("{server}/tokens")
    }
    /// A pre-registered or client-credentials client secret.
    pub fn client_secret(server: &str) -> String {
        format!("{server}/client-secret")
    }
    /// A static bearer token.
    pub fn bearer(server: &str) -> String {
        format!("{server}/bearer")
    }
    /// A static header's value.
    pub fn header(server: &str, name: &str) -> String {
        format!("{server}/header/{}", name.to_ascii_lowercase())
    }
    /// The PEM private key of a `private_key_jwt` client.
    pub fn private_key(server: &str) -> String {
        format!("{server}/private-key")
    }

    /// Every account a server may have secrets under, to forget them all when it is removed.
    pub fn of_server(server: &companion_core::config::ServerConfig) -> Vec<String> {
        let name = server.name.as_str();
        let mut out = vec![
            tokens(name),
            client_secret(name),
            bearer(name),
            private_key(name),
        ];
        if let companion_core::config::AuthConfig::Headers { headers } = &server.auth {
            out.extend(headers.iter().map(|h| header(name, h)));
        }
        out
    }
}

/// What [`SecretStore::set_all`] replaced: each account and the value it held before.
#[derive(Debug)]
#[must_use = "keep it to undo the write if a later step fails"]
pub struct Written {
    previous: Vec<(String, Option<Secret>)>,
}

/// Secrets of any size over a [`RawStore`].
#[derive(Debug)]
pub struct SecretStore<S> {
    raw: S,
}

const INLINE: &str = "v1=";
const SPLIT: &str = "v1*";

impl<S: RawStore> SecretStore<S> {
    /// Wraps a raw store.
    pub fn new(raw: S) -> Self {
        Self { raw }
    }

    /// The raw store.
    pub fn raw(&self) -> &S {
        &self.raw
    }

    /// Reads a secret.
    pub fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        let Some(head) = self.raw.get_raw(account)? else {
            return Ok(None);
        };
        if let Some(v) = head.strip_prefix(INLINE) {
            return Ok(Some(Secret::new(v)));
        }
        let (generation, parts, digest) =
            parse_head(&head).ok_or_else(|| KeychainError::Corrupt(account.to_owned()))?;
        let mut value = String::new();
        for i in 0..parts {
            let part = self
                .raw
                .get_raw(&part_name(account, generation, i))?
                .ok_or_else(|| KeychainError::Corrupt(account.to_owned()))?;
            value.push_str(&part);
        }
        if short_digest(&value) != digest {
            return Err(KeychainError::Corrupt(account.to_owned()));
        }
        Ok(Some(Secret::new(value)))
    }

    /// Writes a secret, replacing any previous value atomically (see the module docs).
    pub fn set(&self, account: &str, value: &Secret) -> Result<(), KeychainError> {
        let v = value.expose();
        let previous = self
            .raw
            .get_raw(account)
            .ok()
            .flatten()
            .and_then(|h| parse_head(&h));
        if v.encode_utf16().count() + INLINE.len() <= PART_UTF16_UNITS {
            self.raw.set_raw(account, &format!("{INLINE}{v}"))?;
        } else {
            let generation = previous.as_ref().map_or(1, |(g, _, _)| g.wrapping_add(1));
            let parts = split(v);
            for (i, p) in parts.iter().enumerate() {
                self.raw.set_raw(&part_name(account, generation, i), p)?;
            }
            self.raw.set_raw(
                account,
                &format!("{SPLIT}{generation}:{}:{}", parts.len(), short_digest(v)),
            )?;
        }
        if let Some((g, n, _)) = previous {
            for i in 0..n {
                let _ = self.raw.delete_raw(&part_name(account, g, i));
            }
        }
        Ok(())
    }

    /// Stores every secret, or none: when one cannot be written, the accounts already written
    /// get back what they held. The returned [`Written`] can put everything back the same way
    /// if a step after this one fails (for example, saving the config the secrets belong to).
    pub fn set_all(&self, secrets: &[(String, Secret)]) -> Result<Written, KeychainError> {
        let mut done = Written {
            previous: Vec::with_capacity(secrets.len()),
        };
        for (account, value) in secrets {
            let result = self
                .get(account)
                .and_then(|prev| self.set(account, value).map(|()| prev));
            match result {
                Ok(prev) => done.previous.push((account.clone(), prev)),
                Err(e) => {
                    self.undo(done);
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Puts back what the accounts held before [`Self::set_all`] (best effort: the keychain
    /// failing now as well leaves what it leaves).
    pub fn undo(&self, written: Written) {
        for (account, previous) in written.previous.iter().rev() {
            let _ = match previous {
                Some(v) => self.set(account, v),
                None => self.delete(account),
            };
        }
    }

    /// Deletes a secret and its parts.
    pub fn delete(&self, account: &str) -> Result<(), KeychainError> {
        let previous = self.raw.get_raw(account)?.and_then(|h| parse_head(&h));
        self.raw.delete_raw(account)?;
        if let Some((g, n, _)) = previous {
            for i in 0..n {
                self.raw.delete_raw(&part_name(account, g, i))?;
            }
        }
        Ok(())
    }
}

fn part_name(account: &str, generation: u64, i: usize) -> String {
    format!("{account}#{generation}.{i}")
}

fn parse_head(head: &str) -> Option<(u64, usize, String)> {
    let rest = head.strip_prefix(SPLIT)?;
    let mut it = rest.splitn(3, ':');
    let g = it.next()?.parse().ok()?;
    let n: usize = it.next()?.parse().ok()?;
    let d = it.next()?.to_owned();
    (n <= 1024).then_some((g, n, d))
}

fn short_digest(v: &str) -> String {
    Sha256::digest(v.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn split(v: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut units = 0;
    for c in v.chars() {
        let n = c.len_utf16();
        if units + n > PART_UTF16_UNITS {
            parts.push(std::mem::take(&mut cur));
            units = 0;
        }
        cur.push(c);
        units += n;
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SecretStore<MemoryStore> {
        SecretStore::new(MemoryStore {
            limit_utf16: 1280,
            ..MemoryStore::default()
        })
    }

    fn jwt(len: usize) -> String {
        let mut s = String::from("eyJhbGciOiJSUzI1NiJ9.");
        while s.len() < len {
            s.push_str("abcdefghijklmnopqrstuvwxyz0123456789-_");
        }
        s.truncate(len);
        s
    }

    #[test]
    fn set_all_writes_everything_or_puts_back_what_was_there() {
        // A keychain that refuses entries over 50 units: the third write fails.
        let s = SecretStore::new(MemoryStore {
            limit_utf16: 50,
            ..MemoryStore::default()
        });
        s.set("a/client-secret", &Secret::new("old-a")).unwrap();
        let too_big = "x".repeat(100);
        let err = s.set_all(&[
            ("a/client-secret".to_owned(), Secret::new("new-a")),
            ("b/bearer".to_owned(), Secret::new("new-b")),
            ("c/bearer".to_owned(), Secret::new(&too_big)),
        ]);
        assert!(err.is_err());
        assert_eq!(s.get("a/client-secret").unwrap().unwrap().expose(), "old-a");
        assert!(s.get("b/bearer").unwrap().is_none());

        // Written, then undone (the step after the write failed).
        let w = s
            .set_all(&[
                ("a/client-secret".to_owned(), Secret::new("new-a")),
                ("b/bearer".to_owned(), Secret::new("new-b")),
            ])
            .unwrap();
        assert_eq!(s.get("a/client-secret").unwrap().unwrap().expose(), "new-a");
        s.undo(w);
        assert_eq!(s.get("a/client-secret").unwrap().unwrap().expose(), "old-a");
        assert!(s.get("b/bearer").unwrap().is_none());
    }

    #[test]
    fn small_values_are_one_entry() {
        let s = store();
        s.set("srv/tokens", &Secret::new("tok")).unwrap();
        assert_eq!(s.raw().len(), 1);
        assert_eq!(s.get("srv/tokens").unwrap().unwrap().expose(), "tok");
        assert!(s.get("other").unwrap().is_none());
    }

    #[test]
    fn a_6kb_jwt_is_split_within_the_windows_limit_and_replaced_cleanly() {
        let s = store();
        let big = jwt(6 * 1024);
        s.set("srv/tokens", &Secret::new(big.clone())).unwrap();
        assert_eq!(s.get("srv/tokens").unwrap().unwrap().expose(), big);
        assert_eq!(s.raw().len(), 1 + 6, "head + 6 parts of at most 1200 units");
        let bigger = jwt(9000);
        s.set("srv/tokens", &Secret::new(bigger.clone())).unwrap();
        assert_eq!(s.get("srv/tokens").unwrap().unwrap().expose(), bigger);
        assert_eq!(s.raw().len(), 1 + 8, "old generation's parts removed");
        s.set("srv/tokens", &Secret::new("small")).unwrap();
        assert_eq!(s.raw().len(), 1);
        s.delete("srv/tokens").unwrap();
        assert!(s.raw().is_empty());
    }

    #[test]
    fn non_ascii_is_split_by_utf16_units() {
        let s = store();
        let v: String = "😀é".repeat(2000);
        s.set("k", &Secret::new(v.clone())).unwrap();
        assert_eq!(s.get("k").unwrap().unwrap().expose(), v);
    }

    #[test]
    fn an_interrupted_write_leaves_the_old_value_readable() {
        let s = store();
        let old = jwt(5000);
        s.set("k", &Secret::new(old.clone())).unwrap();
        // A crash after writing the new generation's first part, before the head.
        s.raw().set_raw("k#2.0", "garbage").unwrap();
        assert_eq!(s.get("k").unwrap().unwrap().expose(), old);
        // The next write reuses generation 2 and overwrites the orphan.
        let new = jwt(4000);
        s.set("k", &Secret::new(new.clone())).unwrap();
        assert_eq!(s.get("k").unwrap().unwrap().expose(), new);
    }

    #[test]
    fn damage_is_detected_not_returned() {
        let s = store();
        s.set("k", &Secret::new(jwt(5000))).unwrap();
        s.raw().set_raw("k#1.1", "tampered").unwrap();
        assert_eq!(s.get("k").unwrap_err(), KeychainError::Corrupt("k".into()));
        s.raw().set_raw("k", "v1*nonsense").unwrap();
        assert!(s.get("k").is_err());
    }

    #[test]
    fn service_names_are_namespaced() {
        assert_eq!(
            OsKeychain::service_name(Some("test-1")),
            "mcp-companion.test-1"
        );
        let default = OsKeychain::service_name(None);
        assert!(default == "mcp-companion.dev" || default == "mcp-companion");
    }

    #[test]
    fn errors_name_the_keychain_and_the_way_out() {
        let msg = locked().to_string();
        assert!(
            msg.contains("is locked") && msg.contains("Nothing was written to a plain file"),
            "{msg}"
        );
    }
}
