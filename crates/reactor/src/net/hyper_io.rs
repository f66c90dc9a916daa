//! hyper 1.x I/O traits (`hyper::rt::Read`/`Write`) on corio's stream sockets
//! (feature `hyper`), so hyper runs on them with no adapter in between.
//!
//! Reads go straight into hyper's uninitialised buffer (no zeroing first, as a
//! futures-io bridge must do) and use the same readiness rules as `AsyncRead`
//! (a short read waits for the next event: one `recv` per request); writes
//! are vectored (`writev`), so a response's head and body leave in one call.

use super::tcp::TcpStream;
use super::unix::UnixStream;
use crate::io::Async;
use futures_io::AsyncWrite;
use hyper::rt::ReadBufCursor;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::unix::io::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// `recv(2)` into possibly uninitialised memory. `recv`, not `read`: on a
/// socket it skips the file layer (`read` goes through `vfs_read` and the
/// file-position lock first), and std's own socket reads use it too.
fn read_uninit(fd: i32, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; recv(2) only
    // writes (never reads) them, and `fd` is open (borrowed from a live socket).
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// hyper's read on any registered stream socket.
fn poll_read_cursor<T: AsRawFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    mut buf: ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    // SAFETY: the slice is only handed to recv(2), which never de-initialises
    // bytes (it writes them), as `as_mut`'s contract requires.
    let unfilled = unsafe { buf.as_mut() };
    let want = unfilled.len();
    let n = ready!(io.poll_read_stream(cx, want, &mut |s| read_uninit(s.as_raw_fd(), unfilled)))?;
    // SAFETY: recv(2) initialised the first `n` bytes of the unfilled part.
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

macro_rules! impl_hyper_io {
    ($ty:ty) => {
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read_cursor(&self.inner, cx, buf)
            }
        }

        /// The same calls as the futures-io `AsyncWrite` impl (`poll_shutdown`
        /// is its `poll_close`: shut the write side down).
        impl hyper::rt::Write for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_flush(self, cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_close(self, cx)
            }
        }
    };
}

impl_hyper_io!(TcpStream);
impl_hyper_io!(UnixStream);
