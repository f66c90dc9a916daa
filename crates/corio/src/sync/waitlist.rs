//! The one waiter queue every primitive in `corio::sync` and `corio::queue` shares.
//!
//! A [`WaitList<N>`] is plain data: it lives *inside* the primitive's own `Mutex`
//! next to the primitive's state (a permit count, a flag, a queue of items), so
//! "look at the state, then decide to wait" and "change the state, then pick a
//! waiter" are each one critical section and no wake-up can fall between them.
//!
//! # Protocol
//!
//! 1. A waiting future calls [`WaitList::register`] under the lock and keeps the
//!    returned [`WaitKey`] (a ticket: tickets grow, so the smallest pending ticket
//!    is the oldest waiter and the queue is FIFO).
//! 2. Whoever makes progress possible calls [`WaitList::notify_one`] /
//!    [`WaitList::notify_all`] under the lock with a payload `N` (a permit, a
//!    barrier result, ...). The waiter moves from `pending` to `notified`; its waker is
//!    pushed to a [`WakeList`] which the caller wakes *after* unlocking.
//! 3. The waiter's next poll calls [`WaitList::poll`]: `Ready(payload)` if it was
//!    notified (the slot is gone), else its waker is refreshed.
//! 4. A waiter dropped before it saw its payload calls [`WaitList::cancel`] from its
//!    `Drop`. If a payload had already been handed to it, `cancel` returns it and the
//!    primitive passes it on (releases the permit again, notifies the next waiter),
//!    so a cancelled waiter never loses or pins a permit.
//!
//! Pending waiters are kept in a `BTreeMap` keyed by ticket (FIFO pop and O(log n)
//! removal on cancel); notified ones in a `HashMap` until they are polled.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

/// A waiter's ticket in a [`WaitList`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct WaitKey(u64);

/// FIFO queue of parked futures, each waiting for a payload `N`.
#[derive(Debug)]
pub(crate) struct WaitList<N> {
    next: u64,
    pending: BTreeMap<u64, Option<Waker>>,
    notified: HashMap<u64, N>,
}

impl<N> Default for WaitList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N> WaitList<N> {
    pub(crate) fn new() -> Self {
        WaitList {
            next: 0,
            pending: BTreeMap::new(),
            notified: HashMap::new(),
        }
    }

    /// Queues a new waiter at the back.
    pub(crate) fn register(&mut self, waker: &Waker) -> WaitKey {
        let key = self.next;
        self.next += 1;
        self.pending.insert(key, Some(waker.clone()));
        WaitKey(key)
    }

    /// `Ready(payload)` once `key` was notified (the key is then spent); otherwise
    /// stores `waker` and returns `Pending`.
    pub(crate) fn poll(&mut self, key: WaitKey, waker: &Waker) -> Poll<N> {
        if let Some(n) = self.notified.remove(&key.0) {
            return Poll::Ready(n);
        }
        if let Some(slot) = self.pending.get_mut(&key.0) {
            match slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        Poll::Pending
    }

    /// Removes a waiter that gives up. Returns the payload it had been handed but
    /// not yet consumed, so the caller can pass it on.
    pub(crate) fn cancel(&mut self, key: WaitKey) -> Option<N> {
        if self.pending.remove(&key.0).is_some() {
            return None;
        }
        self.notified.remove(&key.0)
    }

    /// Hands `payload` to the oldest pending waiter. Gives the payload back when
    /// nobody waits.
    pub(crate) fn notify_one(&mut self, payload: N, wakes: &mut WakeList) -> Result<(), N> {
        match self.pending.pop_first() {
            Some((key, waker)) => {
                self.notified.insert(key, payload);
                wakes.push(waker);
                Ok(())
            }
            None => Err(payload),
        }
    }

    /// Hands a payload made by `make` to every pending waiter; returns how many.
    pub(crate) fn notify_all(
        &mut self,
        mut make: impl FnMut() -> N,
        wakes: &mut WakeList,
    ) -> usize {
        let mut n = 0;
        while let Some((key, waker)) = self.pending.pop_first() {
            self.notified.insert(key, make());
            wakes.push(waker);
            n += 1;
        }
        n
    }

    /// Waiters still waiting (not yet handed a payload).
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// Wakers collected under a lock, woken after it is released (waking under the
/// lock would make the woken thread contend for it at once).
#[derive(Debug, Default)]
pub(crate) struct WakeList(Vec<Waker>);

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList(Vec::new())
    }
    fn push(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.0.push(w);
        }
    }
    /// Wakes everything collected.
    pub(crate) fn wake(self) {
        for w in self.0 {
            w.wake();
        }
    }
}

/// Locks a std mutex, ignoring poisoning: every critical section in this crate
/// leaves the state consistent before anything that can panic runs.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
