//! [`Async<T>`]: any non-blocking file descriptor, registered with the reactor.

use crate::await_point::At;
use crate::reactor::Reactor;
use crate::source::{Source, READ, WRITE};
use crate::sync::Arc;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// An I/O object (socket, pipe, anything [`AsRawFd`]) registered with the
/// reactor, so that its operations can await readiness instead of blocking.
///
/// `Async::new` puts the descriptor in non-blocking mode and registers it;
/// dropping the `Async` deregisters it *before* the inner object (and so the
/// descriptor) is closed. Reads and writes are attempted first and wait only on
/// `WouldBlock`, so a ready socket costs no reactor round trip.
///
/// A reader and a writer may wait at the same time (separate read and write
/// wakers), and any number of tasks may await [`readable`](Async::readable) /
/// [`writable`](Async::writable) together.
///
/// The type has no bound: `T: AsRawFd` is asked only by the methods that use
/// the descriptor, so `Async<T>` can be named in generic code that does not.
///
/// ```
/// struct NotAFile;
/// // Named (never built): only `Async::new` asks for `AsRawFd`.
/// let _unbuilt: Option<corio_reactor::Async<NotAFile>> = None;
/// ```
///
/// ```
/// use corio_reactor::{block_on, Async};
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (a, b) = (Async::new(a)?, Async::new(b)?);
///     b.write_with(|s| (&*s).write(b"ping")).await?;
///     let mut buf = [0u8; 4];
///     let n = a.read_with(|s| (&*s).read(&mut buf)).await?;
///     assert_eq!(&buf[..n], b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct Async<T> {
    source: Arc<Source>,
    io: Option<T>,
}

impl<T> Unpin for Async<T> {}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns (it is borrowed from a live
    // I/O object); F_GETFL/F_SETFL read and write flags only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl<T: AsRawFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the reactor.
    ///
    /// Errors: the descriptor cannot be made non-blocking, or the poller refuses
    /// it (e.g. a regular file, which epoll does not support: use a blocking
    /// pool for files).
    pub fn new(io: T) -> io::Result<Async<T>> {
        #[cfg(feature = "sim")]
        crate::sim::with_current(|c| c.map_or(Ok(()), |c| c.check_real_io()))?;
        let fd = io.as_raw_fd();
        set_nonblocking(fd)?;
        let source = Reactor::get().insert_io(fd)?;
        Ok(Async {
            source,
            io: Some(io),
        })
    }

    /// The inner I/O object.
    pub fn get_ref(&self) -> &T {
        match &self.io {
            Some(io) => io,
            None => unreachable!("Async's io is only taken in into_inner/drop"),
        }
    }

    /// Deregisters and returns the inner object (still in non-blocking mode).
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self.io.take();
        let res = Reactor::get().remove_io(&self.source);
        match io {
            Some(io) => res.map(|()| io),
            None => unreachable!("Async's io is only taken once"),
        }
    }

    /// Waits until the object is readable (an operation may still get
    /// `WouldBlock` on a spurious wake-up; retry with `read_with`).
    pub fn readable(&self) -> Ready<'_> {
        Ready {
            source: &self.source,
            dir: READ,
            slot: None,
        }
    }

    /// Waits until the object is writable.
    pub fn writable(&self) -> Ready<'_> {
        Ready {
            source: &self.source,
            dir: WRITE,
            slot: None,
        }
    }

    /// Poll form of [`readable`](Async::readable), for hand-written futures.
    /// One waker slot per direction: use `readable()` when several tasks wait.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(READ, cx).map_ok(|_| ())
    }

    /// Poll form of [`writable`](Async::writable).
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(WRITE, cx).map_ok(|_| ())
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`,
    /// waiting for readability in between. Other errors are returned as is.
    ///
    /// While it waits, the caller's line is the task's await point (see
    /// [`await_point`](crate::await_point)).
    #[track_caller]
    pub fn read_with<'a, R>(
        &'a self,
        mut op: impl FnMut(&T) -> io::Result<R> + 'a,
    ) -> At<impl Future<Output = io::Result<R>> + 'a> {
        At::caller(std::future::poll_fn(move |cx| {
            self.poll_op(READ, cx, &mut |io: &T| op(io))
        }))
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`,
    /// waiting for writability in between.
    /// The caller's line is the await point, as for `read_with`.
    #[track_caller]
    pub fn write_with<'a, R>(
        &'a self,
        mut op: impl FnMut(&T) -> io::Result<R> + 'a,
    ) -> At<impl Future<Output = io::Result<R>> + 'a> {
        At::caller(std::future::poll_fn(move |cx| {
            self.poll_op(WRITE, cx, &mut |io: &T| op(io))
        }))
    }

    /// The retry loop behind every operation: wait for readiness, try, and on
    /// `WouldBlock` forget the readiness seen (unless newer) and wait again.
    pub(crate) fn poll_op<R>(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        op: &mut dyn FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_op_draining(dir, cx, op, |_| false)
    }

    /// A byte-stream read of at most `want` bytes (`op` returns how many it
    /// read): like [`poll_op`](Async::poll_op), and a read that fills less than
    /// `want` also forgets the readiness seen, as tokio does. The socket's
    /// receive queue was drained, so trying again would only cost an `EAGAIN`
    /// system call; the next read waits for the kernel's next event instead.
    ///
    /// Sound in edge mode because the kernel reports an event for every new
    /// arrival (not only an empty-to-non-empty change), the flag is kept if
    /// such an event came after `tick`, and a FIN that arrived together with
    /// the data marks the source read-closed (epoll's `EPOLLRDHUP`), which
    /// keeps the flag too. End of stream (0 bytes) keeps the readiness: EOF
    /// is permanent. Never use this
    /// for datagrams: a short datagram says nothing about the ones behind it.
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        want: usize,
        op: &mut dyn FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_op_draining(READ, cx, op, |&n| n > 0 && n < want)
    }

    /// `poll_op`, where `drained(&result)` says a successful read emptied the
    /// receive queue (see `poll_read_stream`).
    fn poll_op_draining<R>(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        op: &mut dyn FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            let tick = ready!(self.source.poll_ready(dir, cx))?;
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.source.clear_ready(dir, tick)
                }
                Ok(r) => {
                    if drained(&r) {
                        self.source.clear_after_short_read(tick);
                    }
                    return Poll::Ready(Ok(r));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Total length of `bufs`, the `want` of a vectored stream read.
pub(crate) fn total_len(bufs: &[IoSliceMut<'_>]) -> usize {
    bufs.iter().map(|b| b.len()).sum()
}

impl<T: AsRawFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.source_fd()
    }
}

