//! PKCE with S256 (RFC 7636). There is no `plain`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// A verifier and its challenge. Not `Clone`: one pair serves exactly one authorization.
#[derive(Debug)]
pub struct Pkce {
    verifier: Secret,
    challenge: String,
}

impl Pkce {
    /// Builds a pair from 32 random bytes (the caller's RNG): a 43-character verifier.
    pub fn from_random(bytes: [u8; 32]) -> Self {
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = challenge_of(&verifier);
        Self {
            verifier: Secret::new(verifier),
            challenge,
        }
    }

    /// The `code_challenge` (method S256).
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Gives up the verifier for the token request.
    pub fn into_verifier(self) -> Secret {
        self.verifier
    }
}

/// `BASE64URL(SHA256(verifier))`.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Random bytes as URL-safe text (for `state`).
pub fn random_token(bytes: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_has_the_required_length_and_never_prints() {
        let p = Pkce::from_random([7; 32]);
        assert_eq!(challenge_of(p.verifier.expose()), p.challenge());
        assert!(!format!("{p:?}").contains(p.verifier.expose()));
        let v = p.into_verifier();
        assert_eq!(v.expose().len(), 43);
        assert_eq!(random_token([0; 16]).len(), 22);
    }
}
