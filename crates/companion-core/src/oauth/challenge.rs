//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1) and the Bearer challenge (RFC 6750 §3,
//! RFC 9728 §5.1).
//!
//! The grammar is ambiguous by design: commas separate both challenges and parameters. A new
//! challenge starts wherever a token is *not* followed by `=`. Parameter names are
//! case-insensitive; values may be tokens or quoted strings with `\` escapes.

/// Longest header value we parse; anything longer is cut there (a hostile server cannot make
/// us allocate without bound).
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// One challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, as sent (compare case-insensitively).
    pub scheme: String,
    /// A token68 value, for schemes that use one.
    pub token68: Option<String>,
    /// Parameters, names lower-cased, in order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The first value of parameter `name` (lower-case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a Bearer challenge tells an MCP client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `error`, such as `invalid_token` or `insufficient_scope`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `scope`, split on spaces: the scopes this request needs.
    pub scope: Option<Vec<String>>,
    /// `resource_metadata`: where the protected resource metadata is (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// `realm`.
    pub realm: Option<String>,
    /// `authorization_uri`, a non-standard hint some servers send.
    pub authorization_uri: Option<String>,
}

impl BearerChallenge {
    /// Whether this is a 403 `insufficient_scope` step-up request.
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// Parses every challenge in the given header values (a response may carry several
/// `WWW-Authenticate` headers). Unparseable tails are dropped, never an error: a broken
/// header must not stop a sign-in that can proceed by discovery.
pub fn parse(values: &[&str]) -> Vec<Challenge> {
    let mut out = Vec::new();
    for v in values {
        let v = truncate(v, MAX_HEADER_LEN);
        Parser {
            s: v.as_bytes(),
            i: 0,
        }
        .challenges(&mut out);
    }
    out
}

/// The first Bearer challenge in the given header values, if any.
pub fn bearer(values: &[&str]) -> Option<BearerChallenge> {
    let c = parse(values)
        .into_iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))?;
    let get = |n: &str| c.param(n).map(str::to_owned);
    Some(BearerChallenge {
        error: get("error"),
        error_description: get("error_description"),
        scope: c
            .param("scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect()),
        resource_metadata: get("resource_metadata"),
        realm: get("realm"),
        authorization_uri: get("authorization_uri"),
    })
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// Whether a `name =` follows (without consuming).
    fn param_ahead(&self) -> bool {
        let mut j = self.i;
        let start = j;
        while self.s.get(j).copied().is_some_and(is_tchar) {
            j += 1;
        }
        if j == start {
            return false;
        }
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if self.s.get(j) != Some(&b'=') {
            return false;
        }
        // `name=value`, not token68 padding (`dXNlcg==`): a value must follow the `=`.
        j += 1;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        !matches!(self.s.get(j), None | Some(b',' | b'='))
    }

    fn quoted(&mut self) -> String {
        // At the opening quote.
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn value(&mut self) -> String {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else {
            self.token().unwrap_or_default()
        }
    }

    fn challenges(&mut self, out: &mut Vec<Challenge>) {
        loop {
            self.skip_ws_commas();
            let Some(scheme) = self.token() else { return };
            let mut c = Challenge {
                scheme,
                token68: None,
                params: Vec::new(),
            };
            self.skip_ws();
            // token68 (e.g. `Basic dXNlcg==`), only directly after the scheme.
            if !self.param_ahead() && self.peek().is_some_and(is_token68) {
                let start = self.i;
                while self.peek().is_some_and(is_token68) {
                    self.i += 1;
                }
                while self.peek() == Some(b'=') {
                    self.i += 1;
                }
                c.token68 = Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned());
                out.push(c);
                continue;
            }
            while self.param_ahead() {
                let name = self.token().unwrap_or_default().to_ascii_lowercase();
                self.skip_ws();
                self.i += 1; // '='
                self.skip_ws();
                let value = self.value();
                c.params.push((name, value));
                self.skip_ws();
                if self.peek() == Some(b',') {
                    self.i += 1;
                    self.skip_ws_commas();
                } else if self.peek().is_some() && !self.param_ahead() {
                    // Junk after a value: skip to the next comma.
                    while self.peek().is_some_and(|b| b != b',') {
                        self.i += 1;
                    }
                    if self.peek() == Some(b',') {
                        self.i += 1;
                        self.skip_ws_commas();
                    }
                }
            }
            out.push(c);
            if self.peek().is_none() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_401_with_resource_metadata() {
        // As sent by @modelcontextprotocol/sdk's requireBearerAuth (conformance fixture).
        let h = r#"Bearer error="invalid_token", error_description="Missing Authorization header", resource_metadata="http://localhost:40125/.well-known/oauth-protected-resource/mcp""#;
        let b = bearer(&[h]).unwrap();
        assert_eq!(b.error.as_deref(), Some("invalid_token"));
        assert_eq!(
            b.error_description.as_deref(),
            Some("Missing Authorization header")
        );
        assert_eq!(
            b.resource_metadata.as_deref(),
            Some("http://localhost:40125/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(b.scope, None);
    }

    #[test]
    fn step_up_403() {
        let h = r#"Bearer scope="mcp:basic mcp:write", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp", error="insufficient_scope""#;
        let b = bearer(&[h]).unwrap();
        assert!(b.is_insufficient_scope());
        assert_eq!(b.scope.unwrap(), ["mcp:basic", "mcp:write"]);
    }

    #[test]
    fn several_challenges_and_schemes() {
        let h = r#"Basic realm="x", Bearer realm="api", scope=read, authorization_uri="https://as/authorize", DPoP algs="ES256""#;
        let all = parse(&[h]);
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "DPoP"]);
        let b = bearer(&[h]).unwrap();
        assert_eq!(b.realm.as_deref(), Some("api"));
        assert_eq!(b.scope.unwrap(), ["read"]);
        assert_eq!(b.authorization_uri.as_deref(), Some("https://as/authorize"));
    }

    #[test]
    fn several_headers_token68_case_and_escapes() {
        let all = parse(&[
            "Negotiate dXNlcg==",
            r#"BEARER Error="a\"b\\c" , SCOPE = "x""#,
        ]);
        assert_eq!(all[0].token68.as_deref(), Some("dXNlcg=="));
        let b = bearer(&[
            "Negotiate dXNlcg==",
            r#"BEARER Error="a\"b\\c" , SCOPE = "x""#,
        ])
        .unwrap();
        assert_eq!(b.error.as_deref(), Some(r#"a"b\c"#));
        assert_eq!(b.scope.unwrap(), ["x"]);
    }

    #[test]
    fn bare_bearer_and_no_bearer() {
        assert_eq!(bearer(&["Bearer"]), Some(BearerChallenge::default()));
        assert_eq!(bearer(&["Basic realm=\"x\""]), None);
        assert_eq!(bearer(&[]), None);
    }

    #[test]
    fn hostile_input_is_bounded_and_never_panics() {
        let huge = format!("Bearer scope=\"{}\"", "a ".repeat(1 << 20));
        let b = bearer(&[&huge]).unwrap();
        assert!(b.scope.unwrap().len() < MAX_HEADER_LEN);
        for junk in [
            "",
            ",,,",
            "=",
            "Bearer =",
            "Bearer a=\"unterminated",
            "Bearer a=b c d, e",
            "\u{0}é\"",
            "Bearer é=1",
        ] {
            let _ = parse(&[junk]);
        }
        let b = bearer(&["Bearer error=\"x\" junk junk, scope=\"s\""]).unwrap();
        assert_eq!(b.error.as_deref(), Some("x"));
        assert_eq!(b.scope.unwrap(), ["s"]);
    }
}
