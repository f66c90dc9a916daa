//! Thread-local context: which worker (if any) this thread is, and the current handle.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr;

use crate::local::LocalTasks;
use crate::shared::Shared;
use crate::worker::WorkerCx;
use crate::Handle;

#[cfg(not(loom))]
std::thread_local! {
    /// The worker this thread is running, or null.
    static WORKER: Cell<*const WorkerCx> = const { Cell::new(ptr::null()) };
    /// The executor whose queues this thread is draining at shutdown (see `shared` step 4).
    static DRAINING: Cell<*const Shared> = const { Cell::new(ptr::null()) };
    /// What `Handle::try_current` returns.
    static HANDLE: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// This thread's home for local tasks (see `local`), or null.
    static LOCAL: Cell<*const LocalTasks> = const { Cell::new(ptr::null()) };
}

#[cfg(loom)]
loom::thread_local! {
    static WORKER: Cell<*const WorkerCx> = Cell::new(ptr::null());
    static DRAINING: Cell<*const Shared> = Cell::new(ptr::null());
    static HANDLE: RefCell<Option<Handle>> = RefCell::new(None);
    static LOCAL: Cell<*const LocalTasks> = Cell::new(ptr::null());
}

/// Runs `f` with this thread's worker, if it is one.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerCx>) -> R) -> R {
    // `try_with`: during thread-local destruction (a task dropped at thread exit) we are
    // simply "not a worker".
    let ptr = WORKER.try_with(Cell::get).unwrap_or(ptr::null());
    // `WorkerCx` is only used through `&` (its mutable state is in `Cell`s).
    // SAFETY: `WORKER` is non-null only between `enter_worker` and the drop of its guard,
    // which borrows the `WorkerCx` for that time, on this (the owning) thread.
    f(unsafe { ptr.as_ref() })
}

/// Restores the previous worker, handle and home on drop.
pub(crate) struct WorkerGuard<'a> {
    prev: *const WorkerCx,
    _handle: HandleGuard,
    _local: LocalGuard<'a>,
    _cx: PhantomData<&'a WorkerCx>,
}

/// Marks this thread as running `cx` (and sets `Handle::try_current` and the home of
/// local tasks).
pub(crate) fn enter_worker(cx: &WorkerCx) -> WorkerGuard<'_> {
    let prev = WORKER.with(|w| w.replace(cx));
    WorkerGuard {
        prev,
        _handle: enter_handle(cx.handle()),
        _local: enter_local(cx.local()),
        _cx: PhantomData,
    }
}

/// Runs `f` with this thread's home for local tasks, if it has one.
pub(crate) fn with_local<R>(f: impl FnOnce(Option<&LocalTasks>) -> R) -> R {
    let ptr = LOCAL.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: `LOCAL` is non-null only between `enter_local` and the drop of its guard,
    // which borrows the `LocalTasks` for that time, on this (the owning) thread.
    f(unsafe { ptr.as_ref() })
}

/// Restores the previous home on drop (after closing this one, if asked to).
pub(crate) struct LocalGuard<'a> {
    prev: *const LocalTasks,
    home: &'a LocalTasks,
    close: bool,
}

/// Makes `home` this thread's home for local tasks until the guard drops.
pub(crate) fn enter_local(home: &LocalTasks) -> LocalGuard<'_> {
    let prev = LOCAL.with(|l| l.replace(home));
    LocalGuard {
        prev,
        home,
        close: false,
    }
}

/// [`enter_local`] for a home that ends with the guard (a `block_on` call): the drop
/// closes it while it is still current, so a future dropped by the close may still
/// spawn there (and is cancelled at once), even when the guard drops on unwinding.
pub(crate) fn enter_local_until_closed(home: &LocalTasks) -> LocalGuard<'_> {
    let mut guard = enter_local(home);
    guard.close = true;
    guard
}

impl Drop for LocalGuard<'_> {
    fn drop(&mut self) {
        if self.close {
            self.home.close();
        }
        let _ = LOCAL.try_with(|l| l.set(self.prev));
    }
}

impl Drop for WorkerGuard<'_> {
    fn drop(&mut self) {
        let _ = WORKER.try_with(|w| w.set(self.prev));
    }
}

/// Restores the previous handle on drop.
pub(crate) struct HandleGuard {
    prev: Option<Handle>,
}

/// Sets what `Handle::try_current` returns until the guard drops.
pub(crate) fn enter_handle(handle: Handle) -> HandleGuard {
    let prev = HANDLE.with(|h| h.replace(Some(handle)));
    HandleGuard { prev }
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = HANDLE.try_with(|h| *h.borrow_mut() = prev);
    }
}

/// The handle of the executor this thread is in, if any.
pub(crate) fn current_handle() -> Option<Handle> {
    HANDLE.try_with(|h| h.borrow().clone()).ok().flatten()
}

/// Runs `f` unless this thread is already draining `shared` (then the outer drain loop
/// will see whatever the caller pushed). Nested drains of *other* executors run.
pub(crate) fn draining(shared: &Shared, f: impl FnOnce()) {
    let me: *const Shared = shared;
    let Ok(prev) = DRAINING.try_with(|d| d.replace(me)) else {
        // Thread-locals are being destroyed: no outer loop can exist on this thread.
        return f();
    };
    if ptr::eq(prev, me) {
        return;
    }
    struct Reset(*const Shared);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = DRAINING.try_with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(prev);
    f();
}
