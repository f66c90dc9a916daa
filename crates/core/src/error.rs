//! [`TaskError`]: why a task did not produce its output.

use std::any::Any;
use std::fmt;

/// Why a [`Task`](crate::Task) resolved without the future's output.
///
/// ```
/// use corio_core::TaskError;
/// let (runnable, task) = corio_core::spawn(async { 1 }, |_r| {});
/// assert!(task.cancel());
/// drop(runnable);
/// let err = futures::executor::block_on(task).unwrap_err();
/// assert!(err.is_cancelled());
/// assert_eq!(err.to_string(), "task was cancelled");
/// ```
pub enum TaskError {
    /// The task was cancelled ([`Task::cancel`](crate::Task::cancel), or its `Runnable` was
    /// dropped without running, e.g. at executor shutdown) before it finished.
    Cancelled,
    /// The future panicked; this is the payload `catch_unwind` caught.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl TaskError {
    /// The task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// The task's future panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// The panic payload, e.g. to re-raise it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicked (check [`is_panic`](Self::is_panic)
    /// first, or use [`try_into_panic`](Self::try_into_panic)), as tokio's `JoinError` does.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            TaskError::Panicked(payload) => payload,
            TaskError::Cancelled => panic!(
                "TaskError::into_panic called on a cancelled task; check is_panic() or use try_into_panic()"
            ),
        }
    }

    /// The panic payload, or the error itself when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self {
            TaskError::Panicked(payload) => Ok(payload),
            other => Err(other),
        }
    }
}

/// The panic message when the payload is a string (as `panic!("...")` makes it).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(payload) => match panic_message(&**payload) {
                Some(msg) => f.debug_tuple("Panicked").field(&msg).finish(),
                None => f.write_str("Panicked(..)"),
            },
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Panicked(payload) => match panic_message(&**payload) {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str(
                    "task panicked (with a non-string payload; use into_panic() to inspect it)",
                ),
            },
        }
    }
}

impl std::error::Error for TaskError {}
