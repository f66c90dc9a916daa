use crate::await_point::At;
use crate::io::Async;
use crate::source::{READ, WRITE};
use crate::sync::Arc;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A TCP listening socket.
///
/// ```
/// use corio_reactor::{block_on, net::{TcpListener, TcpStream}};
/// use futures::{AsyncReadExt, AsyncWriteExt};
///
/// block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let mut client = TcpStream::connect(addr).await?;
///     let (mut server, _peer) = listener.accept().await?;
///     client.write_all(b"hello").await?;
///     let mut buf = [0u8; 5];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hello");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: Async<net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (the first address that works) with SO_REUSEADDR and a
    /// backlog of [`BACKLOG`](TcpListener::BACKLOG). Fails with `AddrInUse` if
    /// another socket listens there.
    ///
    /// Resolving a host name blocks the thread: pass IP addresses in async code.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match Self::bind_addr(a) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "TcpListener::bind: the address resolved to nothing; pass an IP:port",
            )
        }))
    }

    /// Listen backlog: 1024 like tokio (std's 128 drops SYNs, which cost a 1 s
    /// client retransmit, when many clients connect at once).
    pub const BACKLOG: i32 = 1024;

    fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&SockAddr::from(addr))?;
        socket.listen(Self::BACKLOG)?;
        TcpListener::from_std(socket.into())
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }
}

impl_listener!(
    TcpListener,
    net::TcpListener,
    TcpStream,
    SocketAddr,
    Incoming
);

/// A TCP connection. Cheap to clone (the clones share one socket).
///
/// `AsyncRead`/`AsyncWrite` are implemented for `TcpStream` and `&TcpStream`;
/// `poll_close` shuts the write side down (the peer reads end of stream).
#[derive(Debug, Clone)]
pub struct TcpStream {
    pub(super) inner: Arc<Async<net::TcpStream>>,
}

impl TcpStream {
    /// Connects to `addr` (each resolved address in turn; the last error is
    /// returned, e.g. `ConnectionRefused`). The connect itself is non-blocking.
    /// Bound it with [`timeout`](crate::timer::timeout) if the peer may not answer.
    ///
    /// Resolving a host name blocks the thread: pass IP addresses in async code.
    ///
    /// While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(addr: A) -> At<impl Future<Output = io::Result<TcpStream>>> {
        At::caller(Self::connect_any(addr))
    }

    async fn connect_any<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_addr(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "TcpStream::connect: the address resolved to nothing; pass an IP:port",
            )
        }))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(e) if super::connect_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        let stream = Async::new(net::TcpStream::from(socket))?;
        super::wait_connected(&stream).await?;
        Ok(TcpStream {
            inner: Arc::new(stream),
        })
    }

    /// Sets TCP_NODELAY (disable Nagle: send small writes at once).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Reads TCP_NODELAY.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Sets SO_LINGER (`Some(0)`: close sends RST instead of FIN).
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        socket2::SockRef::from(self.inner.get_ref()).set_linger(linger)
    }

    /// Reads into `buf` without removing the data from the socket.
    #[track_caller]
    pub fn peek<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> At<impl Future<Output = io::Result<usize>> + 'a> {
        self.inner.read_with(move |s| s.peek(buf))
    }

    /// Waits until readable.
    #[track_caller]
    pub fn readable(&self) -> At<impl Future<Output = io::Result<()>> + '_> {
        At::caller(self.inner.readable())
    }

    /// Waits until writable.
    #[track_caller]
    pub fn writable(&self) -> At<impl Future<Output = io::Result<()>> + '_> {
        At::caller(self.inner.writable())
    }
}

impl_stream!(TcpStream, net::TcpStream, SocketAddr);

macro_rules! impl_stream_io {
    ($ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let want = buf.len();
                self.inner
                    .poll_read_stream(cx, want, &mut |mut s: &_| Read::read(&mut s, buf))
            }
            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                let want = crate::io::total_len(bufs);
                self.inner
                    .poll_read_stream(cx, want, &mut |mut s: &_| Read::read_vectored(&mut s, bufs))
            }
        }
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.inner
                    .poll_op(WRITE, cx, &mut |mut s: &_| Write::write(&mut s, buf))
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_op(WRITE, cx, &mut |mut s: &_| {
                    Write::write_vectored(&mut s, bufs)
                })
            }
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            /// Shuts the write side down. Closing a connection the peer has
            /// already fully closed (ENOTCONN) is not an error.
            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.inner.get_ref().shutdown(Shutdown::Write) {
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
                    res => Poll::Ready(res),
                }
            }
        }
    };
}
pub(super) use impl_stream_io;

