//! [`Deferred`]: a settable one-shot awaitable, corio's `asyncio.Future`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Why awaiting a [`Deferred`] did not produce a value: it was
/// [cancelled](Self::is_cancelled) (asyncio's `CancelledError`), or an
/// [exception](Self::exception) was set with [`Deferred::set_exception`] (that
/// error is also the [`source`](Error::source)).
///
/// ```
/// let fut: corio::Deferred<()> = corio::Deferred::new();
/// fut.set_exception(std::io::Error::other("disk on fire")).unwrap();
/// let err = corio::run(fut).unwrap_err();
/// assert!(!err.is_cancelled());
/// assert_eq!(err.exception().unwrap().to_string(), "disk on fire");
/// assert_eq!(err.to_string(), "deferred failed: disk on fire");
/// ```
#[derive(Clone)]
pub struct DeferredError {
    /// The error given to `set_exception`; `None` for a cancellation.
    exception: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl DeferredError {
    fn cancelled() -> Self {
        DeferredError { exception: None }
    }

    /// True when [`Deferred::cancel`] was called, or the awaiting task was
    /// cancelled cooperatively (see [`crate::cancel`]).
    pub fn is_cancelled(&self) -> bool {
        self.exception.is_none()
    }

    /// The error given to [`Deferred::set_exception`]; `None` when cancelled.
    pub fn exception(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.exception.as_deref()
    }
}

impl fmt::Debug for DeferredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.exception {
            None => f.write_str("DeferredError(Cancelled)"),
            Some(e) => f.debug_tuple("DeferredError").field(e).finish(),
        }
    }
}

impl fmt::Display for DeferredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.exception {
            None => f.write_str("deferred was cancelled"),
            Some(e) => write!(f, "deferred failed: {e}"),
        }
    }
}

impl Error for DeferredError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.exception {
            None => None,
            Some(e) => Some(&**e),
        }
    }
}

/// Returned when an outcome is set on a [`Deferred`] that already has one
/// (asyncio's `InvalidStateError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidStateError {
    _private: (),
}

impl fmt::Display for InvalidStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deferred already has an outcome")
    }
}

impl Error for InvalidStateError {}

enum Outcome<T> {
    Value(T),
    Failed(DeferredError),
}

struct State<T> {
    outcome: Option<Outcome<T>>,
    /// One slot per handle that is waiting (keyed by the handle's slot index).
    waiters: slab::Slab<Waker>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the state half-written
        // (every critical section is a single assignment or a slab operation),
        // so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn complete(&self, outcome: Outcome<T>) -> Result<(), InvalidStateError> {
        let wakers: Vec<Waker> = {
            let mut st = self.lock();
            if st.outcome.is_some() {
                return Err(InvalidStateError { _private: () });
            }
            st.outcome = Some(outcome);
            st.waiters.drain().collect()
        };
        // Wake outside the lock: a waker may run the waiter inline.
        for w in wakers {
            w.wake();
        }
        Ok(())
    }
}

/// [`Deferred`]: a settable one-shot awaitable, corio's `asyncio.Future`.
///
/// asyncio's `Future` is the bridge between callback-style code and
/// `async`/`await`: somebody creates it, hands it to a waiter, and later calls
/// `set_result` (or `set_exception`, or `cancel`) from "some other place". Every
/// coroutine awaiting it then resumes with that outcome.
///
/// `Deferred<T>` is the same thing in Rust (the name `Future` is taken by the
/// trait). It is a cheap handle (`Clone`, `Send + Sync` when `T: Send`): clone it
/// to give one copy to the setter and one to each waiter. Awaiting a handle yields
/// `Result<T, DeferredError>`, cloning the value for each waiter, so `T: Clone`
/// is required to await (wrap a non-`Clone` value in an `Arc`).
///
/// Setting an outcome twice is not a panic: `set_result`, `set_exception` return
/// [`InvalidStateError`], exactly where asyncio raises `InvalidStateError`.
///
/// ```
/// use corio::Deferred;
///
/// corio::run(async {
///     let fut = Deferred::new();
///     let setter = fut.clone();
///     corio::create_task(async move {
///         corio::sleep(std::time::Duration::from_millis(10)).await;
///         setter.set_result("done").unwrap();
///     });
///     assert_eq!(fut.await.unwrap(), "done");
/// });
/// ```
///
/// Every clone refers to the same outcome; each clone can be awaited (by a different task) and yields a
/// clone of the value.
///
/// ```
/// use corio::Deferred;
///
/// let fut: Deferred<u32> = Deferred::new();
/// assert!(!fut.done());
/// fut.set_result(7).unwrap();
/// assert!(fut.set_result(8).is_err()); // InvalidStateError, not a panic
/// assert_eq!(corio::run(fut.clone()).unwrap(), 7);
///
/// let cancelled: Deferred<u32> = Deferred::new();
/// assert!(cancelled.cancel());
/// assert!(corio::run(cancelled).unwrap_err().is_cancelled());
/// ```
pub struct Deferred<T> {
    inner: Arc<Inner<T>>,
    /// This handle's waker slot, while it is registered.
    slot: Option<usize>,
}

