//! asyncio's synchronization primitives, safe across threads and executors.
//!
//! | asyncio | corio |
//! |---|---|
//! | `Lock` | [`Lock<T>`] (owns the data it guards; `Lock<()>` is the plain lock) |
//! | `Event` | [`Event`] |
//! | `Condition` | [`Condition<T>`] (built on a [`Lock<T>`]) |
//! | `Semaphore` | [`Semaphore`] |
//! | `BoundedSemaphore` | [`BoundedSemaphore`] ([`ReleaseError`] for asyncio's `ValueError`) |
//! | `Barrier` | [`Barrier`] (a [`BarrierError`] that [`is_broken`](BarrierError::is_broken) for `BrokenBarrierError`) |
//!
//! `async with lock:` becomes `let guard = lock.acquire().await?;`: the guard
//! releases when dropped, so an early return or a `?` cannot leave a lock held.
//! The `Err` is [`Cancelled`](crate::cancel::Cancelled), asyncio's
//! `CancelledError` raised at the `await`; it only happens in a task
//! cancelled cooperatively (below), so code that never opts into that may
//! `unwrap()` it.
//! One verb everywhere: `acquire` (a future), `try_acquire` (no wait), and
//! `acquire_owned` on an `Arc` for a guard or permit that moves into a spawned task.
//!
//! These are plain futures with no tie to corio's runtime: they work under
//! `corio::run`, `futures::executor::block_on`, or any other executor, and from
//! several threads at once (each primitive is a `std::sync::Mutex` around its
//! state and a FIFO queue of waiters; under `--cfg loom` the mutex is loom's, and
//! `tests/loom.rs` model-checks the waiter protocol).
//!
//! # Cancellation
//!
//! Dropping a waiting future (a timed-out `wait_for`, a cancelled task, a lost
//! `select!` branch) is always safe: the waiter leaves the queue, and if it had
//! already been handed a permit, the lock or the notification, it passes it on
//! to the next waiter. Nothing is lost and nothing stays locked.
//!
//! In a task cancelled cooperatively ([`crate::cancel`]) the waits do not
//! wait, on every await until the task ends (level-triggered): `acquire`,
//! `acquire_owned` and `Condition::wait` give `Err(Cancelled)` with nothing
//! held, `Barrier::wait` gives a [cancelled](BarrierError::is_cancelled) `BarrierError`, `Event::wait`
//! returns at once (as `sleep` does). The waiter leaves the queue as above.
//! Inside [`cleanup`](crate::cleanup) and [`shield`](crate::shield) they
//! wait normally.
//!
//! ```
//! use corio::sync::{Lock, Semaphore};
//! use futures::FutureExt;
//! futures::executor::block_on(async {
//!     let lock = Lock::new(());
//!     let held = lock.acquire().await.unwrap();
//!     // A second acquire is polled once, queues, and is dropped (cancelled).
//!     assert!(lock.acquire().now_or_never().is_none());
//!     drop(held);
//!     assert!(lock.try_acquire().is_some()); // nobody stuck in the queue
//! });
//! ```

mod barrier;
mod condition;
mod event;
mod lock;
pub(crate) mod loom_shim;
mod semaphore;
pub(crate) mod waitlist;

pub use barrier::{Barrier, BarrierError, BarrierWait};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockAcquireOwned, LockGuard, OwnedLockGuard};
pub use semaphore::{
    Acquire, AcquireOwned, BoundedSemaphore, OwnedSemaphorePermit, ReleaseError, Semaphore,
    SemaphorePermit,
};
