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

/// `N` bytes from the kernel's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    // /dev/urandom is on every Unix; `getrandom(2)` would save an fd but not
    // exist everywhere.
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut buf)?;
    Ok(buf)
}

/// True if the parent process runs the same executable file as this one (same
/// device and inode, even if the file has since been replaced on disk), or, when
/// a loader or tool runs the parent's code (valgrind, `ld.so prog`, an emulator:
/// its `/proc/<pid>/exe` is the tool), has this executable mapped. `Err` if that
/// cannot be known (no /proc, or the parent is not ours to inspect).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn parent_runs_same_executable(parent: u32) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self/exe")?;
    let theirs = std::fs::metadata(format!("/proc/{parent}/exe"))?;
    if me.dev() == theirs.dev() && me.ino() == theirs.ino() {
        return Ok(true);
    }
    let my_path = std::fs::read_link("/proc/self/exe")?;
    let maps = std::fs::read_to_string(format!("/proc/{parent}/maps"))?;
    Ok(maps_name_file(&maps, &my_path))
}

/// True if a `/proc/<pid>/maps` listing has a mapping of the file at `path`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn maps_name_file(maps: &str, path: &std::path::Path) -> bool {
    let Some(path) = path.to_str() else {
        return false;
    };
    // Each line: address perms offset dev inode, then the path after spaces.
    maps.lines().any(|line| {
        let mut rest = line;
        for _ in 0..5 {
            rest = rest.trim_start();
            rest = rest.find(' ').map_or("", |i| &rest[i..]);
        }
        rest.trim_start() == path
    })
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
    let mut pfd = [pollfd(fd, libc::POLLIN)];
    poll(&mut pfd, Some(deadline)).map(|n| n > 0)
}

/// A `pollfd` asking for `events` on `fd`.
pub(crate) fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `poll(2)` on `fds` until one is ready or `deadline` (`None`: no deadline);
/// returns how many are ready (0 on timeout). Retries on EINTR.
pub(crate) fn poll(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Rounded up, so a deadline less than 1 ms away still waits; 0 only
                // when it has passed (then poll just checks).
                libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
            }
        };
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the call.
        let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(ret as usize);
    }
}

/// Waits for `events` on `fd` until `deadline`; `TimedOut` if it passes first.
fn wait_for(fd: RawFd, events: libc::c_short, deadline: Option<Instant>) -> io::Result<()> {
    if poll(&mut [pollfd(fd, events)], deadline)? == 0 {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(())
}

/// Puts `fd` in non-blocking mode, so writes can honour a deadline.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl F_GETFL/F_SETFL only read and set the fd's status flags.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// One `read(2)` into `buf` once `fd` is readable, waiting at most until
/// `deadline`; returns the byte count (0 at end of file).
fn read_some(fd: RawFd, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        if deadline.is_some() {
            wait_for(fd, libc::POLLIN, deadline)?;
        }
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => wait_for(fd, libc::POLLIN, deadline)?,
            _ => return Err(err),
        }
    }
}

/// Fills `buf` from `fd`, waiting at most until `deadline` (`None`: no deadline).
/// Reads exactly `buf.len()` bytes and nothing more (no buffering), so whatever
/// follows stays in the pipe. `UnexpectedEof` if the stream ends first,
/// `TimedOut` if the deadline passes.
pub(crate) fn read_exact_until(
    fd: RawFd,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_some(fd, &mut buf[filled..], deadline)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    Ok(())
}

/// Reads a `len`-byte payload whose length came from the peer: the buffer grows
/// as bytes arrive (at most 64 KiB ahead of them), so a length with no bytes
/// behind it costs nothing, and a failed allocation is an error, not an abort.
pub(crate) fn read_payload_until(
    fd: RawFd,
    len: usize,
    deadline: Option<Instant>,
) -> io::Result<Vec<u8>> {
    const CHUNK: usize = 64 * 1024;
    let mut buf = Vec::new();
    while buf.len() < len {
        let start = buf.len();
        let want = (len - start).min(CHUNK);
        buf.try_reserve(want)
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        buf.resize(start + want, 0);
        let n = read_some(fd, &mut buf[start..], deadline)?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf)
}

/// Writes all of `data` to the non-blocking `fd`, waiting for room at most until
/// `deadline` (`None`: no deadline).
pub(crate) fn write_all_until(fd: RawFd, data: &[u8], deadline: Option<Instant>) -> io::Result<()> {
    let mut done = 0;
    while done < data.len() {
        let rest = &data[done..];
        // SAFETY: `rest` is valid for reads of `rest.len()` bytes for the call.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n >= 0 {
            done += n as usize;
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => wait_for(fd, libc::POLLOUT, deadline)?,
            _ => return Err(err),
        }
    }
    Ok(())
}

/// True if our child `pid` has exited, without reaping it (`waitid` with
/// `WNOWAIT`): the caller reaps it later, after forgetting the pid, so nobody
/// can signal a recycled pid meanwhile.
pub(crate) fn child_has_exited(pid: u32) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes only into `info`, which outlives the call.
    let ret = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    ret == 0 && exited_pid(&info) != 0
}

/// The pid `waitid` filled in (0 when nothing had exited under WNOHANG).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn exited_pid(info: &libc::siginfo_t) -> libc::pid_t {
    // SAFETY: waitid fills the child fields of the union; si_pid reads one of
    // them, and a zeroed struct reads as 0.
    unsafe { info.si_pid() }
}

/// The pid `waitid` filled in (0 when nothing had exited under WNOHANG).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn exited_pid(info: &libc::siginfo_t) -> libc::pid_t {
    info.si_pid
}

/// SIGKILLs `pid`. Callers only pass the pid of a child they have not reaped.
pub(crate) fn kill(pid: u32) {
    // SAFETY: kill(2) only sends a signal.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// A pidfd for our unreaped child `pid` (Linux 5.3+): readable once it exits.
/// `None` where pidfds are not available (then the caller checks by polling).
pub(crate) fn pidfd_open(pid: u32) -> Option<std::os::fd::OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            // SAFETY: the kernel just created this fd (it is close-on-exec) and
            // nobody else owns it.
            return Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as RawFd) });
        }
    }
    let _ = pid;
    None
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
