//! An incremental Server-Sent Events parser (WHATWG HTML §9.2.6), fed bytes as they arrive.
//!
//! Used by the Streamable HTTP and legacy SSE transports. Pure: it never reads a socket.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `event:` (empty means "message").
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream, if any (it persists across events).
    pub id: Option<String>,
    /// `retry:` in milliseconds, when this event carried one.
    pub retry: Option<u64>,
}

/// Parser state for one stream.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    data: String,
    event: String,
    has_data: bool,
    last_id: Option<String>,
    retry: Option<u64>,
    started: bool,
    max_event: usize,
    /// How much of `buf` is known to hold no line end: a large event arriving in many chunks
    /// is scanned once, not once per chunk.
    scanned: usize,
}

/// An event larger than the configured limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an SSE event exceeded {0} bytes")]
pub struct TooLarge(pub usize);

impl Parser {
    /// A parser that refuses events larger than `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        Self {
            max_event,
            ..Self::default()
        }
    }

    /// The last event id seen on this stream (for `Last-Event-ID`).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, TooLarge> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                // A lone CR at the end of the buffer may be the first half of CRLF: wait.
                if b == b'\r' && i + 1 == self.buf.len() {
                    break;
                }
                let line = self.buf[start..i].to_vec();
                self.line(&line, &mut out);
                i += if b == b'\r' && self.buf.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
                continue;
            }
            i += 1;
        }
        self.buf.drain(..start);
        self.scanned = i - start;
        if self.max_event > 0 && self.buf.len() + self.data.len() > self.max_event {
            return Err(TooLarge(self.max_event));
        }
        Ok(out)
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        let mut line = line;
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            if self.has_data {
                out.push(Event {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                    id: self.last_id.clone(),
                    retry: self.retry.take(),
                });
            } else if self.retry.is_some() || !self.event.is_empty() {
                // An event without data (a priming event with only `id`/`retry`): nothing to
                // dispatch, but `retry` must reach the caller.
                out.push(Event {
                    event: std::mem::take(&mut self.event),
                    data: String::new(),
                    id: self.last_id.clone(),
                    retry: self.retry.take(),
                });
            }
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            b"id" if !value.contains('\0') => self.last_id = Some(value.into_owned()),
            b"retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_sse_retry_priming_event() {
        let mut p = Parser::new(0);
        let ev = p.feed(b"id: event-1\nretry: 500\ndata: \n\n").unwrap();
        assert_eq!(
            ev,
            [Event {
                event: String::new(),
                data: String::new(),
                id: Some("event-1".into()),
                retry: Some(500)
            }]
        );
        assert_eq!(p.last_id(), Some("event-1"));
    }

    #[test]
    fn message_split_across_chunks_and_line_endings() {
        let mut p = Parser::new(0);
        assert!(p.feed(b"event: message\r").unwrap().is_empty());
        assert!(p.feed(b"\ndata: {\"a\":").unwrap().is_empty());
        let ev = p.feed(b"1}\r\n\r\n").unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event, "message");
        assert_eq!(ev[0].data, "{\"a\":1}");
        let ev = p.feed(b"data:x\rdata:y\r\r: comment\n\n").unwrap();
        assert_eq!(ev[0].data, "x\ny");
    }

    #[test]
    fn ids_persist_and_bom_is_skipped() {
        let mut p = Parser::new(0);
        let ev = p
            .feed("\u{feff}id: 7\ndata: a\n\ndata: b\n\n".as_bytes())
            .unwrap();
        assert_eq!(ev[1].id.as_deref(), Some("7"));
        assert_eq!(ev[0].retry, None);
    }

    #[test]
    fn a_large_event_in_many_chunks() {
        let mut p = Parser::new(0);
        assert!(p.feed(b"data: {\"a\":\"").unwrap().is_empty());
        for _ in 0..1000 {
            assert!(p.feed(&[b'x'; 100]).unwrap().is_empty());
        }
        assert!(p.feed(b"\"}\r").unwrap().is_empty());
        let ev = p.feed(b"\n\n").unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data.len(), 100_008);
    }

    #[test]
    fn size_limit() {
        let mut p = Parser::new(10);
        assert!(p.feed(b"data: 0123456789abcdef").is_err());
    }
}
