//! [`BlockingError`]: everything that can go wrong between handing work to a pool
//! and getting its result back.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

/// Why a [`BlockingTask`](crate::BlockingTask) resolved without a value.
///
/// An opaque struct: ask what happened with the `is_*` accessors
/// ([`is_panic`](Self::is_panic), [`is_shutdown`](Self::is_shutdown),
/// [`is_cancelled`](Self::is_cancelled), [`is_timeout`](Self::is_timeout), ...)
/// and get at its parts with [`panic_message`](Self::panic_message),
/// [`into_panic`](Self::into_panic), [`function`](Self::function). `Display` is a
/// short lowercase text saying what happened. The type
/// is `Send + Sync + 'static`, so `?` turns it into `Box<dyn Error + Send + Sync>`
/// (or `anyhow::Error`, or `std::io::Error` through `From`):
///
/// ```
/// use corio_blocking::spawn_blocking;
///
/// fn load() -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
///     let n = futures::executor::block_on(spawn_blocking(|| 42))?;
///     Ok(n)
/// }
/// assert_eq!(load().unwrap(), 42);
/// ```
///
/// ```
/// use corio_blocking::{BlockingError, BlockingPool};
///
/// let pool = BlockingPool::new();
/// let task = pool.submit(|| -> u32 { panic!("disk on fire") });
/// let err = futures::executor::block_on(task).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.panic_message(), Some("disk on fire"));
/// ```
#[derive(Debug)]
pub struct BlockingError {
    kind: Kind,
}

/// What went wrong; private so that kinds can be added and their fields changed
/// without breaking users, who ask through [`BlockingError`]'s accessors.
/// Without the process pool its kinds are never made.
#[derive(Debug)]
#[cfg_attr(not(feature = "process-pool"), allow(dead_code))]
enum Kind {
    /// The closure panicked on a pool thread; the payload is kept for
    /// `try_into_panic`. The pool itself is unaffected.
    Panicked(PanicPayload),
    /// A process-pool function panicked in the worker process. The worker lives on.
    RemotePanicked { function: String, message: String },
    /// The work was handed to a pool that had already been shut down; it never ran.
    Shutdown,
    /// The work was still queued, never started, when the pool was shut down and
    /// dropped its queue.
    Cancelled,
    /// The pool had no thread to run the work and could not start one.
    Spawn(io::Error),
    /// A process-pool worker died while running this call (`reason` is e.g.
    /// `killed by signal 9 (SIGKILL)` or `exited with status 3`).
    BrokenPool { pid: u32, reason: String },
    /// The worker process does not know a function by this name.
    UnknownFunction(String),
    /// An argument or result could not be (de)serialized with postcard.
    Codec(String),
    /// A worker process could not be started or did not complete the handshake.
    WorkerStart(String),
    /// A process-pool call ran past its timeout; its worker was killed.
    TimedOut { function: String, timeout: Duration },
    /// A process-pool worker announced a reply larger than the pool accepts.
    ReplyTooLarge {
        function: String,
        size: u64,
        limit: usize,
    },
}

impl BlockingError {
    fn new(kind: Kind) -> BlockingError {
        BlockingError { kind }
    }

    /// The error of work that panicked, with the payload `catch_unwind` returned
    /// (for executors outside this crate that run [`BlockingTask`](crate::BlockingTask)-like
    /// work themselves).
    ///
    /// ```
    /// let err = corio_blocking::BlockingError::panicked(Box::new("boom"));
    /// assert!(err.is_panic());
    /// assert_eq!(err.to_string(), "blocking closure panicked: boom");
    /// ```
    pub fn panicked(payload: Box<dyn Any + Send + 'static>) -> BlockingError {
        BlockingError::new(Kind::Panicked(PanicPayload::new(payload)))
    }

    /// The error of work that was queued but dropped before it started (for
    /// executors outside this crate).
    ///
    /// ```
    /// let err = corio_blocking::BlockingError::cancelled();
    /// assert!(err.is_cancelled() && err.is_shutdown());
    /// ```
    pub fn cancelled() -> BlockingError {
        BlockingError::new(Kind::Cancelled)
    }

    pub(crate) fn shutdown() -> BlockingError {
        BlockingError::new(Kind::Shutdown)
    }

    pub(crate) fn spawn(err: io::Error) -> BlockingError {
        BlockingError::new(Kind::Spawn(err))
    }
}

/// The process pool's errors.
#[cfg(feature = "process-pool")]
impl BlockingError {
    pub(crate) fn remote_panicked(function: String, message: String) -> BlockingError {
        BlockingError::new(Kind::RemotePanicked { function, message })
    }

    pub(crate) fn broken_pool(pid: u32, reason: String) -> BlockingError {
        BlockingError::new(Kind::BrokenPool { pid, reason })
    }

