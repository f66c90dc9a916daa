//! Looking at a descriptor without waiting: is end of stream there already
//! (for `StreamReader::at_eof`), and a waker for one non-blocking attempt.

use std::os::fd::RawFd;
use std::task::Waker;

/// True when `fd` has reached end of stream: it polls readable (or hung up)
/// and has no bytes to read. A pending error (`POLLERR`) is not end of stream:
/// the next read reports it.
///
/// The caller keeps the descriptor open for the duration of the call.
pub(crate) fn fd_at_eof(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid, initialised pollfd and a count of 1; timeout 0 means
    // poll returns at once. An invalid fd only sets POLLNVAL.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    if ready != 1
        || pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0
        || pfd.revents & (libc::POLLIN | libc::POLLHUP) == 0
    {
        return false;
    }
    let mut available: libc::c_int = 0;
    // SAFETY: FIONREAD stores one c_int through the pointer, which points at a
    // live local of that type.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut available) };
    r == 0 && available == 0
}

/// A waker that does nothing, for one non-blocking attempt at an operation
/// whose caller does not wait (`StreamWriter::write` sending at once).
///
/// A static one, not an `Arc` of a zero-sized type kept in a `OnceLock`: that
/// allocation would be 16 bytes whose only pointer (the waker's data pointer)
/// points past its end, so LeakSanitizer reported it as leaked.
pub(crate) fn noop_waker() -> &'static Waker {
    futures_task::noop_waker_ref()
}

/// One non-blocking `read(2)` of `fd` into `buf`, whatever the reactor last
/// saw of its readiness (`WouldBlock` when nothing is there). The descriptor
/// is already non-blocking (the reactor set it so).
///
/// The caller keeps the descriptor open for the duration of the call.
pub(crate) fn read_now(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}
