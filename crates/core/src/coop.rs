//! Cooperative scheduling budget.
//!
//! A future that is always ready (a channel that always has a message, a socket that always
//! has data) would otherwise keep its worker forever: Rust futures only yield when they return
//! `Pending`. [`Runnable::run`](crate::Runnable::run) therefore grants each poll a budget of
//! 128 units; leaf futures (channel receives, I/O, `Task` joins) spend one unit per operation
//! with [`poll_proceed`], and once the budget is spent they wake the task and return
//! `Pending`, so the task goes to the back of its executor's queue. Outside a `Runnable::run`
//! there is no budget and [`poll_proceed`] is always ready, so leaf futures behave the same
//! under any other executor.
//!
//! ```
//! use std::task::Poll;
//! use corio_core::coop;
//!
//! // A leaf future that is always ready, but polite.
//! let fut = std::future::poll_fn(|cx| {
//!     let mut done = 0;
//!     while coop::poll_proceed(cx).is_ready() {
//!         done += 1;
//!         if done == 1000 {
//!             return Poll::Ready(done);
//!         }
//!     }
//!     Poll::Pending // poll_proceed already woke us: we will be polled again
//! });
//! // Under a plain executor there is no budget: 1000 operations in one poll.
//! assert_eq!(futures::executor::block_on(fut), 1000);
//! ```

use std::task::{Context, Poll};

use crate::context::CONTEXT;

/// Spends one unit of the current task's budget. When the budget is exhausted, wakes
/// `cx` and returns `Pending` (the task yields and is polled again later with a fresh
/// budget). Outside a [`Runnable::run`](crate::Runnable::run) (no budget set) it is always
/// `Ready`.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let allowed = CONTEXT.with(|c| match c.budget.get() {
        None => true,
        Some(0) => false,
        Some(n) => {
            c.budget.set(Some(n - 1));
            true
        }
    });
    if allowed {
        Poll::Ready(())
    } else {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Whether [`poll_proceed`] would return `Ready` now (true outside a task).
#[inline]
pub fn has_budget_remaining() -> bool {
    CONTEXT.with(|c| c.budget.get() != Some(0))
}
