//! [`TaskError`]: why a task did not produce its output, and [`panic_message`].

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Mutex;

use crate::TaskId;

/// Why a [`Task`](crate::Task) resolved without the future's output: it was cancelled, or
/// its future panicked.
///
/// Opaque, with accessors (as tokio's `JoinError`): [`is_cancelled`](Self::is_cancelled),
/// [`is_panic`](Self::is_panic), [`panic_message`](Self::panic_message),
/// [`into_panic`](Self::into_panic), [`id`](Self::id). It is `Send + Sync + 'static`, so `?`
/// turns it into a `Box<dyn Error + Send + Sync>`, an `anyhow::Error` or (through
/// `From<TaskError> for std::io::Error`) an `io::Error`.
///
/// ```
/// use corio_core::TaskError;
/// let (runnable, task) = corio_core::spawn(async { 1 }, |_r| {});
/// let id = task.id();
/// assert!(task.cancel());
/// drop(runnable);
/// let err = futures::executor::block_on(task).unwrap_err();
/// assert!(err.is_cancelled());
/// assert_eq!(err.id(), id);
/// assert_eq!(err.to_string(), format!("task {id} was cancelled"));
/// ```
pub struct TaskError {
    id: TaskId,
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// Boxed: panics are rare, and a task's result slot stays two words.
    Panicked(Box<Payload>),
}

/// A panic payload kept so that the error is `Sync`: the usual string payloads are held
/// as themselves (and their text is readable through `&self`); any other payload sits
/// behind a mutex that only [`TaskError::into_panic`] opens, by value.
enum Payload {
    Str(&'static str),
    String(String),
    Other(Mutex<Box<dyn Any + Send + 'static>>),
}

impl Payload {
    fn new(payload: Box<dyn Any + Send + 'static>) -> Payload {
        let payload = match payload.downcast::<&'static str>() {
            Ok(s) => return Payload::Str(*s),
            Err(p) => p,
        };
        match payload.downcast::<String>() {
            Ok(s) => Payload::String(*s),
            Err(p) => Payload::Other(Mutex::new(p)),
        }
    }

    fn message(&self) -> Option<&str> {
        match self {
            Payload::Str(s) => Some(s),
            Payload::String(s) => Some(s),
            Payload::Other(_) => None,
        }
    }

    fn into_box(self) -> Box<dyn Any + Send + 'static> {
        match self {
            Payload::Str(s) => Box::new(s),
            Payload::String(s) => Box::new(s),
            // A poisoned lock still holds the payload: nothing ran under it but a move.
            Payload::Other(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

impl TaskError {
    /// The error of task `id` that was cancelled before it finished: for executors and
    /// join handles built on corio-core that resolve a task themselves.
    pub fn cancelled(id: TaskId) -> TaskError {
        TaskError {
            id,
            repr: Repr::Cancelled,
        }
    }

    /// The error of task `id` whose future panicked with `payload` (what `catch_unwind`
    /// returned).
    pub fn panicked(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> TaskError {
        TaskError {
            id,
            repr: Repr::Panicked(Box::new(Payload::new(payload))),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task was cancelled ([`Task::cancel`](crate::Task::cancel), or its `Runnable` was
    /// dropped without running, e.g. at executor shutdown) before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task's future panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic message, when the future panicked with a string (as `panic!("...")`
    /// does); `None` for a cancelled task or a non-string payload.
    ///
    /// ```
    /// let (runnable, task) = corio_core::spawn(async { panic!("disk {}", "full") }, |_r| {});
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// runnable.run();
    /// let err = futures::executor::block_on(task).unwrap_err();
    /// assert_eq!(err.panic_message(), Some("disk full"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked(p) => p.message(),
            Repr::Cancelled => None,
        }
    }

    /// The panic payload, e.g. to re-raise it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicked (check [`is_panic`](Self::is_panic)
    /// first, or use [`try_into_panic`](Self::try_into_panic)), as tokio's `JoinError` does.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(_) => panic!(
                "TaskError::into_panic called on a cancelled task; check is_panic() or use try_into_panic()"
            ),
        }
    }

    /// The panic payload, or the error itself when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self.repr {
            Repr::Panicked(p) => Ok((*p).into_box()),
            Repr::Cancelled => Err(self),
        }
    }
}

/// The message of a panic payload made by `panic!("literal")` or `panic!("{}", x)`; `None`
/// for any other payload. The one helper the corio crates use to print a payload.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("code {}", 7)).unwrap_err();
/// assert_eq!(corio_core::panic_message(&*payload), Some("code 7"));
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "TaskError::Cancelled({})", self.id),
            Repr::Panicked(p) => match p.message() {
                Some(msg) => write!(f, "TaskError::Panicked({}, {msg:?})", self.id),
                None => write!(f, "TaskError::Panicked({}, ..)", self.id),
            },
        }
    }
}

/// Short, as tokio's: `task 7 was cancelled`, `task 7 panicked: boom`, `task 7 panicked`.
impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panicked(p) => match p.message() {
                Some(msg) => write!(f, "task {} panicked: {msg}", self.id),
                None => write!(f, "task {} panicked", self.id),
            },
        }
    }
}

impl std::error::Error for TaskError {}

/// A failed task as an `io::Error` of kind `Other` (the `TaskError` is its source), so a
/// function returning `io::Result` can `?` a joined task.
///
/// ```
/// fn join(task: corio_core::Task<()>) -> std::io::Result<()> {
///     futures::executor::block_on(task)?;
///     Ok(())
/// }
/// let (runnable, task) = corio_core::spawn(async {}, |_r| {});
/// task.cancel();
/// drop(runnable);
/// let err = join(task).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::Other);
/// assert!(err.get_ref().unwrap().downcast_ref::<corio_core::TaskError>().unwrap().is_cancelled());
/// ```
impl From<TaskError> for io::Error {
    fn from(err: TaskError) -> io::Error {
        io::Error::other(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn task_error_is_send_sync_static_and_two_words() {
        assert_send_sync::<TaskError>();
        assert_eq!(std::mem::size_of::<TaskError>(), 16);
    }

    #[test]
    fn payloads_survive_the_round_trip() {
        let id = TaskId::next();
        let e = TaskError::panicked(id, Box::new("lit"));
        assert_eq!(e.panic_message(), Some("lit"));
        assert_eq!(*e.into_panic().downcast::<&str>().unwrap(), "lit");

        let e = TaskError::panicked(id, Box::new(String::from("owned")));
        assert_eq!(e.to_string(), format!("task {id} panicked: owned"));
        assert_eq!(*e.into_panic().downcast::<String>().unwrap(), "owned");

        let e = TaskError::panicked(id, Box::new(42u32));
        assert_eq!(e.panic_message(), None);
        assert_eq!(e.to_string(), format!("task {id} panicked"));
        assert_eq!(*e.into_panic().downcast::<u32>().unwrap(), 42);

        let e = TaskError::cancelled(id);
        assert!(e.try_into_panic().unwrap_err().is_cancelled());
    }
}