impl<T> Deferred<T> {
    /// A new deferred without an outcome.
    pub fn new() -> Self {
        Deferred {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    outcome: None,
                    waiters: slab::Slab::new(),
                }),
            }),
            slot: None,
        }
    }

    /// Set the value and wake every waiter. Errors if an outcome was already set.
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        self.inner.complete(Outcome::Value(value))
    }

    /// Set an error (asyncio's `set_exception`) and wake every waiter. Errors if an
    /// outcome was already set.
    ///
    /// ```
    /// let fut: corio::Deferred<()> = corio::Deferred::new();
    /// fut.set_exception(std::io::Error::other("disk on fire")).unwrap();
    /// let err = corio::run(fut).unwrap_err();
    /// assert!(err.to_string().contains("disk on fire"));
    /// ```
    pub fn set_exception<E>(&self, error: E) -> Result<(), InvalidStateError>
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        let boxed: Box<dyn Error + Send + Sync> = error.into();
        self.inner.complete(Outcome::Failed(DeferredError {
            exception: Some(Arc::from(boxed)),
        }))
    }

    /// Cancel: waiters resume with a [cancelled](DeferredError::is_cancelled)
    /// [`DeferredError`]. Returns false (and
    /// changes nothing) if an outcome was already set, as asyncio's `cancel()`.
    pub fn cancel(&self) -> bool {
        self.inner
            .complete(Outcome::Failed(DeferredError::cancelled()))
            .is_ok()
    }

    /// True once a result, an exception or a cancellation was set.
    pub fn done(&self) -> bool {
        self.inner.lock().outcome.is_some()
    }

    /// True if the deferred was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(&self.inner.lock().outcome, Some(Outcome::Failed(e)) if e.is_cancelled())
    }

    /// The outcome if there is one (asyncio's `result()`, without raising when
    /// not done: `None` means "not done yet").
    pub fn try_result(&self) -> Option<Result<T, DeferredError>>
    where
        T: Clone,
    {
        match &self.inner.lock().outcome {
            None => None,
            Some(Outcome::Value(v)) => Some(Ok(v.clone())),
            Some(Outcome::Failed(e)) => Some(Err(e.clone())),
        }
    }
}

impl<T> Default for Deferred<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        Deferred {
            inner: self.inner.clone(),
            slot: None,
        }
    }
}

impl<T> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        let state = match &st.outcome {
            None => "pending",
            Some(Outcome::Value(_)) => "finished",
            Some(Outcome::Failed(e)) if e.is_cancelled() => "cancelled",
            Some(Outcome::Failed(_)) => "failed",
        };
        f.debug_struct("Deferred").field("state", &state).finish()
    }
}

impl<T> Drop for Deferred<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut st = self.inner.lock();
            st.waiters.try_remove(slot);
        }
    }
}

// `Deferred` holds no self-references: moving it is fine.
impl<T> Unpin for Deferred<T> {}

impl<T: Clone> Future for Deferred<T> {
    type Output = Result<T, DeferredError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut st = this.inner.lock();
        if crate::cancel::is_cancelled() {
            // Awaiting a deferred is a leaf: a cancelled awaiter stops
            // waiting, as an awaited `Task` does (the deferred is untouched).
            if let Some(slot) = this.slot.take() {
                st.waiters.try_remove(slot);
            }
            return Poll::Ready(Err(DeferredError::cancelled()));
        }
        match &st.outcome {
            Some(Outcome::Value(v)) => {
                let v = v.clone();
                if let Some(slot) = this.slot.take() {
                    st.waiters.try_remove(slot);
                }
                Poll::Ready(Ok(v))
            }
            Some(Outcome::Failed(e)) => {
                let e = e.clone();
                if let Some(slot) = this.slot.take() {
                    st.waiters.try_remove(slot);
                }
                Poll::Ready(Err(e))
            }
            None => {
                match this.slot {
                    Some(slot) => match st.waiters.get_mut(slot) {
                        Some(w) => {
                            if !w.will_wake(cx.waker()) {
                                w.clone_from(cx.waker());
                            }
                        }
                        None => this.slot = Some(st.waiters.insert(cx.waker().clone())),
                    },
                    None => this.slot = Some(st.waiters.insert(cx.waker().clone())),
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_waiters_see_the_value() {
        let d = Deferred::new();
        let a = d.clone();
        let b = d.clone();
        let t = std::thread::spawn(move || futures::executor::block_on(a));
        std::thread::sleep(std::time::Duration::from_millis(5));
        d.set_result(5u8).unwrap();
        assert_eq!(t.join().unwrap().unwrap(), 5);
        assert_eq!(futures::executor::block_on(b).unwrap(), 5);
        assert!(d.set_exception("late").is_err());
        assert!(!d.cancel());
        assert!(!d.cancelled());
    }
}
