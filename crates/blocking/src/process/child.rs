//! The parent's side of one worker process: start it (secret, handshake), send
//! it a request and read its reply under a deadline and a size cap, and end it.
//!
//! The pid of every child that has not been reaped is in the pool's `pids` list
//! (from right after `spawn` until just before `wait`), so whoever SIGKILLs a
//! listed pid signals that child and never a recycled pid.

use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};
use std::{io, thread};

use super::gate::{self, Secret};
use super::{forget_pid, is_worker_process, register_pid, sys, wire, Shared, REFUSED, WORKER_ENV};
use crate::error::BlockingError;

/// How long a new worker has to complete the handshake. Generous: starting a
/// process on a loaded 2-core machine can take a while, and a program that forgot
/// `maybe_run_worker` should fail with a clear error, not hang.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Largest handshake frame accepted: a list of function names.
const MAX_HELLO: usize = 1 << 20;

/// How long a worker whose stdin closed (or whose pipe broke) may take to finish
/// exiting before the pool kills it: exiting takes microseconds, this only has
/// to outlast a loaded machine.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A live worker process and its pipes.
pub(super) struct Worker {
    child: Child,
    pub(super) pid: u32,
    /// Non-blocking, so a request to a worker that stopped reading honours the
    /// call's deadline.
    stdin: ChildStdin,
    stdout: ChildStdout,
    pub(super) functions: Vec<String>,
}

/// Why a call got no reply. The worker is unusable after any of these.
pub(super) enum CallFailure {
    /// The pipe broke, or carried something that is not a reply.
    Broken(io::Error),
    /// The call's deadline passed.
    TimedOut,
    /// The reply's announced size is above the pool's limit.
    TooLarge(u64),
}

impl From<io::Error> for CallFailure {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::TimedOut {
            CallFailure::TimedOut
        } else {
            CallFailure::Broken(err)
        }
    }
}

impl Worker {
    /// Starts a copy of the current executable as a worker and completes the
    /// handshake.
    pub(super) fn start(shared: &StdArc<Shared>) -> Result<Worker, BlockingError> {
        refuse_to_start()?;
        let exe: PathBuf = std::env::current_exe().map_err(|e| {
            BlockingError::worker_start(format!("cannot find the current executable: {e}"))
        })?;
        let secret: Secret = sys::random_bytes().map_err(|e| {
            BlockingError::worker_start(format!(
                "cannot read /dev/urandom for the worker's secret: {e}"
            ))
        })?;
        let mut child = Command::new(same_executable(&exe))
            .arg0(&exe)
            .env(WORKER_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                BlockingError::worker_start(format!("cannot start {}: {e}", exe.display()))
            })?;
        let pid = child.id();
        register_pid(shared, pid);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            forget_pid(shared, pid);
            let _ = child.kill();
            let _ = child.wait();
            return Err(BlockingError::worker_start(
                "the worker's pipes were not created".to_owned(),
            ));
        };
        let mut worker = Worker {
            child,
            pid,
            stdin,
            stdout,
            functions: Vec::new(),
        };
        match worker.handshake(&secret) {
            Ok(hello) if hello.pid == pid => {
                worker.functions = hello.functions;
                Ok(worker)
            }
            Ok(hello) => {
                worker.end(shared, true);
                Err(BlockingError::worker_start(format!(
                    "worker {pid} introduced itself as pid {}: not our child",
                    hello.pid
                )))
            }
            Err(problem) => {
                let (status, _) = worker.end(shared, true);
                Err(BlockingError::worker_start(format!(
                    "worker process {pid} did not complete the handshake ({problem}; it then {status}): \
                     call corio_blocking::process::maybe_run_worker(&[...]) first thing in main, \
                     before anything prints to stdout"
                )))
            }
        }
    }

    /// Sends the secret, then reads MAGIC, the echoed secret and the Hello frame,
    /// all within [`HANDSHAKE_TIMEOUT`].
    fn handshake(&mut self, secret: &Secret) -> Result<wire::Hello, String> {
        let deadline = Some(Instant::now() + HANDSHAKE_TIMEOUT);
        let input = self.stdin.as_raw_fd();
        sys::set_nonblocking(input).map_err(|e| format!("cannot set up its stdin: {e}"))?;
        let mut first = gate::SECRET_MAGIC.to_vec();
        first.extend_from_slice(secret);
        sys::write_all_until(input, &first, deadline)
            .map_err(|e| format!("cannot write its secret: {e}"))?;

        let fd = self.stdout.as_raw_fd();
        let describe = |e: io::Error| match e.kind() {
            io::ErrorKind::TimedOut => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
            io::ErrorKind::UnexpectedEof => "its stdout closed".to_owned(),
            _ => format!("reading its stdout failed: {e}"),
        };
        let mut head = [0u8; wire::MAGIC.len() + gate::SECRET_LEN + 4];
        sys::read_exact_until(fd, &mut head, deadline).map_err(describe)?;
        let (magic, rest) = head.split_at(wire::MAGIC.len());
        let (echoed, len) = rest.split_at(gate::SECRET_LEN);
        if magic != wire::MAGIC {
            return Err("it wrote something other than the worker handshake to stdout".to_owned());
        }
        let mut echo = [0u8; gate::SECRET_LEN];
        echo.copy_from_slice(echoed);
        if !gate::secrets_match(&echo, secret) {
            return Err("it did not echo the secret this pool gave it".to_owned());
        }
        let len = wire::frame_len(len);
        if len > MAX_HELLO as u64 {
            return Err(format!("handshake frame of {len} bytes is implausible"));
        }
        let hello = sys::read_payload_until(fd, len as usize, deadline).map_err(describe)?;
        wire::decode(&hello).map_err(|e| format!("bad handshake frame: {e}"))
    }

    /// True once the process has exited (it is not reaped: see [`Worker::end`]).
    pub(super) fn has_exited(&self) -> bool {
        sys::child_has_exited(self.pid)
    }

    /// Sends one request and reads its reply, giving up at `deadline`, and
    /// refusing a reply above `max_reply` bytes before reading any of it.
    pub(super) fn call(
        &mut self,
        name: &str,
        arg: Vec<u8>,
        deadline: Option<Instant>,
        max_reply: usize,
    ) -> Result<Result<Vec<u8>, BlockingError>, CallFailure> {
        let request = wire::Request {
            name: name.to_owned(),
            arg,
        };
        // A request that cannot be framed (an argument over 1 GiB) never reaches
        // the worker, which stays usable.
        let frame = match wire::encode(&request).and_then(|payload| wire::frame(&payload)) {
            Ok(frame) => frame,
            Err(e) => {
                return Ok(Err(BlockingError::codec(format!(
                    "the request for `{name}` cannot be sent: {e}"
                ))))
            }
        };
        sys::write_all_until(self.stdin.as_raw_fd(), &frame, deadline)?;
        let fd = self.stdout.as_raw_fd();
        let mut len = [0u8; 4];
        sys::read_exact_until(fd, &mut len, deadline)?;
        let len = wire::frame_len(&len);
        if len > max_reply as u64 {
            return Err(CallFailure::TooLarge(len));
        }
        let reply = sys::read_payload_until(fd, len as usize, deadline)?;
        Ok(match wire::decode::<wire::Response>(&reply)? {
            wire::Response::Ok(bytes) => Ok(bytes),
            wire::Response::Panicked(message) => {
                Err(BlockingError::remote_panicked(name.to_owned(), message))
            }
            wire::Response::UnknownFunction(name) => Err(BlockingError::unknown_function(name)),
            wire::Response::BadArgument(msg) => Err(BlockingError::codec(msg)),
        })
    }

    /// Ends the worker: closes its stdin (a healthy worker exits on end of file),
    /// gives it [`EXIT_GRACE`] to do so unless `kill_now`, SIGKILLs it if it is
    /// still there, and reaps it. Returns how it ended and whether the pool
    /// killed it.
    pub(super) fn end(self, shared: &Shared, kill_now: bool) -> (String, bool) {
        let Worker {
            mut child,
            pid,
            stdin,
            stdout,
            ..
        } = self;
        drop(stdin);
        drop(stdout);
        if !kill_now {
            let deadline = Instant::now() + EXIT_GRACE;
            while !sys::child_has_exited(pid) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
        }
        // Forgotten before it is reaped: from here on nobody else signals it.
        forget_pid(shared, pid);
        let killed = !sys::child_has_exited(pid) && child.kill().is_ok();
        let status = match child.wait() {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be reaped ({e})"),
        };
        (status, killed)
    }
}

