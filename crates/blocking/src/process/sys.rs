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

/// True when the kernel marked this process as running with privileges its
/// invoker does not have (setuid/setgid/file capabilities): `AT_SECURE` on Linux;
/// elsewhere, differing real and effective user or group ids.
pub(crate) fn is_privileged() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: getauxval reads the auxiliary vector the kernel gave the process;
    // it has no preconditions and returns 0 for an absent entry.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: the get*id calls have no preconditions and cannot fail.
    let secure = unsafe { libc::getuid() != libc::geteuid() || libc::getgid() != libc::getegid() };
    secure
}

/// True if `fd` is open and is a pipe (FIFO); false for a file, socket, tty or a
/// closed fd.
pub(crate) fn is_pipe(fd: RawFd) -> bool {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `st`, which outlives the call; a bad fd is
    // reported as -1/EBADF.
    let ret = unsafe { libc::fstat(fd, &mut st) };
    ret == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO
}

/// Fills `buf` from `fd` with `read(2)`, waiting for each chunk at most until
/// `deadline`. Reads exactly `buf.len()` bytes and nothing more (no buffering), so
/// whatever follows stays in the pipe.
pub(crate) fn read_exact_until(fd: RawFd, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        if !wait_readable(fd, deadline)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is valid for writes of `rest.len()` bytes for the call.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        } else if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        } else {
            filled += n as usize;
        }
    }
    Ok(())
}

/// `N` bytes from the kernel's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    // /dev/urandom is on every Unix; `getrandom(2)` would save an fd but not
    // exist everywhere.
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut buf)?;
    Ok(buf)
}

/// True if the parent process runs the same executable file as this one (same
/// device and inode, even if the file has since been replaced on disk). `Err` if
/// that cannot be known (no /proc, or the parent is not ours to inspect).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn parent_runs_same_executable(parent: u32) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self/exe")?;
    let parent = std::fs::metadata(format!("/proc/{parent}/exe"))?;
    Ok(me.dev() == parent.dev() && me.ino() == parent.ino())
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
