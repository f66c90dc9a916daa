//! The loom switch: every concurrency primitive the scheduler uses comes from here.
//!
//! In a normal build these are std's atomics and locks, crossbeam-deque's queues and
//! the futex parker of [`crate::parker`] (crossbeam-utils' `Parker` off Linux). Under
//! `--cfg loom` (see `ci/loom.sh`) they are loom's instrumented versions, so the model
//! checker sees every atomic access of the idle, park and shutdown protocols.
//!
//! crossbeam-deque and the parkers are not instrumented for loom, so under
//! loom this module swaps in stand-ins with the same interface: a loom
//! `Mutex<VecDeque>` for `Worker`/`Stealer`/`Injector` (no `Steal::Retry` ever, and a
//! batch steal takes at most one extra task), and a loom `Mutex<bool>` + `Condvar` for
//! `Parker`/`Unparker`. The real deque is exercised by the stress tests instead
//! (every pushed task popped or stolen exactly once).

#![allow(unused_imports)]

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(all(not(loom), target_os = "linux"))]
pub(crate) use crate::parker::{Parker, Unparker};
#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};
#[cfg(all(not(loom), not(target_os = "linux")))]
pub(crate) use crossbeam_utils::sync::{Parker, Unparker};

#[cfg(loom)]
pub(crate) use self::loom_stand_ins::{Injector, Parker, Steal, Stealer, Unparker, Worker};

/// A bounded lock-free multi-producer queue of `u32`s (concurrent-queue's array
/// queue; under loom a loom `Mutex<VecDeque>` of the same capacity).
pub(crate) struct BoundedQueue {
    #[cfg(not(loom))]
    queue: concurrent_queue::ConcurrentQueue<u32>,
    #[cfg(loom)]
    queue: Mutex<std::collections::VecDeque<u32>>,
    #[cfg(loom)]
    capacity: usize,
}

impl BoundedQueue {
    /// An empty queue holding at most `capacity` (at least 1) values.
    pub(crate) fn new(capacity: usize) -> BoundedQueue {
        let capacity = capacity.max(1);
        BoundedQueue {
            #[cfg(not(loom))]
            queue: concurrent_queue::ConcurrentQueue::bounded(capacity),
            #[cfg(loom)]
            queue: Mutex::new(std::collections::VecDeque::with_capacity(capacity)),
            #[cfg(loom)]
            capacity,
        }
    }

    /// Appends `value`; `false` (and nothing appended) when the queue is full.
    pub(crate) fn push(&self, value: u32) -> bool {
        #[cfg(not(loom))]
        return self.queue.push(value).is_ok();
        #[cfg(loom)]
        {
            let mut queue = lock(&self.queue);
            if queue.len() == self.capacity {
                return false;
            }
            queue.push_back(value);
            true
        }
    }

    /// Whether the queue looks empty (a push may land right after).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(not(loom))]
        return self.queue.is_empty();
        #[cfg(loom)]
        lock(&self.queue).is_empty()
    }

    /// The oldest value, if any.
    pub(crate) fn pop(&self) -> Option<u32> {
        #[cfg(not(loom))]
        return self.queue.pop().ok();
        #[cfg(loom)]
        lock(&self.queue).pop_front()
    }
}

/// Locks `mutex`, ignoring poisoning: every critical section of this crate leaves
/// its data consistent even if a panic unwinds through it (they do not call user code).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Locks `mutex` if no other thread holds it (poisoning ignored, as in [`lock`]); the
/// loom stand-in of [`try_lock_spin`].
#[cfg(loom)]
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// The owned-task list's shard lock. Its holder is nearly always the one thread whose
/// shard it is, taking it with [`try_lock_spin`], so the uncontended cost is what
/// counts: a spin lock releases with a plain store where std's mutex releases with a
/// locked swap (it must learn whether to wake a sleeper), one locked instruction less
/// per spawn and per finish: spawn loops 4 to 11 % faster on one core or beside busy
/// threads, though a spawn burst shared by two idle workers measured some 8 % slower
/// (benches/README.md). A waiter (rare: a walk of the list, a full freed-slot queue,
/// shutdown) yields its core between tries, so a holder that lost its core gets it
/// back. No poisoning, as [`lock`] ignores it.
#[cfg(not(loom))]
pub(crate) type SpinLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;
#[cfg(not(loom))]
pub(crate) type SpinGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type SpinLock<T> = Mutex<T>;
#[cfg(loom)]
pub(crate) type SpinGuard<'a, T> = MutexGuard<'a, T>;

