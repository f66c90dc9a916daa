//! [`Stdio`]: std's stdio choices plus asyncio's `STDOUT` redirect, and the
//! hook that runs in the child to apply corio's options.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a child's stdin, stdout or stderr is connected to: std's
/// [`std::process::Stdio`] choices (`piped`, `null`, `inherit`, a file or
/// descriptor), plus [`Stdio::STDOUT`] for stderr (asyncio's
/// `asyncio.subprocess.STDOUT`). Any `std::process::Stdio` converts into it.
#[derive(Debug)]
pub struct Stdio(pub(super) StdioKind);

#[derive(Debug)]
pub(super) enum StdioKind {
    Std(std::process::Stdio),
    /// stderr goes wherever stdout goes.
    Stdout,
}

impl Stdio {
    /// For stderr only: send it into the child's stdout (the same pipe, file or
    /// terminal), so the two are interleaved in the order the child wrote them
    /// (asyncio's `stderr=asyncio.subprocess.STDOUT`). Setting it on stdin or
    /// stdout makes `spawn` fail with `InvalidInput`.
    pub const STDOUT: Stdio = Stdio(StdioKind::Stdout);

    /// A new pipe: the parent gets the other end as [`Child::stdin`](super::Child::stdin),
    /// [`stdout`](super::Child::stdout) or [`stderr`](super::Child::stderr)
    /// (asyncio's `PIPE`).
    pub fn piped() -> Stdio {
        std::process::Stdio::piped().into()
    }

    /// `/dev/null` (asyncio's `DEVNULL`).
    pub fn null() -> Stdio {
        std::process::Stdio::null().into()
    }

    /// The parent's own descriptor (asyncio's `None`, the default).
    pub fn inherit() -> Stdio {
        std::process::Stdio::inherit().into()
    }
}

impl From<std::process::Stdio> for Stdio {
    fn from(s: std::process::Stdio) -> Stdio {
        Stdio(StdioKind::Std(s))
    }
}

impl From<File> for Stdio {
    fn from(f: File) -> Stdio {
        std::process::Stdio::from(f).into()
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        std::process::Stdio::from(fd).into()
    }
}

impl From<std::process::ChildStdout> for Stdio {
    fn from(p: std::process::ChildStdout) -> Stdio {
        std::process::Stdio::from(p).into()
    }
}

impl From<std::process::ChildStderr> for Stdio {
    fn from(p: std::process::ChildStderr) -> Stdio {
        std::process::Stdio::from(p).into()
    }
}

impl From<std::process::ChildStdin> for Stdio {
    fn from(p: std::process::ChildStdin) -> Stdio {
        std::process::Stdio::from(p).into()
    }
}

impl From<io::Stdout> for Stdio {
    fn from(s: io::Stdout) -> Stdio {
        std::process::Stdio::from(s).into()
    }
}

impl From<io::Stderr> for Stdio {
    fn from(s: io::Stderr) -> Stdio {
        std::process::Stdio::from(s).into()
    }
}

/// corio's part of the child set-up between fork and exec. Flags, not
/// closures, so the `Command` can change them after the hook is registered
/// (std keeps registered hooks for every later spawn).
#[derive(Debug, Default)]
pub(super) struct ChildHooks {
    pub(super) setsid: AtomicBool,
    pub(super) stderr_to_stdout: AtomicBool,
}

impl ChildHooks {
    /// Runs in the forked child: only async-signal-safe calls, no allocation.
    pub(super) fn run_in_child(&self) -> io::Result<()> {
        if self.stderr_to_stdout.load(Ordering::Relaxed) {
            // SAFETY: dup2 on descriptors 1 and 2, which std has just set up.
            if unsafe { libc::dup2(1, 2) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: setsid takes no arguments; it only changes this process.
        if self.setsid.load(Ordering::Relaxed) && unsafe { libc::setsid() } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
