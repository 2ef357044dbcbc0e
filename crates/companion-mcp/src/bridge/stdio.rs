//! The stdio side of the bridge: newline-delimited JSON-RPC (MCP 2025-11-25 §Transports, stdio).
//!
//! stdin and stdout each get a plain OS thread. tokio's own stdin/stdout hand every read and
//! write to its blocking pool, a thread hop per message; a dedicated thread per direction costs
//! nothing per message, and a reader blocked on stdin can never hold up the runtime's shutdown.
//!
//! - [`LineFramer`] splits input into lines, enforcing the size limit: an oversized line is
//!   reported as soon as it passes the limit and the rest of it is discarded, not buffered.
//! - [`write_message`] writes one message as one line. A message from the server that contains
//!   raw line breaks (pretty-printed JSON) is the one case where bytes change: each CR or LF
//!   byte becomes a space. Valid JSON cannot hold a raw CR or LF inside a string, so these
//!   bytes are insignificant whitespace and the message means exactly the same; nothing else
//!   is touched (re-serialising through a JSON library would also renumber floats and drop
//!   precision, which this avoids).

use std::io::{self, Read, Write};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

/// One unit of input from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A non-blank line, without its line end.
    Line(Bytes),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// Splits a byte stream into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    max: usize,
    discarding: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes (line end excluded).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            discarding: false,
        }
    }

    /// Feeds a chunk; complete lines (and limit violations) are appended to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Frame>) {
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&chunk[..pos], &chunk[pos + 1..]);
            if self.discarding {
                // The end of an oversized line: already reported.
                self.discarding = false;
            } else if self.buf.len() + head.len() > self.max {
                self.buf.clear();
                out.push(Frame::TooLong);
            } else if self.buf.is_empty() {
                push_line(Bytes::copy_from_slice(head), out);
            } else {
                self.buf.extend_from_slice(head);
                push_line(Bytes::from(std::mem::take(&mut self.buf)), out);
            }
            chunk = rest;
        }
        if self.discarding || chunk.is_empty() {
            return;
        }
        if self.buf.len() + chunk.len() > self.max {
            // Report now rather than after the whole (possibly endless) line has arrived.
            self.buf = Vec::new();
            self.discarding = true;
            out.push(Frame::TooLong);
            return;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// End of input: a last line without a line end still counts.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        if !self.discarding && !self.buf.is_empty() {
            push_line(Bytes::from(std::mem::take(&mut self.buf)), out);
        }
    }
}

fn push_line(mut line: Bytes, out: &mut Vec<Frame>) {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    if !line.trim_ascii().is_empty() {
        out.push(Frame::Line(line));
    }
}

/// Reads `input` on its own thread, sending frames until end of input (then the channel
/// closes). The bounded channel pushes back on a client that writes faster than the server
/// takes messages.
pub fn spawn_reader<R: Read + Send + 'static>(
    mut input: R,
    max: usize,
    tx: mpsc::Sender<Frame>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            let mut framer = LineFramer::new(max);
            let mut buf = vec![0u8; 64 * 1024];
            let mut frames = Vec::new();
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading stdin failed; treating it as end of input");
                        break;
                    }
                };
                framer.feed(&buf[..n], &mut frames);
                for f in frames.drain(..) {
                    if tx.blocking_send(f).is_err() {
                        return;
                    }
                }
            }
            framer.finish(&mut frames);
            for f in frames.drain(..) {
                if tx.blocking_send(f).is_err() {
                    return;
                }
            }
        })
        .map(|_| ())
}

/// Messages for stdout, written in order by a dedicated thread.
#[derive(Debug, Clone)]
pub struct Output {
    tx: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
enum Command {
    Message(Bytes),
    Flush(std_mpsc::Sender<()>),
}

impl Output {
    /// Starts the writer thread over `out`.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
        std::thread::Builder::new()
            .name("stdout".to_owned())
            .spawn(move || {
                let mut w = io::BufWriter::with_capacity(64 * 1024, out);
                let mut broken = false;
                while let Some(cmd) = rx.blocking_recv() {
                    match cmd {
                        // Flushed per message: a client reading while the next message is
                        // being written gets each one whole and on its own, as soon as it is
                        // complete (the buffer only saves syscalls within a large message).
                        Command::Message(m) if !broken => {
                            if let Err(e) = write_message(&mut w, &m).and_then(|()| w.flush()) {
                                broken = true;
                                log_write_error(&e);
                            }
                        }
                        Command::Message(_) => {}
                        Command::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues one message.
    pub fn send(&self, msg: Bytes) {
        let _ = self.tx.send(Command::Message(msg));
    }

    /// Waits (at most `limit`) until everything queued so far is written and flushed.
    pub fn flush(&self, limit: Duration) {
        let (done, wait) = std_mpsc::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(limit);
        }
    }
}

fn log_write_error(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        tracing::info!("the client closed stdout");
    } else {
        tracing::warn!(error = %e, "writing to stdout failed");
    }
}

/// Writes one message as one line (see the module docs for the one rewrite).
pub fn write_message(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let msg = msg.trim_ascii();
    if msg.iter().any(|&b| b == b'\n' || b == b'\r') {
        let mut rest = msg;
        while let Some(p) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            w.write_all(&rest[..p])?;
            w.write_all(b" ")?;
            rest = &rest[p + 1..];
        }
        w.write_all(rest)?;
    } else {
        w.write_all(msg)?;
    }
    w.write_all(b"\n")
}

/// A JSON-RPC error response. `id` is JSON text (`1`, `"a"`, `null`).
pub fn error_response(id: &str, code: i64, message: &str) -> Bytes {
    let message = serde_json::Value::String(message.to_owned());
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{message}}}}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, &mut out);
        }
        f.finish(&mut out);
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn lines_split_anywhere_and_crlf() {
        assert_eq!(
            frames(100, &[b"{\"a\"", b":1}\r\n{\"b\":2}\n\n  \n{\"c\"", b":3}"]),
            [line("{\"a\":1}"), line("{\"b\":2}"), line("{\"c\":3}")]
        );
    }

    #[test]
    fn an_oversized_line_is_reported_once_and_skipped() {
        // Detected within one chunk.
        assert_eq!(frames(5, &[b"123456\n{}\n"]), [Frame::TooLong, line("{}")]);
        // Detected while the line is still arriving; the rest is discarded as it comes.
        assert_eq!(
            frames(5, &[b"123", b"456", b"789", b"0\n{}\n"]),
            [Frame::TooLong, line("{}")]
        );
        // Exactly at the limit is fine.
        assert_eq!(frames(5, &[b"12", b"345\n"]), [line("12345")]);
        // An oversized last line without a line end.
        assert_eq!(frames(2, &[b"{}\n1234"]), [line("{}"), Frame::TooLong]);
    }

    #[test]
    fn one_message_one_line() {
        let mut out = Vec::new();
        write_message(&mut out, b"{\"id\":1,\"result\":{\"x\":\"a\\nb\"}}").unwrap();
        write_message(&mut out, b"{\n  \"id\": 2,\r\n  \"result\": {}\n}\n").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":1,\"result\":{\"x\":\"a\\nb\"}}\n{   \"id\": 2,    \"result\": {} }\n"
        );
    }

    #[test]
    fn error_responses_are_json_rpc() {
        let e = error_response("null", -32700, "Parse error: \"x\"");
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: \"x\""}})
        );
        let e = error_response("\"a b\"", -32000, "m");
        assert!(e.starts_with(br#"{"jsonrpc":"2.0","id":"a b","#));
    }
}
