//! The per-worker LIFO slot: the task woken by the running task runs next.
//!
//! Message passing (task A sends to task B and waits for the answer) is fastest when B
//! runs right after A on the same core, while A's message is still in cache. So when
//! the running task wakes or spawns another one, the worker puts it in this one-task
//! slot instead of the back of its queue, and runs it next. Not so for a task woken
//! because a task it awaits finished (`ScheduleInfo::woken_by_join`): there is no
//! message to consume while it is hot, and a task awaiting its children in turn would
//! run between every two of them, each time to find the next one not done yet.
//!
//! Unlike tokio's, this slot is *stealable* (as Go's `runnext` is): it is one
//! `AtomicPtr` holding a [`Runnable::into_raw`] pointer, taken with an atomic swap by
//! either the owner or a thief, so exactly one of them gets the task. Thieves take it
//! only on their last pass, and only if the owner has not finished a poll since they
//! started searching (the owner is stuck in a long poll, tokio#4941); otherwise the owner
//! will run it in a moment and stealing it would only break the locality.
//!
//! The guard against two tasks ping-ponging through the slot forever lives in the
//! worker loop (at most [`MAX_LIFO_POLLS`](crate::worker) slot tasks in a row).

use std::ptr::{self, NonNull};

use corio_core::Runnable;

use crate::sync::{AtomicPtr, Ordering::AcqRel, Ordering::Relaxed, Ordering::Release};

/// A one-task slot; see the module docs.
pub(crate) struct LifoSlot {
    /// Null, or a pointer from `Runnable::into_raw` that this slot owns.
    task: AtomicPtr<()>,
}

impl LifoSlot {
    pub(crate) fn new() -> LifoSlot {
        LifoSlot {
            task: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Owner only: put `runnable` in the slot, returning the task it displaced.
    pub(crate) fn replace(&self, runnable: Runnable) -> Option<Runnable> {
        let new = runnable.into_raw().as_ptr();
        // Fast path (the common case in message passing: the owner took the previous
        // task before running it): thieves only ever *take* from the slot, so once the
        // owner sees it empty it stays empty until the owner fills it, and a plain
        // release store (no locked instruction) publishes the task.
        if self.task.load(Relaxed).is_null() {
            self.task.store(new, Release);
            return None;
        }
        // AcqRel: release our task to a thief that may take it; acquire the one we
        // displace (a thief never puts tasks back, so it was ours, but be exact).
        let old = self.task.swap(new, AcqRel);
        // SAFETY: every non-null pointer stored in the slot came from
        // `Runnable::into_raw`, and the swap transferred its ownership to us.
        NonNull::new(old).map(|p| unsafe { Runnable::from_raw(p) })
    }

    /// Owner or thief: take the task, if any.
    pub(crate) fn take(&self) -> Option<Runnable> {
        // Cheap check first: the owner calls this for every task it runs.
        if self.task.load(Relaxed).is_null() {
            return None;
        }
        let old = self.task.swap(ptr::null_mut(), AcqRel);
        // SAFETY: as in `replace`: the pointer came from `Runnable::into_raw` and the
        // swap made us its only owner.
        NonNull::new(old).map(|p| unsafe { Runnable::from_raw(p) })
    }

    /// Is the slot empty right now? (A hint: it may change at once.)
    pub(crate) fn is_empty(&self) -> bool {
        self.task.load(Relaxed).is_null()
    }
}

impl Drop for LifoSlot {
    fn drop(&mut self) {
        // Dropping the Runnable cancels its task (its `Task` resolves as cancelled).
        drop(self.take());
    }
}
