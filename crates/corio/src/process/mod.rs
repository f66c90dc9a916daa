//! Subprocesses (asyncio's `create_subprocess_exec` and `Process`), with
//! piped stdin/stdout/stderr as async streams.
//!
//! ```
//! use corio::process::{Command, Stdio};
//! corio::run(async {
//!     let mut child = Command::new("cat")
//!         .stdin(Stdio::piped())
//!         .stdout(Stdio::piped())
//!         .spawn()?;
//!     let stdin = child.stdin.as_mut().expect("piped");
//!     stdin.write(b"hello\n");
//!     stdin.close(); // cat sees end of input once "hello" is sent
//!     let line = child.stdout.as_mut().expect("piped").readline().await?;
//!     assert_eq!(line, b"hello\n");
//!     assert!(child.wait().await?.success());
//!     std::io::Result::Ok(())
//! }).unwrap();
//! ```
//!
//! # How children are reaped (no zombies)
//!
//! On Linux (5.3 and later) each child gets a *pidfd* (`pidfd_open`), a file
//! descriptor that becomes readable when the process exits. The pidfd is
//! registered with corio's reactor, so [`Child::wait`] sleeps until then and
//! reaps the child with a non-blocking `waitpid`; no `SIGCHLD` handler is
//! installed, so other code's child handling is left alone.
//!
//! A [`Child`] dropped before it was waited for is handed to a small reaper
//! (one thread, started on first use, driving the reactor) that reaps it
//! whenever it exits, so dropping a `Child` never leaves a zombie. With
//! [`Command::kill_on_drop`] the child is killed first.
//!
//! Where `pidfd_open` is unavailable (older kernels), `wait` falls back to
//! checking with a non-blocking `waitpid` every [`FALLBACK_POLL`] (stated, not
//! hidden: that is a polling loop on a timer).

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use corio_reactor::Async;
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};

use crate::queue::Queue;
use crate::streams::transport::WriteTransport;
use crate::streams::{Link, StreamReader, StreamWriter, DEFAULT_LIMIT};
use crate::AwaitPoint;

pub use std::process::Output;

mod stdio;
pub use stdio::Stdio;
use stdio::{ChildHooks, StdioKind};

/// The process pool's side of child processes (corio-blocking's `process`
/// module: registered functions, the worker entry point to call first thing in
/// `main`, `ProcessPool`) is re-exported here with the `process-pool` feature,
/// so `corio::process` is the one place for child processes.
#[cfg(feature = "process-pool")]
pub use corio_blocking::process::*;

/// How often `wait` checks a child on kernels without pidfd (Linux < 5.3).
pub const FALLBACK_POLL: Duration = Duration::from_millis(10);

