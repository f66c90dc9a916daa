//! corio-core: runtime-agnostic tasks and wakers.
//!
//! This crate turns a future into a *task* that any executor can drive, the role
//! `async-task` plays for smol and `tokio::runtime::task` for tokio. It knows nothing about
//! threads, queues or I/O: an executor supplies a *schedule function*, and corio-core calls
//! it with a [`Runnable`] whenever the task should be polled.
//!
//! # A tour
//!
//! [`spawn`] takes a future and a schedule function and returns two handles:
//!
//! - a [`Runnable`], the executor's side: [`Runnable::run`] polls the future once. When the
//!   future's waker is woken, the schedule function receives a fresh `Runnable`;
//! - a [`Task<T>`](Task), the user's side: a future of `Result<T, TaskError>`, with
//!   [`cancel`](Task::cancel) and [`is_finished`](Task::is_finished). Dropping it detaches.
//!
//! Here is a complete single-threaded executor:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::sync::{Arc, Mutex};
//!
//! let queue = Arc::new(Mutex::new(VecDeque::new()));
//! let schedule = {
//!     let queue = queue.clone();
//!     move |runnable| queue.lock().unwrap().push_back(runnable)
//! };
//!
//! let (runnable, task) = corio_core::spawn(async { 1 + 2 }, schedule);
//! runnable.schedule(); // put it in the queue, as a wake-up would
//!
//! while let Some(runnable) = queue.lock().unwrap().pop_front() {
//!     runnable.run();
//! }
//! assert_eq!(futures::executor::block_on(task).unwrap(), 3);
//! ```
//!
//! `examples/core_executor.rs` in the repository builds a multi-threaded one in 60 lines.
//!
//! # What the task guarantees
//!
//! - **One allocation** holds everything: a header (atomic state and reference count, a
//!   vtable pointer, the id), the schedule function, the join waker, and the future, which
//!   is replaced in place by its output.
//! - **No lost or doubled wake-ups.** A wake during a poll reschedules the task exactly once,
//!   after the poll ([`ScheduleInfo::woken_while_running`] is then `true`). Waking a finished
//!   or cancelled task does nothing. Wakers may outlive the executor and be used from any
//!   thread.
//! - **Panics are contained.** A panic in the future's `poll` is caught by `Runnable::run`
//!   and becomes a [`TaskError`] that [`is_panic`](TaskError::is_panic); a panic in its `Drop` is caught too. A panic
//!   nobody will see is given to [`Schedule::unhandled_panic`].
//! - **Cancellation is prompt.** [`Task::cancel`] drops an idle future at once on the calling
//!   thread, a running one right after its current poll; the future is always dropped before
//!   the `Task` resolves to `Err(Cancelled)`. Dropping a `Runnable` without running it (an
//!   executor shutting down) cancels the task the same way: nothing leaks.
//! - **`!Send` futures** are supported by [`spawn_local`]: the task checks that it is run and
//!   dropped on its spawning thread.
//!
//! The state machine behind these guarantees is specified at the top of `src/state.rs`, and
//! model-checked with loom (`ci/loom.sh`) and Miri (`ci/miri.sh`).
//!
//! # Cooperative budget
//!
//! `Runnable::run` gives each poll a budget (see [`coop`]); leaf futures spend it so a task
//! that is always ready still yields its worker now and then. [`current`] tells a future
//! which task is running it.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod builder;
mod context;
mod context_var;
pub mod coop;
mod error;
mod harness;
mod layout;
mod meta;
pub mod real_world;
mod runnable;
mod schedule;
pub mod spin;
mod state;
mod stats;
mod sync;
mod task;
mod task_ref;
pub mod text;

pub use builder::{
    box_future, is_large_future, spawn, spawn_local, Builder, FutureSlot, BOX_FUTURE_THRESHOLD,
};
pub use context::{current, current_id};
pub use context_var::{Context, ContextVar, ForeignTokenError, Scoped, Token};
pub use error::{panic_message, TaskError};
pub use meta::{TaskId, TaskMeta};
pub use runnable::Runnable;
pub use schedule::{Schedule, ScheduleInfo};
pub use stats::{record_await_point, record_await_point_if_none, TaskStats};
pub use task::Task;
pub use task_ref::TaskRef;

/// Sizes of the task layout, for benchmarks and reports (not a stable API).
#[doc(hidden)]
pub mod __layout {
    /// Bytes of the type-independent header (state word, vtable pointer, id, parent, name,
    /// location, statistics).
    pub const HEADER_SIZE: usize = std::mem::size_of::<crate::layout::Header>();
    /// Bytes of the header's hot part: the state word, the vtable pointer and the id.
    pub const HEADER_CORE_SIZE: usize = 3 * std::mem::size_of::<usize>();
    /// Bytes of the join-waker slot that follows the header.
    pub const JOIN_WAKER_SIZE: usize = std::mem::size_of::<Option<std::task::Waker>>();
}
