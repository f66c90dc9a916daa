//! The executor's list of the tasks it owns (tokio's `OwnedTasks`): every task from
//! its spawn until its future is dropped, so that shutdown can cancel all of them,
//! including tasks idle on a waker that nobody will ever wake (a timer of a stopped
//! reactor, a channel whose sender leaked), which sit in no queue.
//!
//! # Layout
//!
//! A task's entry is a [`TaskRef`] in a slab, in one of a few shards, each behind its
//! own lock. A thread always inserts into the same shard (chosen once per thread), so
//! a worker spawning and completing its own tasks keeps reusing one uncontended,
//! cache-hot lock; tasks finished by another worker touch the spawner's shard once.
//! The entry's [`Key`] (shard, slot) lives in the task's future wrapper, which removes
//! the entry when the future is dropped (completed or cancelled).
//!
//! # Protocol (insert and remove against shutdown)
//!
//! 1. `bind` locks the shard, creates the task with the slot's key, and under the same
//!    lock either lists it (shard open) or occupies the slot with an empty entry (shard
//!    closed). In the closed case it drops the task's `Runnable` after unlocking, which
//!    cancels the task at once: no task spawned after the close can run.
//! 2. `close_and_cancel_all` visits each shard: under its lock it sets `closed` and
//!    takes every `TaskRef` out (leaving the slot occupied), then, unlocked, cancels
//!    each one. Per shard, an insert is either before the visit (its entry is taken) or
//!    after it (it sees `closed`): every task is cancelled exactly once by someone.
//! 3. `remove` (run by the future's wrapper when the future is dropped) frees the slot,
//!    whichever entry it holds. Only the task's own wrapper frees its slot, so a slot
//!    is never reused while its task lives.
//! 4. No lock is held while a task is cancelled or a `TaskRef` dropped: cancelling
//!    drops futures, which may spawn (step 1, into a closed shard) or finish tasks
//!    (step 3), both of which lock a shard.
//!
//! A cancel does not wait for a task that is in the middle of a poll on some worker:
//! its future is dropped by that worker when the poll returns.

use corio_core::{Runnable, Task, TaskRef};
use crossbeam_utils::CachePadded;
use slab::Slab;

use crate::sync::{lock, Mutex};

/// Slots [`OwnedTasks::map`] visits per lock hold (copying a task reference
/// each: some microseconds per hold).
const MAP_CHUNK: usize = 256;

/// Where a task's entry lives: its shard and its slot there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    shard: u32,
    slot: u32,
}

struct Shard {
    /// `None`: a slot whose task was cancelled by the close (or spawned after it).
    tasks: Slab<Option<TaskRef>>,
    closed: bool,
}

