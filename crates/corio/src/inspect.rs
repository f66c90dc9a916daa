//! Inspection from outside the process: the task tree on SIGUSR1 and on a Unix
//! socket (asyncio's `python -m asyncio pstree PID`).
//!
//! Off by default. Turn it on with [`Builder::inspect`](crate::Builder::inspect)
//! or `CORIO_INSPECT=1`; the runtime then starts one thread, the inspector,
//! which
//! - writes the [task tree](crate::task_tree) to stderr each time the process
//!   receives SIGUSR1 (`kill -USR1 PID`), and
//! - serves the tree on the Unix socket [`socket_path(pid)`](socket_path): each
//!   connection receives the tree as text and is closed. `corio-ps PID` (the
//!   `corio_ps` example) prints it.
//!
//! The inspector thread waits on its own (it drives the reactor when no worker
//! does), so a runtime whose workers are all stuck in busy loops still answers,
//! showing which task is running on which worker.
//!
//! # Security
//! The socket lives in `$XDG_RUNTIME_DIR` (a per-user directory, mode 0700) or,
//! without one, in `/tmp/corio-UID`, created with mode 0700 and refused if
//! another user owns it or it is open to others. The socket itself is made
//! mode 0600, and each connection's peer credentials (`SO_PEERCRED`) are
//! checked: a process of another user (root aside) is closed without a byte.
//! The tree shows task names and source locations, nothing else.
//!
//! When inspection is off nothing of this exists: no thread, no socket, no
//! signal handler.

use std::fs;
use std::future::Future;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;

use futures_core::Stream;

use crate::net::{UnixListener, UnixStream};
use crate::runtime::Handle;
use crate::sync::Event;

/// Whether `CORIO_INSPECT` asks for inspection (`1`, `true`, `yes`, `on`).
pub(crate) fn requested_by_env() -> bool {
    std::env::var("CORIO_INSPECT")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// The directory inspection sockets live in: `$XDG_RUNTIME_DIR` when set to an
/// absolute path, else `/tmp/corio-UID`.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        // SAFETY: getuid cannot fail and touches no memory.
        _ => PathBuf::from(format!("/tmp/corio-{}", unsafe { libc::getuid() })),
    }
}

/// The inspection socket of process `pid` (see the [module docs](self)).
///
/// ```
/// let path = corio::inspect::socket_path(4242);
/// assert!(path.ends_with("corio-4242.sock"));
/// ```
pub fn socket_path(pid: u32) -> PathBuf {
    socket_dir().join(format!("corio-{pid}.sock"))
}

/// Makes sure `dir` exists, belongs to this user and is closed to others.
fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "inspection socket directory {} must be a directory owned by uid {me} with mode \
                 0700; fix or remove it, or set XDG_RUNTIME_DIR",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// The uid of the process at the other end of `stream`.
fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is open for the call (borrowed from `stream`); `cred` and
    // `len` point at a ucred and its size, as SO_PEERCRED requires.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(cred.uid)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The running inspector of one runtime; stopping it (drop) removes the socket.
pub(crate) struct Inspector {
    stop: Arc<Event>,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("path", &self.path)
            .finish()
    }
}

impl Inspector {
    /// Binds the socket, installs the SIGUSR1 handler and starts the thread.
    pub(crate) fn start(handle: Handle) -> io::Result<Inspector> {
        let path = socket_path(std::process::id());
        private_dir(path.parent().unwrap_or(Path::new("/")))?;
        // A socket file left by an earlier process with the same pid.
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let std_listener = std::os::unix::net::UnixListener::bind(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        let listener = UnixListener::from_std(std_listener)?;
        let usr1 = crate::signal::signal(crate::signal::SIGUSR1)?;
        let stop = Arc::new(Event::new());
        let thread = std::thread::Builder::new()
            .name("corio-inspector".into())
            .spawn({
                let stop = stop.clone();
                move || corio_reactor::block_on(serve(handle, listener, usr1, stop))
            })?;
        Ok(Inspector {
            stop,
            path,
            thread: Some(thread),
        })
    }
}

impl Drop for Inspector {
    fn drop(&mut self) {
        self.stop.set();
        if let Some(t) = self.thread.take() {
            // The thread only waits on the reactor: it sees `stop` at once.
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// What the inspector thread does until `stop` is set.
async fn serve(
    handle: Handle,
    listener: UnixListener,
    usr1: crate::signal::Signals,
    stop: Arc<Event>,
) {
    let mut usr1 = pin!(usr1);
    let mut stopped = pin!(stop.wait());
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    loop {
        enum Next {
            Stop,
            Signal,
            Client(io::Result<UnixStream>),
        }
        let next = std::future::poll_fn(|cx| {
            if stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Next::Stop);
            }
            if let Poll::Ready(Some(())) = usr1.as_mut().poll_next(cx) {
                return Poll::Ready(Next::Signal);
            }
            if let Poll::Ready(r) = listener.poll_accept(cx) {
                return Poll::Ready(Next::Client(r.map(|(s, _)| s)));
            }
            Poll::Pending
        })
        .await;
        match next {
            Next::Stop => return,
            Next::Signal => {
                let text = handle.task_tree().to_string();
                let _ = io::stderr().lock().write_all(text.as_bytes());
            }
            Next::Client(Ok(stream)) => {
                // Root may look at any process, as with /proc; others only at their own.
                match peer_uid(&stream) {
                    Ok(uid) if uid == me || uid == 0 => {}
                    _ => continue, // dropped: closed without a byte
                }
                let text = handle.task_tree().to_string();
                // A client that does not read gets a second, then is dropped: the
                // inspector never waits on one client for long.
                let _ = corio_reactor::timer::timeout(
                    std::time::Duration::from_secs(1),
                    write_all(stream, text.into_bytes()),
                )
                .await;
            }
            Next::Client(Err(_)) => {
                // EMFILE and the like: try again on the next readiness.
            }
        }
    }
}

/// Writes all of `bytes` to `stream`, then closes it.
async fn write_all(mut stream: UnixStream, bytes: Vec<u8>) -> io::Result<()> {
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let n = std::future::poll_fn(|cx| {
            futures_io::AsyncWrite::poll_write(std::pin::Pin::new(&mut stream), cx, rest)
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        rest = &rest[n..];
    }
    Ok(())
}
