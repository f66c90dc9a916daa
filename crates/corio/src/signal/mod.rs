//! Unix signals as async streams: [`ctrl_c`] and [`signal`].
//!
//! ```no_run
//! corio::run(async {
//!     println!("press Ctrl-C to stop");
//!     corio::signal::ctrl_c().await?;
//!     println!("bye");
//!     std::io::Result::Ok(())
//! }).unwrap();
//! ```
//!
//! # How it works
//!
//! The first time a signal number is asked for, a `sigaction` handler is
//! installed for it (and stays: as in tokio and Python's
//! `loop.add_signal_handler`, the signal's default action — e.g. SIGINT ending
//! the process — no longer happens while corio handles it). The handler does
//! the one async-signal-safe thing it may: it writes the signal number as one
//! byte to a non-blocking *self-pipe*. The pipe's read end is registered with
//! corio's reactor.
//!
//! Every [`Signals`] stream, when polled, drains the pipe into per-signal
//! delivery counters and compares its signal's counter with what it has seen.
//! Streams that must wait leave their waker in a list and register one shared
//! "dispatch" waker on the pipe; when bytes arrive, the reactor wakes the
//! dispatch waker, which wakes every stream so each can check its counter.
//! Deliveries that arrive while a stream is not looking are coalesced into one
//! item (as with any Unix signal, several deliveries may merge).

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use corio_reactor::Async;
use futures_core::Stream;

use crate::sync::waitlist::lock;
use crate::AwaitPoint;

pub use libc::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// Signal numbers are below this on Linux (real-time signals end at 64).
const MAX_SIGNAL: usize = 65;

/// Waits for the next SIGINT (Ctrl-C in a terminal).
///
/// The handler is installed, and deliveries are counted, from the moment
/// `ctrl_c()` is *called* (not first awaited), so a Ctrl-C between the call and
/// the first poll is not lost. From then on SIGINT no longer ends the process.
///
/// While it waits, the caller's line is the task's await point in the
/// [task tree](crate::task_tree).
#[track_caller]
pub fn ctrl_c() -> AwaitPoint<impl Future<Output = io::Result<()>> + Send + 'static> {
    let stream = signal(SIGINT);
    crate::await_point(async move {
        stream?.next_delivery().await;
        Ok(())
    })
}

/// A stream that yields `()` each time `signum` is delivered to the process.
///
/// Errors: `InvalidInput` for signals that cannot or must not be caught
/// (SIGKILL, SIGSTOP, and the fault signals SIGSEGV, SIGBUS, SIGILL, SIGFPE),
/// or the OS error of `pipe2`/`sigaction`.
///
/// ```
/// use futures::StreamExt;
/// corio::run(async {
///     let mut usr1 = corio::signal::signal(corio::signal::SIGUSR1)?;
///     // SAFETY: raise(3) with a valid signal number whose handler is installed.
///     unsafe { libc::raise(libc::SIGUSR1) };
///     assert_eq!(usr1.next().await, Some(()));
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
pub fn signal(signum: i32) -> io::Result<Signals> {
    let idx = usize::try_from(signum)
        .ok()
        .filter(|&i| i > 0 && i < MAX_SIGNAL)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{signum} is not a signal number"),
            )
        })?;
    if [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ]
    .contains(&signum)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be handled asynchronously (SIGKILL/SIGSTOP cannot be caught; fault signals must not be)"),
        ));
    }
    corio_core::real_world::check(
        "a signal handler was installed (corio::signal): signals arrive when the OS delivers \
         them; model shutdown with a corio::sync::Event set by the test instead",
    )?;
    let g = globals()?;
    install(g, signum, idx)?;
    // Start after the deliveries that already happened.
    let seen = g.counts[idx].load(Ordering::Acquire);
    let id = g.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(Signals {
        signum,
        idx,
        seen,
        id,
    })
}

struct Globals {
    /// Read end of the self-pipe, registered with the reactor.
    pipe: Async<File>,
    counts: [AtomicU64; MAX_SIGNAL],
    installed: [AtomicBool; MAX_SIGNAL],
    /// Serialises installing handlers and draining the pipe.
    state: Mutex<()>,
    waiters: Arc<Waiters>,
    dispatch: Waker,
    next_id: AtomicU64,
}

/// Write end of the self-pipe, read by the signal handler (-1 until set up).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

#[derive(Default)]
struct Waiters(Mutex<HashMap<u64, Waker>>);

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let all: Vec<Waker> = lock(&self.0).drain().map(|(_, w)| w).collect();
        for w in all {
            w.wake();
        }
    }
}

