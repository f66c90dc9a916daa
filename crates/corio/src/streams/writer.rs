//! [`StreamWriter`]: asyncio's `StreamWriter` and the write half of its
//! transport.
//!
//! # How bytes get out (asyncio's transport, in four rules)
//!
//! 1. `write` with an empty buffer sends at once what the OS takes (one
//!    non-blocking attempt) and buffers the rest; with bytes already buffered
//!    it appends, so order is kept.
//! 2. Bytes left in the buffer are sent by a *flusher*: a small task spawned on
//!    the current corio runtime when the buffer becomes non-empty, which writes
//!    whenever the socket is writable and ends when the buffer is empty (and a
//!    requested `write_eof`/`close` is done). At most one flusher per writer.
//!    Outside a corio runtime there is no flusher: `drain`, `wait_closed` and
//!    the `AsyncWrite` methods send the buffer themselves.
//! 3. Flow control as asyncio's: when the buffer grows above the high-water
//!    mark the writer is *paused*; it resumes when the flusher brings the buffer
//!    down to the low-water mark. `drain` waits while paused. That wait is the
//!    back-pressure: a `write` + `drain` loop holds at most the high-water mark
//!    plus one write.
//! 4. A write error is fatal, as asyncio's `connection_lost(exc)`: the buffer is
//!    dropped, the transport closed, and the error stored for `drain`,
//!    `wait_closed` and the connection's reader.
//!
//! All state is in one mutex shared by the writer and its flusher; the lock is
//! never held while waking the writer's own waiter or spawning the flusher. A
//! fatal error feeds the reader's link under it (the reader never takes it).

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};

use futures_io::AsyncWrite;

use super::link::{copy_error, Link};
use super::probe::noop_waker;
use super::transport::{Plain, WriteTransport};
use super::SocketAddress;
use crate::sync::waitlist::lock;
use crate::{AwaitPoint, Handle};

/// asyncio's default high-water mark of a transport's write buffer (64 KiB);
/// the low-water mark defaults to a quarter of the high one.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// An emptied write buffer bigger than this is freed rather than kept.
const KEEP_CAPACITY: usize = 256 * 1024;

/// The write half of a connection (or any `AsyncWrite`), with asyncio's
/// transport semantics.
///
/// [`write`](Self::write) never waits: it sends at once what the OS accepts
/// and buffers the rest, which the runtime sends in the background. So
/// "write a request, then read the reply" works without `drain`, as in
/// asyncio. [`drain`](Self::drain) is the back-pressure: it waits while more
/// than the high-water mark is buffered (64 KiB by default,
/// [`set_write_buffer_limits`](Self::set_write_buffer_limits)). A loop of
/// `write` + `drain` against a peer that never reads keeps at most the
/// high-water mark plus one write in memory.
///
/// [`close`](Self::close) closes the connection once the buffer is sent (the
/// connection's own reader sees end of stream after what it had buffered);
/// [`write_eof`](Self::write_eof) only closes the sending direction.
/// Dropping the writer closes it, as asyncio's `StreamWriter.__del__`.
///
/// `StreamWriter` implements `futures_io::AsyncWrite` (`poll_write` waits while
/// the buffer is at the high-water mark, `poll_flush` until it is empty,
/// `poll_close` is `close` + `wait_closed`).
///
/// ```
/// use corio::streams::StreamWriter;
/// corio::run(async {
///     let (a, b) = corio::net::UnixStream::pair()?;
///     let mut w = StreamWriter::new(a);
///     w.write(b"hello ");
///     w.write(b"world"); // already on its way: no drain needed
///     let mut r = corio::streams::StreamReader::new(b);
///     assert_eq!(r.readexactly(11).await?, b"hello world");
///     w.close();
///     w.wait_closed().await?;
///     assert_eq!(r.read(10).await?, b""); // the peer saw end of stream
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
pub struct StreamWriter {
    shared: Arc<Shared>,
    peer: Option<SocketAddress>,
    sock: Option<SocketAddress>,
}

