//! The stdio side of the bridge: newline-delimited JSON-RPC (MCP 2025-11-25 §Transports, stdio).
//!
//! # Who reads and writes
//! When stdin and stdout are pipes or sockets (how MCP clients start servers), they are set
//! non-blocking and driven by the bridge's own runtime (tokio's `net::unix::pipe` types and
//! `UnixStream`): a request goes stdin → POST → stdout on one thread, with no wake-up of
//! another thread on the way. Anything else (a terminal, a regular file, a non-Unix system)
//! cannot be polled, or must not be made non-blocking behind the back of whoever shares it,
//! so it gets a plain OS thread per direction: a reader blocked there can never hold up
//! shutdown. O_NONBLOCK belongs to the open file, which the client may share: it is put back
//! as it was when the bridge lets go of the file.
//!
//! Why this is written out here rather than taken from a crate: tokio's `stdin`/`stdout` hand
//! every read and write to the blocking pool (a thread hop per message), and no crate frames
//! newline-delimited messages with a size limit that is enforced while a line is arriving,
//! or writes a message that arrives in pieces as one line with the rewrite below.
//!
//! - [`LineFramer`] splits input into lines, enforcing the size limit: an oversized line is
//!   reported as soon as it passes the limit and the rest of it is discarded, not buffered.
//! - [`write_message`] writes one message as one line. A message from the server that contains
//!   raw line breaks (pretty-printed JSON) is the one case where bytes change: each CR or LF
//!   byte becomes a space. Valid JSON cannot hold a raw CR or LF inside a string, so these
//!   bytes are insignificant whitespace and the message means exactly the same; nothing else
//!   is touched (re-serialising through a JSON library would also renumber floats and drop
//!   precision, which this avoids). Leading and trailing whitespace is dropped.
//! - [`Output::stream`] writes one message that arrives in pieces (a large response body, as
//!   it comes off the network), with the same rewrite, holding stdout until its end so that
//!   nothing else lands inside the line.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::sync::{mpsc, oneshot};

/// Bytes read from stdin at a time.
const READ_BUF: usize = 64 * 1024;
/// Pieces of a streamed message that may wait for stdout.
pub const STREAM_QUEUE: usize = 8;

/// The client's input.
pub enum Stdin {
    /// A file descriptor: driven by the runtime when it is a pipe or a socket.
    #[cfg(unix)]
    File(std::fs::File),
    /// Anything else, read on its own thread.
    Reader(Box<dyn Read + Send>),
}

/// Where messages for the client go.
pub enum Stdout {
    /// A file descriptor: driven by the runtime when it is a pipe or a socket.
    #[cfg(unix)]
    File(std::fs::File),
    /// Anything else, written on its own thread.
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(unix)]
            Self::File(file) => f.debug_tuple("File").field(file).finish(),
            Self::Reader(_) => f.write_str("Reader"),
        }
    }
}

impl fmt::Debug for Stdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(unix)]
            Self::File(file) => f.debug_tuple("File").field(file).finish(),
            Self::Writer(_) => f.write_str("Writer"),
        }
    }
}

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
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            let (head, rest) = (&chunk[..pos], &chunk[pos + 1..]);
            if self.discarding {
                // The end of an oversized line: already reported.
                self.discarding = false;
            } else if self.buf.len() + head.len() > self.max {
                self.buf = Vec::new();
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

/// Frames from the client, in order.
#[derive(Debug)]
pub struct Input {
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// Read on this thread, as the runtime sees it is readable.
    #[cfg(unix)]
    Polled {
        fd: fd::Polled,
        _restore: fd::Restore,
        framer: LineFramer,
        buf: Vec<u8>,
        scratch: Vec<Frame>,
        ready: VecDeque<Frame>,
        ended: bool,
    },
    /// Read on a thread of its own.
    Thread(mpsc::Receiver<Frame>),
}

impl Input {
    /// Starts reading (the thread, if one is needed, starts now). Must be called within the
    /// runtime.
    pub fn start(stdin: Stdin, max: usize) -> io::Result<Self> {
        let source = match stdin {
            #[cfg(unix)]
            Stdin::File(file) => match fd::poll(file, true)? {
                Ok((fd, restore)) => Source::Polled {
                    fd,
                    _restore: restore,
                    framer: LineFramer::new(max),
                    buf: vec![0; READ_BUF],
                    scratch: Vec::new(),
                    ready: VecDeque::new(),
                    ended: false,
                },
                Err(file) => Source::Thread(spawn_reader(file, max)?),
            },
            Stdin::Reader(r) => Source::Thread(spawn_reader(r, max)?),
        };
        Ok(Self { source })
    }

    /// The next frame; `None` at the end of input.
    pub async fn next(&mut self) -> Option<Frame> {
        match &mut self.source {
            Source::Thread(rx) => rx.recv().await,
            #[cfg(unix)]
            Source::Polled {
                fd,
                framer,
                buf,
                scratch,
                ready,
                ended,
                ..
            } => loop {
                if let Some(f) = ready.pop_front() {
                    return Some(f);
                }
                if *ended {
                    return None;
                }
                match fd::read(fd, buf).await {
                    Ok(0) => {
                        framer.finish(scratch);
                        *ended = true;
                    }
                    Ok(n) => framer.feed(&buf[..n], scratch),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading stdin failed; treating it as end of input");
                        framer.finish(scratch);
                        *ended = true;
                    }
                }
                ready.extend(scratch.drain(..));
            },
        }
    }
}

