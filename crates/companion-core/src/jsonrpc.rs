//! Peeking at JSON-RPC messages without re-serialising them.
//!
//! The bridge forwards the bytes it received; it only needs to know whether a message is a
//! request, a notification or a response, its `id` and its `method`. [`peek`] reads just that
//! (everything else is skipped, not stored), so unknown fields, batches and odd ids pass through
//! untouched.

use serde::Deserialize;
use serde_json::value::RawValue;

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Has `method` and `id`.
    Request {
        /// The id, as canonical JSON text (`1`, `"a"`, `1.5`).
        id: String,
        /// The method.
        method: String,
    },
    /// Has `method`, no `id`.
    Notification {
        /// The method.
        method: String,
    },
    /// Has `id` and `result` or `error`, no `method`.
    Response {
        /// The id, as canonical JSON text.
        id: String,
    },
}

/// A peeked message: one, or a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peeked {
    /// A single message.
    One(Kind),
    /// A JSON-RPC batch (allowed by MCP 2025-03-26).
    Batch(Vec<Kind>),
}

impl Peeked {
    /// Every message in it.
    pub fn kinds(&self) -> &[Kind] {
        match self {
            Self::One(k) => std::slice::from_ref(k),
            Self::Batch(v) => v,
        }
    }
}

/// Why bytes are not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeekError {
    /// Not JSON at all (JSON-RPC -32700).
    #[error("not valid JSON: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC message (JSON-RPC -32600).
    #[error("not a JSON-RPC message: {0}")]
    Invalid(&'static str),
}

#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<String>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// Canonical text of an id: its JSON value re-printed, so `1.50` and `1.5` match.
fn id_key(raw: &RawValue) -> String {
    let text = raw.get();
    if is_canonical(text) {
        return text.to_owned();
    }
    serde_json::from_str::<serde_json::Value>(text)
        .map_or_else(|_| text.to_owned(), |v| v.to_string())
}

/// Whether re-printing `raw` (valid JSON) would give the same text: an integer that fits 64
/// bits (no `-0`, fraction or exponent), or a string without escapes. Those are nearly all ids,
/// and this spares a parse and a print per message.
fn is_canonical(raw: &str) -> bool {
    let b = raw.as_bytes();
    match b.first() {
        Some(b'"') => !b.contains(&b'\\'),
        Some(b'-') => b.len() > 1 && b[1] != b'0' && b.len() <= 19 && digits(&b[1..]),
        Some(_) => b.len() <= 19 && digits(b),
        None => false,
    }
}

fn digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

fn kind(s: Shape<'_>) -> Result<Kind, PeekError> {
    let id = s.id.filter(|i| i.get() != "null");
    match (s.method, id) {
        (Some(method), Some(id)) => Ok(Kind::Request {
            id: id_key(id),
            method,
        }),
        (Some(method), None) => Ok(Kind::Notification { method }),
        (None, Some(id)) if s.result.is_some() || s.error.is_some() => {
            Ok(Kind::Response { id: id_key(id) })
        }
        (None, None) if s.error.is_some() => Ok(Kind::Response {
            id: "null".to_owned(),
        }),
        _ => Err(PeekError::Invalid(
            "neither a request, a notification nor a response",
        )),
    }
}

/// Peeks at one line or body.
pub fn peek(bytes: &[u8]) -> Result<Peeked, PeekError> {
    let trimmed = bytes.trim_ascii();
    match trimmed.first() {
        Some(b'[') => {
            let items: Vec<Shape<'_>> = serde_json::from_slice(trimmed).map_err(|e| {
                if e.is_syntax() || e.is_eof() {
                    PeekError::Parse(e.to_string())
                } else {
                    PeekError::Invalid("a batch must hold objects")
                }
            })?;
            if items.is_empty() {
                return Err(PeekError::Invalid("an empty batch"));
            }
            Ok(Peeked::Batch(
                items.into_iter().map(kind).collect::<Result<_, _>>()?,
            ))
        }
        Some(b'{') => {
            let s: Shape<'_> = serde_json::from_slice(trimmed).map_err(|e| {
                if e.is_syntax() || e.is_eof() {
                    PeekError::Parse(e.to_string())
                } else {
                    PeekError::Invalid("wrong field types")
                }
            })?;
            Ok(Peeked::One(kind(s)?))
        }
        _ => match serde_json::from_slice::<serde::de::IgnoredAny>(trimmed) {
            Ok(_) => Err(PeekError::Invalid("a message must be an object or a batch")),
            Err(e) => Err(PeekError::Parse(e.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x-vendor":{}}}"#)
                .unwrap(),
            Peeked::One(Kind::Request {
                id: "1".into(),
                method: "initialize".into()
            })
        );
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Peeked::One(Kind::Notification {
                method: "notifications/initialized".into()
            })
        );
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","id":"a b","result":{}}"#).unwrap(),
            Peeked::One(Kind::Response {
                id: "\"a b\"".into()
            })
        );
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","id":1.50,"error":{"code":1}}"#).unwrap(),
            Peeked::One(Kind::Response { id: "1.5".into() })
        );
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700}}"#).unwrap(),
            Peeked::One(Kind::Response { id: "null".into() })
        );
    }

    #[test]
    fn the_shortcut_for_ids_agrees_with_reprinting() {
        for id in [
            "0",
            "7",
            "-7",
            "-0",
            "1.0",
            "1e3",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "99999999999999999999",
            r#""a b""#,
            r#""""#,
            r#""\u0041""#,
            r#""é\n""#,
            r#""\/""#,
        ] {
            let raw: Box<RawValue> = serde_json::from_str(id).unwrap();
            let slow = serde_json::from_str::<serde_json::Value>(id)
                .unwrap()
                .to_string();
            assert_eq!(id_key(&raw), slow, "{id}");
        }
    }

    #[test]
    fn batches() {
        let p = peek(br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#)
            .unwrap();
        assert_eq!(p.kinds().len(), 2);
        assert!(matches!(peek(b"[]"), Err(PeekError::Invalid(_))));
        assert!(matches!(peek(b"[1]"), Err(PeekError::Invalid(_))));
    }

    #[test]
    fn garbage() {
        assert!(matches!(peek(b"not json"), Err(PeekError::Parse(_))));
        assert!(matches!(peek(b"{\"id\":"), Err(PeekError::Parse(_))));
        assert!(matches!(peek(b"42"), Err(PeekError::Invalid(_))));
        assert!(matches!(peek(b"{}"), Err(PeekError::Invalid(_))));
        assert!(matches!(
            peek(br#"{"method":5}"#),
            Err(PeekError::Invalid(_))
        ));
        assert!(matches!(peek(b""), Err(PeekError::Parse(_))));
    }
}