struct Shared {
    state: Mutex<State>,
    /// The reader of the same connection: `close` feeds it end of stream, a
    /// write error its exception.
    link: Arc<Link>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// `write_eof` was called; the half-close follows the buffer.
    EofPending,
    EofSent,
    /// `close` was called; the close follows the buffer.
    Closing,
    Closed,
}

struct State {
    io: Box<dyn WriteTransport>,
    /// `buf[pos..]` is waiting to be sent.
    buf: Vec<u8>,
    pos: usize,
    high: usize,
    low: usize,
    paused: bool,
    phase: Phase,
    /// The fatal error (or a failed close).
    error: Option<Arc<io::Error>>,
    /// Bytes written after `close`/`write_eof`, reported by the next `drain`.
    discarded: usize,
    /// A flusher task is running (or being spawned).
    flusher: bool,
    /// The writer's own wait (drain, wait_closed, AsyncWrite): at most one,
    /// as they all take `&mut StreamWriter`.
    waiter: Option<Waker>,
    /// Something a waiter may be waiting for happened.
    notify: bool,
}

impl State {
    fn size(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn append(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        if self.size() > self.high {
            self.paused = true;
        }
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.pos = 0;
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
        if self.paused && self.size() <= self.low {
            self.paused = false;
            self.notify = true;
        }
    }

    /// The connection is lost (asyncio's `_fatal_error`): drop the buffer,
    /// close the transport, store `e` here and in the reader.
    fn fail(&mut self, e: io::Error, link: &Link) {
        let e = Arc::new(e);
        link.set_exception_if_none(e.clone());
        self.error.get_or_insert(e);
        self.buf = Vec::new();
        self.pos = 0;
        self.paused = false;
        if self.phase != Phase::Closed {
            let _ = self.io.poll_close(&mut Context::from_waker(noop_waker()));
            self.phase = Phase::Closed;
        }
        self.notify = true;
    }

    fn has_work(&self) -> bool {
        self.size() > 0 || matches!(self.phase, Phase::EofPending | Phase::Closing)
    }

    /// Marks a flusher as needed; the caller spawns it after unlocking.
    fn claim_flusher(&mut self) -> bool {
        if !self.flusher && self.has_work() {
            self.flusher = true;
            return true;
        }
        false
    }

    fn take_notify(&mut self) -> Option<Waker> {
        if std::mem::take(&mut self.notify) {
            self.waiter.take()
        } else {
            None
        }
    }

    /// Sends the buffer, then performs a requested half-close or close.
    /// `Ready` when nothing is left to do; `Pending` with `cx` registered for
    /// writability.
    fn progress(&mut self, cx: &mut Context<'_>, link: &Link) -> Poll<()> {
        loop {
            while self.pos < self.buf.len() {
                match self.io.poll_write(cx, &self.buf[self.pos..]) {
                    Poll::Ready(Ok(0)) => {
                        let e = io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the transport accepts no more data (write returned 0)",
                        );
                        self.fail(e, link);
                        return Poll::Ready(());
                    }
                    Poll::Ready(Ok(n)) => self.consume(n),
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        self.fail(e, link);
                        return Poll::Ready(());
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            self.notify = true;
            match self.phase {
                Phase::Open | Phase::EofSent | Phase::Closed => return Poll::Ready(()),
                Phase::EofPending => match ready!(self.io.poll_write_eof(cx)) {
                    Ok(()) => self.phase = Phase::EofSent,
                    Err(e) => self.fail(e, link),
                },
                Phase::Closing => {
                    if let Err(e) = ready!(self.io.poll_close(cx)) {
                        self.error.get_or_insert(Arc::new(e));
                    }
                    self.phase = Phase::Closed;
                }
            }
        }
    }
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

/// The background sender of one writer's buffer (rule 2 above).
struct Flusher {
    shared: Arc<Shared>,
    done: bool,
}

impl Future for Flusher {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.shared.state);
        let r = st.progress(cx, &self.shared.link);
        if r.is_ready() {
            // Decided under the lock: a `write` after this spawns a new flusher.
            st.flusher = false;
        }
        let w = st.take_notify();
        drop(st);
        wake(w);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if !self.done {
            // Cancelled (the runtime shuts down): let the writer's waits drive.
            let w = {
                let mut st = lock(&self.shared.state);
                st.flusher = false;
                st.notify = true;
                st.take_notify()
            };
            wake(w);
        }
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("StreamWriter")
            .field("buffered", &st.size())
            .field("phase", &st.phase)
            .field("paused", &st.paused)
            .field("peername", &self.peer)
            .field("sockname", &self.sock)
            .finish_non_exhaustive()
    }
}

impl StreamWriter {
    /// Wraps any `AsyncWrite` (no addresses). `write_eof` and `close` are
    /// both its `poll_close`.
    pub fn new(inner: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        Self::from_transport(Box::new(Plain(inner)), Link::new(), None, None)
    }

