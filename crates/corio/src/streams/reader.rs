//! [`StreamReader`]: asyncio's `StreamReader` over any `AsyncRead`.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead};

use super::error::{IncompleteReadError, LimitOverrunError, ReadError};
use super::link::{copy_error, Link};
use super::probe::{fd_at_eof, noop_waker, read_now};
use crate::AwaitPoint;

/// asyncio's default buffer limit for `readuntil`/`readline` (`2 ** 16`).
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Bytes asked of the OS per read: big enough that a bulk transfer takes few
/// syscalls, small enough that an idle connection's buffer stays small.
const READ_CHUNK: usize = 16 * 1024;

/// An emptied buffer bigger than this is freed rather than kept for reuse, so
/// one large message does not pin its memory for the connection's life.
const KEEP_CAPACITY: usize = 256 * 1024;

/// The read half of a connection (or any `AsyncRead`), with a buffer and
/// asyncio's reading methods.
///
/// Every method is cancellation-safe: bytes are only taken out of the buffer
/// when a call completes, so a `readexactly` dropped half-way (a timeout) leaves
/// what it had read for the next call.
///
/// As in asyncio, an exception stored with [`set_exception`](Self::set_exception)
/// (or a connection error, which is stored the same way) is raised by the next
/// read even when bytes are still buffered, and by every read after it.
///
/// `StreamReader` implements `futures_io::AsyncRead` and `AsyncBufRead`, so it
/// can be handed to any futures-io helper (copy, codecs, decompression, TLS).
///
/// ```
/// use corio::streams::StreamReader;
/// corio_reactor::block_on(async {
///     let data: &[u8] = b"HELLO\nworld";
///     let mut r = StreamReader::new(futures::io::Cursor::new(data.to_vec()));
///     assert_eq!(r.readline().await?, b"HELLO\n");
///     assert_eq!(r.readexactly(3).await?, b"wor");
///     let err = r.readexactly(5).await.unwrap_err(); // only "ld" left
///     assert_eq!(err.partial(), Some(&b"ld"[..]));
///     assert!(r.at_eof());
///     Ok::<_, corio::streams::ReadError>(())
/// }).unwrap();
/// ```
pub struct StreamReader {
    inner: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// The descriptor under `inner`, when it is one (sockets, pipes): lets
    /// `at_eof` see an end of stream that no read has observed yet.
    fd: Option<RawFd>,
    link: Arc<Link>,
    /// `buf[pos..end]` are the unread bytes; `buf[end..]` is zeroed room that
    /// the next read fills without clearing it again.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    limit: usize,
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.buffered())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Default for StreamReader {
    /// A [`detached`](StreamReader::detached) reader with the default limit.
    fn default() -> Self {
        StreamReader::detached(DEFAULT_LIMIT)
    }
}

impl StreamReader {
    /// Wraps `inner` with the default limit ([`DEFAULT_LIMIT`], 64 KiB).
    pub fn new(inner: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self::with_limit(inner, DEFAULT_LIMIT)
    }

    /// Wraps `inner`; `readuntil`/`readline` fail with [`LimitOverrunError`]
    /// when a line would be longer than `limit` bytes.
    pub fn with_limit(inner: impl AsyncRead + Send + Unpin + 'static, limit: usize) -> Self {
        Self::from_parts(Some(Box::new(inner)), None, Link::new(), limit)
    }

    /// A reader with no transport (asyncio's `StreamReader()` built by hand):
    /// its bytes come only from [`feed_data`](Self::feed_data) /
    /// [`feed_eof`](Self::feed_eof), here or through a [`StreamFeeder`] given to
    /// another task. For tests and protocol adapters.
    ///
    /// ```
    /// use corio::streams::StreamReader;
    /// corio::run(async {
    ///     let mut r = StreamReader::detached(1024);
    ///     let feeder = r.feeder();
    ///     let t = corio::create_task(async move {
    ///         feeder.feed_data(b"line 1\nline");
    ///         feeder.feed_data(b" 2\n");
    ///         feeder.feed_eof();
    ///     });
    ///     assert_eq!(r.readline().await?, b"line 1\n");
    ///     assert_eq!(r.readline().await?, b"line 2\n");
    ///     assert_eq!(r.readline().await?, b""); // end of stream
    ///     assert!(r.at_eof());
    ///     t.await.unwrap();
    ///     Ok::<_, corio::streams::ReadError>(())
    /// }).unwrap();
    /// ```
    pub fn detached(limit: usize) -> Self {
        Self::from_parts(None, None, Link::new(), limit)
    }

