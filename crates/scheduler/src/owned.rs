//! The executor's list of the tasks it owns (tokio's `OwnedTasks`): every task from
//! its spawn until its future is dropped, so that shutdown can cancel all of them,
//! including tasks idle on a waker that nobody will ever wake (a timer of a stopped
//! reactor, a channel whose sender leaked), which sit in no queue.
//!
//! # Layout
//!
//! A task's entry is a [`TaskRef`] in a slab, in one of a few shards, each behind its
//! own lock. A thread inserts into its home shard (chosen once per thread), so a worker
//! spawning and completing its own tasks keeps reusing one uncontended, cache-hot lock.
//! The entry's [`Key`] (shard, slot) lives in the task's future wrapper, which removes
//! the entry when the future is dropped (completed or cancelled).
//!
//! Beside its lock, each shard has a bounded lock-free queue of freed slots. A task
//! finished by a thread other than the shard's home thread (another worker stole it), or
//! while the lock is busy, does not take the lock: it queues its slot, and whoever next
//! holds the lock (the home thread's next spawn, usually) frees the queued slots. So the
//! spawner's lock does not bounce between cores on every completion, and a worker never
//! waits for a lock held by a thread that walks the list (a task dump) and lost its CPU:
//! a spawn whose home shard is busy inserts into the next free shard instead, and a
//! finishing task queues its slot. Only a full queue (the home thread stopped spawning
//! while others finished hundreds of its tasks) makes a finishing task take the lock.
//!
//! # Protocol (insert and remove against shutdown)
//!
//! 1. `bind` locks a shard, creates the task with the slot's key, and under the same
//!    lock either lists it (shard open) or occupies the slot with an empty entry (shard
//!    closed). In the closed case it drops the task's `Runnable` after unlocking, which
//!    cancels the task at once: no task spawned after the close can run.
//! 2. `close_and_cancel_all` visits each shard: under its lock it sets `closed` and
//!    takes every `TaskRef` out (leaving the slot occupied), then, unlocked, cancels
//!    each one. Per shard, an insert is either before the visit (its entry is taken) or
//!    after it (it sees `closed`): every task is cancelled exactly once by someone.
//! 3. `remove` (run by the future's wrapper when the future is dropped) frees the slot,
//!    whichever entry it holds: at once under the lock, or by queueing the slot, which
//!    the next holder of the lock frees. Only the task's own wrapper frees (or queues)
//!    its slot, once, so a slot is never reused while its task lives, and a queued slot
//!    still holds its entry until it is freed.
//! 4. Every holder of a shard's lock frees the queued slots before it reads the shard
//!    (the walk, `len` and the sweep all of them; a spawn or a finish one, a finish
//!    that found the queue full a batch), so a task whose removal was queued before a
//!    reader took the lock is not seen by it. A queued
//!    entry keeps its task's allocation (not its future, dropped already) until then; at
//!    most the queue's capacity per shard.
//! 5. No lock is held while a task is cancelled or a `TaskRef` dropped: cancelling
//!    drops futures, which may spawn (step 1, into a closed shard) or finish tasks
//!    (step 3), and dropping a task's last reference frees it, which drops its output.
//!
//! A cancel does not wait for a task that is in the middle of a poll on some worker:
//! its future is dropped by that worker when the poll returns.

use corio_core::{Runnable, Task, TaskRef};
use crossbeam_utils::CachePadded;
use slab::Slab;

use crate::sync::{lock_spin, try_lock_spin, BoundedQueue, SpinGuard, SpinLock};

/// Slots [`OwnedTasks::map`] visits per lock hold (copying a task reference
/// each: some microseconds per hold).
const MAP_CHUNK: usize = 256;

/// Freed slots a shard's queue holds. Under loom one, so that the models reach the
/// full-queue path.
const FREED_CAPACITY: usize = if cfg!(loom) { 1 } else { 256 };

/// Queued slots a finishing task frees when it found the queue full (a spawn or a
/// finish on the home thread frees one).
const FREE_BATCH: usize = 8;

/// Where a task's entry lives: its shard and its slot there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    shard: u32,
    slot: u32,
}

struct Slots {
    /// `None`: a slot whose task was cancelled by the close (or spawned after it).
    tasks: Slab<Option<TaskRef>>,
    closed: bool,
}

struct Shard {
    slots: SpinLock<Slots>,
    /// Slots whose task's future was dropped without `slots` locked (protocol step 3).
    freed: BoundedQueue,
}