    pub(crate) fn from_transport(
        io: Box<dyn WriteTransport>,
        link: Arc<Link>,
        peer: Option<SocketAddress>,
        sock: Option<SocketAddress>,
    ) -> Self {
        let state = State {
            io,
            buf: Vec::new(),
            pos: 0,
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_HIGH_WATER / 4,
            paused: false,
            phase: Phase::Open,
            error: None,
            discarded: 0,
            flusher: false,
            waiter: None,
            notify: false,
        };
        StreamWriter {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                link,
            }),
            peer,
            sock,
        }
    }

    /// Sends `data` (asyncio's `write`): what the OS takes now goes at once,
    /// the rest is buffered and sent in the background. Never waits.
    ///
    /// After [`close`](Self::close) or [`write_eof`](Self::write_eof) the data
    /// is discarded and the next [`drain`](Self::drain) reports it; after a
    /// connection error it is discarded silently (the error is reported by
    /// `drain`), as asyncio.
    pub fn write(&mut self, data: &[u8]) {
        let _ = self.write_inner(data);
    }

    fn write_inner(&mut self, mut data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let spawn = {
            let mut st = lock(&self.shared.state);
            if let Some(e) = &st.error {
                return Err(copy_error(e));
            }
            if st.phase != Phase::Open {
                st.discarded += data.len();
                return Err(after_close_error());
            }
            if st.size() == 0 {
                // Rule 1: one non-blocking attempt.
                let mut cx = Context::from_waker(noop_waker());
                match st.io.poll_write(&mut cx, data) {
                    Poll::Ready(Ok(n)) => data = &data[n.min(data.len())..],
                    Poll::Ready(Err(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                        ) => {}
                    Poll::Ready(Err(e)) => {
                        st.fail(e, &self.shared.link);
                        let err = st.error.as_ref().map(copy_error);
                        let w = st.take_notify();
                        drop(st);
                        wake(w);
                        return err.map_or(Ok(()), Err);
                    }
                    Poll::Pending => {}
                }
                if data.is_empty() {
                    return Ok(());
                }
            }
            st.append(data);
            st.claim_flusher()
        };
        if spawn {
            self.spawn_flusher();
        }
        Ok(())
    }

    /// Starts the flusher on the current runtime, or (outside one) leaves the
    /// sending to the writer's own waits.
    fn spawn_flusher(&self) {
        match Handle::try_current() {
            Some(handle) => {
                let flusher = Flusher {
                    shared: self.shared.clone(),
                    done: false,
                };
                drop(handle.create_task(flusher)); // detached: it ends by itself
            }
            None => lock(&self.shared.state).flusher = false,
        }
    }

    /// Writes every chunk (asyncio's `writelines`).
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
    pub fn get_write_buffer_size(&self) -> usize {
        lock(&self.shared.state).size()
    }

    /// `(low, high)`: the write buffer's water marks (asyncio's
    /// `transport.get_write_buffer_limits()`).
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        let st = lock(&self.shared.state);
        (st.low, st.high)
    }

    /// Sets the water marks of the write buffer (asyncio's
    /// `transport.set_write_buffer_limits(high, low)`): `drain` waits once
    /// more than `high` bytes are buffered, until they are down to `low`.
    /// Defaults as asyncio: `high` 64 KiB (or `4 * low` when only `low` is
    /// given), `low` a quarter of `high`.
    ///
    /// Errors: `InvalidInput` when `low > high`.
    ///
    /// ```
    /// # use corio::streams::StreamWriter;
    /// let mut w = StreamWriter::new(futures::io::Cursor::new(Vec::new()));
    /// w.set_write_buffer_limits(Some(1024), None).unwrap();
    /// assert_eq!(w.get_write_buffer_limits(), (256, 1024));
    /// assert!(w.set_write_buffer_limits(Some(10), Some(20)).is_err());
    /// ```
    pub fn set_write_buffer_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        let high = high.unwrap_or_else(|| low.map_or(DEFAULT_HIGH_WATER, |l| l.saturating_mul(4)));
        let low = low.unwrap_or(high / 4);
        if low > high {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("set_write_buffer_limits: high ({high}) must be at least low ({low})"),
            ));
        }
        let mut st = lock(&self.shared.state);
        st.high = high;
        st.low = low;
        if st.size() > high {
            st.paused = true;
        }
        Ok(())
    }

    /// Waits for the writer's condition `done`, sending the buffer itself when
    /// no flusher runs.
    fn poll_until(
        &self,
        cx: &mut Context<'_>,
        mut done: impl FnMut(&mut State, &Link) -> Option<io::Result<()>>,
    ) -> Poll<io::Result<()>> {
        let mut st = lock(&self.shared.state);
        if !st.flusher {
            let _ = st.progress(cx, &self.shared.link);
            st.notify = false;
        }
        if let Some(r) = done(&mut st, &self.shared.link) {
            return Poll::Ready(r);
        }
        match &st.waiter {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Back-pressure (asyncio's `drain`): returns at once unless more than the
    /// high-water mark is buffered, else waits until the buffer is down to the
    /// low-water mark. Cancellation-safe (the bytes stay buffered and keep
    /// going out).
    ///
    /// Errors: the connection's error (a failed write, or the reader's stored
    /// exception, e.g. `ConnectionReset`), `ConnectionReset` once the writer
    /// was closed (asyncio's "Connection lost"), `BrokenPipe` when bytes were
    /// written after `close`/`write_eof` and discarded.
    #[track_caller]
    pub fn drain<'a>(&'a mut self) -> AwaitPoint<impl Future<Output = io::Result<()>> + 'a> {
        crate::await_point(self.drain_inner())
    }

    /// The body of [`drain`](Self::drain).
    async fn drain_inner(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            self.poll_until(cx, |st, link| {
                if let Some(e) = &st.error {
                    return Some(Err(copy_error(e)));
                }
                if let Some(e) = link.exception() {
                    return Some(Err(e));
                }
                if st.phase == Phase::Closed {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "connection lost: the writer was closed (drain after close)",
                    )));
                }
                if st.discarded > 0 {
                    let n = std::mem::take(&mut st.discarded);
                    return Some(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        format!(
                            "{n} bytes written after close() or write_eof() were discarded: \
                             write before closing"
                        ),
                    )));
                }
                (!st.paused).then_some(Ok(()))
            })
        })
        .await
    }

    /// Closes the sending direction once the buffer is sent (asyncio's
    /// `write_eof`): the peer reads end of stream; this side can still read.
    /// Does nothing after `close` or a second time.
    ///
    /// Errors: the OS error of an immediate half-close (with an empty buffer).
    pub fn write_eof(&mut self) -> io::Result<()> {
        let spawn = {
            let mut st = lock(&self.shared.state);
            if st.phase != Phase::Open {
                return Ok(());
            }
            st.phase = Phase::EofPending;
            if st.size() == 0 && !st.flusher {
                match st.io.poll_write_eof(&mut Context::from_waker(noop_waker())) {
                    Poll::Ready(Ok(())) => {
                        st.phase = Phase::EofSent;
                        return Ok(());
                    }
                    Poll::Ready(Err(e)) => {
                        let copy = io::Error::new(e.kind(), e.to_string());
                        st.fail(e, &self.shared.link);
                        let w = st.take_notify();
                        drop(st);
                        wake(w);
                        return Err(copy);
                    }
                    Poll::Pending => {}
                }
            }
            st.claim_flusher()
        };
        if spawn {
            self.spawn_flusher();
        }
        Ok(())
    }

    /// True: every stream corio makes can send end-of-stream on its own.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes the connection once the buffer is sent (asyncio's `close`):
    /// later writes are discarded, the connection's own reader sees end of
    /// stream after what it had already received, and the peer reads end of
    /// stream. Never waits; [`wait_closed`](Self::wait_closed) waits for it.
    pub fn close(&mut self) {
        let spawn = {
            let mut st = lock(&self.shared.state);
            if matches!(st.phase, Phase::Closing | Phase::Closed) {
                return;
            }
            st.phase = Phase::Closing;
            let mut spawn = false;
            if st.size() == 0 && !st.flusher {
                match st.io.poll_close(&mut Context::from_waker(noop_waker())) {
                    Poll::Ready(r) => {
                        if let Err(e) = r {
                            st.error.get_or_insert(Arc::new(e));
                        }
                        st.phase = Phase::Closed;
                    }
                    Poll::Pending => spawn = st.claim_flusher(),
                }
            } else {
                spawn = st.claim_flusher();
            }
            spawn
        };
        // asyncio stops reading at close: the reader gets end of stream.
        self.shared.link.feed_eof();
        if spawn {
            self.spawn_flusher();
        }
    }

    /// True after [`close`](Self::close) or once the connection was lost
    /// (asyncio's `is_closing`).
    pub fn is_closing(&self) -> bool {
        let st = lock(&self.shared.state);
        matches!(st.phase, Phase::Closing | Phase::Closed) || st.error.is_some()
    }

    /// Closes (if not yet) and waits until the buffer is sent and the
    /// connection closed (asyncio's `wait_closed`, which in asyncio needs a
    /// `close()` first).
    ///
    /// Errors: the error that lost the connection (e.g. `BrokenPipe` when the
    /// peer went away with bytes still buffered), every time it is called.
    #[track_caller]
    pub fn wait_closed<'a>(&'a mut self) -> AwaitPoint<impl Future<Output = io::Result<()>> + 'a> {
        crate::await_point(self.wait_closed_inner())
    }

    /// The body of [`wait_closed`](Self::wait_closed).
    async fn wait_closed_inner(&mut self) -> io::Result<()> {
        self.close();
        poll_fn(|cx| self.poll_until(cx, closed)).await
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

/// `wait_closed`'s condition: closed, with the error if the connection was lost.
fn closed(st: &mut State, _: &Link) -> Option<io::Result<()>> {
    match (&st.error, st.phase) {
        (Some(e), _) => Some(Err(copy_error(e))),
        (None, Phase::Closed) => Some(Ok(())),
        _ => None,
    }
}

fn after_close_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "write after close() or write_eof(): the bytes were discarded",
    )
}

impl Drop for StreamWriter {
    /// Closes, as asyncio's `StreamWriter.__del__`: the buffer is still sent
    /// in the background, then the connection closes.
    fn drop(&mut self) {
        self.close();
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Wait for room: at most the high-water mark is buffered (plus one
        // write into an empty buffer).
        ready!(this.poll_until(cx, |st, _| {
            if st.error.is_some() || st.phase != Phase::Open {
                return Some(Ok(()));
            }
            let size = st.size();
            if size == 0 || size < st.high {
                return Some(Ok(()));
            }
            st.paused = true;
            None
        }))?;
        let room = {
            let st = lock(&this.shared.state);
            if let Some(e) = &st.error {
                return Poll::Ready(Err(copy_error(e)));
            }
            if st.phase != Phase::Open {
                return Poll::Ready(Err(after_close_error()));
            }
            match st.size() {
                0 => buf.len(),
                size => (st.high - size).min(buf.len()),
            }
        };
        this.write_inner(&buf[..room])?;
        Poll::Ready(Ok(room))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_until(cx, |st, _| match &st.error {
            Some(e) => Some(Err(copy_error(e))),
            None => (st.size() == 0).then_some(Ok(())),
        })
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.close();
        this.poll_until(cx, closed)
    }
}
