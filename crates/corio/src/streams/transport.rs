//! What a [`StreamWriter`](super::StreamWriter) writes to: a byte sink that
//! can also half-close (asyncio's `write_eof`) and close.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_reactor::net::{TcpStream, UnixStream};
use futures_io::AsyncWrite;

/// The write side of a transport. Every method may be polled with a waker
/// that does nothing (one non-blocking attempt) and later with a real one.
pub(crate) trait WriteTransport: Send + 'static {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Half-close: the peer reads end of stream, this side may still read.
    fn poll_write_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Full close (for a socket, also this side's reading).
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// Any `AsyncWrite`: both kinds of close are its `poll_close`.
pub(crate) struct Plain<W>(pub(crate) W);

impl<W: AsyncWrite + Send + Unpin + 'static> WriteTransport for Plain<W> {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_write_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// A connected socket shared with the connection's reader: `shutdown(Write)`
/// for `write_eof`, `shutdown(Both)` for `close` (the descriptor itself closes
/// when the reader's handle is dropped too).
pub(crate) struct Socket<S>(pub(crate) S);

/// The sockets [`Socket`] works with.
pub(crate) trait ShutdownSocket: AsyncWrite + Send + Unpin + 'static {
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl ShutdownSocket for TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
}

impl ShutdownSocket for UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        UnixStream::shutdown(self, how)
    }
}

impl<S: ShutdownSocket> Socket<S> {
    fn shut(&self, how: Shutdown) -> Poll<io::Result<()>> {
        match self.0.shutdown(how) {
            // The peer closed first and the socket is gone: nothing to close.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            r => Poll::Ready(r),
        }
    }
}

impl<S: ShutdownSocket> WriteTransport for Socket<S> {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_write_eof(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut(Shutdown::Write)
    }
    fn poll_close(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut(Shutdown::Both)
    }
}