impl Shard {
    /// Frees the oldest queued slot of the locked `slots`, if any, handing out its
    /// entry (to be dropped once unlocked: protocol step 5). One inlined emptiness test
    /// when nothing is queued, the usual case on the home thread's own tasks. Each
    /// spawn and each finish on the home thread frees one: about the rate at which
    /// other workers queue them; a full queue makes a finisher free a batch.
    #[inline]
    fn free_one(&self, slots: &mut Slots) -> Option<TaskRef> {
        if self.freed.is_empty() {
            return None;
        }
        self.free_popped(slots)
    }

    /// [`Shard::free_one`] when something looks queued.
    #[inline(never)]
    fn free_popped(&self, slots: &mut Slots) -> Option<TaskRef> {
        let slot = self.freed.pop()?;
        slots.tasks.try_remove(slot as usize).flatten()
    }

    /// Frees every queued slot of the locked `slots` (at most a queue's worth: a slot
    /// queued meanwhile waits for the next holder), entries into `released`.
    fn free_all_queued(&self, slots: &mut Slots, released: &mut Vec<TaskRef>) {
        for _ in 0..FREED_CAPACITY {
            let Some(slot) = self.freed.pop() else { break };
            released.extend(slots.tasks.try_remove(slot as usize).flatten());
        }
    }
}

