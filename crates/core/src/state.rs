//! The task state machine: the specification, then the arithmetic.
//!
//! Every task has one `AtomicUsize` in its header. Its low six bits are flags, the rest is a
//! reference count. This module is the specification: the handles and the references they
//! hold, the meaning of every bit, who may touch which field of the allocation under which
//! bits, and the table of transitions. The `transition_*` functions below implement the table
//! as pure functions from one [`Snapshot`] to the next (no pointers, no atomics), so the unit
//! tests at the bottom check them as arithmetic; [`State`] runs them in compare-and-swap loops.
//! `harness.rs` is the only caller, and the only place that acts on their outcomes.
//!
//! # Handles and references
//!
//! | handle | references | flag it owns |
//! |---|---|---|
//! | `Task<T>` (join handle) | 1 | `JOIN_INTEREST` while it is alive |
//! | `Runnable` | 1 | `NOTIFIED`: at most one `Runnable` exists at a time |
//! | each `Waker` | 1 | — |
//! | each `TaskRef` (an executor's task list) | 1 | — (its `cancel` is `Task::cancel`'s transition) |
//! | a thread calling the schedule function | 1 ("guard") | — |
//!
//! The guard reference keeps the allocation, and so the schedule function stored in it,
//! alive while `Schedule::schedule(&self, ..)` runs: the `Runnable` handed over may be run,
//! completed and dropped on another thread before the call returns. It is only taken when
//! the schedule function has a size or a destructor (a plain `fn` item needs none).
//!
//! A new task starts as `NOTIFIED | JOIN_INTEREST` with 2 references (the `Runnable` and the
//! `Task`). The allocation is freed by whoever drops the count to zero. If the future is still
//! in the allocation at that moment (not `COMPLETE`: every waker was dropped unwoken and the
//! `Task` is gone, so nothing can ever poll it again), that thread drops it: in place when it
//! may (any thread for `spawn`, the owning thread for `spawn_local`), otherwise it revives the
//! task as `NOTIFIED | CANCELLED` and hands a `Runnable` to the schedule function, so the
//! owning thread drops the future (as async-task does).
//!
//! # Bits
//!
//! ```text
//! RUNNING       = 0b00_0001  a thread holds the stage: it is polling the future (Runnable::run)
//!                            or dropping it (cancellation). Exclusive, like a lock bit.
//! COMPLETE      = 0b00_0010  the future is gone; the stage holds the result (or was consumed).
//!                            Set once, never cleared.
//! NOTIFIED      = 0b00_0100  a Runnable exists, or is owed: woken while RUNNING, the poller
//!                            will create it after the poll. One reference belongs to it.
//! CANCELLED     = 0b00_1000  cancellation was requested: the future is never polled again,
//!                            and the result will be Err(Cancelled). Never cleared.
//! JOIN_INTEREST = 0b01_0000  the Task<T> is alive and owns the output once COMPLETE is set.
//! JOIN_WAKER    = 0b10_0000  the join-waker slot holds the waker of whoever awaits the Task,
//!                            and the task side may read it (see "fields" below).
//! REF_ONE       = 0b100_0000 one reference; the count is `state >> 6`.
//! ```
//!
//! # Who may touch which field
//!
//! - **header** (state, vtable, meta): immutable except the state word; anyone holding a
//!   reference.
//! - **schedule function**: shared (`&S`), anyone holding a reference; dropped with the
//!   allocation.
//! - **stage** (`Running(future)` → `Finished(result)` → `Consumed`):
//!   - while `RUNNING` is set: only the thread that set it;
//!   - once `COMPLETE` is set: the `Task` if `JOIN_INTEREST` was set at the instant `COMPLETE`
//!     was set, otherwise the completing thread (which drops the output);
//!   - otherwise (idle): nobody; whoever wants it sets `RUNNING` first.
//! - **join-waker slot**:
//!   - `JOIN_WAKER` clear and not `COMPLETE`: the `Task` (it writes its waker, then sets the bit);
//!   - `JOIN_WAKER` set and not `COMPLETE`: read-only for the `Task` (to compare wakers), and
//!     the `Task` may take it back by clearing the bit;
//!   - `JOIN_WAKER` set at the instant `COMPLETE` is set: the completing thread wakes it, then
//!     clears the bit; if `JOIN_INTEREST` is gone by then it also drops the waker;
//!   - after that: the `Task` (it drops the waker with itself).
//!
//! # Transition table
//!
//! | transition | caller | condition | change | outcome |
//! |---|---|---|---|---|
//! | [`transition_to_running`] | `Runnable::run` / `drop(Runnable)` | `RUNNING` or `COMPLETE` | `-NOTIFIED` | `Skip`: drop the Runnable's reference |
//! | | | idle, `CANCELLED` or dropping, may drop here | `-NOTIFIED +RUNNING +CANCELLED` | `Cancel`: drop the future in place |
//! | | | idle, dropping on the wrong thread (local task) | none | `WrongThread`: leak, panic |
//! | | | idle | `-NOTIFIED +RUNNING` | `Poll` |
//! | [`transition_to_idle`] | after `Poll::Pending` | `CANCELLED` | none | `Cancel`: drop the future now |
//! | | | `NOTIFIED` (woken during the poll) | `-RUNNING -REF_ONE` (the ref is kept as guard if one is needed) | `Notified`: schedule the owed Runnable |
//! | | | otherwise | `-RUNNING -REF_ONE` | `Idle{last}` (if last: drop the future, free) |
//! | [`transition_to_complete`] | after storing the result | `CANCELLED` but result is not `Cancelled` | none | `MustCancel`: replace the result, retry |
//! | | | otherwise | `-RUNNING +COMPLETE` (and `-NOTIFIED -REF_ONE` if the poller owns an owed Runnable) | `Completed{join_interest, join_waker}` |
//! | [`transition_to_notified_by_ref`] | `Waker::wake_by_ref` | `COMPLETE`, `NOTIFIED` or `CANCELLED` | none | `DoNothing` |
//! | | | `RUNNING` | `+NOTIFIED +REF_ONE` | `DoNothing` (the poller reschedules) |
//! | | | idle | `+NOTIFIED +REF_ONE` (+ guard) | `Submit` |
//! | [`transition_to_notified_by_val`] | `Waker::wake` | `COMPLETE`, `NOTIFIED` or `CANCELLED` | `-REF_ONE` | `Release{last}` |
//! | | | `RUNNING` | `+NOTIFIED` (the waker's reference moves to it) | `DoNothing` |
//! | | | idle | `+NOTIFIED +REF_ONE` (the waker's reference is the guard) | `Submit` |
//! | [`transition_to_cancelled`] | `Task::cancel` | `COMPLETE` | none | `AlreadyFinished` (`false`) |
//! | | | `CANCELLED` | none | `Requested` |
//! | | | `RUNNING` | `+CANCELLED` | `Requested`: the poller drops it after the poll |
//! | | | idle, may drop here | `+RUNNING +CANCELLED` | `DropHere` |
//! | | | idle, wrong thread, `NOTIFIED` | `+CANCELLED` | `Requested` |
//! | | | idle, wrong thread | `+CANCELLED +NOTIFIED +REF_ONE` | `Submit` (the owner drops it) |
//! | (fast path) | `drop(Task)` | the Task holds the only reference | none (nobody else can look) | drop output and waker, free |
//! | [`transition_to_join_dropped`] | `drop(Task)` | `COMPLETE` | `-JOIN_INTEREST` | drop the output; drop the waker unless `JOIN_WAKER` |
//! | | | otherwise | `-JOIN_INTEREST -JOIN_WAKER` | drop the waker |
//! | [`transition_to_join_waker_set`] | `Task::poll` | `COMPLETE` | none | `Err`: read the output |
//! | | | otherwise | `+JOIN_WAKER` | `Ok` |
//! | [`transition_to_join_waker_unset`] | `Task::poll` (new waker) | `COMPLETE` | none | `Err`: read the output |
//! | | | otherwise | `-JOIN_WAKER` | `Ok` |
//! | `unset_waker_after_complete` | completing thread | — | `-JOIN_WAKER` | previous snapshot |
//! | `ref_inc` / `ref_dec` | waker clone / any handle drop | — | `±REF_ONE` | last reference? |
//!
//! Two consequences worth stating:
//! - a wake during a poll reschedules exactly once, after the poll (`NOTIFIED` can only be
//!   set once, and the poller is the one that acts on it), so wake-ups are never lost nor
//!   doubled;
//! - `CANCELLED` set ⇒ the `Task` resolves to `Err(Cancelled)`, whatever the last poll
//!   returned (as asyncio discards the result of a coroutine cancelled during its last step);
//!   a panic that loses to a cancellation goes to `Schedule::unhandled_panic`.