/// Builds and spawns a child process (asyncio's `create_subprocess_exec`
/// arguments, std's `Command` shape). By default the child inherits stdin,
/// stdout and stderr, as in asyncio; use [`Stdio::piped`] to get streams.
pub struct Command {
    inner: std::process::Command,
    kill_on_drop: bool,
    /// What runs in the child between fork and exec (set up on first need,
    /// so a plain command keeps std's faster posix_spawn path).
    hooks: Option<Arc<ChildHooks>>,
    process_group: bool,
    /// A configuration error, reported by `spawn` (the setters cannot fail).
    invalid: Option<&'static str>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            inner: std::process::Command::new(program),
            kill_on_drop: false,
            hooks: None,
            process_group: false,
            invalid: None,
        }
    }

    /// A command running `cmd` through `/bin/sh -c` (what
    /// [`create_subprocess_shell`] spawns), to set pipes on before `spawn`. The
    /// shell interprets `cmd`: never pass unchecked input.
    ///
    /// ```
    /// use corio::process::Command;
    /// corio::run(async {
    ///     let out = Command::shell("echo $((6 * 7))").output().await?;
    ///     assert_eq!(out.stdout, b"42\n");
    ///     std::io::Result::Ok(())
    /// }).unwrap();
    /// ```
    pub fn shell(cmd: impl AsRef<OsStr>) -> Self {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(cmd);
        c
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, val);
        self
    }

    /// Removes an environment variable for the child.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment.
    pub fn env_clear(&mut self) -> &mut Self {
        self.inner.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.inner.current_dir(dir);
        self
    }

    /// The child's stdin (`Stdio::piped()` gives [`Child::stdin`]).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        match cfg.into().0 {
            StdioKind::Std(s) => {
                self.inner.stdin(s);
            }
            StdioKind::Stdout => self.invalid = Some("Stdio::STDOUT is only for stderr, not stdin"),
        }
        self
    }

    /// The child's stdout (`Stdio::piped()` gives [`Child::stdout`]).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        match cfg.into().0 {
            StdioKind::Std(s) => {
                self.inner.stdout(s);
            }
            StdioKind::Stdout => {
                self.invalid = Some("Stdio::STDOUT is only for stderr, not stdout")
            }
        }
        self
    }

    /// The child's stderr (`Stdio::piped()` gives [`Child::stderr`];
    /// [`Stdio::STDOUT`] sends it wherever stdout goes, in order, as
    /// asyncio's `stderr=asyncio.subprocess.STDOUT`).
    ///
    /// ```
    /// use corio::process::{Command, Stdio};
    /// corio::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo out; echo err >&2"])
    ///         .stdout(Stdio::piped())
    ///         .stderr(Stdio::STDOUT)
    ///         .output().await?;
    ///     assert_eq!(out.stdout, b"out\nerr\n");
    ///     assert!(out.stderr.is_empty());
    ///     std::io::Result::Ok(())
    /// }).unwrap();
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        match cfg.into().0 {
            StdioKind::Std(s) => {
                self.inner.stderr(s);
                if let Some(h) = &self.hooks {
                    h.stderr_to_stdout.store(false, Ordering::Relaxed);
                }
            }
            StdioKind::Stdout => {
                // No pipe of its own; the child's hook makes fd 2 a copy of fd 1
                // after std has set up stdout.
                self.inner.stderr(std::process::Stdio::inherit());
                self.hooks().stderr_to_stdout.store(true, Ordering::Relaxed);
            }
        }
        self
    }

    /// Runs the child in a new session (`setsid()` in the child, as asyncio's
    /// `start_new_session=True`): it gets its own session and process group,
    /// with no controlling terminal, so a terminal's Ctrl-C does not reach it.
    /// Cannot be combined with [`process_group`](Self::process_group).
    ///
    /// ```
    /// use corio::process::Command;
    /// corio::run(async {
    ///     let out = Command::new("ps").args(["-o", "sid=", "-p"]).arg(std::process::id().to_string())
    ///         .output().await?;
    ///     let mine = String::from_utf8_lossy(&out.stdout).trim().to_string();
    ///     let out = Command::new("sh").args(["-c", "ps -o sid= -p $$"])
    ///         .start_new_session(true)
    ///         .output().await?;
    ///     assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), mine);
    ///     std::io::Result::Ok(())
    /// }).unwrap();
    /// ```
    pub fn start_new_session(&mut self, on: bool) -> &mut Self {
        if on || self.hooks.is_some() {
            self.hooks().setsid.store(on, Ordering::Relaxed);
        }
        self
    }

    /// Puts the child in process group `pgid` (`setpgid`, as asyncio's
    /// `process_group=`; `0` makes a new group led by the child). Cannot be
    /// combined with [`start_new_session`](Self::start_new_session).
    pub fn process_group(&mut self, pgid: i32) -> &mut Self {
        use std::os::unix::process::CommandExt;
        self.inner.process_group(pgid);
        self.process_group = true;
        self
    }

    /// Schedules `f` to run in the child after `fork` and before `exec`
    /// (asyncio's `preexec_fn`; std's `CommandExt::pre_exec`). It runs after
    /// stdio is set up and after [`start_new_session`](Self::start_new_session)
    /// and the [`Stdio::STDOUT`] redirect. An `Err` fails the spawn with that error.
    ///
    /// # Safety
    ///
    /// As std's `pre_exec`: `f` runs in a copy of the parent made by `fork`, in
    /// which only the calling thread exists. It must only call
    /// async-signal-safe functions: no allocation, no locks (another thread may
    /// have held them at the fork), nothing that touches state shared with the
    /// parent's other threads. Anything else may deadlock or corrupt the child.
    ///
    /// ```
    /// use corio::process::Command;
    /// corio::run(async {
    ///     let mut cmd = Command::new("sh");
    ///     cmd.args(["-c", "exit 0"]);
    ///     // SAFETY: nice(2) is async-signal-safe and allocates nothing.
    ///     unsafe {
    ///         cmd.pre_exec(|| {
    ///             libc::nice(5);
    ///             Ok(())
    ///         });
    ///     }
    ///     assert!(cmd.status().await?.success());
    ///     std::io::Result::Ok(())
    /// }).unwrap();
    /// ```
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        use std::os::unix::process::CommandExt;
        // corio's own hook first, so `f` sees the child as configured.
        self.hooks();
        // SAFETY: the caller upholds pre_exec's contract for `f`.
        unsafe { self.inner.pre_exec(f) };
        self
    }

    /// The child-side hook, registered with std on first use.
    fn hooks(&mut self) -> &ChildHooks {
        self.hooks.get_or_insert_with(|| {
            let hooks = Arc::new(ChildHooks::default());
            let in_child = hooks.clone();
            use std::os::unix::process::CommandExt;
            // SAFETY: `run_in_child` reads atomics and calls setsid(2) and
            // dup2(2), which are async-signal-safe; it neither allocates nor
            // locks (io::Error::last_os_error stores the errno inline).
            unsafe { self.inner.pre_exec(move || in_child.run_in_child()) };
            hooks
        })
    }

    /// Kill the child (SIGKILL) if its [`Child`] is dropped before it exited.
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Self {
        self.kill_on_drop = on;
        self
    }

    /// Starts the child.
    ///
    /// Errors: the OS error of `fork`/`exec` (e.g. `NotFound` when the program
    /// does not exist, `PermissionDenied` when it is not executable).
    pub fn spawn(&mut self) -> io::Result<Child> {
        corio_core::real_world::check(
            "a child process was started (corio::process::Command::spawn, output, status): it \
             runs outside the simulation's control; keep processes out of simulated code",
        )?;
        if let Some(why) = self.invalid {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        if self.process_group
            && self
                .hooks
                .as_ref()
                .is_some_and(|h| h.setsid.load(Ordering::Relaxed))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "start_new_session and process_group cannot both be set: a new session \
                 already puts the child in its own process group",
            ));
        }
        let mut std_child = self.inner.spawn()?;
        let stdin = match std_child.stdin.take() {
            Some(p) => Some(Pipe::new(OwnedFd::from(p))?.into_writer()),
            None => None,
        };
        let stdout = match std_child.stdout.take() {
            Some(p) => Some(Pipe::new(OwnedFd::from(p))?.into_reader()),
            None => None,
        };
        let stderr = match std_child.stderr.take() {
            Some(p) => Some(Pipe::new(OwnedFd::from(p))?.into_reader()),
            None => None,
        };
        let pidfd = pidfd_open(std_child.id());
        Ok(Child {
            inner: Some(std_child),
            pidfd,
            status: None,
            kill_on_drop: self.kill_on_drop,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Runs the child to completion with stdout and stderr captured (stdin
    /// is empty), like `subprocess.run(..., capture_output=True)`.
    /// A stderr sent to [`Stdio::STDOUT`] stays there (its output is in
    /// `stdout`). While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn output(&mut self) -> AwaitPoint<impl Future<Output = io::Result<Output>> + '_> {
        crate::await_point(async move {
            self.stdin(Stdio::null()).stdout(Stdio::piped());
            let merged = self
                .hooks
                .as_ref()
                .is_some_and(|h| h.stderr_to_stdout.load(Ordering::Relaxed));
            if !merged {
                self.stderr(Stdio::piped());
            }
            let child = self.spawn()?;
            child.wait_with_output_inner().await
        })
    }

    /// Runs the child to completion and returns its exit status. While it
    /// waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn status(&mut self) -> AwaitPoint<impl Future<Output = io::Result<ExitStatus>> + '_> {
        crate::await_point(async move { self.spawn()?.wait_inner().await })
    }
}

