//! corio-reactor: readiness I/O and timers for any executor.
//!
//! The reactor turns OS readiness (its own epoll backend on Linux, kqueue and
//! the rest via [`polling`]) and deadlines into wake-ups. It knows nothing of the executor running the tasks:
//!
//! - [`Async<T>`] wraps any non-blocking file descriptor; [`net`] has
//!   TCP/UDP/Unix sockets implementing `futures_io::AsyncRead`/`AsyncWrite`.
//! - [`timer`] has [`sleep`](timer::sleep), [`Interval`](timer::Interval) and
//!   [`timeout`](timer::timeout), kept in a hierarchical timer wheel and driven
//!   by the same poll loop, with sub-millisecond precision.
//! - [`Reactor`] is the process-wide driver: an executor calls
//!   [`Reactor::try_drive`] when idle (only one thread at a time waits in the
//!   poller) and [`Reactor::notify`] to wake it, after declaring itself with
//!   [`Reactor::register_driver`]. With no executor registered, a fallback
//!   thread drives, so everything here also works under tokio or
//!   `futures::executor` with no setup. [`block_on`] runs a future on the
//!   current thread and drives the reactor while it waits.
//!
//! # Wiring an executor to the reactor
//!
//! An executor that wants its idle threads to wait for I/O and timers itself
//! (instead of relying on the fallback thread and a cross-thread wake-up per
//! event) does three things:
//!
//! 1. holds a [`DriverGuard`] from [`Reactor::register_driver`] for as long as
//!    it runs (the fallback thread then stands aside);
//! 2. when a worker is idle: `Reactor::get().try_drive(timeout)`. `None` means
//!    another thread is already waiting in the poller: park on your own
//!    parker instead. Wakers fired by the reactor run on the driving thread;
//! 3. to wake the thread inside `try_drive` (new work arrived):
//!    [`Reactor::notify`]. The notification wakes whichever thread is driving,
//!    which may be another executor's: an idle thread with a wake-up flag of its
//!    own drives with [`Reactor::try_drive_unless`] and that flag, so a wake-up
//!    taken by another driver is not lost. A busy executor also calls
//!    `try_drive(Some(Duration::ZERO))` now and then so that I/O is not
//!    starved while no thread is idle.
//!
//! corio's facade does exactly this with corio-scheduler's `Park` hook:
//! `park(t) = try_drive_unless(t, notified).is_some()`, `unpark() = { set notified; notify() }`,
//! `poll_ready() = { try_drive(Some(Duration::ZERO)); }`.
//!
//! ```
//! use corio_reactor::{block_on, net::{TcpListener, TcpStream}, timer::timeout};
//! use futures::{AsyncReadExt, AsyncWriteExt};
//! use std::time::Duration;
//!
//! block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let echo = async {
//!         let (mut s, _) = listener.accept().await?;
//!         let mut buf = [0u8; 4];
//!         s.read_exact(&mut buf).await?;
//!         s.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     };
//!     let client = async {
//!         let mut c = TcpStream::connect(addr).await?;
//!         c.write_all(b"ping").await?;
//!         let mut buf = [0u8; 4];
//!         c.read_exact(&mut buf).await?;
//!         std::io::Result::Ok(buf)
//!     };
//!     let (e, c) = futures::join!(echo, timeout(Duration::from_secs(5), client));
//!     e?;
//!     assert_eq!(&c??, b"ping");
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

pub mod await_point;
mod block_on;
pub mod cancel;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
mod io;
pub mod net;
mod reactor;
#[cfg(feature = "sim")]
pub mod sim;
mod source;
mod sync;
mod sys;
pub mod timer;

pub use block_on::block_on;
pub use io::{Async, Ready};
pub use reactor::{DriverGuard, Reactor};

/// The per-source readiness protocol, exposed to `tests/loom.rs` only (built
/// with `--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub use source::loom_model;