/// The tasks of one executor (see the module docs).
pub(crate) struct OwnedTasks {
    shards: Box<[CachePadded<Shard>]>,
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
                    CachePadded::new(Shard {
                        slots: SpinLock::new(Slots {
                            tasks: Slab::new(),
                            closed: false,
                        }),
                        freed: BoundedQueue::new(FREED_CAPACITY),
                    })
                })
                .collect(),
        }
    }

    /// Creates a task with `spawn` (given its key) and lists it (protocol step 1).
    /// Returns its `Runnable` to schedule, or `None` when the list is closed: the task
    /// was cancelled already and its [`Task`] resolves `Err(Cancelled)`.
    ///
    /// `spawn` runs with the shard locked: it must only create the task (allocate),
    /// never run user code. The lock is the thread's home shard's, which no other
    /// worker takes in the steady state (see the module docs), or, when that one is
    /// busy, the first free one.
    pub(crate) fn bind<T>(
        &self,
        spawn: impl FnOnce(Key) -> (Runnable, Task<T>, TaskRef),
    ) -> (Option<Runnable>, Task<T>) {
        let (index, mut slots) = self.lock_for_insert();
        let closed = slots.closed;
        let entry = slots.tasks.vacant_entry();
        let key = Key {
            shard: index as u32,
            // More than 4 billion live tasks in one shard would exhaust memory first.
            slot: entry.key() as u32,
        };
        // `spawn` makes the list's `TaskRef` with the task (`Builder::spawn_listed`): no
        // reference-count increment here.
        let (runnable, task, listed) = spawn(key);
        let unlisted = if closed {
            entry.insert(None);
            Some(listed)
        } else {
            entry.insert(Some(listed));
            None
        };
        // After `spawn`, the only call that could panic: nothing is dropped locked.
        let released = self.shards[index].free_one(&mut slots);
        drop(slots);
        drop(released);
        if closed {
            drop(unlisted);
            drop(runnable); // cancels: the future's drop frees the slot
            return (None, task);
        }
        (Some(runnable), task)
    }

    /// Frees the slot of a task whose future was dropped (protocol step 3): under the
    /// shard's lock if this is the shard's home thread and the lock is free, else by
    /// queueing the slot (under the lock only if the queue is full).
    pub(crate) fn remove(&self, key: Key) {
        let shard = &self.shards[key.shard as usize];
        let home = key.shard as usize == self.home_shard();
        let Some(mut slots) = home.then(|| try_lock_spin(&shard.slots)).flatten() else {
            if !shard.freed.push(key.slot) {
                self.remove_when_queue_full(key);
            }
            return;
        };
        let entry = slots.tasks.try_remove(key.slot as usize).flatten();
        let released = shard.free_one(&mut slots);
        drop(slots);
        // Dropped unlocked: this `TaskRef` may be the task's last reference.
        drop(entry);
        drop(released);
    }

    /// [`OwnedTasks::remove`] when the shard's queue is full: under the lock, freeing
    /// a batch of queued slots too.
    #[cold]
    fn remove_when_queue_full(&self, key: Key) {
        let shard = &self.shards[key.shard as usize];
        let mut released: [Option<TaskRef>; FREE_BATCH] = Default::default();
        let mut slots = lock_spin(&shard.slots);
        let entry = slots.tasks.try_remove(key.slot as usize).flatten();
        for out in released.iter_mut() {
            let Some(slot) = shard.freed.pop() else { break };
            *out = slots.tasks.try_remove(slot as usize).flatten();
        }
        drop(slots);
        drop(entry);
        drop(released);
    }

    /// Closes the list and cancels every task in it (protocol step 2). Returns how many
    /// were cancelled here. Safe to call from several threads: each task is taken once.
    pub(crate) fn close_and_cancel_all(&self) -> usize {
        let mut cancelled = 0;
        let mut released = Vec::new();
        for shard in self.shards.iter() {
            let tasks: Vec<TaskRef> = {
                let mut slots = lock_spin(&shard.slots);
                shard.free_all_queued(&mut slots, &mut released);
                slots.closed = true;
                slots
                    .tasks
                    .iter_mut()
                    .filter_map(|(_, t)| t.take())
                    .collect()
            };
            released.clear();
            for task in tasks {
                task.cancel();
                cancelled += 1;
            }
        }
        cancelled
    }

    /// `f` of every listed task (spawned, future not yet dropped).
    ///
    /// A shard is visited [`MAP_CHUNK`] slots per lock hold, and a hold only frees the
    /// queued slots and copies the chunk's task references (a reference count each):
    /// `f` runs unlocked. Workers do not wait for a hold (see the module docs), and it
    /// is short anyway, so a reader that loses its CPU is rarely holding the lock. Not
    /// a consistent cut, as no walk of a live program is: a task spawned during the walk
    /// into a slot already passed is missed, one whose future is dropped before its slot
    /// is reached is left out (if its slot was queued by then); none is seen twice (each
    /// slot is visited once, and a slot is only reused after its task is gone).
    pub(crate) fn map<R>(&self, mut f: impl FnMut(&TaskRef) -> R) -> Vec<R> {
        let mut out = Vec::new();
        let mut chunk: Vec<TaskRef> = Vec::with_capacity(MAP_CHUNK);
        // Reserved up front: a `Vec` growing under the lock would copy.
        let mut released: Vec<TaskRef> = Vec::with_capacity(FREED_CAPACITY);
        for shard in self.shards.iter() {
            let mut next = 0;
            loop {
                let done = {
                    let mut slots = lock_spin(&shard.slots);
                    shard.free_all_queued(&mut slots, &mut released);
                    // Slots past `capacity` do not exist: the shard is done then.
                    let end = slots.tasks.capacity().min(next + MAP_CHUNK);
                    chunk.extend((next..end).filter_map(|slot| slots.tasks.get(slot)?.clone()));
                    next = end;
                    end == slots.tasks.capacity()
                };
                // Dropped unlocked: a reference may be its task's last.
                released.clear();
                out.extend(chunk.iter().map(&mut f));
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
        let mut released = Vec::with_capacity(FREED_CAPACITY);
        self.shards
            .iter()
            .map(|shard| {
                let listed = {
                    let mut slots = lock_spin(&shard.slots);
                    shard.free_all_queued(&mut slots, &mut released);
                    slots.tasks.iter().filter(|(_, t)| t.is_some()).count()
                };
                released.clear();
                listed
            })
            .sum()
    }

    /// The thread's home shard, locked; the first free one after it when that one is
    /// busy (a walk holds it, or a finishing task whose queue was full); the home shard
    /// after all when every one is busy.
    #[inline]
    fn lock_for_insert(&self) -> (usize, SpinGuard<'_, Slots>) {
        let home = self.home_shard();
        match try_lock_spin(&self.shards[home].slots) {
            Some(slots) => (home, slots),
            None => self.lock_other_for_insert(home),
        }
    }

    /// [`OwnedTasks::lock_for_insert`] when the home shard is busy.
    #[cold]
    fn lock_other_for_insert(&self, home: usize) -> (usize, SpinGuard<'_, Slots>) {
        let mask = self.shards.len() - 1;
        for step in 1..self.shards.len() {
            let index = (home + step) & mask;
            if let Some(slots) = try_lock_spin(&self.shards[index].slots) {
                return (index, slots);
            }
        }
        (home, lock_spin(&self.shards[home].slots))
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
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    /// Not yet numbered (a real number would need 2^64 threads).
    const UNSET: usize = usize::MAX;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        // `const`-initialised and without a destructor: a read is one thread-local
        // load, no lazy-initialisation state to check (spawn and finish both read it).
        static HOME: Cell<usize> = const { Cell::new(UNSET) };
    }
    HOME.with(|home| match home.get() {
        UNSET => {
            let index = NEXT.fetch_add(1, Relaxed) & (UNSET >> 1);
            home.set(index);
            index
        }
        index => index,
    })
}

/// Under loom every thread uses the first shard: a process-wide counter would differ
/// between the model's iterations (loom needs them deterministic), and one shard is
/// where insert, remove and close meet.
#[cfg(loom)]
fn home_index() -> usize {
    0
}