/// asyncio's `create_subprocess_exec(program, *args)`: spawns `program` with
/// `args`, inheriting stdin/stdout/stderr. Use [`Command`] for pipes.
///
/// ```
/// corio::run(async {
///     let mut child = corio::process::create_subprocess_exec("true", Vec::<&str>::new())?;
///     assert_eq!(child.wait().await?.code(), Some(0));
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
pub fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> io::Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program).args(args).spawn()
}

/// asyncio's `create_subprocess_shell(cmd)`: spawns `/bin/sh -c cmd`,
/// inheriting stdin/stdout/stderr, and returns the [`Child`] as
/// [`create_subprocess_exec`] does. Use [`Command::shell`] for pipes. The shell
/// interprets `cmd`: never pass unchecked input.
///
/// ```
/// use corio::process::create_subprocess_shell;
/// corio::run(async {
///     let mut child = create_subprocess_shell("exit $((6 * 7))")?;
///     assert_eq!(child.wait().await?.code(), Some(42));
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
pub fn create_subprocess_shell(cmd: impl AsRef<OsStr>) -> io::Result<Child> {
    Command::shell(cmd).spawn()
}

/// A running (or finished) child process (asyncio's `Process`).
///
/// The pipes are public fields, as in asyncio and std: `stdin` is a
/// [`StreamWriter`] (`close()` it to send end of input),
/// `stdout`/`stderr` are [`StreamReader`]s.
pub struct Child {
    /// `std::process::Child` until reaped (its pid stays ours until then).
    inner: Option<std::process::Child>,
    pidfd: Option<Async<PidFd>>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// The child's stdin, if piped.
    pub stdin: Option<StreamWriter>,
    /// The child's stdout, if piped.
    pub stdout: Option<StreamReader>,
    /// The child's stderr, if piped.
    pub stderr: Option<StreamReader>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.id())
            .field("status", &self.status)
            .field("pidfd", &self.pidfd.is_some())
            .finish_non_exhaustive()
    }
}

