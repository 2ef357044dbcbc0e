//! Opening the system browser, safely.
//!
//! A server-supplied authorization URL once gave remote code execution in a popular bridge
//! (it was handed to a shell). Here the URL must parse as `http` or `https`, and it is passed
//! as a single argument to the platform opener (`open` crate: no shell involved). A host with
//! its own opener (the window: Tauri's opener plugin) installs it with [`set_opener`]; the
//! check above still runs first.

use std::sync::OnceLock;

use url::Url;

use crate::error::AuthError;

/// Checks that `url` is safe to hand to a browser.
pub fn check(url: &str) -> Result<Url, AuthError> {
    let parsed = Url::parse(url).map_err(|e| AuthError::Browser {
        url: url.to_owned(),
        reason: format!("not a URL ({e})"),
    })?;
    match parsed.scheme() {
        "https" | "http" => Ok(parsed),
        other => Err(AuthError::Browser {
            url: url.to_owned(),
            reason: format!("refusing to open a {other}: URL; only http and https are opened"),
        }),
    }
}

type Opener = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static OPENER: OnceLock<Opener> = OnceLock::new();

/// Makes [`open_url`] hand checked URLs to `opener` (set once, at start, by a host such as the
/// window). Later calls are ignored.
pub fn set_opener(opener: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) {
    let _ = OPENER.set(Box::new(opener));
}

/// Opens `url` in the user's browser.
pub fn open_url(url: &str) -> Result<(), AuthError> {
    let parsed = check(url)?;
    let opened = match OPENER.get() {
        Some(open) => open(parsed.as_str()),
        None => open::that_detached(parsed.as_str()).map_err(|e| e.to_string()),
    };
    opened.map_err(|reason| AuthError::Browser {
        url: url.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https() {
        assert!(check("https://as.example.com/authorize?x=1").is_ok());
        assert!(check("http://127.0.0.1:5/authorize").is_ok());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "calc.exe",
            "ms-settings:",
            "$(touch /tmp/pwned)",
            "smb://host/share",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