/// Reads `input` on its own thread, sending frames until end of input (then the channel
/// closes). The bounded channel pushes back on a client that writes faster than the server
/// takes messages.
fn spawn_reader<R: Read + Send + 'static>(
    mut input: R,
    max: usize,
) -> io::Result<mpsc::Receiver<Frame>> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            let mut framer = LineFramer::new(max);
            let mut buf = vec![0u8; READ_BUF];
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
        })?;
    Ok(rx)
}

/// Messages for stdout, written in order (by a task of the runtime, or a thread of its own).
#[derive(Debug, Clone)]
pub struct Output {
    tx: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
enum Command {
    Message(Bytes),
    /// One message in pieces; `done` fires once its line is complete.
    Stream {
        pieces: mpsc::Receiver<Bytes>,
        done: oneshot::Sender<()>,
    },
    Flush(oneshot::Sender<()>),
}

impl Output {
    /// Starts writing to `stdout`. Must be called within the runtime.
    pub fn start(stdout: Stdout) -> io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel::<Command>();
        match stdout {
            #[cfg(unix)]
            Stdout::File(file) => match fd::poll(file, false)? {
                Ok((fd, restore)) => {
                    tokio::spawn(write_polled(fd, restore, rx));
                }
                Err(file) => spawn_writer(file, rx)?,
            },
            Stdout::Writer(w) => spawn_writer(w, rx)?,
        }
        Ok(Self { tx })
    }

    /// Queues one message.
    pub fn send(&self, msg: Bytes) {
        let _ = self.tx.send(Command::Message(msg));
    }

    /// Queues one message that arrives in pieces on `pieces` (it ends when the channel
    /// closes). Messages queued later wait for its end. The returned receiver fires once the
    /// line is written (or cannot be).
    pub fn stream(&self, pieces: mpsc::Receiver<Bytes>) -> oneshot::Receiver<()> {
        let (done, written) = oneshot::channel();
        let _ = self.tx.send(Command::Stream { pieces, done });
        written
    }