/// Locks a [`SpinLock`], waiting for it.
pub(crate) fn lock_spin<T>(spin_lock: &SpinLock<T>) -> SpinGuard<'_, T> {
    #[cfg(not(loom))]
    return spin_lock.lock();
    #[cfg(loom)]
    lock(spin_lock)
}

/// Locks a [`SpinLock`] if no other thread holds it.
pub(crate) fn try_lock_spin<T>(spin_lock: &SpinLock<T>) -> Option<SpinGuard<'_, T>> {
    #[cfg(not(loom))]
    return spin_lock.try_lock();
    #[cfg(loom)]
    try_lock(spin_lock)
}

/// Lets another runnable thread use this core (a yield to the model checker under loom).
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// One round of a busy wait that keeps the core (a yield to the model checker under loom).
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

#[cfg(loom)]
mod loom_stand_ins {
    //! Loom-visible stand-ins for crossbeam-deque's queues and crossbeam-utils' parker.

    use loom::sync::{Arc, Condvar, Mutex};
    use std::collections::VecDeque;

    fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Same shape as `crossbeam_deque::Steal`.
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        #[allow(dead_code)]
        Retry,
    }

    /// FIFO owner end of a work-stealing queue.
    pub(crate) struct Worker<T> {
        queue: Arc<Mutex<VecDeque<T>>>,
    }

    impl<T> Worker<T> {
        pub(crate) fn new_fifo() -> Self {
            Worker {
                queue: Arc::new(Mutex::new(VecDeque::new())),
            }
        }
        pub(crate) fn push(&self, task: T) {
            lock(&self.queue).push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            lock(&self.queue).pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.queue).is_empty()
        }
        #[allow(dead_code)] // interface parity with crossbeam's Worker
        pub(crate) fn len(&self) -> usize {
            lock(&self.queue).len()
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer {
                queue: self.queue.clone(),
            }
        }
    }

    /// Thief end of a worker's queue.
    pub(crate) struct Stealer<T> {
        queue: Arc<Mutex<VecDeque<T>>>,
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer {
                queue: self.queue.clone(),
            }
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.queue).is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            lock(&self.queue).len()
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            steal_two(&self.queue, dest)
        }
    }

    /// Batch steal shared by `Stealer` and `Injector`: take the task first, then (at
    /// most) one more for the batch, popped in one critical section and pushed after
    /// it, so two queue locks are never held at once.
    fn steal_two<T>(queue: &Mutex<VecDeque<T>>, dest: &Worker<T>) -> Steal<T> {
        let (first, second) = {
            let mut q = lock(queue);
            (q.pop_front(), q.pop_front())
        };
        match first {
            None => Steal::Empty,
            Some(task) => {
                if let Some(extra) = second {
                    dest.push(extra);
                }
                Steal::Success(task)
            }
        }
    }

    /// The global queue.
    pub(crate) struct Injector<T> {
        queue: Mutex<VecDeque<T>>,
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector {
                queue: Mutex::new(VecDeque::new()),
            }
        }
        pub(crate) fn push(&self, task: T) {
            lock(&self.queue).push_back(task);
        }
        pub(crate) fn steal(&self) -> Steal<T> {
            match lock(&self.queue).pop_front() {
                Some(t) => Steal::Success(t),
                None => Steal::Empty,
            }
        }
        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.queue).is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            lock(&self.queue).len()
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            steal_two(&self.queue, dest)
        }
    }

    /// A sticky one-token parker (like crossbeam-utils').
    pub(crate) struct Parker {
        inner: Arc<(Mutex<bool>, Condvar)>,
        unparker: Unparker,
    }

    /// Wakes the matching [`Parker`].
    #[derive(Clone)]
    pub(crate) struct Unparker {
        inner: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Parker {
        pub(crate) fn new() -> Self {
            let inner = Arc::new((Mutex::new(false), Condvar::new()));
            Parker {
                unparker: Unparker {
                    inner: inner.clone(),
                },
                inner,
            }
        }
        pub(crate) fn park(&self) {
            let (m, cv) = &*self.inner;
            let mut token = lock(m);
            while !*token {
                token = cv.wait(token).unwrap_or_else(|p| p.into_inner());
            }
            *token = false;
        }
        pub(crate) fn unparker(&self) -> &Unparker {
            &self.unparker
        }
    }

    impl Unparker {
        pub(crate) fn unpark(&self) {
            let (m, cv) = &*self.inner;
            *lock(m) = true;
            cv.notify_one();
        }
    }
}
