//! The memory layout of a task: one heap allocation per task.
//!
//! ```text
//! Cell<F, S, L>  (#[repr(C)], so a pointer to it is a pointer to its Header)
//! ┌──────────────────────────────────────────────────────────────┐
//! │ Header   state: AtomicUsize        flags + refcount (state.rs) │ hot: every handle
//! │          vtable: &'static Vtable   type-erased entry points    │ touches these
//! │          meta: TaskMeta            id, parent?, name?, location? │
//! │          stats: TaskStats          polls, await point, times   │
//! ├──────────────────────────────────────────────────────────────┤
//! │ join_waker: UnsafeCell<Option<Waker>>  who awaits the Task     │
//! │ owner: L          () for spawn, the owning thread for spawn_local│
//! │ scheduler: S      the schedule function                        │
//! │ stage: UnsafeCell<Stage<F>>  Running(F, context) → Finished(result) → Consumed │
//! └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! The handles (`Runnable`, `Task<T>`, `Waker`) are one pointer to the `Header`; everything
//! that depends on `F`, `S` or `L` goes through the vtable, which is monomorphised per task
//! type in `harness.rs`.

use std::future::Future;
use std::ptr::NonNull;
use std::task::Waker;

use crate::state::State;
use crate::sync::{thread_key, ThreadKey, UnsafeCell};
use crate::{Context, TaskError, TaskMeta, TaskStats};

/// The type-independent front of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) meta: TaskMeta,
    /// Written by the polling thread (and leaf futures through `record_await_point`),
    /// read by task dumps; relaxed atomics, outside the state machine.
    pub(crate) stats: TaskStats,
}

/// Entry points that need the concrete task type. Every function takes the header pointer of
/// a live task; each documents which reference it consumes.
pub(crate) struct Vtable {
    /// Polls once (consumes the Runnable's reference). Returns "woken while running".
    pub(crate) run: unsafe fn(NonNull<Header>) -> bool,
    /// Drops a Runnable without running it (consumes its reference): cancels.
    pub(crate) drop_runnable: unsafe fn(NonNull<Header>),
    /// Hands a Runnable to the schedule function (consumes its reference).
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// `Task::poll`: writes `Poll<Result<T, TaskError>>` to `dst` (a `*mut` of that type).
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, dst: *mut (), waker: &Waker),
    /// `drop(Task)` (consumes the Task's reference).
    pub(crate) drop_join: unsafe fn(NonNull<Header>),
    /// `Task::cancel` (borrows the Task's reference).
    pub(crate) cancel: unsafe fn(NonNull<Header>) -> bool,
    /// A new waker (takes a reference).
    pub(crate) waker: unsafe fn(NonNull<Header>) -> Waker,
    /// Releases a plain reference (a `TaskRef`'s), freeing the task if it was the last.
    pub(crate) drop_ref: unsafe fn(NonNull<Header>),
}

/// Where the future lives, then its result.
pub(crate) enum Stage<F: Future> {
    /// The future, and the task's context variables
    /// ([`Builder::context`](crate::Builder::context)): current during each poll,
    /// dropped right after the future.
    Running(F, Context),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// The whole allocation.
#[repr(C)]
pub(crate) struct Cell<F: Future, S, L> {
    pub(crate) header: Header,
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
    pub(crate) owner: L,
    pub(crate) scheduler: S,
    pub(crate) stage: UnsafeCell<Stage<F>>,
}

/// Which threads may poll and drop the future.
pub(crate) trait Owner: 'static {
    /// Whether the current thread may poll or drop the future.
    fn is_owner(&self) -> bool;
}

/// `spawn`: any thread (the future is `Send`).
pub(crate) struct AnyThread;

impl Owner for AnyThread {
    #[inline(always)]
    fn is_owner(&self) -> bool {
        true
    }
}

/// `spawn_local`: only the spawning thread.
pub(crate) struct OwnerThread(ThreadKey);

impl OwnerThread {
    pub(crate) fn current() -> OwnerThread {
        OwnerThread(thread_key())
    }
}

impl Owner for OwnerThread {
    #[inline]
    fn is_owner(&self) -> bool {
        thread_key() == self.0
    }
}
