//! Async TCP, UDP and Unix-domain sockets on the reactor.
//!
//! Every type wraps the std socket in an [`Async`](crate::Async) and implements
//! `futures_io::AsyncRead`/`AsyncWrite` (with vectored writes), so codecs and
//! TLS crates from the futures ecosystem plug in. The stream types do not
//! implement `AsyncBufRead` themselves (a socket has no buffer of its own):
//! wrap them in `futures::io::BufReader` for `read_line`/`lines`.
//!
//! Streams are `Clone` (an `Arc` inside): one clone can read while another
//! writes from a different task; reads and writes wait on separate wakers.
//! Two tasks *reading* the same stream at once work but ping-pong their
//! wake-ups; give each direction one owner.
//!
//! # Errors
//! Errors are returned as `io::Error`s with the OS's kind: `ConnectionRefused`
//! from `connect`, `AddrInUse` from `bind`, `ConnectionReset`/`BrokenPipe` when
//! the peer resets mid-write, `Ok(0)` (end of stream) when reading after the
//! peer or we shut the read side down.
//!
//! # Accepting when out of file descriptors (EMFILE/ENFILE)
//! `accept` returns the error and the listener stays registered and *ready*:
//! the pending connection stays in the kernel's backlog. Call `accept` again
//! once descriptors are freed and it is accepted (the `incoming` stream yields
//! the error as an item and keeps going). Back off (e.g. `sleep(10 ms)`) before
//! retrying, or a loop that retries at once keeps one core busy while the
//! process is out of descriptors.

mod tcp;
mod udp;
mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use std::io;

/// True if `e` is the "connect in progress" error of a non-blocking connect.
pub(crate) fn connect_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock
}