/// The tasks of one executor (see the module docs).
pub(crate) struct OwnedTasks {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl OwnedTasks {
    /// A list sized for `workers` threads: four shards per worker (so two workers
    /// rarely share one), a power of two, at most 64. Under loom one shard: every
    /// thread uses it anyway (see `home_index`), and each extra lock visited by a
    /// sweep multiplies the interleavings of every executor model.
    pub(crate) fn new(workers: usize) -> OwnedTasks {
        let n = if cfg!(loom) {
            1
        } else {
            workers.saturating_mul(4).clamp(4, 64).next_power_of_two()
        };
        OwnedTasks {
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        tasks: Slab::new(),
                        closed: false,
                    }))
                })
                .collect(),
        }
    }

    /// Creates a task with `spawn` (given its key) and lists it (protocol step 1).
    /// Returns its `Runnable` to schedule, or `None` when the list is closed: the task
    /// was cancelled already and its [`Task`] resolves `Err(Cancelled)`.
    ///
    /// `spawn` runs with the shard locked: it must only create the task (allocate),
    /// never run user code.
    pub(crate) fn bind<T>(
        &self,
        spawn: impl FnOnce(Key) -> (Runnable, Task<T>),
    ) -> (Option<Runnable>, Task<T>) {
        let shard = self.home_shard();
        let mut guard = lock(&self.shards[shard]);
        let closed = guard.closed;
        let entry = guard.tasks.vacant_entry();
        let key = Key {
            shard: shard as u32,
            // More than 4 billion live tasks in one shard would exhaust memory first.
            slot: entry.key() as u32,
        };
        let (runnable, task) = spawn(key);
        if closed {
            entry.insert(None);
            drop(guard);
            drop(runnable); // cancels: the future's drop frees the slot
            return (None, task);
        }
        entry.insert(Some(runnable.task_ref()));
        (Some(runnable), task)
    }

    /// Frees the slot of a task whose future was dropped (protocol step 3).
    pub(crate) fn remove(&self, key: Key) {
        let entry = lock(&self.shards[key.shard as usize])
            .tasks
            .try_remove(key.slot as usize);
        // Dropped unlocked: this `TaskRef` may be the task's last reference.
        drop(entry);
    }

    /// Closes the list and cancels every task in it (protocol step 2). Returns how many
    /// were cancelled here. Safe to call from several threads: each task is taken once.
    pub(crate) fn close_and_cancel_all(&self) -> usize {
        let mut cancelled = 0;
        for shard in self.shards.iter() {
            let tasks: Vec<TaskRef> = {
                let mut shard = lock(shard);
                shard.closed = true;
                shard
                    .tasks
                    .iter_mut()
                    .filter_map(|(_, t)| t.take())
                    .collect()
            };
            for task in tasks {
                task.cancel();
                cancelled += 1;
            }
        }
        cancelled
    }

    /// `f` of every listed task (spawned, future not yet dropped).
    ///
    /// A shard is visited [`MAP_CHUNK`] slots per lock hold, and a hold only copies the
    /// chunk's task references (a reference count each): `f` runs unlocked. So a worker
    /// spawning or finishing a task in that shard waits for one short copy, not for the
    /// whole shard to be read (a thread's tasks all go to its one shard: a task tree of
    /// 100,000 tasks spawned by two workers is two shards of 50,000), and a reader that
    /// loses its CPU is rarely holding the lock then. Not a consistent cut, as no walk
    /// of a live program is: a task spawned during the walk into a slot already passed
    /// is missed, one whose future is dropped before its slot is reached is left out;
    /// none is seen twice (each slot is visited once, and a slot is only reused after
    /// its task is gone).
    pub(crate) fn map<R>(&self, mut f: impl FnMut(&TaskRef) -> R) -> Vec<R> {
        let mut out = Vec::new();
        let mut chunk: Vec<TaskRef> = Vec::with_capacity(MAP_CHUNK);
        for shard in self.shards.iter() {
            let mut next = 0;
            loop {
                let done = {
                    let shard = lock(shard);
                    // Slots past `capacity` do not exist: the shard is done then.
                    let end = shard.tasks.capacity().min(next + MAP_CHUNK);
                    chunk.extend((next..end).filter_map(|slot| shard.tasks.get(slot)?.clone()));
                    next = end;
                    end == shard.tasks.capacity()
                };
                out.extend(chunk.iter().map(&mut f));
                // Dropped unlocked: a reference may be its task's last.
                chunk.clear();
                if done {
                    break;
                }
            }
        }
        out
    }

    /// How many tasks are listed.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                lock(shard)
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.is_some())
                    .count()
            })
            .sum()
    }

    /// This thread's shard: picked once per thread, spreading threads round-robin.
    fn home_shard(&self) -> usize {
        home_index() & (self.shards.len() - 1)
    }
}

/// A per-thread number, fixed for the thread's life (threads numbered in creation order
/// of their first spawn).
#[cfg(not(loom))]
fn home_index() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Relaxed);
    }
    HOME.try_with(|h| *h).unwrap_or(0)
}

/// Under loom every thread uses the first shard: a process-wide counter would differ
/// between the model's iterations (loom needs them deterministic), and one shard is
/// where insert, remove and close meet.
#[cfg(loom)]
fn home_index() -> usize {
    0
}