use crate::sync::{AtomicUsize, Ordering};

// Everything below that the task code calls is `#[inline]`: `Harness<F, S, L>` is
// monomorphised in the crate that spawns, and without the attribute each transition and
// reference count change would be a call across crates (no LTO in users' builds).

/// A thread holds the stage (polling or dropping the future).
pub(crate) const RUNNING: usize = 0b00_0001;
/// The future is gone and the result is stored (or was consumed).
pub(crate) const COMPLETE: usize = 0b00_0010;
/// A `Runnable` exists or is owed; it holds one reference.
pub(crate) const NOTIFIED: usize = 0b00_0100;
/// Cancellation requested; the result will be `Err(Cancelled)`.
pub(crate) const CANCELLED: usize = 0b00_1000;
/// The `Task<T>` is alive.
pub(crate) const JOIN_INTEREST: usize = 0b01_0000;
/// The join-waker slot is set and the task side may read it.
pub(crate) const JOIN_WAKER: usize = 0b10_0000;
/// How many low bits are flags.
const FLAG_BITS: u32 = 6;
/// One reference.
pub(crate) const REF_ONE: usize = 1 << FLAG_BITS;
/// More references than this means a leak of wakers in a loop: abort rather than wrap
/// around (the same limit `Arc` uses, `isize::MAX`, expressed as a count).
const MAX_REFS: usize = (isize::MAX as usize) >> FLAG_BITS;