    pub(crate) fn unknown_function(name: String) -> BlockingError {
        BlockingError::new(Kind::UnknownFunction(name))
    }

    pub(crate) fn codec(message: String) -> BlockingError {
        BlockingError::new(Kind::Codec(message))
    }

    pub(crate) fn worker_start(message: String) -> BlockingError {
        BlockingError::new(Kind::WorkerStart(message))
    }

    pub(crate) fn timed_out(function: String, timeout: Duration) -> BlockingError {
        BlockingError::new(Kind::TimedOut { function, timeout })
    }

    pub(crate) fn reply_too_large(function: String, size: u64, limit: usize) -> BlockingError {
        BlockingError::new(Kind::ReplyTooLarge {
            function,
            size,
            limit,
        })
    }
}

impl BlockingError {
    /// True when the work panicked (in a pool thread or in a worker process).
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, Kind::Panicked(_) | Kind::RemotePanicked { .. })
    }

    /// True when the work never ran because the pool was (or got) shut down:
    /// handed to a pool already shut down, or still queued when it shut down
    /// (then [`is_cancelled`](Self::is_cancelled) is true too).
    pub fn is_shutdown(&self) -> bool {
        matches!(self.kind, Kind::Shutdown | Kind::Cancelled)
    }

    /// True when the work was queued but dropped before it started, because the
    /// pool shut down (or, in another executor, the job was dropped).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled)
    }

    /// True when a process-pool call ran past its timeout
    /// ([`ProcessPool::submit_timeout`](crate::ProcessPool::submit_timeout) or the
    /// builder's `call_timeout`); its worker was killed and is replaced.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::TimedOut { .. })
    }

    /// True when the process-pool worker running the call died (killed by a
    /// signal, aborted, or exited); the `Display` text says how. The pool replaces
    /// the worker for later calls.
    pub fn is_broken_pool(&self) -> bool {
        matches!(self.kind, Kind::BrokenPool { .. })
    }

    /// True when the worker process does not know the function: it was not
    /// passed to [`maybe_run_worker`](crate::process::maybe_run_worker).
    pub fn is_unknown_function(&self) -> bool {
        matches!(self.kind, Kind::UnknownFunction(_))
    }

    /// True when an argument or result could not be (de)serialized.
    pub fn is_codec(&self) -> bool {
        matches!(self.kind, Kind::Codec(_))
    }

    /// True when a process-pool worker announced a reply larger than the pool's
    /// `max_reply_size`; the pool read none of it and replaced the worker.
    pub fn is_reply_too_large(&self) -> bool {
        matches!(self.kind, Kind::ReplyTooLarge { .. })
    }

    /// True when the pool could not start a thread (then [`source`] is the
    /// `io::Error`) or a worker process to run the work.
    ///
    /// [`source`]: std::error::Error::source
    pub fn is_start_failure(&self) -> bool {
        matches!(self.kind, Kind::Spawn(_) | Kind::WorkerStart(_))
    }

    /// The registered name of the process-pool function the error is about (a
    /// remote panic, a timeout, an oversized reply, an unknown name).
    pub fn function(&self) -> Option<&str> {
        match &self.kind {
            Kind::RemotePanicked { function, .. }
            | Kind::TimedOut { function, .. }
            | Kind::ReplyTooLarge { function, .. }
            | Kind::UnknownFunction(function) => Some(function),
            _ => None,
        }
    }

    /// The process id of the worker that died, for a [broken pool](Self::is_broken_pool).
    pub fn worker_pid(&self) -> Option<u32> {
        match self.kind {
            Kind::BrokenPool { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// The panic message, when the work panicked with a string message.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.kind {
            Kind::Panicked(payload) => payload.message(),
            Kind::RemotePanicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The panic payload of work that panicked in this process, for
    /// `std::panic::resume_unwind`; `Err(self)` for every other error (a remote
    /// panic has no payload in this process: its message is all there is).
    ///
    /// If the payload was already taken with [`take_panic`](BlockingError::take_panic),
    /// this returns the panic's message as a `String` payload instead.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, BlockingError> {
        match self.kind {
            Kind::Panicked(payload) => Ok(payload.into_panic()),
            kind => Err(BlockingError::new(kind)),
        }
    }

    /// Like [`try_into_panic`](BlockingError::try_into_panic), for code that knows the
    /// work panicked in this process.
    ///
    /// # Panics
    ///
    /// If the work did not panic in this process.
    ///
    /// ```
    /// let pool = corio_blocking::BlockingPool::new();
    /// let err = pool.submit(|| std::panic::panic_any(7u8)).wait().unwrap_err();
    /// assert_eq!(err.into_panic().downcast_ref::<u8>(), Some(&7));
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(other) => {
                panic!("BlockingError::into_panic called on an error that is not a panic: {other}")
            }
        }
    }

    /// Takes the panic payload out of work that panicked in this process through a
    /// shared reference (e.g. one reached through `anyhow::Error` or
    /// `Box<dyn Error + Send + Sync>`); `None` for other errors or once taken.
    pub fn take_panic(&self) -> Option<Box<dyn Any + Send + 'static>> {
        match &self.kind {
            Kind::Panicked(payload) => payload.take(),
            _ => None,
        }
    }
}

