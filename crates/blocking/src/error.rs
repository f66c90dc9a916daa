//! [`BlockingError`]: everything that can go wrong between handing work to a pool
//! and getting its result back.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

/// Why a [`BlockingTask`](crate::BlockingTask) resolved without a value.
///
/// Every variant's `Display` says what happened and what to do about it. The type
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
#[non_exhaustive]
pub enum BlockingError {
    /// The closure panicked on a pool thread; the [`PanicPayload`] keeps the value
    /// given to `panic!` (a `&'static str` or `String` for the usual `panic!("...")`)
    /// for [`try_into_panic`](BlockingError::try_into_panic). The pool itself is
    /// unaffected.
    Panicked(PanicPayload),
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
    /// A process-pool call ran past its timeout
    /// ([`ProcessPool::submit_timeout`](crate::ProcessPool::submit_timeout) or the
    /// builder's `call_timeout`); its worker was killed and is replaced.
    TimedOut {
        /// The registered name of the function.
        function: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// A process-pool worker announced a reply larger than the pool accepts; the
    /// pool read none of it, killed the worker and replaces it.
    ReplyTooLarge {
        /// The registered name of the function.
        function: String,
        /// The size the worker announced, in bytes.
        size: u64,
        /// The pool's limit (`max_reply_size`), in bytes.
        limit: usize,
    },
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
            BlockingError::Panicked(payload) => payload.message(),
            BlockingError::RemotePanicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The panic payload of a [`Panicked`](BlockingError::Panicked) error, for
    /// `std::panic::resume_unwind`; `Err(self)` for every other error (a remote
    /// panic has no payload in this process: its message is all there is).
    ///
    /// If the payload was already taken with [`take_panic`](BlockingError::take_panic),
    /// this returns the panic's message as a `String` payload instead.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, BlockingError> {
        match self {
            BlockingError::Panicked(payload) => Ok(payload.into_panic()),
            other => Err(other),
        }
    }

    /// Like [`try_into_panic`](BlockingError::try_into_panic), for code that knows the
    /// work panicked.
    ///
    /// # Panics
    ///
    /// If this error is not [`Panicked`](BlockingError::Panicked).
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

    /// Takes the panic payload out of a [`Panicked`](BlockingError::Panicked) error
    /// through a shared reference (e.g. one reached through `anyhow::Error` or
    /// `Box<dyn Error + Send + Sync>`); `None` for other errors or once taken.
    pub fn take_panic(&self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            BlockingError::Panicked(payload) => payload.take(),
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
///
/// ```
/// use corio_blocking::PanicPayload;
///
/// let payload = PanicPayload::new(Box::new("boom"));
/// assert_eq!(payload.message(), Some("boom"));
/// let boxed = payload.take().unwrap();
/// assert_eq!(boxed.downcast_ref::<&str>(), Some(&"boom"));
/// assert!(payload.take().is_none(), "taken once");
/// ```
pub struct PanicPayload {
    message: Option<String>,
    payload: Mutex<Option<Box<dyn Any + Send + 'static>>>,
}

impl PanicPayload {
    /// Wraps a payload as returned by `std::panic::catch_unwind`.
    pub fn new(payload: Box<dyn Any + Send + 'static>) -> PanicPayload {
        PanicPayload {
            message: payload_str(payload.as_ref()).map(str::to_owned),
            payload: Mutex::new(Some(payload)),
        }
    }

    /// The panic message, when the panic had a string message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Takes the original payload out; `None` once it has been taken.
    pub fn take(&self) -> Option<Box<dyn Any + Send + 'static>> {
        match self.payload.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// The original payload, or (if it was taken) the message as a `String` payload.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
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
            BlockingError::Panicked(payload) => match payload.message() {
                Some(msg) => write!(f, "blocking closure panicked: {msg}"),
                None => f.write_str("blocking closure panicked"),
            },
            BlockingError::RemotePanicked { function, message } => write!(
                f,
                "process-pool function `{function}` panicked: {message}"
            ),
            BlockingError::Shutdown => f.write_str("pool is shut down"),
            BlockingError::Cancelled => f.write_str("work cancelled before it started: pool shut down"),
            BlockingError::Spawn(err) => write!(f, "could not start a pool thread: {err}"),
            BlockingError::BrokenPool { pid, reason } => {
                write!(f, "broken pool: worker process {pid} {reason}")
            }
            // The advice is the fix: the name is missing from one call.
            BlockingError::UnknownFunction(name) => write!(
                f,
                "unknown process-pool function `{name}` (not passed to maybe_run_worker)"
            ),
            BlockingError::Codec(msg) => write!(f, "postcard codec error: {msg}"),
            BlockingError::WorkerStart(msg) => write!(f, "could not start a pool worker: {msg}"),
            BlockingError::TimedOut { function, timeout } => write!(
                f,
                "process-pool function `{function}` did not finish within {timeout:?}"
            ),
            BlockingError::ReplyTooLarge { function, size, limit } => write!(
                f,
                "process-pool function `{function}` replied {size} bytes, above max_reply_size {limit}"
            ),
        }
    }
}

impl fmt::Debug for BlockingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockingError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&payload.message().unwrap_or("<non-string payload>"))
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
            BlockingError::TimedOut { function, timeout } => f
                .debug_struct("TimedOut")
                .field("function", function)
                .field("timeout", timeout)
                .finish(),
            BlockingError::ReplyTooLarge {
                function,
                size,
                limit,
            } => f
                .debug_struct("ReplyTooLarge")
                .field("function", function)
                .field("size", size)
                .field("limit", limit)
                .finish(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_sync_static() {
        assert_send_sync_static::<BlockingError>();
        assert_send_sync_static::<PanicPayload>();
    }

    #[test]
    fn question_mark_into_boxed_error_and_io_error() {
        fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err(BlockingError::Panicked(PanicPayload::new(Box::new("x"))))?;
            Ok(())
        }
        fn io() -> io::Result<()> {
            Err(BlockingError::Shutdown)?;
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
        let err = BlockingError::Panicked(PanicPayload::new(Box::new(String::from("gone"))));
        assert!(err.take_panic().is_some());
        let again = err.into_panic();
        assert_eq!(
            again.downcast_ref::<String>().map(String::as_str),
            Some("gone")
        );
    }
}
