//! The HTTP client under [`super::StreamableHttp`].
//!
//! A bridge sends every message of its session through here, one after the other, so what a
//! request costs in CPU is added to every call its MCP client makes. reqwest, which the rest
//! of the companion uses, is a layer over hyper-util's pooled client; per request, that layer
//! prints the URL and parses it back, consults the cookie store, matches proxies and wraps the
//! future for redirects and timeouts. Measured with `./scripts/bench bridge` (release, 4 runs
//! each), going to hyper-util directly took the bridge's CPU per call from 65 to 45 µs and its
//! sequential `tools/call` p50 from 1.54–1.76× to 1.33–1.47× the direct-HTTP floor.
//!
//! So an endpoint reached directly (the usual case) goes through hyper-util's client over
//! rustls, set up as for every other connection ([`companion_auth::tls`]). An endpoint that a
//! proxy set in the environment applies to (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, minus
//! `NO_PROXY`) keeps going through reqwest, which knows how to speak to proxies (CONNECT
//! tunnels for https).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioExecutor;

/// What failed, with its causes as its source chain.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body, whichever client read it.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most an HTTP/1.1 connection's read buffer grows to (hyper's default is about 400 KiB),
/// which also caps a response's headers. A large body then comes in pieces the allocator
/// reuses: a 5 MB result costs the bridge about 110 page faults instead of 320, and the bench's
/// peak RSS with 5 MB results is about 0.5 MB above its 64-in-flight peak instead of 1.7 MB.
/// 64 KiB saved no more memory and was slower on the 5 MB result (1.8–2.6× direct against
/// 1.4–1.7×, 3 runs each).
const MAX_READ_BUFFER: usize = 128 * 1024;

type Direct = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A pooled HTTP client for one endpoint.
#[derive(Debug, Clone)]
pub(crate) enum Client {
    /// hyper-util's client, reaching the endpoint directly.
    Direct(Box<Direct>),
    /// reqwest, reaching the endpoint through a proxy.
    Proxied(reqwest::Client),
}

impl Client {
    /// A client for requests to `endpoint` (and nothing else: redirects are not followed),
    /// through the proxy the environment sets for it, if any.
    pub(crate) fn new(endpoint: &http::Uri) -> Result<Self, String> {
        Self::with_proxies(endpoint, &Matcher::from_system())
    }

    fn with_proxies(endpoint: &http::Uri, proxies: &Matcher) -> Result<Self, String> {
        let proxied = proxies.intercept(endpoint).is_some();
        // A plain-http endpoint (loopback: nothing else may be plain) needs no certificate
        // authorities; loading the system's (on Debian about 150 files) would add ~3 ms to the
        // start of every bridge.
        let plain = endpoint.scheme_str() == Some("http");
        if proxied {
            return companion_auth::tls::reqwest_builder(!plain)
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map(Self::Proxied)
                .map_err(|e| companion_auth::http::describe_failure(&e));
        }
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(companion_auth::tls::client_config(!plain)?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        Ok(Self::Direct(Box::new(
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .http1_max_buf_size(MAX_READ_BUFFER)
                .build(tls),
        )))
    }

    /// Sends `req` and returns the response once its headers arrived.
    pub(crate) async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Body>, BoxError> {
        match self {
            Self::Direct(c) => {
                let resp = c.request(req.map(Full::new)).await?;
                Ok(resp.map(|b| b.map_err(BoxError::from).boxed_unsync()))
            }
            Self::Proxied(c) => {
                let resp = c.execute(reqwest::Request::try_from(req)?).await?;
                Ok(http::Response::from(resp).map(|b| b.map_err(BoxError::from).boxed_unsync()))
            }
        }
    }
}

/// The next piece of `body`; `None` at its end.
pub(crate) async fn next_chunk(body: &mut Body) -> Result<Option<Bytes>, BoxError> {
    while let Some(frame) = body.frame().await {
        // Trailers carry no data.
        if let Ok(data) = frame?.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_behind_a_proxy_goes_through_reqwest() {
        let endpoint: http::Uri = "http://mcp.example.test/mcp".parse().unwrap();
        let none = Matcher::builder().build();
        let proxy = Matcher::builder()
            .http("http://proxy.example.test:3128")
            .build();
        let excepted = Matcher::builder()
            .http("http://proxy.example.test:3128")
            .no("mcp.example.test")
            .build();
        assert!(matches!(
            Client::with_proxies(&endpoint, &none),
            Ok(Client::Direct(_))
        ));
        assert!(matches!(
            Client::with_proxies(&endpoint, &proxy),
            Ok(Client::Proxied(_))
        ));
        assert!(matches!(
            Client::with_proxies(&endpoint, &excepted),
            Ok(Client::Direct(_))
        ));
    }
}
