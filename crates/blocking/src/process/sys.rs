//! The few raw OS calls the process pool needs, each behind a safe function.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::time::Instant;

/// Asks the kernel to SIGKILL this process when the parent thread that spawned it
/// dies (Linux only; a backstop behind "exit when stdin closes").
pub(crate) fn set_parent_death_signal() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) reads no memory; it only sets a flag
    // on the calling process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
}

/// The parent's pid.
pub(crate) fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    let pid = unsafe { libc::getppid() };
    pid as u32
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Moves the worker's request and reply pipes off fds 0 and 1, and points fd 0
/// at /dev/null and fd 1 at stderr, so a registered function that reads stdin or
/// prints to stdout cannot corrupt the protocol. Returns (requests, replies).
pub(crate) fn take_stdio() -> io::Result<(File, File)> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on fds 0/1 only creates new descriptors.
    let requests = check(unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: as above.
    let replies = check(unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: both fds were just created by fcntl above and are owned by nobody
    // else; each File takes sole ownership and closes it on drop.
    let (requests, replies) = unsafe { (File::from_raw_fd(requests), File::from_raw_fd(replies)) };
    let null = File::open("/dev/null")?;
    redirect(std::os::fd::AsRawFd::as_raw_fd(&null), 0)?;
    redirect(2, 1)?;
    Ok((requests, replies))
}

fn redirect(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 atomically replaces `to` (0 or 1, owned by std's stdio, which
    // only ever uses the fd number) with a copy of the open fd `from`.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

/// Waits until `fd` is readable (or has hung up), at most until `deadline`.
/// Returns false on timeout.
pub(crate) fn wait_readable(fd: RawFd, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up, so a deadline less than 1 ms away still waits; 0 only when
        // it has passed (then poll just checks).
        let ms = libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd for the duration of the call and the
        // count is 1.
        let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(ret > 0);
    }
}

/// The conventional name of a signal number, for error messages.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        _ => "unknown signal",
    }
}
