//! The harness: what every handle operation does, for one concrete task type.
//!
//! This is the only module that acts on the outcomes of `state.rs`: each function runs one
//! transition and then touches exactly the fields the specification gives it under that
//! outcome. It is also the only module that catches panics. The rules:
//!
//! 1. **The future's `poll` may panic.** Caught in [`Harness::run`]; the task completes with
//!    `Err(Panicked)` (or `Err(Cancelled)` if a cancellation arrived meanwhile, the payload
//!    then goes to `Schedule::unhandled_panic`).
//! 2. **The future's `Drop` may panic** (after completion, on cancellation, or when the last
//!    reference goes). Caught; the future is still considered dropped (`drop_in_place` ran,
//!    the stage is overwritten without a second drop) and the payload goes to
//!    `Schedule::unhandled_panic`. The task's result is unaffected.
//! 3. **The output's `Drop` and the join waker may panic** when the harness drops or wakes
//!    them on a worker: caught, payload to `unhandled_panic`.
//! 4. **`unhandled_panic` itself may panic**: caught and dropped (a payload whose own `Drop`
//!    panics is leaked rather than double-panicking).
//! 5. **Nothing else should panic** between taking the stage (`RUNNING`) and releasing it.
//!    If it did (a bug here), unwinding would leave `RUNNING` set forever and every handle
//!    waiting; an [`AbortOnUnwind`] guard turns that into an immediate, loud abort instead.
//!
//! The schedule function (`Schedule::schedule`) is executor code and is not caught: if it
//! panics, the `Runnable` it was given is dropped during unwinding, which cancels the task
//! cleanly, and the panic propagates to whoever woke the task.

use std::alloc::{self, Layout};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::context;
use crate::layout::{Cell, Header, Owner, Stage, Vtable};
use crate::state::{
    revived_to_cancel_here, revived_to_submit, transition_to_cancelled, transition_to_complete,
    transition_to_idle, transition_to_join_dropped, transition_to_join_waker_set,
    transition_to_join_waker_unset, transition_to_notified_by_ref, transition_to_notified_by_val,
    transition_to_running, Cancel, Notify, Snapshot, State, ToComplete, ToIdle, ToRunning,
};
use crate::sync::UnsafeCell;
use crate::{Context as Vars, Runnable, Schedule, ScheduleInfo, TaskError, TaskMeta, TaskStats};

/// Aborts the process if dropped, i.e. if a panic unwinds through a critical section.
/// `mem::forget` it at the end of the section (zero cost on the normal path).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!(
            "corio-core: a panic unwound through a task's critical section (a bug in corio-core); \
             aborting, because continuing would leave the task locked forever"
        );
        std::process::abort();
    }
}

/// Drops a panic payload, leaking it if its own `Drop` panics (a double panic would abort).
fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        mem::forget(again);
    }
}

/// The monomorphised operations of a task whose future is `F`, schedule function `S`,
/// owner policy `L`.
pub(crate) struct Harness<F, S, L>(PhantomData<(F, S, L)>);

/// Releases one reference when dropped (also during unwinding).
struct RefGuard<F, S, L>
where
    F: Future + 'static,
    S: Schedule,
    L: Owner,
{
    ptr: NonNull<Header>,
    _types: PhantomData<Harness<F, S, L>>,
}

/// What a waker's wake passes to the schedule function: a wake from outside the task's own
/// poll, marked if it comes from a finished task waking its awaiter.
#[inline]
fn waker_schedule_info() -> ScheduleInfo {
    ScheduleInfo {
        woken_while_running: false,
        woken_by_join: crate::context::waking_joiner(),
    }
}

impl<F, S, L> Drop for RefGuard<F, S, L>
where
    F: Future + 'static,
    S: Schedule,
    L: Owner,
{
    fn drop(&mut self) {
        // SAFETY: the guard owns one reference to a live task of this type.
        unsafe { Harness::<F, S, L>::drop_ref(self.ptr) }
    }
}