impl Child {
    /// The process id (asyncio's `pid`), `None` once the child was reaped.
    pub fn id(&self) -> Option<u32> {
        self.inner.as_ref().map(std::process::Child::id)
    }

    /// The exit code once the child finished and was reaped (asyncio's
    /// `returncode`; a negative number `-N` when killed by signal `N`).
    pub fn returncode(&mut self) -> Option<i32> {
        let st = self.try_wait().ok().flatten()?;
        use std::os::unix::process::ExitStatusExt;
        st.code().or_else(|| st.signal().map(|s| -s))
    }

    /// Reaps the child if it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let Some(child) = self.inner.as_mut() else {
            return Ok(self.status);
        };
        if let Some(st) = child.try_wait()? {
            self.reaped(st);
            return Ok(Some(st));
        }
        Ok(None)
    }

    /// Waits for the child to exit and reaps it (cancellation-safe: dropping
    /// the future leaves the child as it was).
    ///
    /// Does not close `stdin` first: a child reading its stdin waits for it,
    /// so close it (`stdin.close()`, or drop it) before waiting.
    ///
    /// While it waits, the caller's line is the task's await point in the
    /// [task tree](crate::task_tree).
    #[track_caller]
    pub fn wait(&mut self) -> AwaitPoint<impl Future<Output = io::Result<ExitStatus>> + '_> {
        crate::await_point(self.wait_inner())
    }

    /// The body of [`wait`](Self::wait).
    async fn wait_inner(&mut self) -> io::Result<ExitStatus> {
        if let Some(st) = self.try_wait()? {
            return Ok(st);
        }
        if let (Some(fd), Some(child)) = (&self.pidfd, self.inner.as_mut()) {
            // `read_with` retries on readiness and re-arms on WouldBlock, so a
            // spurious wake-up (or the reactor's optimistic first try) costs one
            // waitpid, never a busy loop.
            let st = fd
                .read_with(|_| child.try_wait()?.ok_or_else(not_yet))
                .await?;
            self.reaped(st);
            return Ok(st);
        }
        loop {
            corio_reactor::timer::sleep(FALLBACK_POLL).await;
            if let Some(st) = self.try_wait()? {
                return Ok(st);
            }
        }
    }

    fn reaped(&mut self, st: ExitStatus) {
        self.status = Some(st);
        self.inner = None;
        self.pidfd = None;
    }

    /// Sends SIGKILL (asyncio's `kill()`); does nothing if it already exited.
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Sends SIGTERM (asyncio's `terminate()`).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends `signal` to the child (asyncio's `send_signal`). A child already
    /// reaped is not signalled (its pid may belong to another process by now).
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let Some(child) = self.inner.as_ref() else {
            return Ok(());
        };
        let pid = libc::pid_t::try_from(child.id())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        // SAFETY: kill(2) takes plain integers; the pid is our unreaped child,
        // so it cannot have been reused by another process.
        let r = unsafe { libc::kill(pid, signal) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// asyncio's `communicate(input)`: writes `input` to stdin and closes it,
    /// reads stdout and stderr to the end (all three concurrently, so a child
    /// filling one pipe while we write the other cannot deadlock), waits for
    /// the exit, and returns `(stdout, stderr)` (empty for pipes not piped).
    ///
    /// A child that exits without reading its input is not an error (a
    /// `BrokenPipe` on stdin is ignored, as in asyncio).
    ///
    /// Cancel-safe: cut short (a `wait_for` timeout), it leaves the pipes
    /// with the `Child`, the output read so far in their buffers and the
    /// input on its way, so a second `communicate(None)` returns all of the
    /// output and waits for the exit. The input is sent once: passing input
    /// again after stdin was closed is an `InvalidInput` error.
    ///
    /// ```
    /// use corio::process::{Command, Stdio};
    /// corio::run(async {
    ///     let mut child = Command::new("tr").arg("a-z").arg("A-Z")
    ///         .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    ///     let (out, _err) = child.communicate(Some(b"shout")).await?;
    ///     assert_eq!(out, b"SHOUT");
    ///     std::io::Result::Ok(())
    /// }).unwrap();
    /// ```
    ///
    /// While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn communicate<'a>(
        &'a mut self,
        input: Option<&'a [u8]>,
    ) -> AwaitPoint<impl Future<Output = io::Result<(Vec<u8>, Vec<u8>)>> + 'a> {
        crate::await_point(self.communicate_inner(input))
    }

    /// The body of [`communicate`](Self::communicate).
    async fn communicate_inner(&mut self, input: Option<&[u8]>) -> io::Result<(Vec<u8>, Vec<u8>)> {
        // The pipes stay in `self`: a cancelled call leaves every byte read
        // so far in the readers' buffers and the input in the writer's (sent
        // by the runtime in the background), so the next call carries on.
        let Child {
            stdin,
            stdout,
            stderr,
            ..
        } = self;
        if let Some(w) = stdin.as_mut() {
            let data = input.unwrap_or_default();
            if w.is_closing() {
                if !data.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "communicate: the child's stdin was already closed (by an earlier \
                         communicate or close), so this input cannot be sent; call \
                         communicate(None) to collect the output",
                    ));
                }
            } else {
                w.write(data);
                w.close();
            }
        }
        let write = async {
            let Some(w) = stdin.as_mut() else {
                return Ok(());
            };
            match w.wait_closed().await {
                // The child exited without reading all its input: not an error.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    Ok(())
                }
                r => r,
            }
        };
        let read_out = read_all(stdout.as_mut());
        let read_err = read_all(stderr.as_mut());
        let (w, o, e) = join3(write, read_out, read_err).await;
        w?;
        let (o, e) = (o?, e?);
        self.wait_inner().await?;
        Ok((o, e))
    }

    /// Like std's `wait_with_output`: [`communicate`](Self::communicate) with
    /// no input, then the exit status. While it waits, the caller's line is
    /// the task's await point.
    #[track_caller]
    pub fn wait_with_output(self) -> AwaitPoint<impl Future<Output = io::Result<Output>>> {
        crate::await_point(self.wait_with_output_inner())
    }

    /// The body of [`wait_with_output`](Self::wait_with_output).
    async fn wait_with_output_inner(mut self) -> io::Result<Output> {
        let (stdout, stderr) = self.communicate_inner(None).await?;
        let status = self.wait_inner().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.kill_on_drop {
            let _ = self.kill();
        }
        if matches!(self.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Some(child) = self.inner.take() {
            reap_later(Orphan {
                child,
                pidfd: self.pidfd.take(),
            });
        }
    }
}

