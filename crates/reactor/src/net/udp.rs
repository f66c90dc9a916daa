use crate::await_point::At;
use crate::io::Async;
use std::future::Future;
use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};

/// A UDP socket. While a send or receive waits, its caller's line is the
/// task's await point.
///
/// ```
/// use corio_reactor::{block_on, net::UdpSocket};
///
/// block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"hi", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: Async<net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (`AddrInUse` if taken). Host names resolve blocking.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(net::UdpSocket::bind(addr)?)
    }

    /// Wraps a std socket (made non-blocking here).
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: Async::new(socket)?,
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address (`NotConnected` if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Sends a datagram to `addr`; returns the bytes sent.
    #[track_caller]
    pub fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        addr: SocketAddr,
    ) -> At<impl Future<Output = io::Result<usize>> + 'a> {
        self.inner.write_with(move |s| s.send_to(buf, addr))
    }

    /// Receives a datagram and its sender (excess bytes are discarded).
    #[track_caller]
    pub fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> At<impl Future<Output = io::Result<(usize, SocketAddr)>> + 'a> {
        self.inner.read_with(move |s| s.recv_from(buf))
    }

    /// Receives without removing the datagram from the queue.
    #[track_caller]
    pub fn peek_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> At<impl Future<Output = io::Result<(usize, SocketAddr)>> + 'a> {
        self.inner.read_with(move |s| s.peek_from(buf))
    }

    /// Sets the default peer for `send`/`recv` and filters incoming datagrams.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.inner.get_ref().connect(addr)
    }

    /// Sends to the connected peer. A previous datagram refused by the peer
    /// surfaces here or in `recv` as `ConnectionRefused`.
    #[track_caller]
    pub fn send<'a>(&'a self, buf: &'a [u8]) -> At<impl Future<Output = io::Result<usize>> + 'a> {
        self.inner.write_with(move |s| s.send(buf))
    }

    /// Receives from the connected peer.
    #[track_caller]
    pub fn recv<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> At<impl Future<Output = io::Result<usize>> + 'a> {
        self.inner.read_with(move |s| s.recv(buf))
    }

    /// Enables sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(on)
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