    pub(crate) fn from_parts(
        inner: Option<Box<dyn AsyncRead + Send + Unpin>>,
        fd: Option<RawFd>,
        link: Arc<Link>,
        limit: usize,
    ) -> Self {
        StreamReader {
            inner,
            fd,
            link,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            limit: limit.max(1),
        }
    }

    /// The limit of `readuntil`/`readline`.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes received but not yet returned.
    pub fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// True when end of stream has arrived and the buffer is empty (asyncio's
    /// `at_eof`). For sockets and pipes this looks at the descriptor, so it is
    /// true as soon as the peer's end of stream is there, before any read saw it.
    pub fn at_eof(&self) -> bool {
        if self.buffered() > 0 || self.link.has_data() {
            return false;
        }
        if self.eof || self.link.eof_fed() {
            return true;
        }
        self.fd.is_some_and(fd_at_eof)
    }

    /// The stored exception, if any (asyncio's `exception()`): one set with
    /// [`set_exception`](Self::set_exception), or the error that broke the
    /// connection (a failed read, or a failed write of the same connection's
    /// [`StreamWriter`](super::StreamWriter)).
    pub fn exception(&self) -> Option<io::Error> {
        self.link.exception()
    }

    /// Stores `exc`: every later read fails with it, before any buffered byte
    /// (asyncio's `set_exception`). A read waiting now wakes up and fails.
    ///
    /// ```
    /// use corio::streams::StreamReader;
    /// use std::io::{Error, ErrorKind};
    /// corio_reactor::block_on(async {
    ///     let mut r = StreamReader::default();
    ///     r.feed_data(b"line\n");
    ///     r.set_exception(Error::new(ErrorKind::ConnectionReset, "peer reset"));
    ///     let err = r.readline().await.unwrap_err();
    ///     assert_eq!(err.to_string(), "stream read failed: peer reset");
    ///     assert_eq!(r.exception().unwrap().kind(), ErrorKind::ConnectionReset);
    /// });
    /// ```
    pub fn set_exception(&self, exc: io::Error) {
        self.link.set_exception(Arc::new(exc));
    }

    /// Appends bytes to the buffer as if they had been received (asyncio's
    /// `feed_data`); empty data does nothing.
    ///
    /// # Panics
    /// After [`feed_eof`](Self::feed_eof) (asyncio asserts the same).
    pub fn feed_data(&self, data: &[u8]) {
        self.link.feed_data(data);
    }

    /// Marks end of stream (asyncio's `feed_eof`): reads return what is
    /// buffered, then end of stream.
    pub fn feed_eof(&self) {
        self.link.feed_eof();
    }

    /// A handle that feeds this reader from another task (the `feed_*` and
    /// `set_exception` methods, shareable: `Clone + Send + Sync`).
    pub fn feeder(&self) -> StreamFeeder {
        StreamFeeder {
            link: self.link.clone(),
        }
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
            if self.buf.len() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.consume(n);
        out
    }

