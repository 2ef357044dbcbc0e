//! HTTP for the OAuth engine, with the defaults that are security decisions written down:
//!
//! - no automatic redirects: a token or registration request must never be re-sent to another
//!   host, and each discovery redirect hop is checked like the first URL;
//! - https for every URL that is not loopback;
//! - connect and overall timeouts;
//! - a size cap on every response body.

use std::time::{Duration, Instant};

use companion_core::oauth::server_metadata::require_secure;
use companion_core::secret::Secret;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::redirect::Policy;
use url::Url;

use crate::error::AuthError;
use crate::timeline::{Timeline, TimelineEvent};

/// Overall time limit of one OAuth request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit to establish a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirect hops followed during discovery.
pub const MAX_DISCOVERY_REDIRECTS: usize = 3;

/// A response, fully read.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// The body (at most the cap given).
    pub body: Vec<u8>,
    /// The URL that answered (after discovery redirects).
    pub url: String,
}

/// The `User-Agent` of every request the companion sends.
pub const USER_AGENT: &str = concat!("mcp-companion/", env!("CARGO_PKG_VERSION"));

/// The OAuth engine's HTTP client.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    timeline: Timeline,
}

impl Http {
    /// A client that records to `timeline`.
    pub fn new(timeline: Timeline) -> Result<Self, AuthError> {
        let client = crate::tls::reqwest_builder(true)
            .redirect(Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| AuthError::Config(format!("cannot set up HTTPS: {e}")))?;
        Ok(Self { client, timeline })
    }

    /// The timeline requests are recorded on.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The underlying client (no redirects, timeouts set).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GET a JSON document, following at most [`MAX_DISCOVERY_REDIRECTS`] redirects, each hop
    /// checked for https.
    pub async fn get_json(
        &self,
        step: &'static str,
        url: &str,
        limit: usize,
        extra: &[(&str, &str)],
    ) -> Result<Response, AuthError> {
        let mut current = url.to_owned();
        for _ in 0..=MAX_DISCOVERY_REDIRECTS {
            check_url(step, &current)?;
            let mut req = self.client.get(&current).header(ACCEPT, "application/json");
            for (k, v) in extra {
                req = req.header(*k, *v);
            }
            let resp = self.send(step, "GET", &current, req, limit).await?;
            if (300..400).contains(&resp.status) {
                let Some(next) = location(&resp, &current) else {
                    return Ok(resp);
                };
                self.timeline.note(step, format!("redirected to {next}"));
                current = next;
                continue;
            }
            return Ok(resp);
        }
        Err(AuthError::Refused {
            step,
            reason: format!("more than {MAX_DISCOVERY_REDIRECTS} redirects starting at {url}"),
        })
    }

    /// POST a form (token requests). The body and `Authorization` are secrets and never logged.
    pub async fn post_form(
        &self,
        step: &'static str,
        url: &str,
        body: &Secret,
        authorization: Option<&Secret>,
        limit: usize,
    ) -> Result<Response, AuthError> {
        check_url(step, url)?;
        let mut req = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body.expose().to_owned());
        if let Some(a) = authorization {
            let mut v = HeaderValue::from_str(a.expose()).map_err(|_| {
                AuthError::Config(
                    "client credentials contain characters HTTP cannot carry".to_owned(),
                )
            })?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        self.send(step, "POST", url, req, limit).await
    }

    /// POST JSON (registration).
    pub async fn post_json(
        &self,
        step: &'static str,
        url: &str,
        body: &serde_json::Value,
        limit: usize,
    ) -> Result<Response, AuthError> {
        check_url(step, url)?;
        let req = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body.to_string());
        self.send(step, "POST", url, req, limit).await
    }

    async fn send(
        &self,
        step: &'static str,
        method: &str,
        url: &str,
        req: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<Response, AuthError> {
        let started = Instant::now();
        let at_ms = self.timeline.elapsed_ms();
        let result = async {
            let mut resp = req.send().await.map_err(|e| network(step, url, &e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| network(step, url, &e))? {
                if body.len() + chunk.len() > limit {
                    return Err(AuthError::TooLarge {
                        step,
                        url: url.to_owned(),
                        limit,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                headers,
                body,
                url: url.to_owned(),
            })
        }
        .await;
        let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.timeline.push(TimelineEvent {
            at_ms,
            step: step.to_owned(),
            method: Some(method.to_owned()),
            url: Some(url.to_owned()),
            status: result.as_ref().ok().map(|r| r.status),
            took_ms: Some(took_ms),
            note: match &result {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            },
        });
        result
    }
}

/// A response's `WWW-Authenticate` values (it may carry several), as text.
pub fn www_authenticate(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// The `Bearer` challenge among a response's `WWW-Authenticate` values, if any.
pub fn bearer_challenge(
    headers: &HeaderMap,
) -> Option<companion_core::oauth::challenge::BearerChallenge> {
    let values = www_authenticate(headers);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    companion_core::oauth::challenge::bearer(&refs)
}

/// Annotates the last event of a step with what was learned.
pub(crate) fn learned(timeline: &Timeline, step: &str, note: impl Into<String>) {
    timeline.note(step, note);
}

fn network(step: &'static str, url: &str, e: &reqwest::Error) -> AuthError {
    let mut reason = describe_failure(e);
    if e.is_timeout() {
        reason = format!("timed out ({reason})");
    }
    AuthError::Network {
        step,
        url: url.to_owned(),
        reason,
    }
}

/// What a failed request says, cause by cause, with advice when the cause is one a person can
/// act on (see [`tls_advice`]).
pub fn describe_failure(e: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        reason = format!("{reason}: {s}");
        src = s.source();
    }
    if let Some(advice) = tls_advice(&reason) {
        reason.push_str(advice);
    }
    reason
}

/// Advice for a refused server certificate, read from the error's text (rustls names the
/// problem, as in "invalid peer certificate: UnknownIssuer").
pub fn tls_advice(reason: &str) -> Option<&'static str> {
    if !reason.contains("invalid peer certificate") {
        return None;
    }
    Some(if reason.contains("UnknownIssuer") {
        ". The server's certificate comes from an authority this computer does not trust; if it \
         is your organisation's own certificate authority, install it in the system's trust \
         store (or set SSL_CERT_FILE to a bundle that includes it)"
    } else {
        ". The server's certificate was refused (expired, or made for another name?): check the \
         URL, or tell the server's owner"
    })
}

/// Refuses URLs that are not https (loopback excepted).
pub fn check_url(step: &'static str, url: &str) -> Result<(), AuthError> {
    require_secure("URL", url).map_err(|_| AuthError::Refused {
        step,
        reason: format!("{url:?} is not an https URL; only loopback addresses may use plain http"),
    })
}

/// The absolute `Location` of a redirect.
pub(crate) fn location(resp: &Response, base: &str) -> Option<String> {
    let loc = resp.headers.get(LOCATION)?.to_str().ok()?;
    Url::parse(base).ok()?.join(loc).ok().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_certificates_get_advice() {
        let unknown = "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer";
        assert!(tls_advice(unknown).is_some_and(|a| a.contains("trust store")));
        let expired = "client error (Connect): invalid peer certificate: Expired";
        assert!(tls_advice(expired).is_some_and(|a| a.contains("refused")));
        assert_eq!(tls_advice("tcp connect error: Connection refused"), None);
    }
}