/// The state a task is created with: a `Runnable` (`NOTIFIED` + 1 ref) and a `Task`
/// (`JOIN_INTEREST` + 1 ref).
pub(crate) const INITIAL: usize = NOTIFIED | JOIN_INTEREST | (2 * REF_ONE);

/// A copy of the state word, with named accessors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    #[inline]
    fn has(self, bit: usize) -> bool {
        self.0 & bit != 0
    }
    #[inline]
    pub(crate) fn is_running(self) -> bool {
        self.has(RUNNING)
    }
    #[inline]
    pub(crate) fn is_complete(self) -> bool {
        self.has(COMPLETE)
    }
    #[inline]
    pub(crate) fn is_notified(self) -> bool {
        self.has(NOTIFIED)
    }
    #[inline]
    pub(crate) fn is_cancelled(self) -> bool {
        self.has(CANCELLED)
    }
    #[inline]
    pub(crate) fn is_join_interested(self) -> bool {
        self.has(JOIN_INTEREST)
    }
    #[inline]
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.has(JOIN_WAKER)
    }
    #[inline]
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> FLAG_BITS
    }
    #[inline]
    fn with(self, bit: usize) -> Snapshot {
        Snapshot(self.0 | bit)
    }
    #[inline]
    fn without(self, bit: usize) -> Snapshot {
        Snapshot(self.0 & !bit)
    }
    #[inline]
    fn ref_add(self, n: usize) -> Snapshot {
        if self.ref_count() > MAX_REFS - n {
            // Unreachable without leaking ~2^57 wakers; wrapping would free a live task.
            std::process::abort();
        }
        Snapshot(self.0 + n * REF_ONE)
    }
    #[inline]
    fn ref_sub_one(self) -> Snapshot {
        debug_assert!(self.ref_count() > 0, "task reference count underflow");
        Snapshot(self.0 - REF_ONE)
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What the holder of a `Runnable` must do (from [`transition_to_running`]).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future: `RUNNING` is ours.
    Poll,
    /// Drop the future in place: `RUNNING` is ours and `CANCELLED` is set.
    Cancel,
    /// Someone else holds the stage or the task is complete: just drop our reference.
    Skip,
    /// The future must be dropped but only its owning thread may: nothing changed.
    WrongThread,
}

/// `Runnable::run` (`cancel = false`) or `drop(Runnable)` (`cancel = true`).
/// Requires `NOTIFIED` (the caller is the `Runnable`).
#[inline]
pub(crate) fn transition_to_running(
    s: Snapshot,
    cancel: bool,
    may_drop_here: bool,
) -> (Option<Snapshot>, ToRunning) {
    debug_assert!(s.is_notified(), "a Runnable exists without NOTIFIED: {s:?}");
    if s.is_running() || s.is_complete() {
        return (Some(s.without(NOTIFIED)), ToRunning::Skip);
    }
    let cancel = cancel || s.is_cancelled();
    if cancel && !may_drop_here {
        return (None, ToRunning::WrongThread);
    }
    let next = s.without(NOTIFIED).with(RUNNING);
    if cancel {
        (Some(next.with(CANCELLED)), ToRunning::Cancel)
    } else {
        (Some(next), ToRunning::Poll)
    }
}