/// What a TCP and a Unix-domain listener share: wrapping a std listener, the
/// local address, `accept` and its poll form, `incoming` and its stream type.
macro_rules! impl_listener {
    ($listener:ident, $std:ty, $stream:ident, $addr:ty, $incoming:ident) => {
        impl $listener {
            /// Wraps a std listener (made non-blocking here).
            pub fn from_std(listener: $std) -> io::Result<$listener> {
                Ok($listener {
                    inner: Async::new(listener)?,
                })
            }

            /// The local address (for TCP, to learn the port after binding to port 0).
            pub fn local_addr(&self) -> io::Result<$addr> {
                self.inner.get_ref().local_addr()
            }

            /// Accepts a connection. On EMFILE/ENFILE the error is returned and the
            /// connection stays queued: see the [module docs](crate::net).
            ///
            /// While it waits, the caller's line is the task's await point.
            #[track_caller]
            pub fn accept(
                &self,
            ) -> $crate::await_point::At<
                impl std::future::Future<Output = io::Result<($stream, $addr)>> + '_,
            > {
                $crate::await_point::At::caller(std::future::poll_fn(move |cx| {
                    self.poll_accept(cx)
                }))
            }

            /// Poll form of `accept`.
            pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<($stream, $addr)>> {
                self.inner
                    .poll_op(READ, cx, &mut |l| l.accept())
                    .map(|r| r.and_then(|(s, addr)| Ok(($stream::from_std(s)?, addr))))
            }

            /// A stream of incoming connections (never ends; errors are items).
            /// While it waits, the task's await point is the line of its
            /// [`next`]($incoming::next), or this call's line when it is polled
            /// another way (`for_each`, a `select!`, ...).
            #[track_caller]
            pub fn incoming(&self) -> $incoming<'_> {
                $incoming {
                    listener: self,
                    at: std::panic::Location::caller(),
                }
            }
        }

        impl AsRawFd for $listener {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        #[doc = concat!("Stream of connections from [`", stringify!($listener), "::incoming`].")]
        #[derive(Debug)]
        #[must_use = "streams do nothing unless polled"]
        pub struct $incoming<'a> {
            listener: &'a $listener,
            /// Where `incoming` was called: the await point when nothing closer is known.
            at: &'static std::panic::Location<'static>,
        }

        impl<'a> $incoming<'a> {
            /// The next connection (`StreamExt::next`, which this method
            /// shadows), recording the caller's line while it waits.
            #[track_caller]
            pub fn next<'s>(
                &'s mut self,
            ) -> $crate::await_point::At<
                impl std::future::Future<Output = Option<io::Result<$stream>>> + 's,
            >
            where
                'a: 's,
            {
                let listener: &'s $listener = self.listener;
                $crate::await_point::At::caller(std::future::poll_fn(move |cx| {
                    listener.poll_accept(cx).map(|r| Some(r.map(|(s, _)| s)))
                }))
            }
        }

        impl futures_core::Stream for $incoming<'_> {
            type Item = io::Result<$stream>;
            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                let poll = self
                    .listener
                    .poll_accept(cx)
                    .map(|r| Some(r.map(|(s, _)| s)));
                if poll.is_pending() {
                    $crate::await_point::record(Some(self.at));
                }
                poll
            }
        }
    };
}
pub(super) use impl_listener;

/// What a TCP and a Unix-domain stream share: wrapping a std stream, the two
/// addresses, `shutdown`, and `AsyncRead`/`AsyncWrite` for the stream and a
/// reference to it.
macro_rules! impl_stream {
    ($stream:ident, $std:ty, $addr:ty) => {
        impl $stream {
            /// Wraps a connected std stream (made non-blocking here).
            pub fn from_std(stream: $std) -> io::Result<$stream> {
                Ok($stream {
                    inner: Arc::new(Async::new(stream)?),
                })
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> io::Result<$addr> {
                self.inner.get_ref().peer_addr()
            }

            /// The local address.
            pub fn local_addr(&self) -> io::Result<$addr> {
                self.inner.get_ref().local_addr()
            }

            /// Shuts down the read, write or both halves (`Write`: the peer reads
            /// end of stream).
            pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                self.inner.get_ref().shutdown(how)
            }

            /// Reads into `buf`; `Ok(0)` at end of stream. The same read as
            /// `AsyncReadExt::read` (which this method shadows), but while it waits the
            /// caller's line is the task's await point (a trait method cannot know it).
            #[track_caller]
            pub fn read<'a>(
                &'a self,
                buf: &'a mut [u8],
            ) -> $crate::await_point::At<impl std::future::Future<Output = io::Result<usize>> + 'a>
            {
                $crate::await_point::At::caller(std::future::poll_fn(move |cx| {
                    futures_io::AsyncRead::poll_read(Pin::new(&mut &*self), cx, buf)
                }))
            }

            /// Writes some of `buf`, returning how much: `AsyncWriteExt::write`,
            /// recording the caller's line while it waits (as [`read`](Self::read)).
            #[track_caller]
            pub fn write<'a>(
                &'a self,
                buf: &'a [u8],
            ) -> $crate::await_point::At<impl std::future::Future<Output = io::Result<usize>> + 'a>
            {
                $crate::await_point::At::caller(std::future::poll_fn(move |cx| {
                    futures_io::AsyncWrite::poll_write(Pin::new(&mut &*self), cx, buf)
                }))
            }

            /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if the stream ends
            /// first): `AsyncReadExt::read_exact`, which this method shadows,
            /// recording the caller's line while it waits (as [`read`](Self::read)).
            #[track_caller]
            pub fn read_exact<'a>(
                &'a self,
                buf: &'a mut [u8],
            ) -> $crate::await_point::At<impl std::future::Future<Output = io::Result<()>> + 'a>
            {
                $crate::await_point::read_exact(self, buf)
            }

            /// Writes all of `buf`: `AsyncWriteExt::write_all`, recording the
            /// caller's line while it waits (a peer that does not read).
            #[track_caller]
            pub fn write_all<'a>(
                &'a self,
                buf: &'a [u8],
            ) -> $crate::await_point::At<impl std::future::Future<Output = io::Result<()>> + 'a>
            {
                $crate::await_point::write_all(self, buf)
            }

            /// Reads to end of stream, appending to `buf`; returns how many bytes
            /// it read: `AsyncReadExt::read_to_end`, recording the caller's line
            /// while it waits.
            #[track_caller]
            pub fn read_to_end<'a>(
                &'a self,
                buf: &'a mut Vec<u8>,
            ) -> $crate::await_point::At<impl std::future::Future<Output = io::Result<usize>> + 'a>
            {
                $crate::await_point::read_to_end(self, buf)
            }
        }

        impl AsRawFd for $stream {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        $crate::net::tcp::impl_stream_io!($stream);
        $crate::net::tcp::impl_stream_io!(&$stream);
    };
}
pub(super) use impl_stream;