impl<T: AsRawFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to `self.io`, which lives as long as `self`.
        unsafe { BorrowedFd::borrow_raw(self.source_fd()) }
    }
}

impl<T: AsRawFd> Async<T> {
    fn source_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T> Drop for Async<T> {
    fn drop(&mut self) {
        if self.io.is_some() {
            // Deregister first, then close the descriptor (dropping `io`).
            let _ = Reactor::get().remove_io(&self.source);
            self.io.take();
        }
    }
}

/// Future of [`Async::readable`] / [`Async::writable`]: resolves when the
/// direction is ready. Each such future has its own waker slot.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Ready<'a> {
    source: &'a Source,
    dir: usize,
    slot: Option<usize>,
}

impl Future for Ready<'_> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.source
            .poll_waiter(this.dir, &mut this.slot, cx)
            .map_ok(|_| ())
    }
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.source.drop_waiter(self.dir, slot);
        }
    }
}

// ---- futures-io for any Async<T> whose &T reads/writes (sockets, pipes) ----
// AsyncRead is a byte stream: a short read clears readiness (poll_read_stream).

impl<T: AsRawFd> futures_io::AsyncRead for Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let want = buf.len();
        self.poll_read_stream(cx, want, &mut |mut io: &T| io.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let want = total_len(bufs);
        self.poll_read_stream(cx, want, &mut |mut io: &T| io.read_vectored(bufs))
    }
}

impl<T: AsRawFd> futures_io::AsyncWrite for Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_op(WRITE, cx, &mut |mut io: &T| io.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_op(WRITE, cx, &mut |mut io: &T| io.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sockets and pipes have no user-space buffer: flush never waits.
        let mut io = self.get_ref();
        Poll::Ready(Write::flush(&mut io))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