async fn read_all(r: Option<&mut StreamReader>) -> io::Result<Vec<u8>> {
    match r {
        Some(r) => r.read_to_end().await,
        None => Ok(Vec::new()),
    }
}

/// Runs three futures concurrently on the current task; all three outputs.
async fn join3<A, B, C>(a: A, b: B, c: C) -> (A::Output, B::Output, C::Output)
where
    A: std::future::Future,
    B: std::future::Future,
    C: std::future::Future,
{
    let (mut a, mut b, mut c) = (std::pin::pin!(a), std::pin::pin!(b), std::pin::pin!(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(v) = c.as_mut().poll(cx) {
                rc = Some(v);
            }
        }
        match (ra.take(), rb.take(), rc.take()) {
            (Some(x), Some(y), Some(z)) => Poll::Ready((x, y, z)),
            (x, y, z) => {
                (ra, rb, rc) = (x, y, z);
                Poll::Pending
            }
        }
    })
    .await
}

/// "Not exited yet", for `read_with`'s retry loop.
fn not_yet() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

// ---- pipes -------------------------------------------------------------------

/// A pipe end registered with the reactor. Closing the write end (the
/// stdin writer's `close`, or dropping it) closes the descriptor, so the child
/// reads end of input.
struct Pipe {
    io: Option<Async<File>>,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        // `&File` reads and writes through the descriptor; for a pipe that is
        // plain read(2)/write(2). Async::new makes it non-blocking.
        Ok(Pipe {
            io: Some(Async::new(File::from(fd))?),
        })
    }

    /// The child's stdout/stderr as a stream (the descriptor stays open as
    /// long as the reader, so `at_eof` may look at it).
    fn into_reader(self) -> StreamReader {
        let fd = self.io.as_ref().map(AsRawFd::as_raw_fd);
        StreamReader::from_parts(Some(Box::new(self)), fd, Link::new(), DEFAULT_LIMIT)
    }

    /// The child's stdin as a stream.
    fn into_writer(self) -> StreamWriter {
        StreamWriter::from_transport(Box::new(self), Link::new(), None, None)
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().io.as_mut() {
            Some(io) => Pin::new(io).poll_read(cx, buf),
            None => Poll::Ready(Ok(0)),
        }
    }
}

