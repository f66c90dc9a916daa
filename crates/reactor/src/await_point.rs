//! Where a task waits, for task dumps.
//!
//! An executor that shows its tasks' await points (corio's facade does, in its
//! task tree) installs a recorder once; from then on this crate's leaf futures
//! that were created at a known place in the user's code ([`sleep`] and
//! [`sleep_until`] take `#[track_caller]`) hand that place to the recorder each
//! time they return `Pending`; so do the socket methods (`accept`, `connect`,
//! `read_with`, UDP `send`/`recv`, `peek`, `readable`, ...),
//! [`Interval::tick`](crate::timer::Interval::tick), and the stream helpers
//! below ([`read_exact`], [`write_all`], [`read_to_end`]; the TCP and Unix
//! streams have them as methods), through [`At`]. Without a recorder (the default, and under other
//! executors) a leaf pays one load of an empty `OnceLock`. The reactor itself
//! knows nothing of tasks, so the recorder decides which task the point belongs
//! to (the one being polled on this thread).
//!
//! [`sleep`]: crate::timer::sleep
//! [`sleep_until`]: crate::timer::sleep_until
//!
//! ```
//! use std::panic::Location;
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! static LINE: AtomicU32 = AtomicU32::new(0);
//! fn recorder(at: &'static Location<'static>) {
//!     LINE.store(at.line(), Ordering::Relaxed);
//! }
//! corio_reactor::await_point::set_recorder(recorder);
//! corio_reactor::block_on(async {
//!     corio_reactor::timer::sleep(std::time::Duration::from_millis(1)).await;
//! });
//! assert_eq!(LINE.load(Ordering::Relaxed), line!() - 2);
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// A function told where the current task waits.
pub type Recorder = fn(&'static Location<'static>);

static RECORDER: OnceLock<Recorder> = OnceLock::new();
static OUTER_RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the process's recorder; the first call wins (returns `false` for
/// any later one).
pub fn set_recorder(recorder: Recorder) -> bool {
    RECORDER.set(recorder).is_ok()
}

/// Installs the recorder [`At`] uses (the first call wins), for a recorder that
/// lets a point replace one recorded earlier in the same poll: an `At` wraps
/// leaves of its own (a connect's retry sleep, a `tick`'s timer), and the
/// caller's line is the one to show. Without it, `At` uses [`set_recorder`]'s.
pub fn set_outer_recorder(recorder: Recorder) -> bool {
    OUTER_RECORDER.set(recorder).is_ok()
}

/// Tells the recorder, if any, that the current task waits at `at` (unless a
/// point was recorded earlier in the same poll, with corio's recorder).
#[inline]
pub(crate) fn record(at: Option<&'static Location<'static>>) {
    if let (Some(at), Some(recorder)) = (at, RECORDER.get()) {
        recorder(at);
    }
}

pin_project_lite::pin_project! {
    /// A future that hands the place it was created at to the recorder each
    /// time it returns `Pending`: what this crate's `#[track_caller]` socket
    /// and interval methods return around their work.
    ///
    /// ```
    /// use corio_reactor::net::UdpSocket;
    ///
    /// corio_reactor::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.send_to(b"hi", b.local_addr()?).await?;
    ///     let mut buf = [0u8; 8];
    ///     let recv = b.recv_from(&mut buf); // an `At`: remembers this line
    ///     assert_eq!(recv.location().line(), line!() - 1);
    ///     assert_eq!(recv.await?.0, 2);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct At<F> {
        #[pin]
        fut: F,
        at: &'static Location<'static>,
    }
}

impl<F> At<F> {
    /// `fut`, waiting at the caller's location (a `#[track_caller]` method's caller).
    #[track_caller]
    pub(crate) fn caller(fut: F) -> Self {
        At {
            fut,
            at: Location::caller(),
        }
    }

    /// Where the future was created: the await point it records.
    pub fn location(&self) -> &'static Location<'static> {
        self.at
    }
}

impl<F: Future> Future for At<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = this.fut.poll(cx);
        if poll.is_pending() {
            if let Some(recorder) = OUTER_RECORDER.get().or(RECORDER.get()) {
                recorder(this.at);
            }
        }
        poll
    }
}

impl<F> fmt::Debug for At<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("At")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

// The `AsyncReadExt`/`AsyncWriteExt` helpers that wait, as functions whose
// future knows its caller's line. A trait method's future (`futures`'
// `ReadExact`, ...) cannot: `#[track_caller]` on the caller's side of a trait
// method of another crate is not possible, and the line a task waits at is
// what a task dump is for.

/// Reads exactly `buf.len()` bytes: `AsyncReadExt::read_exact` (the same
/// result: `UnexpectedEof` if the stream ends first), recording the caller's
/// line as the task's await point while it waits. `reader` is any
/// `AsyncRead`, by value or as `&mut`.
///
/// ```
/// use corio_reactor::{await_point, block_on, net::UnixStream};
///
/// block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     await_point::write_all(&a, b"ping").await?;
///     let mut buf = [0u8; 4];
///     await_point::read_exact(&b, &mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn read_exact<'a, R: AsyncRead + Unpin + 'a>(
    mut reader: R,
    mut buf: &'a mut [u8],
) -> At<impl Future<Output = io::Result<()>> + 'a> {
    At::caller(std::future::poll_fn(move |cx| {
        while !buf.is_empty() {
            let n = match Pin::new(&mut reader).poll_read(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            buf = &mut std::mem::take(&mut buf)[n..];
        }
        Poll::Ready(Ok(()))
    }))
}

/// Writes all of `buf`: `AsyncWriteExt::write_all` (`WriteZero` if the writer
/// takes nothing), recording the caller's line while it waits (a peer that
/// does not read).
#[track_caller]
pub fn write_all<'a, W: AsyncWrite + Unpin + 'a>(
    mut writer: W,
    mut buf: &'a [u8],
) -> At<impl Future<Output = io::Result<()>> + 'a> {
    At::caller(std::future::poll_fn(move |cx| {
        while !buf.is_empty() {
            let n = match Pin::new(&mut writer).poll_write(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            buf = &buf[n..];
        }
        Poll::Ready(Ok(()))
    }))
}

/// Reads to the end of the stream, appending to `buf`, and returns how many
/// bytes it read: `AsyncReadExt::read_to_end` (on an error, what was read
/// stays in `buf`), recording the caller's line while it waits.
#[track_caller]
pub fn read_to_end<'a, R: AsyncRead + Unpin + 'a>(
    mut reader: R,
    buf: &'a mut Vec<u8>,
) -> At<impl Future<Output = io::Result<usize>> + 'a> {
    /// Zeroed at most per read: zeroing all of a big buffer's spare capacity
    /// before each small read would make reading quadratic.
    const CHUNK: usize = 64 * 1024;
    let start = buf.len();
    At::caller(std::future::poll_fn(move |cx| loop {
        let filled = buf.len();
        if buf.capacity() - filled < 32 {
            buf.reserve(32); // amortised: at least doubles
        }
        let room = (buf.capacity() - filled).min(CHUNK);
        buf.resize(filled + room, 0);
        let poll = Pin::new(&mut reader).poll_read(cx, &mut buf[filled..]);
        let n = match &poll {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(filled + n);
        match poll {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(buf.len() - start)),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }))
}