impl<F, S, L> Harness<F, S, L>
where
    F: Future + 'static,
    S: Schedule,
    L: Owner,
{
    /// The vtable every handle of this task type calls through.
    const VTABLE: Vtable = Vtable {
        run: Self::run,
        drop_runnable: Self::drop_runnable,
        schedule: Self::schedule,
        try_read_output: Self::try_read_output,
        drop_join: Self::drop_join,
        cancel: Self::cancel,
        waker: Self::new_waker,
        drop_ref: Self::drop_ref,
    };

    /// The waker vtable: wakers point at the same allocation (the data pointer is the
    /// header) and each holds one reference.
    const WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::waker_clone,
        Self::waker_wake,
        Self::waker_wake_by_ref,
        Self::waker_drop,
    );

    /// Whether a schedule call needs a guard reference: only if the schedule function
    /// occupies memory in the allocation or has a destructor (see `state.rs`).
    const NEEDS_GUARD: bool = mem::size_of::<S>() != 0 || mem::needs_drop::<S>();

    /// A guard for one reference the caller already counted (constructed lazily: with
    /// `bool::then`, never `then_some`, which would build and drop it, releasing a reference
    /// that was never taken).
    fn guard(ptr: NonNull<Header>) -> RefGuard<F, S, L> {
        RefGuard {
            ptr,
            _types: PhantomData,
        }
    }

    /// Allocates the task (the only allocation it will ever need) and returns its header.
    /// The state is `INITIAL`: one reference for the `Runnable`, one for the `Task`, and
    /// `extra_refs` more for handles the caller creates with them (`TaskRef`s).
    ///
    /// The cell is written field by field into the new allocation rather than built as a
    /// value and boxed: `Box::new(Cell { .. })` assembles the whole cell on the stack first
    /// (unoptimised builds always do), which for a large future is one more stack copy of it.
    pub(crate) fn allocate(
        future: F,
        scheduler: S,
        meta: TaskMeta,
        stats: TaskStats,
        context: Vars,
        owner: L,
        extra_refs: usize,
    ) -> NonNull<Header> {
        let layout = Layout::new::<Cell<F, S, L>>();
        // `Cell` always has a non-zero size (its header holds the state word).
        // SAFETY: the layout is non-zero-sized.
        let raw = unsafe { alloc::alloc(layout) }.cast::<Cell<F, S, L>>();
        let Some(cell) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        let cell = cell.as_ptr();
        // `cell` is a fresh allocation with `Cell`'s layout (global allocator,
        // `Layout::new::<Cell>()`, as `Box::from_raw` in `last_ref` expects).
        // SAFETY: each field is written once through a raw field pointer, no reference to uninit.
        unsafe {
            ptr::addr_of_mut!((*cell).header).write(Header {
                state: State::new(extra_refs),
                vtable: &Self::VTABLE,
                meta,
                stats,
            });
            ptr::addr_of_mut!((*cell).join_waker).write(UnsafeCell::new(None));
            ptr::addr_of_mut!((*cell).owner).write(owner);
            ptr::addr_of_mut!((*cell).scheduler).write(scheduler);
            ptr::addr_of_mut!((*cell).stage)
                .write(UnsafeCell::new(Stage::Running(future, context)));
        }
        // SAFETY: non-null (checked above); `Cell` is `repr(C)` with the header first.
        unsafe { NonNull::new_unchecked(cell) }.cast::<Header>()
    }

    /// # Safety
    /// `ptr` is the header of a live task of this type and the caller holds a reference for
    /// as long as it uses the returned borrow.
    unsafe fn cell<'a>(ptr: NonNull<Header>) -> &'a Cell<F, S, L> {
        // SAFETY: `Cell` is `repr(C)` with the header first, so the header pointer is the
        // cell pointer; the caller's reference keeps it alive.
        unsafe { ptr.cast::<Cell<F, S, L>>().as_ref() }
    }

    /// The schedule function alone. A schedule call takes `&S`, not `&Cell`, because when no
    /// guard is needed (`S` is zero-sized, no destructor) the task may be freed during the
    /// call, and a live reference to the whole cell would then dangle.
    ///
    /// # Safety
    /// As [`Self::cell`], or `S` is zero-sized.
    unsafe fn scheduler<'a>(ptr: NonNull<Header>) -> &'a S {
        let cell = ptr.cast::<Cell<F, S, L>>().as_ptr();
        // SAFETY: a field projection without creating a reference to the whole cell; valid
        // by the caller's contract.
        unsafe { &*ptr::addr_of!((*cell).scheduler) }
    }

    /// Calls the schedule function with a new `Runnable`.
    ///
    /// # Safety
    /// The caller transferred one counted reference (with `NOTIFIED`) to the new `Runnable`,
    /// and holds a guard reference across the call if [`Self::NEEDS_GUARD`].
    unsafe fn call_schedule(ptr: NonNull<Header>, info: ScheduleInfo) {
        // SAFETY: by the contract, the reference belongs to the Runnable we create.
        let runnable = unsafe { Runnable::from_header(ptr) };
        // SAFETY: the guard (or a zero-sized `S`) keeps `&S` valid for the call.
        unsafe { Self::scheduler(ptr) }.schedule(runnable, info);
    }

    /// Reports a panic nobody will retrieve to the schedule function's hook.
    fn report(cell: &Cell<F, S, L>, payload: Box<dyn std::any::Any + Send>) {
        let hook = AssertUnwindSafe(|| cell.scheduler.unhandled_panic(&cell.header.meta, payload));
        if let Err(hook_panic) = panic::catch_unwind(hook) {
            drop_payload(hook_panic);
        }
    }

    /// Drops a result nobody will read: the output (its `Drop` caught), or a panic payload
    /// (reported).
    fn discard_result(cell: &Cell<F, S, L>, result: Result<F::Output, TaskError>) {
        match result {
            Ok(output) => {
                if let Err(p) = panic::catch_unwind(AssertUnwindSafe(move || drop(output))) {
                    Self::report(cell, p);
                }
            }
            Err(err) => {
                if let Ok(payload) = err.try_into_panic() {
                    Self::report(cell, payload);
                }
            }
        }
    }

    /// Takes the result out of a completed stage (leaving `Consumed`).
    ///
    /// # Safety
    /// The caller owns the stage (see the field rules in `state.rs`).
    unsafe fn take_result(cell: &Cell<F, S, L>) -> Option<Result<F::Output, TaskError>> {
        cell.stage.with_mut(|stage| {
            // SAFETY: exclusive access by the caller's contract.
            match unsafe { &mut *stage } {
                Stage::Finished(result) => {
                    // Move only the result out (not the whole stage, which is as large as
                    // the future), then mark the stage consumed without dropping anything.
                    // SAFETY: `result` is valid and is never read again: the stage is
                    // overwritten right after.
                    let result = unsafe { ptr::read(result) };
                    // SAFETY: as above.
                    unsafe { ptr::write(stage, Stage::Consumed) };
                    Some(result)
                }
                Stage::Consumed => None,
                Stage::Running(..) => {
                    unreachable!("corio-core: took the result of a task that is still running")
                }
            }
        })
    }

    /// Drops the future in place (pinned futures must be dropped where they live) and marks
    /// the stage `Consumed`, even if the future's `Drop` panics (then reported). The caller
    /// sets the thread's current task around it, so `current()` works in the future's `Drop`.
    ///
    /// # Safety
    /// The caller holds `RUNNING` and the stage is `Running`.
    unsafe fn drop_future(cell: &Cell<F, S, L>) {
        cell.stage.with_mut(|stage| {
            // SAFETY: `RUNNING` gives exclusive access; the stage holds the pinned future.
            let dropped =
                panic::catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(stage) }));
            // SAFETY: the old value was dropped (fully, or as far as unwinding went, which
            // Rust treats as dropped): overwrite without dropping it again.
            unsafe { ptr::write(stage, Stage::Consumed) };
            if let Err(p) = dropped {
                Self::report(cell, p);
            }
        });
    }

    /// Stores the result and sets `COMPLETE`, then hands the output and the join waker to
    /// whoever owns them now.
    ///
    /// # Safety
    /// The caller holds `RUNNING`, the future is already dropped (stage `Consumed`), and the
    /// caller holds a reference until this returns. `owns_notified`: see
    /// `transition_to_complete`.
    unsafe fn complete(
        cell: &Cell<F, S, L>,
        mut result: Result<F::Output, TaskError>,
        owns_notified: bool,
    ) {
        let bomb = AbortOnUnwind;
        let state = &cell.header.state;
        let (join_interest, join_waker) = loop {
            let is_cancelled = result.as_ref().is_err_and(TaskError::is_cancelled);
            // SAFETY: `RUNNING` is ours: the stage is ours to write.
            cell.stage
                .with_mut(|s| unsafe { *s = Stage::Finished(result) });
            match state.transition(|s| transition_to_complete(s, is_cancelled, owns_notified)) {
                ToComplete::Completed {
                    join_interest,
                    join_waker,
                } => break (join_interest, join_waker),
                ToComplete::MustCancel => {
                    // SAFETY: still `RUNNING`: ours.
                    if let Some(lost) = unsafe { Self::take_result(cell) } {
                        Self::discard_result(cell, lost);
                    }
                    result = Err(TaskError::cancelled(cell.header.meta.id));
                }
            }
        };
        if !join_interest {
            // Nobody will read the output: it is ours (`COMPLETE` without `JOIN_INTEREST`).
            // SAFETY: see above.
            if let Some(result) = unsafe { Self::take_result(cell) } {
                Self::discard_result(cell, result);
            }
        } else if join_waker {
            // The slot is ours to read until we clear `JOIN_WAKER`.
            let woke = cell.join_waker.with(|w| {
                // SAFETY: `JOIN_WAKER` was set when we set `COMPLETE`: the Task only reads it.
                let w = unsafe { &*w };
                panic::catch_unwind(AssertUnwindSafe(|| {
                    if let Some(w) = w {
                        crate::context::wake_joiner(w)
                    }
                }))
            });
            if let Err(p) = woke {
                Self::report(cell, p);
            }
            let prev = state.unset_waker_after_complete();
            if !prev.is_join_interested() {
                // The Task was dropped meanwhile and left the waker to us.
                // SAFETY: `JOIN_WAKER` cleared with no Task: the slot is ours.
                let w = cell.join_waker.with_mut(|w| unsafe { (*w).take() });
                if let Err(p) = panic::catch_unwind(AssertUnwindSafe(move || drop(w))) {
                    Self::report(cell, p);
                }
            }
        }
        mem::forget(bomb);
    }

    /// Drops the future and completes with `Err(Cancelled)`.
    ///
    /// # Safety
    /// As [`Self::complete`], with the future still in the stage and `CANCELLED` set.
    unsafe fn cancel_stage(cell: &Cell<F, S, L>, ptr: NonNull<Header>, owns_notified: bool) {
        {
            let _enter = context::enter(ptr);
            // SAFETY: forwarded contract.
            unsafe { Self::drop_future(cell) };
        }
        // SAFETY: forwarded contract; the future is gone.
        unsafe {
            Self::complete(
                cell,
                Err(TaskError::cancelled(cell.header.meta.id)),
                owns_notified,
            )
        };
    }

    /// Releases one reference and frees the task if it was the last.
    ///
    /// # Safety
    /// The caller owns one reference to a live task of this type and gives it up.
    unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller's reference keeps the header alive until `ref_dec`.
        let after = unsafe { ptr.as_ref() }.state.ref_dec();
        if after.ref_count() == 0 {
            // SAFETY: no reference left: we own the task.
            unsafe { Self::last_ref(ptr, after) }
        }
    }

    /// The count reached zero: free the task, dropping the future first if it is still there.
    ///
    /// # Safety
    /// No handle to the task remains; `last` is the snapshot after the final release.
    unsafe fn last_ref(ptr: NonNull<Header>, last: Snapshot) {
        if last.is_complete() {
            // SAFETY: `allocate` made this pointer with the global allocator and
            // `Layout::new::<Cell>()`, as a `Box` would; no reference remains.
            drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S, L>>().as_ptr()) });
            return;
        }
        // The future is alive but unreachable (every waker dropped without waking, Task
        // gone). Nobody else can see the task, so we may rewrite its state outright.
        // SAFETY: we are the only owner; we take a revived reference before using it.
        let cell = unsafe { Self::cell(ptr) };
        if cell.owner.is_owner() {
            cell.header.state.revive(revived_to_cancel_here());
            // SAFETY: `RUNNING` and the revived reference are ours; the future is there.
            unsafe { Self::cancel_stage(cell, ptr, false) };
            // SAFETY: releases the revived reference: count 0 and `COMPLETE` → freed.
            unsafe { Self::drop_ref(ptr) };
        } else {
            // A spawn_local future on a foreign thread: let the owner drop it.
            cell.header
                .state
                .revive(revived_to_submit(Self::NEEDS_GUARD));
            let _guard = Self::NEEDS_GUARD.then(|| Self::guard(ptr));
            // SAFETY: one revived reference for the Runnable, one for the guard if needed.
            unsafe { Self::call_schedule(ptr, ScheduleInfo::default()) };
        }
    }

    // ---- vtable entries -------------------------------------------------------------------

    /// `Runnable::run`. Consumes the Runnable's reference.
    unsafe fn run(ptr: NonNull<Header>) -> bool {
        // SAFETY: the Runnable's reference keeps the task alive until we release it below.
        let cell = unsafe { Self::cell(ptr) };
        if !cell.owner.is_owner() {
            // Nothing was touched; the Runnable (and the task) are leaked: dropping the
            // future here would be unsound, and there is no owner thread to hand it to.
            panic!(
                "corio-core: a spawn_local task's Runnable was run on a thread other than the one \
                 that spawned it; an executor must run local tasks on their spawning thread"
            );
        }
        let state = &cell.header.state;
        match state.transition(|s| transition_to_running(s, false, true)) {
            ToRunning::Poll => {}
            ToRunning::Cancel => {
                // SAFETY: `RUNNING` (with `CANCELLED`) is ours; the Runnable's ref is held.
                unsafe {
                    Self::cancel_stage(cell, ptr, true);
                    Self::drop_ref(ptr);
                }
                return false;
            }
            ToRunning::Skip | ToRunning::WrongThread => {
                // SAFETY: releases the Runnable's reference.
                unsafe { Self::drop_ref(ptr) };
                return false;
            }
        }

        // The poll. The waker lent to the future borrows the Runnable's reference (no
        // refcount traffic unless the future clones it).
        let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &Self::WAKER_VTABLE);
        // SAFETY: the vtable's contract holds (see the waker functions below); ManuallyDrop
        // because this waker owns no reference of its own.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        let mut cx = Context::from_waker(&waker);
        let enter = context::enter(ptr);
        let started = cell.header.stats.begin_poll();
        let polled = {
            panic::catch_unwind(AssertUnwindSafe(|| {
                cell.stage.with_mut(|stage| {
                    // SAFETY: `RUNNING` is ours: exclusive access to the stage.
                    match unsafe { &mut *stage } {
                        Stage::Running(future, vars) => {
                            // The task's context variables are the current ones.
                            let _vars = vars.enter_poll();
                            // SAFETY: the future is pinned in the allocation: never moved,
                            // and dropped in place (`drop_future`).
                            unsafe { Pin::new_unchecked(future) }.poll(&mut cx)
                        }
                        _ => unreachable!("corio-core: polled a task whose future is gone"),
                    }
                })
            }))
        };

        if let Some(started) = started {
            cell.header.stats.end_poll(started);
        }
        let bomb = AbortOnUnwind;
        let rescheduled = match polled {
            Ok(Poll::Pending) => {
                drop(enter);
                match state.transition(|s| transition_to_idle(s, Self::NEEDS_GUARD)) {
                    ToIdle::Idle { last } => {
                        mem::forget(bomb);
                        if last {
                            // SAFETY: that was the last reference (the transition released
                            // ours): we are the sole owner, the load is final.
                            unsafe { Self::last_ref(ptr, state.load()) };
                        }
                        return false;
                    }
                    ToIdle::Notified => {
                        // Woken during the poll: the owed Runnable's reference is counted.
                        // Ours was released by the transition unless it must guard the
                        // schedule call (then released after it).
                        mem::forget(bomb);
                        let _ours = Self::NEEDS_GUARD.then(|| Self::guard(ptr));
                        // SAFETY: one counted reference for the Runnable, ours as the guard
                        // when needed.
                        unsafe { Self::call_schedule(ptr, ScheduleInfo::new(true)) };
                        return true;
                    }
                    ToIdle::Cancel => {
                        // SAFETY: `RUNNING` is still ours, future still there.
                        unsafe { Self::cancel_stage(cell, ptr, true) };
                        false
                    }
                }
            }
            Ok(Poll::Ready(output)) => {
                // SAFETY: `RUNNING` is ours; the future is done: drop it (still as the current
                // task) before publishing the output.
                unsafe { Self::drop_future(cell) };
                drop(enter);
                // SAFETY: as above, the future is gone.
                unsafe { Self::complete(cell, Ok(output), true) };
                false
            }
            Err(payload) => {
                // SAFETY: as above; a future that panicked is dropped like any other.
                unsafe { Self::drop_future(cell) };
                drop(enter);
                // SAFETY: as above, the future is gone.
                unsafe {
                    Self::complete(
                        cell,
                        Err(TaskError::panicked(cell.header.meta.id, payload)),
                        true,
                    )
                };
                false
            }
        };
        mem::forget(bomb);
        // SAFETY: releases the Runnable's reference (the last use of `cell` was above).
        unsafe { Self::drop_ref(ptr) };
        rescheduled
    }

    /// `drop(Runnable)`: cancels. Consumes the Runnable's reference.
    unsafe fn drop_runnable(ptr: NonNull<Header>) {
        // SAFETY: the Runnable's reference keeps the task alive.
        let cell = unsafe { Self::cell(ptr) };
        let here = cell.owner.is_owner();
        match cell
            .header
            .state
            .transition(|s| transition_to_running(s, true, here))
        {
            ToRunning::Cancel => {
                // SAFETY: `RUNNING` and `CANCELLED` are ours, and the Runnable's ref.
                unsafe {
                    Self::cancel_stage(cell, ptr, true);
                    Self::drop_ref(ptr);
                }
            }
            ToRunning::Skip | ToRunning::Poll => {
                // (`Poll` cannot happen with `cancel = true`.)
                // SAFETY: releases the Runnable's reference.
                unsafe { Self::drop_ref(ptr) };
            }
            ToRunning::WrongThread => {
                // Leak rather than drop a !Send future on the wrong thread.
                if !std::thread::panicking() {
                    panic!(
                        "corio-core: a spawn_local task's Runnable was dropped on a thread other than \
                         the one that spawned it; the task is leaked. Drop local Runnables on their \
                         spawning thread"
                    );
                }
            }
        }
    }

    /// `Runnable::schedule`. Consumes the Runnable's reference (it moves to the new one).
    unsafe fn schedule(ptr: NonNull<Header>) {
        let _guard = Self::NEEDS_GUARD.then(|| {
            // SAFETY: the Runnable's reference keeps the task alive while we add one.
            unsafe { ptr.as_ref() }.state.ref_inc();
            RefGuard::<F, S, L> {
                ptr,
                _types: PhantomData,
            }
        });
        // SAFETY: the Runnable's counted reference moves to the new Runnable; guard held.
        unsafe { Self::call_schedule(ptr, ScheduleInfo::default()) };
    }

    /// `Task::poll`: registers `waker` or writes the result to `dst`.
    unsafe fn try_read_output(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
        // SAFETY: the Task's reference keeps the task alive.
        let cell = unsafe { Self::cell(ptr) };
        if !Self::can_read_output(cell, waker) {
            return;
        }
        // SAFETY: `COMPLETE` seen with `JOIN_INTEREST` (ours): the stage is the Task's.
        match unsafe { Self::take_result(cell) } {
            Some(result) => {
                let dst = dst.cast::<Poll<Result<F::Output, TaskError>>>();
                // SAFETY: the Task passes a valid `&mut Poll<Result<T, TaskError>>`.
                unsafe { *dst = Poll::Ready(result) };
            }
            None => panic!("a corio Task was polled after it had already returned its result"),
        }
    }

    /// Tokio's join-waker protocol (see the field rules in `state.rs`): true when the output
    /// can be read, false when `waker` is registered and will be woken on completion.
    fn can_read_output(cell: &Cell<F, S, L>, waker: &Waker) -> bool {
        let state = &cell.header.state;
        let snapshot = state.load();
        if snapshot.is_complete() {
            return true;
        }
        let registered = if snapshot.is_join_waker_set() {
            // The slot is shared read-only: the same waker needs nothing.
            // SAFETY: while `JOIN_WAKER` is set the slot is only read, by both sides.
            let same = cell
                .join_waker
                .with(|w| unsafe { &*w }.as_ref().is_some_and(|w| w.will_wake(waker)));
            if same {
                return false;
            }
            state
                .transition(transition_to_join_waker_unset)
                .and_then(|()| Self::set_join_waker(cell, waker.clone()))
        } else {
            Self::set_join_waker(cell, waker.clone())
        };
        registered.is_err()
    }

    /// Writes `waker` into the slot (ours while `JOIN_WAKER` is clear), then publishes it.
    /// `Err` if the task completed meanwhile (the waker is taken back).
    fn set_join_waker(cell: &Cell<F, S, L>, waker: Waker) -> Result<(), ()> {
        // SAFETY: `JOIN_WAKER` clear and not complete: the slot belongs to the Task.
        cell.join_waker.with_mut(|w| unsafe { *w = Some(waker) });
        let res = cell.header.state.transition(transition_to_join_waker_set);
        if res.is_err() {
            // SAFETY: completed with `JOIN_WAKER` clear: the completing thread never reads it.
            cell.join_waker.with_mut(|w| unsafe { *w = None });
        }
        res
    }

    /// `drop(Task)`. Consumes the Task's reference.
    unsafe fn drop_join(ptr: NonNull<Header>) {
        // SAFETY: the Task's reference keeps the task alive (until released below).
        let cell = unsafe { Self::cell(ptr) };
        let state = &cell.header.state;
        let snapshot = state.load();
        if snapshot.ref_count() == 1 {
            // Fast path: ours is the only reference, so no Runnable, waker or poller exists
            // and nobody else can read or change anything: no read-modify-write needed.
            if snapshot.is_complete() {
                // SAFETY: sole owner.
                if let Some(result) = unsafe { Self::take_result(cell) } {
                    Self::discard_result(cell, result);
                }
            }
            // SAFETY: sole owner.
            let waker = cell.join_waker.with_mut(|w| unsafe { (*w).take() });
            // SAFETY: we give up the last reference (drops the future first if it is there).
            unsafe { Self::last_ref(ptr, snapshot) };
            drop(waker);
            return;
        }
        let _ours = RefGuard::<F, S, L> {
            ptr,
            _types: PhantomData,
        };
        let dropped = state.transition(transition_to_join_dropped);
        if dropped.drop_output {
            // SAFETY: complete while `JOIN_INTEREST` was set: the result is ours.
            if let Some(result) = unsafe { Self::take_result(cell) } {
                Self::discard_result(cell, result);
            }
        }
        if dropped.drop_waker {
            // SAFETY: `JOIN_WAKER` clear (and we cleared `JOIN_INTEREST`): the slot is ours.
            let w = cell.join_waker.with_mut(|w| unsafe { (*w).take() });
            drop(w);
        }
    }

    /// `Task::cancel`. Borrows the Task's reference.
    unsafe fn cancel(ptr: NonNull<Header>) -> bool {
        // SAFETY: the Task's reference keeps the task alive.
        let cell = unsafe { Self::cell(ptr) };
        let here = cell.owner.is_owner();
        match cell
            .header
            .state
            .transition(|s| transition_to_cancelled(s, here))
        {
            Cancel::AlreadyFinished => false,
            Cancel::Requested => true,
            Cancel::DropHere => {
                // SAFETY: `RUNNING` and `CANCELLED` are ours; the Task holds a reference. A
                // queued Runnable (if any) owns `NOTIFIED`, so we do not.
                unsafe { Self::cancel_stage(cell, ptr, false) };
                true
            }
            Cancel::Submit => {
                // SAFETY: one counted reference for the new Runnable; the Task's reference
                // is the guard.
                unsafe { Self::call_schedule(ptr, ScheduleInfo::default()) };
                true
            }
        }
    }

    /// `Runnable::waker`: a new waker with its own reference.
    unsafe fn new_waker(ptr: NonNull<Header>) -> Waker {
        // SAFETY: the caller's handle keeps the task alive while we add a reference.
        unsafe { ptr.as_ref() }.state.ref_inc();
        let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &Self::WAKER_VTABLE);
        // SAFETY: the waker owns the reference just taken; the vtable honours the contract.
        unsafe { Waker::from_raw(raw) }
    }

    // ---- waker vtable ---------------------------------------------------------------------

    fn header_ptr(data: *const ()) -> NonNull<Header> {
        // SAFETY: wakers are only built from a non-null header pointer (see above).
        unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header>()) }
    }

    unsafe fn waker_clone(data: *const ()) -> RawWaker {
        // SAFETY: the waker being cloned holds a reference.
        unsafe { Self::header_ptr(data).as_ref() }.state.ref_inc();
        RawWaker::new(data, &Self::WAKER_VTABLE)
    }

    unsafe fn waker_wake(data: *const ()) {
        let ptr = Self::header_ptr(data);
        // SAFETY: this waker's reference keeps the task alive.
        let state = &unsafe { ptr.as_ref() }.state;
        match state.transition(transition_to_notified_by_val) {
            Notify::DoNothing => {}
            Notify::Release { last } => {
                if last {
                    // SAFETY: that was the last reference: nobody else can change the state
                    // any more, so this load is the final snapshot.
                    unsafe { Self::last_ref(ptr, state.load()) }
                }
            }
            Notify::Submit => {
                let _ours = RefGuard::<F, S, L> {
                    ptr,
                    _types: PhantomData,
                };
                // SAFETY: one counted reference for the Runnable; ours is the guard.
                unsafe { Self::call_schedule(ptr, waker_schedule_info()) };
            }
        }
    }

    unsafe fn waker_wake_by_ref(data: *const ()) {
        let ptr = Self::header_ptr(data);
        // SAFETY: this waker's reference keeps the task alive.
        let state = &unsafe { ptr.as_ref() }.state;
        match state.transition(|s| transition_to_notified_by_ref(s, Self::NEEDS_GUARD)) {
            Notify::DoNothing | Notify::Release { .. } => {}
            Notify::Submit => {
                let _guard = Self::NEEDS_GUARD.then(|| Self::guard(ptr));
                // SAFETY: one counted reference for the Runnable, plus the guard if needed.
                unsafe { Self::call_schedule(ptr, waker_schedule_info()) };
            }
        }
    }

    unsafe fn waker_drop(data: *const ()) {
        // SAFETY: gives up this waker's reference.
        unsafe { Self::drop_ref(Self::header_ptr(data)) }
    }
}