    /// Waits (at most `limit`) until everything queued so far is written.
    pub async fn flush(&self, limit: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(limit, wait).await;
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

/// The writer thread, for outputs the runtime cannot poll.
fn spawn_writer<W: Write + Send + 'static>(
    out: W,
    mut rx: mpsc::UnboundedReceiver<Command>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stdout".to_owned())
        .spawn(move || {
            let mut w = io::BufWriter::with_capacity(READ_BUF, out);
            let mut broken = false;
            while let Some(cmd) = rx.blocking_recv() {
                // Flushed per message: a client reading while the next message is being
                // written gets each one whole and on its own, as soon as it is complete.
                let result = match cmd {
                    Command::Message(m) if !broken => {
                        write_message(&mut w, &m).and_then(|()| w.flush())
                    }
                    Command::Message(_) => Ok(()),
                    Command::Stream {
                        mut pieces,
                        done: _done,
                    } => {
                        let mut line = Pieces::default();
                        let mut parts = Vec::new();
                        let mut result = Ok(());
                        while let Some(p) = pieces.blocking_recv() {
                            line.push(p, &mut parts);
                            for part in parts.drain(..) {
                                if result.is_ok() && !broken {
                                    result = w.write_all(&part);
                                }
                            }
                        }
                        if broken {
                            Ok(())
                        } else {
                            result
                                .and_then(|()| w.write_all(b"\n"))
                                .and_then(|()| w.flush())
                        }
                    }
                    Command::Flush(done) => {
                        let _ = done.send(());
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    broken = true;
                    log_write_error(&e);
                }
            }
        })?;
    Ok(())
}

/// The writer task, for outputs the runtime polls.
#[cfg(unix)]
async fn write_polled(
    fd: fd::Polled,
    _restore: fd::Restore,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut broken = false;
    while let Some(cmd) = rx.recv().await {
        let result = match cmd {
            Command::Message(m) if !broken => fd::write_all(&fd, &[&clean(m), b"\n"]).await,
            Command::Message(_) => Ok(()),
            Command::Stream {
                mut pieces,
                done: _done,
            } => {
                let mut line = Pieces::default();
                let mut parts = Vec::new();
                let mut result = Ok(());
                // Read to the end even once writing failed, so the sender is never stuck.
                while let Some(p) = pieces.recv().await {
                    line.push(p, &mut parts);
                    for part in parts.drain(..) {
                        if result.is_ok() && !broken {
                            result = fd::write_all(&fd, &[&part]).await;
                        }
                    }
                }
                if broken {
                    Ok(())
                } else {
                    match result {
                        Ok(()) => fd::write_all(&fd, &[b"\n"]).await,
                        Err(e) => Err(e),
                    }
                }
            }
            Command::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(e) = result {
            broken = true;
            log_write_error(&e);
        }
    }
}

/// Writes one message as one line (see the module docs for the one rewrite).
pub fn write_message(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    w.write_all(&clean(Bytes::copy_from_slice(msg)))?;
    w.write_all(b"\n")
}

/// A JSON-RPC error response. `id` is JSON text (`1`, `"a"`, `null`).
pub fn error_response(id: &str, code: i64, message: &str) -> Bytes {
    let message = serde_json::Value::String(message.to_owned());
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{message}}}}}"#
    ))
}

/// A message without surrounding whitespace, each raw CR or LF made a space (copied only
/// when there is one).
fn clean(msg: Bytes) -> Bytes {
    let trimmed = msg.slice_ref(msg.trim_ascii());
    spaces(trimmed)
}

/// Each CR or LF byte made a space.
fn spaces(b: Bytes) -> Bytes {
    let Some(first) = memchr::memchr2(b'\n', b'\r', &b) else {
        return b;
    };
    let mut m = b
        .try_into_mut()
        .unwrap_or_else(|b| bytes::BytesMut::from(&b[..]));
    let mut i = first;
    loop {
        m[i] = b' ';
        match memchr::memchr2(b'\n', b'\r', &m[i + 1..]) {
            Some(p) => i += 1 + p,
            None => break,
        }
    }
    m.freeze()
}

/// Cleans a message that arrives in pieces exactly as [`clean`] cleans a whole one: leading
/// whitespace is skipped, trailing whitespace held back until something follows it.
#[derive(Debug, Default)]
struct Pieces {
    started: bool,
    held: Vec<u8>,
}

impl Pieces {
    /// The bytes to write for the next piece.
    fn push(&mut self, mut piece: Bytes, out: &mut Vec<Bytes>) {
        if !self.started {
            let skip = piece.iter().take_while(|b| b.is_ascii_whitespace()).count();
            piece.advance(skip);
            if piece.is_empty() {
                return;
            }
            self.started = true;
        }
        let trailing = piece
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if trailing == piece.len() {
            self.held.extend_from_slice(&piece);
            return;
        }
        if !self.held.is_empty() {
            out.push(spaces(Bytes::from(std::mem::take(&mut self.held))));
        }
        let tail = piece.split_off(piece.len() - trailing);
        out.push(spaces(piece));
        self.held.extend_from_slice(&tail);
    }
}

/// Pipes and sockets driven by the runtime.
#[cfg(unix)]
mod fd {
    use std::fs::File;
    use std::io::{self, IoSlice};
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;

    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use tokio::net::unix::pipe;
    use tokio::net::UnixStream;

    /// The size asked for the stdout pipe.
    const OUT_PIPE_SIZE: usize = 1024 * 1024;

    /// A pipe end or a socket, non-blocking, registered with the runtime.
    #[derive(Debug)]
    pub(super) enum Polled {
        PipeIn(pipe::Receiver),
        PipeOut(pipe::Sender),
        Socket(UnixStream),
    }