    fn check_exception(&self) -> io::Result<()> {
        match self.link.exception() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Moves the unread bytes to the front once the consumed prefix is big.
    fn compact(&mut self) {
        if self.pos > 0 && self.pos >= self.end / 2 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
    }

    /// Brings more bytes into the buffer: fed ones first, else one read of the
    /// transport. `Ok(0)` is end of stream. A read error is stored as the
    /// reader's exception (asyncio's `connection_lost(exc)`).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            if self.link.has_news() {
                self.check_exception()?;
                if self.link.has_data() {
                    let fed = self.link.take_data();
                    if !fed.is_empty() {
                        self.compact();
                        self.buf.truncate(self.end);
                        self.buf.extend_from_slice(&fed);
                        self.end = self.buf.len();
                        return Poll::Ready(Ok(fed.len()));
                    }
                }
                if self.link.eof_fed() {
                    self.eof = true;
                }
            }
            if self.eof {
                return Poll::Ready(Ok(0));
            }
            if self.inner.is_none() {
                self.link.register(cx.waker());
                if self.link.has_news() {
                    continue;
                }
                return Poll::Pending;
            }
            self.compact();
            if self.buf.len() < self.end + READ_CHUNK {
                self.buf.resize(self.end + READ_CHUNK, 0);
            }
            let Some(inner) = self.inner.as_mut() else {
                continue;
            };
            match Pin::new(inner).poll_read(cx, &mut self.buf[self.end..]) {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    return Poll::Ready(Ok(0));
                }
                Poll::Ready(Ok(n)) => {
                    self.end += n;
                    return Poll::Ready(Ok(n));
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    let e = Arc::new(e);
                    self.link.set_exception_if_none(e.clone());
                    return Poll::Ready(Err(copy_error(&e)));
                }
                Poll::Pending => {
                    // Also wait for a feed (the own writer's close, an exception).
                    self.link.register(cx.waker());
                    if self.link.has_news() {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Takes in what has already arrived, without waiting: every fed byte, and
    /// from the transport up to twice the limit (where asyncio's transport
    /// pauses reading). Returns the bytes added.
    ///
    /// A descriptor is read directly: the reactor may not have reported new
    /// bytes yet (it forgets readiness after a short read until its next poll).
    fn absorb_available(&mut self) -> io::Result<usize> {
        let mut cx = Context::from_waker(noop_waker());
        let mut added = 0;
        // Fed bytes always join the buffer (asyncio's feed_data never refuses).
        while self.link.has_data() {
            match self.poll_fill(&mut cx) {
                Poll::Ready(Ok(0)) | Poll::Pending => break,
                Poll::Ready(Ok(n)) => added += n,
                Poll::Ready(Err(e)) => return Err(e),
            }
        }
        while self.buffered() <= 2 * self.limit {
            let fd = match self.fd {
                Some(fd) if !self.eof && !self.link.has_news() => fd,
                _ => match self.poll_fill(&mut cx) {
                    Poll::Ready(Ok(0)) | Poll::Pending => break,
                    Poll::Ready(Ok(n)) => {
                        added += n;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Err(e),
                },
            };
            self.compact();
            if self.buf.len() < self.end + READ_CHUNK {
                self.buf.resize(self.end + READ_CHUNK, 0);
            }
            match read_now(fd, &mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    added += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let e = Arc::new(e);
                    self.link.set_exception_if_none(e.clone());
                    return Err(copy_error(&e));
                }
            }
        }
        Ok(added)
    }

    /// Up to `n` bytes: what is buffered, or else one read's worth. An empty
    /// vector means end of stream (or `n == 0`).
    #[track_caller]
    pub fn read<'a>(
        &'a mut self,
        n: usize,
    ) -> AwaitPoint<impl Future<Output = io::Result<Vec<u8>>> + 'a> {
        crate::await_point(self.read_inner(n))
    }

    /// The body of [`read`](Self::read).
    async fn read_inner(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.check_exception()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered() == 0 {
            self.fill().await?;
        }
        let k = n.min(self.buffered());
        Ok(self.take(k))
    }