/// Worker processes are not started from a worker whose `main` forgot
/// `maybe_run_worker`, from a process refused as a worker, or from a privileged
/// process (which would refuse to serve).
fn refuse_to_start() -> Result<(), BlockingError> {
    if is_worker_process() {
        return Err(BlockingError::worker_start(
            "this process is itself a pool worker whose main did not call \
             corio_blocking::process::maybe_run_worker first; refusing to start workers \
             recursively"
                .to_owned(),
        ));
    }
    if let Some(reason) = REFUSED.get() {
        return Err(BlockingError::worker_start(format!(
            "this process was started with {WORKER_ENV} set but is not a pool worker \
             ({reason}); it starts no workers of its own: unset {WORKER_ENV}"
        )));
    }
    if sys::is_privileged() {
        return Err(BlockingError::worker_start(
            "this process runs with raised privileges (setuid, setgid or file capabilities), \
             and such a process never serves as a worker; run CPU-bound work in a ThreadPool"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The program to start as a worker: `exe` (the path of the running
/// executable), or on Linux `/proc/self/exe` when that path is gone (the file
/// was replaced on disk since the program started: the worker must be the same
/// program, and checks that its parent runs the same file). Not `/proc/self/exe`
/// always: under valgrind or `ld.so prog` it is the tool, not the program.
fn same_executable(exe: &Path) -> &Path {
    let replaced = exe.to_str().is_some_and(|s| s.ends_with(" (deleted)")) || !exe.exists();
    if replaced && cfg!(any(target_os = "linux", target_os = "android")) {
        Path::new("/proc/self/exe")
    } else {
        exe
    }
}

/// "was killed by signal 9 (SIGKILL)" / "exited with status 3".
pub(super) fn describe_exit(status: ExitStatus) -> String {
    if let Some(sig) = status.signal() {
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        format!(
            "was killed by signal {sig} ({}{core})",
            sys::signal_name(sig)
        )
    } else if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else {
        format!("ended ({status})")
    }
}