/// What the poller does after `Poll::Pending` (from [`transition_to_idle`]).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Released, with the Runnable's reference; `last`: it was the last one (the future is
    /// unreachable: drop it and free the task).
    Idle {
        /// The count reached zero.
        last: bool,
    },
    /// Released, and woken during the poll: schedule the owed Runnable (its reference is
    /// already counted). The Runnable's own reference was released too, unless `keep_guard`.
    Notified,
    /// Cancelled during the poll: `RUNNING` is still ours, drop the future now.
    Cancel,
}

/// After a poll returned `Pending`. Requires `RUNNING` (held by the caller). Releases the
/// Runnable's reference in the same step (one atomic operation instead of two, as tokio
/// does), except when it is needed as the guard of the reschedule (`keep_guard`).
#[inline]
pub(crate) fn transition_to_idle(s: Snapshot, keep_guard: bool) -> (Option<Snapshot>, ToIdle) {
    debug_assert!(s.is_running() && !s.is_complete(), "{s:?}");
    if s.is_cancelled() {
        return (None, ToIdle::Cancel);
    }
    let next = s.without(RUNNING);
    if s.is_notified() {
        // Never the last: the owed Runnable holds one.
        let next = if keep_guard { next } else { next.ref_sub_one() };
        (Some(next), ToIdle::Notified)
    } else {
        let next = next.ref_sub_one();
        (
            Some(next),
            ToIdle::Idle {
                last: next.ref_count() == 0,
            },
        )
    }
}

/// The result of [`transition_to_complete`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToComplete {
    /// `CANCELLED` was set while the result was not `Cancelled`: replace it and call again.
    MustCancel,
    /// Done. `join_interest`: the `Task` owns the output (else the caller drops it);
    /// `join_waker`: the caller must wake the join waker, then `unset_waker_after_complete`.
    Completed {
        /// `JOIN_INTEREST` at the instant `COMPLETE` was set.
        join_interest: bool,
        /// `JOIN_WAKER` at the instant `COMPLETE` was set.
        join_waker: bool,
    },
}

/// After storing the result. Requires `RUNNING` (held by the caller).
/// `result_is_cancelled`: the stored result is `Err(Cancelled)`.
/// `owns_notified`: the caller came through `Runnable::run`, so a `NOTIFIED` seen now is an
/// owed reschedule that no longer makes sense: it is cleared and its reference released here
/// (the caller still holds its own, so this never frees). A canceller that set `RUNNING` from
/// idle does not own `NOTIFIED` (a real `Runnable` may be queued; it will see `COMPLETE`).
#[inline]
pub(crate) fn transition_to_complete(
    s: Snapshot,
    result_is_cancelled: bool,
    owns_notified: bool,
) -> (Option<Snapshot>, ToComplete) {
    debug_assert!(s.is_running() && !s.is_complete(), "{s:?}");
    if s.is_cancelled() && !result_is_cancelled {
        return (None, ToComplete::MustCancel);
    }
    let mut next = s.without(RUNNING).with(COMPLETE);
    if owns_notified && s.is_notified() {
        next = next.without(NOTIFIED).ref_sub_one();
    }
    (
        Some(next),
        ToComplete::Completed {
            join_interest: s.is_join_interested(),
            join_waker: s.is_join_waker_set(),
        },
    )
}

/// What a waker must do (from the `transition_to_notified_*` functions).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notify {
    /// Nothing (already notified, running, finished or cancelled).
    DoNothing,
    /// Create a `Runnable` (its reference is counted) and call the schedule function.
    Submit,
    /// `wake` by value on a task that needs no wake-up: the waker's reference was released;
    /// `last`: it was the last one, free the task.
    Release {
        /// The count reached zero.
        last: bool,
    },
}

/// `Waker::wake_by_ref`. `guard`: also take a guard reference for the schedule call.
#[inline]
pub(crate) fn transition_to_notified_by_ref(
    s: Snapshot,
    guard: bool,
) -> (Option<Snapshot>, Notify) {
    if s.is_complete() || s.is_notified() || s.is_cancelled() {
        return (None, Notify::DoNothing);
    }
    if s.is_running() {
        return (Some(s.with(NOTIFIED).ref_add(1)), Notify::DoNothing);
    }
    let refs = if guard { 2 } else { 1 };
    (Some(s.with(NOTIFIED).ref_add(refs)), Notify::Submit)
}