impl WriteTransport for Pipe {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.io.as_mut() {
            Some(io) => Pin::new(io).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe was closed",
            ))),
        }
    }
    /// A pipe has one direction: its half-close is the close.
    fn poll_write_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close(cx)
    }
    fn poll_close(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io = None;
        Poll::Ready(Ok(()))
    }
}

// ---- pidfd -----------------------------------------------------------------

/// A pidfd: readable once the process exits.
struct PidFd(OwnedFd);

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// `pidfd_open(pid, 0)` registered with the reactor; `None` where the kernel
/// lacks it (then `wait` polls on a timer).
fn pidfd_open(pid: u32) -> Option<Async<PidFd>> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1;
    // no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Async::new(PidFd(owned)).ok()
}

// ---- the reaper of dropped children ------------------------------------------

struct Orphan {
    child: std::process::Child,
    pidfd: Option<Async<PidFd>>,
}

/// Children dropped before they exited, waiting to be reaped by the reaper thread.
fn orphans() -> &'static Queue<Orphan> {
    static ORPHANS: OnceLock<Queue<Orphan>> = OnceLock::new();
    ORPHANS.get_or_init(|| {
        let q = Queue::new(0);
        let rx = q.clone();
        let spawned = std::thread::Builder::new()
            .name("corio-reaper".into())
            .spawn(move || corio_reactor::block_on(reap_forever(rx)));
        if spawned.is_err() {
            // No thread: orphans are reaped opportunistically in reap_later instead.
            q.shutdown(false);
        }
        q
    })
}

fn reap_later(mut orphan: Orphan) {
    if let Ok(Some(_)) = orphan.child.try_wait() {
        return;
    }
    if let Err(e) = orphans().put_nowait(orphan) {
        // The reaper could not be started: reap what we can now, then give up on
        // this one (it stays a zombie until this process exits).
        let mut o = e.into_inner();
        let _ = o.child.try_wait();
    }
}

/// The reaper: waits on every orphan's pidfd (or a timer without pidfd) and reaps.
async fn reap_forever(queue: Queue<Orphan>) {
    let mut incoming = queue.stream();
    let mut waiting: Vec<Orphan> = Vec::new();
    let mut tick: Option<corio_reactor::timer::Sleep> = None;
    poll_fn(|cx| {
        while let Poll::Ready(Some(o)) = Pin::new(&mut incoming).poll_next(cx) {
            waiting.push(o);
        }
        let mut need_tick = false;
        waiting.retain_mut(|o| {
            let mut failed_fd = false;
            let child = &mut o.child;
            let keep = match &o.pidfd {
                Some(fd) => {
                    let reap = fd.read_with(|_| child.try_wait()?.ok_or_else(not_yet));
                    let r = std::pin::pin!(reap).poll(cx);
                    match r {
                        Poll::Pending => true,
                        Poll::Ready(Ok(_)) => false,
                        Poll::Ready(Err(_)) => {
                            // The pidfd failed: fall back to the timer for this one.
                            failed_fd = true;
                            need_tick = true;
                            true
                        }
                    }
                }
                None => match child.try_wait() {
                    Ok(None) => {
                        need_tick = true;
                        true
                    }
                    Ok(Some(_)) | Err(_) => false,
                },
            };
            if failed_fd {
                o.pidfd = None;
            }
            keep
        });
        if need_tick {
            let t = tick.get_or_insert_with(|| corio_reactor::timer::sleep(FALLBACK_POLL));
            if Pin::new(&mut *t).poll(cx).is_ready() {
                tick = None;
                cx.waker().wake_by_ref();
            }
        }
        Poll::<()>::Pending
    })
    .await
}
