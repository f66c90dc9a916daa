//! Async TCP, UDP and Unix-domain sockets on the reactor.
//!
//! Every type wraps the std socket in an [`Async`] and implements
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

#[cfg(feature = "hyper")]
mod hyper_io;
mod tcp;
mod udp;
mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use crate::io::Async;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// True if `e` is the "connect in progress" error of a non-blocking connect.
pub(crate) fn connect_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock
}

/// Waits until the non-blocking connect of `stream` (TCP or Unix) has finished:
/// `Ok` once connected, the connect's error (SO_ERROR) if it failed.
///
/// Writability means the handshake finished (or failed: SO_ERROR tells). A fresh
/// source starts optimistically ready, and a wake-up can be spurious: until the
/// peer address is known the connect is still in progress (ENOTCONN), so that
/// counts as WouldBlock (wait for the next event).
pub(crate) async fn wait_connected<T: AsRawFd + AsFd>(stream: &Async<T>) -> io::Result<()> {
    stream
        .write_with(|s| {
            let s = socket2::SockRef::from(s);
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })
        .await
}
