//! Opening the system browser, safely.
//!
//! A server-supplied authorization URL once gave remote code execution in a popular bridge
//! (it was handed to a shell). Here the URL must parse as `http` or `https`, and it is passed
//! as a single argument to the platform opener (`open` crate: no shell involved).

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

/// Opens `url` in the user's browser.
pub fn open_url(url: &str) -> Result<(), AuthError> {
    let parsed = check(url)?;
    open::that_detached(parsed.as_str()).map_err(|e| AuthError::Browser {
        url: url.to_owned(),
        reason: e.to_string(),
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