/// A caught panic's payload, kept so that it can be re-raised with
/// `std::panic::resume_unwind`.
///
/// A panic payload is `Send` but not `Sync`; this wrapper keeps it behind a mutex
/// (and its message, read without the lock, as a copy) so that an error holding it
/// is `Send + Sync` and composes with `?`.
struct PanicPayload {
    message: Option<String>,
    payload: Mutex<Option<Box<dyn Any + Send + 'static>>>,
}

impl PanicPayload {
    /// Wraps a payload as returned by `std::panic::catch_unwind`.
    fn new(payload: Box<dyn Any + Send + 'static>) -> PanicPayload {
        PanicPayload {
            message: corio_core::panic_message(payload.as_ref()).map(str::to_owned),
            payload: Mutex::new(Some(payload)),
        }
    }

    /// The panic message, when the panic had a string message.
    fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Takes the original payload out; `None` once it has been taken.
    fn take(&self) -> Option<Box<dyn Any + Send + 'static>> {
        match self.payload.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// The original payload, or (if it was taken) the message as a `String` payload.
    fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        let payload = match self.payload.into_inner() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        payload.unwrap_or_else(|| {
            Box::new(
                self.message
                    .unwrap_or_else(|| "<panic payload already taken>".to_owned()),
            )
        })
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(msg) => f.debug_tuple("PanicPayload").field(msg).finish(),
            None => f.write_str("PanicPayload(<non-string payload>)"),
        }
    }
}

impl From<BlockingError> for io::Error {
    /// An `io::Error` of kind `Other` carrying the error (its `Display` and
    /// `source` are kept), for functions that return `io::Result`.
    fn from(err: BlockingError) -> io::Error {
        io::Error::other(err)
    }
}

impl fmt::Display for BlockingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Panicked(payload) => match payload.message() {
                Some(msg) => write!(f, "blocking closure panicked: {msg}"),
                None => f.write_str("blocking closure panicked"),
            },
            Kind::RemotePanicked { function, message } => {
                write!(f, "process-pool function `{function}` panicked: {message}")
            }
            Kind::Shutdown => f.write_str("pool is shut down"),
            Kind::Cancelled => f.write_str("work cancelled before it started: pool shut down"),
            Kind::Spawn(err) => write!(f, "could not start a pool thread: {err}"),
            Kind::BrokenPool { pid, reason } => {
                write!(f, "broken pool: worker process {pid} {reason}")
            }
            // The advice is the fix: the name is missing from one call.
            Kind::UnknownFunction(name) => write!(
                f,
                "unknown process-pool function `{name}` (not passed to maybe_run_worker)"
            ),
            Kind::Codec(msg) => write!(f, "postcard codec error: {msg}"),
            Kind::WorkerStart(msg) => write!(f, "could not start a pool worker: {msg}"),
            Kind::TimedOut { function, timeout } => write!(
                f,
                "process-pool function `{function}` did not finish within {timeout:?}"
            ),
            Kind::ReplyTooLarge {
                function,
                size,
                limit,
            } => write!(
                f,
                "process-pool function `{function}` replied {size} bytes, above max_reply_size {limit}"
            ),
        }
    }
}

impl std::error::Error for BlockingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_sync_static() {
        assert_send_sync_static::<BlockingError>();
    }

    #[test]
    fn question_mark_into_boxed_error_and_io_error() {
        fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err(BlockingError::panicked(Box::new("x")))?;
            Ok(())
        }
        fn io() -> io::Result<()> {
            Err(BlockingError::shutdown())?;
            Ok(())
        }
        let err = boxed().unwrap_err();
        let inner = err.downcast_ref::<BlockingError>().unwrap();
        assert_eq!(inner.panic_message(), Some("x"));
        assert_eq!(
            inner.take_panic().unwrap().downcast_ref::<&str>(),
            Some(&"x")
        );
        assert!(inner.take_panic().is_none());
        let err = io().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert!(err.to_string().contains("shut down"), "{err}");
    }

    #[test]
    fn taken_payload_falls_back_to_the_message() {
        let err = BlockingError::panicked(Box::new(String::from("gone")));
        assert!(err.take_panic().is_some());
        let again = err.into_panic();
        assert_eq!(
            again.downcast_ref::<String>().map(String::as_str),
            Some("gone")
        );
    }
}