    /// Everything until end of stream (asyncio's `read(-1)`). Cancel-safe: what
    /// was received stays buffered until the call completes.
    #[track_caller]
    pub fn read_to_end<'a>(
        &'a mut self,
    ) -> AwaitPoint<impl Future<Output = io::Result<Vec<u8>>> + 'a> {
        crate::await_point(self.read_to_end_inner())
    }

    /// The body of [`read_to_end`](Self::read_to_end).
    async fn read_to_end_inner(&mut self) -> io::Result<Vec<u8>> {
        self.check_exception()?;
        while self.fill().await? > 0 {}
        let k = self.buffered();
        Ok(self.take(k))
    }

    /// Exactly `n` bytes, or an [incomplete read](ReadError::is_incomplete_read) with the bytes that
    /// came before end of stream (they are consumed).
    #[track_caller]
    pub fn readexactly<'a>(
        &'a mut self,
        n: usize,
    ) -> AwaitPoint<impl Future<Output = Result<Vec<u8>, ReadError>> + 'a> {
        crate::await_point(self.readexactly_inner(n))
    }

    /// The body of [`readexactly`](Self::readexactly).
    async fn readexactly_inner(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        self.check_exception()?;
        while self.buffered() < n {
            if self.fill().await? == 0 {
                let k = self.buffered();
                let partial = self.take(k);
                return Err(IncompleteReadError::new(partial, Some(n)).into());
            }
        }
        Ok(self.take(n))
    }

    /// Bytes up to and including the separator: one (`b"\r\n"`) or several
    /// (`&[&b"\r\n"[..], b"\n"]`, Python 3.13), where the match that ends
    /// first wins (for a tie, the shorter separator).
    ///
    /// Fails with a [limit overrun](ReadError::is_limit_overrun) when `limit` bytes arrive without
    /// a separator, or the separator comes after the limit (the data stays in
    /// the buffer, as asyncio); before reporting that, it takes in whatever
    /// has arrived meanwhile (up to twice the limit), as asyncio's transport
    /// would have, so a separator that came late is seen. At end of stream it
    /// fails with an [incomplete read](ReadError::is_incomplete_read) carrying the remaining bytes
    /// (consumed). An empty separator, or an empty list, is an
    /// `InvalidInput` error (asyncio's `ValueError`).
    ///
    /// ```
    /// use corio::streams::StreamReader;
    /// corio_reactor::block_on(async {
    ///     let r = StreamReader::default();
    ///     r.feed_data(b"a\r\nb\nc");
    ///     r.feed_eof();
    ///     let mut r = r;
    ///     let seps: &[&[u8]] = &[b"\r\n", b"\n"];
    ///     assert_eq!(r.readuntil(seps).await?, b"a\r\n");
    ///     assert_eq!(r.readuntil(seps).await?, b"b\n");
    ///     assert_eq!(r.readuntil(seps).await.unwrap_err().partial(), Some(&b"c"[..]));
    ///     Ok::<_, corio::streams::ReadError>(())
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn readuntil<'a, S: Separator + ?Sized>(
        &'a mut self,
        sep: &'a S,
    ) -> AwaitPoint<impl Future<Output = Result<Vec<u8>, ReadError>> + 'a> {
        crate::await_point(self.readuntil_inner(sep))
    }

    /// The body of [`readuntil`](Self::readuntil).
    async fn readuntil_inner<S: Separator + ?Sized>(
        &mut self,
        sep: &S,
    ) -> Result<Vec<u8>, ReadError> {
        let seps = sep.separators();
        let (min_len, max_len) = match seps.iter().map(|s| s.len()).fold(None, |acc, l| {
            let (lo, hi) = acc.unwrap_or((l, l));
            Some((lo.min(l), hi.max(l)))
        }) {
            Some((lo, hi)) if lo > 0 => (lo, hi),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "readuntil: give at least one separator, and no empty one",
                )
                .into())
            }
        };
        self.check_exception()?;
        let mut offset = 0;
        let (start, end) = loop {
            let data = self.data();
            if data.len() >= offset + min_len {
                if let Some(m) = find_first(data, offset, &seps) {
                    break m;
                }
                // The next search starts where a separator could begin in new data.
                offset = (data.len() + 1).saturating_sub(max_len);
                if offset > self.limit {
                    if self.absorb_available()? > 0 {
                        continue;
                    }
                    return Err(LimitOverrunError::new(offset, self.limit, false).into());
                }
            }
            if self.fill().await? == 0 {
                let k = self.buffered();
                let partial = self.take(k);
                return Err(IncompleteReadError::new(partial, None).into());
            }
        };
        if start > self.limit {
            return Err(LimitOverrunError::new(start, self.limit, true).into());
        }
        Ok(self.take(end))
    }

    /// One line including its `\n`; at end of stream, the last unterminated
    /// bytes (empty at EOF). A line longer than the limit fails with
    /// a [limit overrun](ReadError::is_limit_overrun) and is discarded (asyncio's `ValueError`),
    /// so the next call starts at the next line.
    #[track_caller]
    pub fn readline<'a>(
        &'a mut self,
    ) -> AwaitPoint<impl Future<Output = Result<Vec<u8>, ReadError>> + 'a> {
        crate::await_point(self.readline_inner())
    }

    /// The body of [`readline`](Self::readline).
    async fn readline_inner(&mut self) -> Result<Vec<u8>, ReadError> {
        let err = match self.readuntil_inner(b"\n").await {
            Ok(line) => return Ok(line),
            Err(err) => err,
        };
        if let Some(overrun) = err.limit_overrun() {
            let consumed = overrun.consumed();
            if self.data().get(consumed) == Some(&b'\n') {
                self.consume(consumed + 1);
            } else {
                let k = self.buffered();
                self.consume(k);
            }
            return Err(err);
        }
        // At end of stream, the last unterminated bytes are the line.
        err.into_incomplete_read()
            .map(IncompleteReadError::into_partial)
    }
}

