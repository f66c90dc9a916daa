//! [`BlockingError`]: everything that can go wrong between handing work to a pool
//! and getting its result back.

use std::any::Any;
use std::fmt;
use std::io;

/// Why a [`BlockingTask`](crate::BlockingTask) resolved without a value.
///
/// Every variant's `Display` says what happened and what to do about it.
///
/// ```
/// use corio_blocking::{BlockingError, BlockingPool};
///
/// let pool = BlockingPool::new();
/// let task = pool.spawn(|| -> u32 { panic!("disk on fire") });
/// let err = futures::executor::block_on(task).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.panic_message(), Some("disk on fire"));
/// ```
#[non_exhaustive]
pub enum BlockingError {
    /// The closure panicked on a pool thread; the payload is the value given to
    /// `panic!` (a `&'static str` or `String` for the usual `panic!("...")`).
    /// The pool itself is unaffected.
    Panicked(Box<dyn Any + Send + 'static>),
    /// A process-pool function panicked in the worker process. The worker lives on.
    RemotePanicked {
        /// The registered name of the function.
        function: String,
        /// The panic message, as the worker formatted it.
        message: String,
    },
    /// The work was handed to a pool that had already been shut down; it never ran.
    Shutdown,
    /// The work was still queued, never started, when the pool was shut down and
    /// dropped its queue.
    Cancelled,
    /// The pool had no thread to run the work and could not start one.
    Spawn(io::Error),
    /// A process-pool worker died while running this call (killed by a signal,
    /// aborted, or exited). The pool replaces the worker for later calls.
    BrokenPool {
        /// Process id of the worker that died.
        pid: u32,
        /// How it died, e.g. `killed by signal 9 (SIGKILL)` or `exited with status 3`.
        reason: String,
    },
    /// The worker process does not know a function by this name: it was not passed
    /// to [`maybe_run_worker`](crate::process::maybe_run_worker).
    UnknownFunction(String),
    /// An argument or result could not be (de)serialized with postcard.
    Codec(String),
    /// A worker process could not be started or did not complete the handshake.
    WorkerStart(String),
}

impl BlockingError {
    /// True when the work panicked (in a pool thread or in a worker process).
    pub fn is_panic(&self) -> bool {
        matches!(
            self,
            BlockingError::Panicked(_) | BlockingError::RemotePanicked { .. }
        )
    }

    /// True when the work never ran because the pool was (or got) shut down.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, BlockingError::Shutdown | BlockingError::Cancelled)
    }

    /// The panic message, when the work panicked with a string message.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            BlockingError::Panicked(payload) => payload_str(payload.as_ref()),
            BlockingError::RemotePanicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The panic payload of a [`Panicked`](BlockingError::Panicked) error, for
    /// `std::panic::resume_unwind`; `Err(self)` for every other error.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, BlockingError> {
        match self {
            BlockingError::Panicked(payload) => Ok(payload),
            other => Err(other),
        }
    }
}

/// The message of a panic payload made by `panic!("literal")` or `panic!("{}", x)`.
pub(crate) fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Display for BlockingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockingError::Panicked(payload) => match payload_str(payload.as_ref()) {
                Some(msg) => write!(f, "the blocking closure panicked: {msg}"),
                None => f.write_str("the blocking closure panicked (non-string payload; use try_into_panic to get it)"),
            },
            BlockingError::RemotePanicked { function, message } => write!(
                f,
                "process-pool function `{function}` panicked in the worker process: {message} (the worker lives on)"
            ),
            BlockingError::Shutdown => f.write_str(
                "the pool has been shut down and refuses new work; submit to a pool that is still running",
            ),
            BlockingError::Cancelled => f.write_str(
                "the work was dropped before it started because the pool shut down; shut the pool down only after awaiting the work you need",
            ),
            BlockingError::Spawn(err) => write!(
                f,
                "the pool has no thread and could not start one ({err}); lower the load or raise the process's thread limit"
            ),
            BlockingError::BrokenPool { pid, reason } => write!(
                f,
                "broken pool: worker process {pid} {reason} while running this call; the pool replaces it, retry if the function is safe to run again"
            ),
            BlockingError::UnknownFunction(name) => write!(
                f,
                "the worker process does not know a function named `{name}`: pass it to corio_blocking::process::maybe_run_worker at the start of main"
            ),
            BlockingError::Codec(msg) => write!(
                f,
                "could not (de)serialize a process-pool argument or result with postcard: {msg}; check that argument and result types round-trip through serde"
            ),
            BlockingError::WorkerStart(msg) => write!(f, "could not start a process-pool worker: {msg}"),
        }
    }
}

impl fmt::Debug for BlockingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockingError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&payload_str(payload.as_ref()).unwrap_or("<non-string payload>"))
                .finish(),
            BlockingError::RemotePanicked { function, message } => f
                .debug_struct("RemotePanicked")
                .field("function", function)
                .field("message", message)
                .finish(),
            BlockingError::Shutdown => f.write_str("Shutdown"),
            BlockingError::Cancelled => f.write_str("Cancelled"),
            BlockingError::Spawn(err) => f.debug_tuple("Spawn").field(err).finish(),
            BlockingError::BrokenPool { pid, reason } => f
                .debug_struct("BrokenPool")
                .field("pid", pid)
                .field("reason", reason)
                .finish(),
            BlockingError::UnknownFunction(name) => {
                f.debug_tuple("UnknownFunction").field(name).finish()
            }
            BlockingError::Codec(msg) => f.debug_tuple("Codec").field(msg).finish(),
            BlockingError::WorkerStart(msg) => f.debug_tuple("WorkerStart").field(msg).finish(),
        }
    }
}

impl std::error::Error for BlockingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BlockingError::Spawn(err) => Some(err),
            _ => None,
        }
    }
}