/// `Waker::wake`: consumes the waker's reference (it becomes the owed Runnable's, the guard
/// of the schedule call, or is released).
#[inline]
pub(crate) fn transition_to_notified_by_val(s: Snapshot) -> (Option<Snapshot>, Notify) {
    if s.is_complete() || s.is_notified() || s.is_cancelled() {
        let next = s.ref_sub_one();
        return (
            Some(next),
            Notify::Release {
                last: next.ref_count() == 0,
            },
        );
    }
    if s.is_running() {
        return (Some(s.with(NOTIFIED)), Notify::DoNothing);
    }
    (Some(s.with(NOTIFIED).ref_add(1)), Notify::Submit)
}

/// What `Task::cancel` must do (from [`transition_to_cancelled`]).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// Finished before the request: the result is kept, `cancel` returns `false`.
    AlreadyFinished,
    /// Recorded; whoever holds the stage (or the queued Runnable) drops the future.
    Requested,
    /// `RUNNING` is ours: drop the future on this thread now.
    DropHere,
    /// A Runnable was created (counted): schedule it so the owning thread drops the future.
    Submit,
}

/// `Task::cancel`. `may_drop_here`: this thread may drop the future (always for `spawn`,
/// only the owning thread for `spawn_local`). The caller (the `Task`) holds a reference,
/// which is the guard of a `Submit`.
pub(crate) fn transition_to_cancelled(
    s: Snapshot,
    may_drop_here: bool,
) -> (Option<Snapshot>, Cancel) {
    if s.is_complete() {
        return (None, Cancel::AlreadyFinished);
    }
    if s.is_cancelled() {
        return (None, Cancel::Requested);
    }
    if s.is_running() {
        return (Some(s.with(CANCELLED)), Cancel::Requested);
    }
    if may_drop_here {
        return (Some(s.with(RUNNING | CANCELLED)), Cancel::DropHere);
    }
    if s.is_notified() {
        return (Some(s.with(CANCELLED)), Cancel::Requested);
    }
    (
        Some(s.with(CANCELLED | NOTIFIED).ref_add(1)),
        Cancel::Submit,
    )
}

/// What `drop(Task)` must clean up (from [`transition_to_join_dropped`]).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JoinDropped {
    /// The task is complete and the output is ours to drop.
    pub(crate) drop_output: bool,
    /// The join-waker slot is ours: drop whatever it holds.
    pub(crate) drop_waker: bool,
}

/// `drop(Task)`. Requires `JOIN_INTEREST`. The reference is released separately, after the
/// output and the waker are dropped.
pub(crate) fn transition_to_join_dropped(s: Snapshot) -> (Option<Snapshot>, JoinDropped) {
    debug_assert!(s.is_join_interested(), "{s:?}");
    let mut next = s.without(JOIN_INTEREST);
    if !s.is_complete() {
        next = next.without(JOIN_WAKER);
    }
    (
        Some(next),
        JoinDropped {
            drop_output: s.is_complete(),
            drop_waker: !next.is_join_waker_set(),
        },
    )
}

/// `Task::poll` after writing its waker into the slot. `Err` when the task completed
/// meanwhile (the slot stays the `Task`'s: it takes the waker back and reads the output).
pub(crate) fn transition_to_join_waker_set(s: Snapshot) -> (Option<Snapshot>, Result<(), ()>) {
    debug_assert!(s.is_join_interested() && !s.is_join_waker_set(), "{s:?}");
    if s.is_complete() {
        return (None, Err(()));
    }
    (Some(s.with(JOIN_WAKER)), Ok(()))
}

/// `Task::poll` with a different waker: take the slot back. `Err` when complete (read the
/// output instead; the completing thread owns the slot).
pub(crate) fn transition_to_join_waker_unset(s: Snapshot) -> (Option<Snapshot>, Result<(), ()>) {
    debug_assert!(s.is_join_interested() && s.is_join_waker_set(), "{s:?}");
    if s.is_complete() {
        return (None, Err(()));
    }
    (Some(s.without(JOIN_WAKER)), Ok(()))
}

/// The state a thread writes after dropping the last reference to a task whose future is
/// still there, when it may drop the future itself: it holds the stage (`RUNNING`), the task
/// counts as cancelled, and one reference (its own) keeps the allocation until it is done.
pub(crate) fn revived_to_cancel_here() -> Snapshot {
    Snapshot(RUNNING | CANCELLED | REF_ONE)
}

/// As [`revived_to_cancel_here`] when only the owning thread may drop the future: a
/// cancelled `Runnable` (one reference) for the schedule function, plus a guard reference
/// for the schedule call if `guard`.
pub(crate) fn revived_to_submit(guard: bool) -> Snapshot {
    let refs = if guard { 2 } else { 1 };
    Snapshot(NOTIFIED | CANCELLED | (refs * REF_ONE))
}