/// The earliest-ending match of any separator in `data[offset..]`:
/// `(start, end)` in `data`.
fn find_first(data: &[u8], offset: usize, seps: &[&[u8]]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for sep in seps {
        if let Some(i) = find(&data[offset..], sep) {
            let (start, end) = (offset + i, offset + i + sep.len());
            // Earliest end wins; on a tie the shorter separator (asyncio).
            if best.map_or(true, |(s, e)| end < e || (end == e && start > s)) {
                best = Some((start, end));
            }
        }
    }
    best
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What [`StreamReader::readuntil`] accepts: one separator (`b"\n"`,
/// `&[u8]`, `Vec<u8>`) or several (`[&[u8]]`, `[&[u8]; N]`, `Vec<&[u8]>`).
pub trait Separator: sealed::Sealed {
    #[doc(hidden)]
    fn separators(&self) -> Vec<&[u8]>;
}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for [u8] {}
impl Separator for [u8] {
    fn separators(&self) -> Vec<&[u8]> {
        vec![self]
    }
}
impl<const N: usize> sealed::Sealed for [u8; N] {}
impl<const N: usize> Separator for [u8; N] {
    fn separators(&self) -> Vec<&[u8]> {
        vec![&self[..]]
    }
}
impl sealed::Sealed for Vec<u8> {}
impl Separator for Vec<u8> {
    fn separators(&self) -> Vec<&[u8]> {
        vec![&self[..]]
    }
}
impl sealed::Sealed for [&[u8]] {}
impl Separator for [&[u8]] {
    fn separators(&self) -> Vec<&[u8]> {
        self.to_vec()
    }
}
impl<const N: usize> sealed::Sealed for [&[u8]; N] {}
impl<const N: usize> Separator for [&[u8]; N] {
    fn separators(&self) -> Vec<&[u8]> {
        self.to_vec()
    }
}
impl sealed::Sealed for Vec<&[u8]> {}
impl Separator for Vec<&[u8]> {
    fn separators(&self) -> Vec<&[u8]> {
        self.clone()
    }
}

/// Feeds a [`StreamReader`] from anywhere (made by [`StreamReader::feeder`]):
/// asyncio's `feed_data`, `feed_eof` and `set_exception`, callable while the
/// reader is waiting in another task.
#[derive(Clone)]
pub struct StreamFeeder {
    link: Arc<Link>,
}

impl fmt::Debug for StreamFeeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFeeder")
            .field("eof", &self.link.eof_fed())
            .finish_non_exhaustive()
    }
}

impl StreamFeeder {
    /// See [`StreamReader::feed_data`].
    ///
    /// # Panics
    /// After [`feed_eof`](Self::feed_eof).
    pub fn feed_data(&self, data: &[u8]) {
        self.link.feed_data(data);
    }
    /// See [`StreamReader::feed_eof`].
    pub fn feed_eof(&self) {
        self.link.feed_eof();
    }
    /// See [`StreamReader::set_exception`].
    pub fn set_exception(&self, exc: io::Error) {
        self.link.set_exception(Arc::new(exc));
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_exception()?;
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.buffered() == 0 {
            ready!(this.poll_fill(cx))?;
        }
        let n = out.len().min(this.buffered());
        out[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
        this.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.check_exception()?;
        if this.buffered() == 0 {
            ready!(this.poll_fill(cx))?;
        }
        Poll::Ready(Ok(this.data()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let n = amt.min(this.buffered());
        StreamReader::consume(this, n);
    }
}
