use crate::io::Async;
use crate::source::{READ, WRITE};
use crate::sync::Arc;
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A Unix-domain listening socket.
///
/// ```
/// use corio_reactor::{block_on, net::{UnixListener, UnixStream}};
/// use futures::{AsyncReadExt, AsyncWriteExt};
///
/// let path = std::env::temp_dir().join(format!("corio-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// block_on(async {
///     let listener = UnixListener::bind(&path)?;
///     let mut client = UnixStream::connect(&path).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"hey").await?;
///     let mut buf = [0u8; 3];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hey");
///     std::io::Result::Ok(())
/// })?;
/// std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    inner: Async<net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` (`AddrInUse` if the file exists: remove stale socket files first).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(net::UnixListener::bind(path)?)
    }
}

super::tcp::impl_listener!(
    UnixListener,
    net::UnixListener,
    UnixStream,
    SocketAddr,
    UnixIncoming
);

/// A Unix-domain stream socket. Cheap to clone (the clones share one socket).
#[derive(Debug, Clone)]
pub struct UnixStream {
    pub(super) inner: Arc<Async<net::UnixStream>>,
}

impl UnixStream {
    /// Connects to the socket at `path` without blocking
    /// (`ConnectionRefused` if nobody listens, `NotFound` if no such file).
    ///
    /// While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn connect<P: AsRef<Path>>(
        path: P,
    ) -> crate::await_point::At<impl std::future::Future<Output = io::Result<UnixStream>>> {
        crate::await_point::At::caller(Self::connect_path(path))
    }

    async fn connect_path<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        let addr = SockAddr::unix(path)?;
        let mut in_progress = false;
        let mut backoff = Duration::from_micros(100);
        loop {
            match socket.connect(&addr) {
                Ok(()) => break,
                // Linux: a non-blocking connect to a listener whose backlog is
                // full fails with EAGAIN and must be retried (nothing started).
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    crate::timer::sleep(backoff).await;
                    // 100 µs doubling to 10 ms: the listener is busy, not gone.
                    backoff = (backoff * 2).min(Duration::from_millis(10));
                }
                Err(e) if super::connect_in_progress(&e) => {
                    in_progress = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let stream = Async::new(net::UnixStream::from(std::os::fd::OwnedFd::from(socket)))?;
        if in_progress {
            super::wait_connected(&stream).await?;
        }
        Ok(UnixStream {
            inner: Arc::new(stream),
        })
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }
}

super::tcp::impl_stream!(UnixStream, net::UnixStream, SocketAddr);
