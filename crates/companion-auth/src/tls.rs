//! The TLS set-up of every HTTPS connection the companion makes, with the certificate
//! authorities loaded once per process.
//!
//! It is the set-up reqwest would make by itself: rustls (ring), TLS 1.2 and 1.3, the system's
//! trust store (where IT installs a company's own certificate authority; `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` are honoured) and the Mozilla roots beside it, for a system without a store.
//! Left to itself, reqwest reads the system's store (on Debian about 150 files, ~3 ms) for each
//! client it builds, and a sign-in builds several.

use std::sync::{Arc, OnceLock};

/// The trusted roots, read on first use.
fn roots() -> Arc<rustls::RootCertStore> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let mut store = rustls::RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // A store often holds a few certificates rustls cannot read (ancient ones without
        // extensions): skipped, as reqwest does.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = store.add(cert);
        }
        Arc::new(store)
    }))
}

/// A rustls configuration trusting the roots above, or none at all without `roots_wanted`
/// (for a client that only ever meets plain-http loopback URLs). ALPN is left empty.
pub fn client_config(roots_wanted: bool) -> Result<rustls::ClientConfig, String> {
    let store = if roots_wanted {
        roots()
    } else {
        Arc::new(rustls::RootCertStore::empty())
    };
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(store)
        .with_no_client_auth())
}

/// A reqwest client builder with [`client_config`] (HTTP/2 and HTTP/1.1 offered by ALPN, as
/// reqwest would). Should the configuration fail, reqwest makes its own.
pub fn reqwest_builder(roots_wanted: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match client_config(roots_wanted) {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            builder.use_preconfigured_tls(config)
        }
        Err(_) => builder.tls_built_in_root_certs(roots_wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_are_read_once_and_include_mozillas() {
        let a = roots();
        let b = roots();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.len() >= webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(client_config(false).unwrap().alpn_protocols.is_empty());
    }
}