    /// Puts back the file status flags (O_NONBLOCK) as they were, when dropped.
    #[derive(Debug)]
    pub(super) struct Restore {
        fd: OwnedFd,
        flags: OFlags,
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = fcntl_setfl(&self.fd, self.flags);
        }
    }

    /// `file` made non-blocking and registered with the runtime when it is a pipe or a
    /// socket; otherwise (or if that fails) `file` back, for a thread to use.
    pub(super) fn poll(file: File, read: bool) -> io::Result<Result<(Polled, Restore), File>> {
        let kind = file.metadata()?.file_type();
        if !(kind.is_fifo() || kind.is_socket()) {
            return Ok(Err(file));
        }
        let restore = Restore {
            flags: fcntl_getfl(&file)?,
            fd: file.as_fd().try_clone_to_owned()?,
        };
        // A second descriptor of the same file: should registering fail, the thread gets
        // the original.
        let dup = file.try_clone()?;
        let polled = if kind.is_fifo() {
            if read {
                pipe::Receiver::from_file(dup).map(Polled::PipeIn)
            } else {
                // A pipe holds 64 KiB by default: a large answer would cross it in many
                // small writes, each waking the client. Grown (up to the system's
                // unprivileged limit, 1 MiB by default), it crosses in a few. Only a buffer
                // size; if the system refuses, the default stays.
                if let Err(e) = rustix::pipe::fcntl_setpipe_size(&dup, OUT_PIPE_SIZE) {
                    tracing::debug!(error = %e, "stdout pipe keeps its size");
                }
                pipe::Sender::from_file(dup).map(Polled::PipeOut)
            }
        } else {
            let s = std::os::unix::net::UnixStream::from(OwnedFd::from(dup));
            s.set_nonblocking(true)
                .and_then(|()| UnixStream::from_std(s))
                .map(Polled::Socket)
        };
        match polled {
            Ok(p) => Ok(Ok((p, restore))),
            Err(e) => {
                tracing::debug!(error = %e, "stdio cannot be polled; using a thread");
                drop(restore);
                Ok(Err(file))
            }
        }
    }

    /// Reads what is there (waiting until something is); 0 at the end of input. Through
    /// `AsyncRead`, which takes a short read as "drained" and waits for the next readiness
    /// event, rather than `try_read`, which would need one more read (failing with EAGAIN)
    /// per message to learn the same.
    pub(super) async fn read(p: &mut Polled, buf: &mut [u8]) -> io::Result<usize> {
        use tokio::io::AsyncReadExt;
        loop {
            let r = match p {
                Polled::PipeIn(r) => r.read(buf).await,
                Polled::Socket(s) => s.read(buf).await,
                Polled::PipeOut(_) => return Err(io::ErrorKind::Unsupported.into()),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Writes all of `parts`, in order, with as few system calls as the reader allows.
    pub(super) async fn write_all(p: &Polled, parts: &[&[u8]]) -> io::Result<()> {
        let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|b| !b.is_empty()).collect();
        let mut first = 0;
        while first < parts.len() {
            let slices: Vec<IoSlice<'_>> = parts[first..].iter().map(|b| IoSlice::new(b)).collect();
            let r = match p {
                Polled::PipeOut(w) => {
                    w.writable().await?;
                    w.try_write_vectored(&slices)
                }
                Polled::Socket(s) => {
                    s.writable().await?;
                    s.try_write_vectored(&slices)
                }
                Polled::PipeIn(_) => return Err(io::ErrorKind::Unsupported.into()),
            };
            let mut n = match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            while first < parts.len() && n >= parts[first].len() {
                n -= parts[first].len();
                first += 1;
            }
            if n > 0 {
                parts[first] = &parts[first][n..];
            }
        }
        Ok(())
    }
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
    fn a_message_in_pieces_is_cleaned_like_a_whole_one() {
        let whole: &[u8] = b" \r\n{\n  \"id\": 2,\r\n  \"result\": {\"t\":\"a b\"}\n}\n \t\n";
        let expected = clean(Bytes::copy_from_slice(whole));
        assert_eq!(
            &expected[..],
            b"{   \"id\": 2,    \"result\": {\"t\":\"a b\"} }"
        );
        for size in 1..whole.len() {
            let mut line = Pieces::default();
            let mut parts = Vec::new();
            for piece in whole.chunks(size) {
                line.push(Bytes::copy_from_slice(piece), &mut parts);
            }
            assert_eq!(parts.concat(), &expected[..], "pieces of {size}");
        }
        // Untouched bytes are not copied.
        let plain = Bytes::from_static(b"{\"id\":1}");
        assert_eq!(clean(plain.clone()).as_ptr(), plain.as_ptr());
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
