//! [`StreamWriter`]: asyncio's `StreamWriter` over any `AsyncWrite`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;

use futures_io::AsyncWrite;

use super::SocketAddress;

/// The write half of a connection (or any `AsyncWrite`), with asyncio's
/// `write` / `drain` split.
///
/// [`write`](Self::write) only appends to a user-space buffer and never waits;
/// [`drain`](Self::drain) hands the buffer to the OS, waiting while the socket is
/// full. That wait is the back-pressure: a loop of `write` + `drain` against a
/// slow reader is held back by the reader, and the writer's memory stays at
/// most one loop iteration's worth of data (plus the kernel's socket buffers).
///
/// Unlike asyncio, there is no background transport sending the buffer by
/// itself: bytes go out in `drain` (or [`wait_closed`](Self::wait_closed)),
/// so call `drain` after writing, as asyncio's docs recommend anyway. `drain`
/// empties the buffer completely, which makes it safe to wait for a reply
/// right after it.
///
/// ```
/// use corio::streams::StreamWriter;
/// corio_reactor::block_on(async {
///     let mut w = StreamWriter::new(futures::io::Cursor::new(Vec::new()));
///     w.write(b"hello ");
///     w.write(b"world");
///     assert_eq!(w.buffer_size(), 11);
///     w.drain().await?;
///     assert_eq!(w.buffer_size(), 0);
///     w.close();
///     w.wait_closed().await
/// }).unwrap();
/// ```
pub struct StreamWriter {
    inner: Box<dyn AsyncWrite + Send + Unpin>,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    closing: bool,
    closed: bool,
    peer: Option<SocketAddress>,
    sock: Option<SocketAddress>,
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("buffered", &self.buffer_size())
            .field("closing", &self.closing)
            .field("peername", &self.peer)
            .field("sockname", &self.sock)
            .finish_non_exhaustive()
    }
}

impl StreamWriter {
    /// Wraps any `AsyncWrite` (no addresses).
    pub fn new(inner: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        Self::with_addresses(inner, None, None)
    }

    pub(crate) fn with_addresses(
        inner: impl AsyncWrite + Send + Unpin + 'static,
        peer: Option<SocketAddress>,
        sock: Option<SocketAddress>,
    ) -> Self {
        StreamWriter {
            inner: Box::new(inner),
            buf: Vec::new(),
            pos: 0,
            closing: false,
            closed: false,
            peer,
            sock,
        }
    }

    /// Appends `data` to the buffer (never waits; call [`drain`](Self::drain)).
    ///
    /// Data written after [`close`](Self::close) is discarded (the next `drain`
    /// reports it).
    pub fn write(&mut self, data: &[u8]) {
        if !self.closing {
            self.buf.extend_from_slice(data);
        }
    }

    /// Appends every chunk (asyncio's `writelines`).
    pub fn writelines<I, B>(&mut self, lines: I)
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for l in lines {
            self.write(l.as_ref());
        }
    }

    /// Bytes written but not yet handed to the OS (asyncio's
    /// `transport.get_write_buffer_size()`).
    pub fn buffer_size(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Hands every buffered byte to the OS, waiting while the peer is not
    /// reading (back-pressure). Cancellation-safe: bytes already sent are not
    /// sent again; the rest stays buffered.
    ///
    /// Errors: the OS error (e.g. `BrokenPipe`/`ConnectionReset` when the peer
    /// went away), or `NotConnected` after [`close`](Self::close).
    pub async fn drain(&mut self) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "StreamWriter::drain after the writer was closed: open a new connection",
            ));
        }
        self.flush_buffer().await
    }

    async fn flush_buffer(&mut self) -> io::Result<()> {
        while self.pos < self.buf.len() {
            let n = poll_fn(|cx| Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.pos..]))
                .await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the peer accepts no more data (write returned 0)",
                ));
            }
            self.pos += n;
        }
        self.buf.clear();
        self.pos = 0;
        poll_fn(|cx| Pin::new(&mut self.inner).poll_flush(cx)).await
    }

    /// Flushes the buffer, then closes the write side: the peer reads end of
    /// stream (for TCP, a `shutdown(Write)`).
    pub async fn write_eof(&mut self) -> io::Result<()> {
        self.flush_buffer().await?;
        poll_fn(|cx| Pin::new(&mut self.inner).poll_close(cx)).await
    }

    /// True: every stream corio makes can send end-of-stream on its own.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Starts closing: later writes are ignored; [`wait_closed`](Self::wait_closed)
    /// sends what is buffered and closes the write side.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// True after [`close`](Self::close).
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Finishes [`close`](Self::close): flushes the buffer and closes the write
    /// side. Calling it again does nothing.
    pub async fn wait_closed(&mut self) -> io::Result<()> {
        self.closing = true;
        if self.closed {
            return Ok(());
        }
        let r = self.write_eof().await;
        self.closed = true;
        r
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`); `None` for
    /// streams that are not sockets.
    pub fn peername(&self) -> Option<&SocketAddress> {
        self.peer.as_ref()
    }

    /// This end's address (asyncio's `get_extra_info("sockname")`).
    pub fn sockname(&self) -> Option<&SocketAddress> {
        self.sock.as_ref()
    }

    /// asyncio's `get_extra_info(name)` for `"peername"` and `"sockname"`.
    pub fn get_extra_info(&self, name: &str) -> Option<&SocketAddress> {
        match name {
            "peername" => self.peername(),
            "sockname" => self.sockname(),
            _ => None,
        }
    }
}