fn globals() -> io::Result<&'static Globals> {
    static G: OnceLock<Globals> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    if let Some(g) = G.get() {
        return Ok(g);
    }
    let _init = lock(&INIT);
    if let Some(g) = G.get() {
        return Ok(g);
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created by pipe2 and are owned by no one else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let pipe = Async::new(File::from(r))?;
    // The write end lives for the rest of the process: the handler may run at any time.
    PIPE_WRITE.store(std::os::fd::IntoRawFd::into_raw_fd(w), Ordering::Release);
    let waiters = Arc::new(Waiters::default());
    let g = Globals {
        pipe,
        counts: std::array::from_fn(|_| AtomicU64::new(0)),
        installed: std::array::from_fn(|_| AtomicBool::new(false)),
        state: Mutex::new(()),
        dispatch: Waker::from(waiters.clone()),
        waiters,
        next_id: AtomicU64::new(0),
    };
    Ok(G.get_or_init(|| g))
}

extern "C" fn on_signal(signum: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    // Signal numbers are < 65: one byte holds them.
    let byte = signum as u8;
    // SAFETY: errno is thread-local; saving and restoring it keeps the
    // interrupted code's errno intact. write(2) is async-signal-safe; a full
    // pipe (EAGAIN) only drops a byte, and pending bytes already wake the reader.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *errno = saved;
    }
}

fn install(g: &Globals, signum: i32, idx: usize) -> io::Result<()> {
    if g.installed[idx].load(Ordering::Acquire) {
        return Ok(());
    }
    let _st = lock(&g.state);
    if g.installed[idx].load(Ordering::Acquire) {
        return Ok(());
    }
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set
    // the handler to an `extern "C" fn(c_int)` that only does async-signal-safe work.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(signum, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    g.installed[idx].store(true, Ordering::Release);
    Ok(())
}

/// Reads every pending byte of the self-pipe into the delivery counters, then
/// leaves the dispatch waker registered for the next byte. Reads go through
/// `Async::read_with`, so `WouldBlock` re-arms the reactor's interest.
fn drain_and_arm(g: &Globals) {
    let st = lock(&g.state);
    let mut got_any = false;
    let mut dcx = Context::from_waker(&g.dispatch);
    let mut buf = [0u8; 128];
    loop {
        let read = g.pipe.read_with(|mut f: &File| f.read(&mut buf));
        let n = match std::pin::pin!(read).poll(&mut dcx) {
            Poll::Ready(Ok(n)) if n > 0 => n,
            // Pending: armed. EOF or error cannot happen while PIPE_WRITE is open.
            _ => break,
        };
        got_any = true;
        for &b in &buf[..n] {
            if let Some(c) = g.counts.get(usize::from(b)) {
                c.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    drop(st);
    if got_any {
        // The bytes we consumed will not wake the dispatch waker again: wake
        // every stream so each checks its own counter.
        Wake::wake_by_ref(&g.waiters);
    }
}

/// Deliveries of one signal, as a `futures_core::Stream` of `()` (never ends).
/// Made by [`signal`].
#[derive(Debug)]
pub struct Signals {
    signum: i32,
    idx: usize,
    seen: u64,
    id: u64,
}

impl Signals {
    /// The signal number.
    pub fn signum(&self) -> i32 {
        self.signum
    }

    /// Waits for the next delivery (`Some(())`; the stream never ends). While it
    /// waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn recv(&mut self) -> AwaitPoint<impl Future<Output = Option<()>> + '_> {
        crate::await_point(self.next_delivery())
    }

    /// The body of [`recv`](Self::recv).
    fn next_delivery(&mut self) -> impl Future<Output = Option<()>> + '_ {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
    }
}

impl Stream for Signals {
    type Item = ();
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let Ok(g) = globals() else {
            // Unreachable: a Signals exists only after globals() succeeded.
            return Poll::Ready(None);
        };
        // Register first, then drain: a byte that lands after the drain wakes
        // the dispatch waker, which wakes us.
        lock(&g.waiters.0).insert(self.id, cx.waker().clone());
        drain_and_arm(g);
        let now = g.counts[self.idx].load(Ordering::Acquire);
        if now != self.seen {
            self.seen = now;
            lock(&g.waiters.0).remove(&self.id);
            return Poll::Ready(Some(()));
        }
        Poll::Pending
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        if let Ok(g) = globals() {
            lock(&g.waiters.0).remove(&self.id);
        }
    }
}
