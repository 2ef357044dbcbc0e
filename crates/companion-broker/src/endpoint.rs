//! Where the broker listens, and how exactly one broker per user gets to.
//!
//! A Unix domain socket in a private directory: `$XDG_RUNTIME_DIR/mcp-companion/broker.sock`
//! (or a per-user directory under the temp dir where there is no runtime dir), created 0700 and
//! refused if anyone else owns it. Binding happens under an exclusive lock on `broker.lock`:
//! whoever holds it first checks whether a broker already answers, removes a stale socket left
//! by a crashed one, and binds. Two brokers started at once therefore end as one broker and
//! one that finds it running. Every connection's peer must run as the same user.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use companion_store::atomic::create_private_dir;
use tokio::net::{UnixListener, UnixStream};

/// The broker's private directory and socket.
#[derive(Debug, Clone)]
pub struct Endpoint {
    dir: PathBuf,
}

/// Why the endpoint could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Another broker already answers on the socket.
    #[error("a broker is already running at {0}")]
    AlreadyRunning(PathBuf),
    /// The directory is not private to this user.
    #[error(
        "{0} is not private to you (it must be a 0700 directory you own); remove it and try again"
    )]
    NotPrivate(PathBuf),
    /// An OS error.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> EndpointError + 'a {
    move |source| EndpointError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

impl Endpoint {
    /// The current user's endpoint.
    pub fn for_user() -> Self {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let dir = match base {
            Some(b) => b.join("mcp-companion"),
            None => {
                // No runtime dir (macOS, some containers): a per-user directory in the temp dir,
                // named after the home directory so users do not collide.
                let home = std::env::var("HOME").unwrap_or_default();
                let tag: String = sha2::Digest::finalize(
                    <sha2::Sha256 as sha2::Digest>::new_with_prefix(home.as_bytes()),
                )
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect();
                std::env::temp_dir().join(format!("mcp-companion-{tag}"))
            }
        };
        Self { dir }
    }

    /// An endpoint in an explicit directory (tests).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The private directory (the tray keeps its single-instance lock there too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("broker.sock")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("broker.lock")
    }

    /// Creates the directory if needed, checks it is private, and returns the user's uid.
    fn prepare(&self) -> Result<(File, u32), EndpointError> {
        create_private_dir(&self.dir).map_err(io_err("cannot create", &self.dir))?;
        let meta = fs::metadata(&self.dir).map_err(io_err("cannot inspect", &self.dir))?;
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(|_| EndpointError::NotPrivate(self.dir.clone()))?;
        }
        let lock_path = self.lock_path();
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("cannot open", &lock_path))?;
        // A file this process just opened for writing in that directory is ours: its owner is
        // our uid, without calling into libc.
        let uid = lock
            .metadata()
            .map_err(io_err("cannot inspect", &lock_path))?
            .uid();
        if meta.uid() != uid {
            return Err(EndpointError::NotPrivate(self.dir.clone()));
        }
        Ok((lock, uid))
    }

    /// Binds the socket, unless a broker already answers on it.
    pub async fn bind(&self) -> Result<Bound, EndpointError> {
        let (lock, uid) = self.prepare()?;
        let lock_path = self.lock_path();
        let socket = self.socket();
        // Hold the lock across check-and-bind; File::lock blocks, so off the async threads.
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
            .await
            .map_err(|e| EndpointError::Io {
                what: "cannot lock",
                path: lock_path.clone(),
                source: io::Error::other(e),
            })?
            .map_err(io_err("cannot lock", &self.lock_path()))?;
        if UnixStream::connect(&socket).await.is_ok() {
            return Err(EndpointError::AlreadyRunning(socket));
        }
        match fs::remove_file(&socket) {
            Ok(()) => tracing::info!(socket = %socket.display(), "removed a stale broker socket"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot remove the stale socket", &socket)(e)),
        }
        let listener = UnixListener::bind(&socket).map_err(io_err("cannot listen on", &socket))?;
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o600))
            .map_err(io_err("cannot restrict", &socket))?;
        drop(lock);
        Ok(Bound {
            listener,
            uid,
            socket,
        })
    }

    /// Connects to a running broker, checking the directory is private first.
    pub async fn connect(&self) -> Result<UnixStream, EndpointError> {
        let meta = fs::metadata(&self.dir).map_err(io_err("no broker directory at", &self.dir))?;
        if meta.mode() & 0o077 != 0 {
            return Err(EndpointError::NotPrivate(self.dir.clone()));
        }
        let socket = self.socket();
        UnixStream::connect(&socket)
            .await
            .map_err(io_err("cannot connect to the broker at", &socket))
    }
}

/// A bound listener and the uid its peers must have.
#[derive(Debug)]
pub struct Bound {
    /// The listener.
    pub listener: UnixListener,
    /// The owning user's uid.
    pub uid: u32,
    /// The socket path.
    pub socket: PathBuf,
}

/// Whether `stream`'s peer runs as `uid`.
pub fn peer_is(stream: &UnixStream, uid: u32) -> bool {
    stream.peer_cred().is_ok_and(|c| c.uid() == uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_broker_per_endpoint_and_stale_sockets_are_replaced() {
        let d = tempfile::tempdir().unwrap();
        let ep = Endpoint::at(d.path().join("run"));
        let bound = ep.bind().await.unwrap();
        assert_eq!(
            fs::metadata(d.path().join("run")).unwrap().mode() & 0o777,
            0o700
        );
        assert_eq!(fs::metadata(ep.socket()).unwrap().mode() & 0o777, 0o600);
        let accept = tokio::spawn(async move { bound.listener.accept().await.map(|_| ()) });
        assert!(matches!(
            ep.bind().await,
            Err(EndpointError::AlreadyRunning(_))
        ));
        accept.await.unwrap().unwrap();
        // The listener is gone (a crashed broker): the socket file is stale.
        assert!(ep.socket().exists());
        let again = ep.bind().await.unwrap();
        let client = ep.connect().await.unwrap();
        let (server, _) = again.listener.accept().await.unwrap();
        assert!(peer_is(&server, again.uid));
        drop(client);
    }

    #[tokio::test]
    async fn concurrent_binds_yield_exactly_one() {
        let d = tempfile::tempdir().unwrap();
        let ep = Endpoint::at(d.path().join("run"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let ep = ep.clone();
                tokio::spawn(async move { ep.bind().await })
            })
            .collect();
        let mut bound = Vec::new();
        let mut running = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(b) => bound.push(b),
                Err(EndpointError::AlreadyRunning(_)) => running += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(bound.len(), 1);
        assert_eq!(running, 7);
    }

    #[test]
    fn a_shared_directory_is_tightened_or_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("run");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        Endpoint::at(&dir).prepare().unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    }
}