/// The atomic state word of one task.
pub(crate) struct State {
    val: AtomicUsize,
}

impl State {
    /// A new task's state ([`INITIAL`]), plus `extra_refs` references for handles
    /// created with the task (a [`TaskRef`](crate::TaskRef) for an executor's task list).
    pub(crate) fn new(extra_refs: usize) -> State {
        State {
            val: AtomicUsize::new(INITIAL + extra_refs * REF_ONE),
        }
    }

    /// Current snapshot (Acquire: pairs with the Release of the transition that set it, so
    /// e.g. seeing `COMPLETE` makes the stored output visible).
    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Ordering::Acquire))
    }

    /// Runs a `transition_*` function in a compare-and-swap loop until it applies.
    /// `None` from `f` means "no change": the outcome is returned without a write.
    #[inline]
    pub(crate) fn transition<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, R)) -> R {
        let mut cur = self.val.load(Ordering::Acquire);
        loop {
            let (next, outcome) = f(Snapshot(cur));
            let Some(next) = next else {
                return outcome;
            };
            match self
                .val
                .compare_exchange_weak(cur, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return outcome,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The completing thread is done with the join waker; returns the previous snapshot
    /// (if `JOIN_INTEREST` is gone, the slot is the caller's to clear).
    pub(crate) fn unset_waker_after_complete(&self) -> Snapshot {
        Snapshot(self.val.fetch_and(!JOIN_WAKER, Ordering::AcqRel))
    }

    /// Takes one more reference (a waker clone).
    #[inline]
    pub(crate) fn ref_inc(&self) {
        // Relaxed is enough: the new reference is made from an existing one, which already
        // keeps the task alive (the same argument as `Arc::clone`).
        let prev = self.val.fetch_add(REF_ONE, Ordering::Relaxed);
        if Snapshot(prev).ref_count() > MAX_REFS {
            std::process::abort();
        }
    }

    /// Releases one reference; returns the snapshot after the release. If its count is zero,
    /// the caller was the last and must free the task.
    #[inline]
    pub(crate) fn ref_dec(&self) -> Snapshot {
        // AcqRel: Release publishes this handle's writes to whoever frees the task; Acquire
        // (needed only by the last one) makes everyone's writes visible before freeing.
        let prev = Snapshot(self.val.fetch_sub(REF_ONE, Ordering::AcqRel));
        prev.ref_sub_one()
    }

    /// Overwrites the state. Only for a thread that holds no reference-counted rival: the one
    /// that just dropped the count to zero and revives the task to drop its future.
    pub(crate) fn revive(&self, s: Snapshot) {
        self.val.store(s.0, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const fn snap(bits: usize, refs: usize) -> Snapshot {
        Snapshot(bits | (refs * REF_ONE))
    }

    #[test]
    fn bits_are_distinct_and_below_the_count() {
        let all = [
            RUNNING,
            COMPLETE,
            NOTIFIED,
            CANCELLED,
            JOIN_INTEREST,
            JOIN_WAKER,
        ];
        let mut seen = 0;
        for bit in all {
            assert_eq!(bit.count_ones(), 1);
            assert_eq!(seen & bit, 0);
            seen |= bit;
        }
        assert!(seen < REF_ONE);
        let s = Snapshot(INITIAL);
        assert!(s.is_notified() && s.is_join_interested() && !s.is_running());
        assert_eq!(s.ref_count(), 2);
    }

    #[test]
    fn run_idle_task_polls() {
        let s = Snapshot(INITIAL);
        let (next, out) = transition_to_running(s, false, true);
        assert_eq!(out, ToRunning::Poll);
        assert_eq!(next, Some(snap(RUNNING | JOIN_INTEREST, 2)));
    }

    #[test]
    fn run_cancelled_or_dropped_runnable_cancels() {
        let s = snap(NOTIFIED | CANCELLED | JOIN_INTEREST, 2);
        let (next, out) = transition_to_running(s, false, true);
        assert_eq!(out, ToRunning::Cancel);
        assert_eq!(next, Some(snap(RUNNING | CANCELLED | JOIN_INTEREST, 2)));
        let (next, out) = transition_to_running(Snapshot(INITIAL), true, true);
        assert_eq!(out, ToRunning::Cancel);
        assert_eq!(next, Some(snap(RUNNING | CANCELLED | JOIN_INTEREST, 2)));
        let (next, out) = transition_to_running(Snapshot(INITIAL), true, false);
        assert_eq!(out, ToRunning::WrongThread);
        assert_eq!(next, None);
    }

    #[test]
    fn run_while_someone_holds_the_stage_or_complete_skips() {
        for bits in [RUNNING | CANCELLED, COMPLETE] {
            let s = snap(NOTIFIED | bits, 2);
            let (next, out) = transition_to_running(s, false, true);
            assert_eq!(out, ToRunning::Skip);
            assert_eq!(
                next,
                Some(snap(bits, 2)),
                "the Runnable then releases its own ref"
            );
        }
    }

    #[test]
    fn idle_after_pending() {
        // The Runnable's reference goes in the same step.
        let (next, out) = transition_to_idle(snap(RUNNING | JOIN_INTEREST, 2), false);
        assert_eq!(
            (next, out),
            (Some(snap(JOIN_INTEREST, 1)), ToIdle::Idle { last: false })
        );
        // Nobody else left (no Task, no waker): the future is unreachable.
        let (next, out) = transition_to_idle(snap(RUNNING, 1), true);
        assert_eq!((next, out), (Some(snap(0, 0)), ToIdle::Idle { last: true }));
        // Woken during the poll: NOTIFIED and its reference stay, for the new Runnable; ours
        // goes unless kept as the schedule guard.
        let (next, out) = transition_to_idle(snap(RUNNING | NOTIFIED, 3), false);
        assert_eq!((next, out), (Some(snap(NOTIFIED, 2)), ToIdle::Notified));
        let (next, out) = transition_to_idle(snap(RUNNING | NOTIFIED, 3), true);
        assert_eq!((next, out), (Some(snap(NOTIFIED, 3)), ToIdle::Notified));
        let (next, out) = transition_to_idle(snap(RUNNING | CANCELLED | NOTIFIED, 3), false);
        assert_eq!((next, out), (None, ToIdle::Cancel));
    }

    #[test]
    fn complete_reports_join_side() {
        let (next, out) =
            transition_to_complete(snap(RUNNING | JOIN_INTEREST | JOIN_WAKER, 2), false, true);
        assert_eq!(next, Some(snap(COMPLETE | JOIN_INTEREST | JOIN_WAKER, 2)));
        assert_eq!(
            out,
            ToComplete::Completed {
                join_interest: true,
                join_waker: true
            }
        );
        let (next, out) = transition_to_complete(snap(RUNNING, 1), false, true);
        assert_eq!(next, Some(snap(COMPLETE, 1)));
        assert_eq!(
            out,
            ToComplete::Completed {
                join_interest: false,
                join_waker: false
            }
        );
    }

    #[test]
    fn complete_releases_an_owed_runnable_only_for_the_poller() {
        let s = snap(RUNNING | NOTIFIED | JOIN_INTEREST, 3);
        let (next, _) = transition_to_complete(s, false, true);
        assert_eq!(next, Some(snap(COMPLETE | JOIN_INTEREST, 2)));
        // A canceller from idle: NOTIFIED belongs to a queued Runnable, left alone.
        let s = snap(RUNNING | CANCELLED | NOTIFIED | JOIN_INTEREST, 2);
        let (next, _) = transition_to_complete(s, true, false);
        assert_eq!(
            next,
            Some(snap(COMPLETE | CANCELLED | NOTIFIED | JOIN_INTEREST, 2))
        );
    }

    #[test]
    fn complete_after_cancel_request_must_store_cancelled() {
        let s = snap(RUNNING | CANCELLED | JOIN_INTEREST, 2);
        assert_eq!(
            transition_to_complete(s, false, true),
            (None, ToComplete::MustCancel)
        );
        let (next, _) = transition_to_complete(s, true, true);
        assert_eq!(next, Some(snap(COMPLETE | CANCELLED | JOIN_INTEREST, 2)));
    }

    #[test]
    fn wake_by_ref_table() {
        for bits in [COMPLETE, NOTIFIED, CANCELLED, RUNNING | CANCELLED] {
            assert_eq!(
                transition_to_notified_by_ref(snap(bits, 1), true),
                (None, Notify::DoNothing)
            );
        }
        // Running: owe one Runnable, counted now; the poller schedules it.
        let (next, out) = transition_to_notified_by_ref(snap(RUNNING, 2), true);
        assert_eq!(
            (next, out),
            (Some(snap(RUNNING | NOTIFIED, 3)), Notify::DoNothing)
        );
        // Idle: one ref for the Runnable, one guard for the schedule call.
        let (next, out) = transition_to_notified_by_ref(snap(JOIN_INTEREST, 2), true);
        assert_eq!(
            (next, out),
            (Some(snap(JOIN_INTEREST | NOTIFIED, 4)), Notify::Submit)
        );
        let (next, _) = transition_to_notified_by_ref(snap(0, 1), false);
        assert_eq!(next, Some(snap(NOTIFIED, 2)));
    }

    #[test]
    fn wake_by_val_table() {
        let (next, out) = transition_to_notified_by_val(snap(COMPLETE, 1));
        assert_eq!(
            (next, out),
            (Some(snap(COMPLETE, 0)), Notify::Release { last: true })
        );
        let (next, out) = transition_to_notified_by_val(snap(NOTIFIED, 2));
        assert_eq!(
            (next, out),
            (Some(snap(NOTIFIED, 1)), Notify::Release { last: false })
        );
        // Running: the waker's reference becomes the owed Runnable's.
        let (next, out) = transition_to_notified_by_val(snap(RUNNING, 2));
        assert_eq!(
            (next, out),
            (Some(snap(RUNNING | NOTIFIED, 2)), Notify::DoNothing)
        );
        // Idle: +1 for the Runnable, the waker's own is the guard.
        let (next, out) = transition_to_notified_by_val(snap(0, 1));
        assert_eq!((next, out), (Some(snap(NOTIFIED, 2)), Notify::Submit));
    }

    #[test]
    fn cancel_table() {
        assert_eq!(
            transition_to_cancelled(snap(COMPLETE, 1), true),
            (None, Cancel::AlreadyFinished)
        );
        assert_eq!(
            transition_to_cancelled(snap(RUNNING | CANCELLED, 1), true),
            (None, Cancel::Requested)
        );
        assert_eq!(
            transition_to_cancelled(snap(RUNNING, 2), true),
            (Some(snap(RUNNING | CANCELLED, 2)), Cancel::Requested)
        );
        assert_eq!(
            transition_to_cancelled(snap(NOTIFIED, 2), true),
            (
                Some(snap(NOTIFIED | RUNNING | CANCELLED, 2)),
                Cancel::DropHere
            )
        );
        assert_eq!(
            transition_to_cancelled(snap(NOTIFIED, 2), false),
            (Some(snap(NOTIFIED | CANCELLED, 2)), Cancel::Requested)
        );
        assert_eq!(
            transition_to_cancelled(snap(0, 1), false),
            (Some(snap(NOTIFIED | CANCELLED, 2)), Cancel::Submit)
        );
    }

    #[test]
    fn join_drop_table() {
        let (next, out) = transition_to_join_dropped(snap(JOIN_INTEREST | JOIN_WAKER, 2));
        assert_eq!(next, Some(snap(0, 2)));
        assert_eq!(
            out,
            JoinDropped {
                drop_output: false,
                drop_waker: true
            }
        );
        // Complete with the waker still owned by the completing thread: leave it to it.
        let (next, out) =
            transition_to_join_dropped(snap(COMPLETE | JOIN_INTEREST | JOIN_WAKER, 2));
        assert_eq!(next, Some(snap(COMPLETE | JOIN_WAKER, 2)));
        assert_eq!(
            out,
            JoinDropped {
                drop_output: true,
                drop_waker: false
            }
        );
    }

    #[test]
    fn join_waker_set_and_unset() {
        assert_eq!(
            transition_to_join_waker_set(snap(JOIN_INTEREST, 2)),
            (Some(snap(JOIN_INTEREST | JOIN_WAKER, 2)), Ok(()))
        );
        assert_eq!(
            transition_to_join_waker_set(snap(COMPLETE | JOIN_INTEREST, 2)),
            (None, Err(()))
        );
        assert_eq!(
            transition_to_join_waker_unset(snap(JOIN_INTEREST | JOIN_WAKER, 2)),
            (Some(snap(JOIN_INTEREST, 2)), Ok(()))
        );
        assert_eq!(
            transition_to_join_waker_unset(snap(COMPLETE | JOIN_INTEREST | JOIN_WAKER, 2)),
            (None, Err(()))
        );
    }

    #[test]
    fn state_word_round_trip() {
        let st = State::new(0);
        let out = st.transition(|s| transition_to_running(s, false, true));
        assert_eq!(out, ToRunning::Poll);
        st.ref_inc();
        assert_eq!(st.load().ref_count(), 3);
        assert_eq!(st.ref_dec().ref_count(), 2);
        let prev = st.unset_waker_after_complete();
        assert!(!prev.is_join_waker_set());
    }
}
