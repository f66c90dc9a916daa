//! `gather`, `wait` and `as_completed`: waiting on many awaitables at once.
//!
//! * [`gather()`] (a homogeneous iterator) and [`gather!`](crate::gather!) (up to
//!   any number of differently typed futures) run their futures concurrently
//!   inside the awaiting task and return every output, in argument order, as
//!   `asyncio.gather(*aws)` does. A panic in one of them propagates (as an
//!   exception does in asyncio's default `return_exceptions=False`); to keep
//!   going past failures, gather [`Task`](crate::Task)s, whose outputs are
//!   `Result<T, TaskError>` (asyncio's `return_exceptions=True`).
//! * [`wait`] returns `(done, pending)` once the [`ReturnWhen`] condition holds.
//! * [`as_completed`] is a [`Stream`] of outputs in completion order.
//!
//! The futures are polled by the task that awaits the combinator, so they run
//! concurrently but not in parallel; spawn them with
//! [`create_task`](crate::create_task) first to use every worker.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let (a, b) = corio::gather!(async { 1 }, async { "two" });
//!     assert_eq!((a, b), (1, "two"));
//!
//!     let delays = [30u64, 10, 20];
//!     let all = corio::gather(delays.iter().map(|&ms| async move {
//!         corio::sleep(Duration::from_millis(ms)).await;
//!         ms
//!     }))
//!     .await;
//!     assert_eq!(all, vec![30, 10, 20]); // argument order, not completion order
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// One slot of a gather: the future while it runs, then its output.
#[doc(hidden)]
pub enum MaybeDone<F: Future> {
    /// Still running.
    Future(Pin<Box<F>>),
    /// Finished; the output waits to be taken.
    Done(F::Output),
    /// The output was taken.
    Gone,
}

impl<F: Future> fmt::Debug for MaybeDone<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaybeDone::Future(_) => "MaybeDone::Future(..)",
            MaybeDone::Done(_) => "MaybeDone::Done(..)",
            MaybeDone::Gone => "MaybeDone::Gone",
        })
    }
}

impl<F: Future> MaybeDone<F> {
    /// Wrap a future (boxed so the slot is `Unpin` without unsafe projections).
    #[doc(hidden)]
    pub fn new(fut: F) -> Self {
        MaybeDone::Future(Box::pin(fut))
    }

    /// Poll the future if it still runs; true once it has an output.
    #[doc(hidden)]
    pub fn poll_done(&mut self, cx: &mut Context<'_>) -> bool {
        if let MaybeDone::Future(f) = self {
            match f.as_mut().poll(cx) {
                Poll::Ready(out) => *self = MaybeDone::Done(out),
                Poll::Pending => return false,
            }
        }
        true
    }

    /// Take the output.
    ///
    /// # Panics
    /// If the future has not finished or the output was already taken (a bug in
    /// the gather macro, not something a user can trigger).
    #[doc(hidden)]
    pub fn take(&mut self) -> F::Output {
        match std::mem::replace(self, MaybeDone::Gone) {
            MaybeDone::Done(out) => out,
            _ => unreachable!("gather: output taken before the future finished"),
        }
    }
}

/// Run every future of `iter` concurrently and return all outputs in order
/// (`asyncio.gather(*aws)`).
///
/// While it waits, the task's await point is what one of the futures waits at,
/// or the caller's line when none of them records one (tasks, say).
///
/// ```
/// corio::run(async {
///     let squares = corio::gather((1..=3).map(|i| async move { i * i })).await;
///     assert_eq!(squares, vec![1, 4, 9]);
/// });
/// ```
#[track_caller]
pub fn gather<I>(iter: I) -> Gather<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    Gather {
        slots: iter.into_iter().map(MaybeDone::new).collect(),
        at: Location::caller(),
    }
}

/// The future returned by [`gather()`].
///
/// `F: Future` stays on the type because its layout needs it: each slot holds
/// the future and then its `F::Output` until all are done (futures'
/// `JoinAll<F: Future>` has the same bound for the same reason).
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    slots: Vec<MaybeDone<F>>,
    at: &'static Location<'static>,
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("len", &self.slots.len())
            .finish()
    }
}

// No structural pinning: the futures are boxed, outputs are only moved out.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut all = true;
        for slot in &mut this.slots {
            all &= slot.poll_done(cx);
        }
        if all {
            Poll::Ready(this.slots.iter_mut().map(MaybeDone::take).collect())
        } else {
            crate::tree::record_wait_if_none(this.at);
            Poll::Pending
        }
    }
}

/// Await several futures of different types concurrently and return a tuple of
/// their outputs in argument order (`asyncio.gather(a, b, c)`).
///
/// ```
/// corio::run(async {
///     let (n, s) = corio::gather!(async { 42 }, async { String::from("hi") });
///     assert_eq!(n, 42);
///     assert_eq!(s, "hi");
/// });
/// ```
#[macro_export]
macro_rules! gather {
    // Normalise: give the i-th future i leading `_` tokens, used to pick its slot
    // out of the tuple with a pattern (tokio's `join!` trick).
    (@ { ( $($count:tt)* ) $( $norm:tt )* } $e:expr, $($rest:tt)*) => {
        $crate::gather!(@ { ( $($count)* _ ) $($norm)* ( $($count)* ) $e, } $($rest)*)
    };
    (@ { ( $($count:tt)* ) $( ( $($skip:tt)* ) $e:expr, )* }) => {{
        let mut slots = ( $( $crate::__private::MaybeDone::new($e), )* );
        ::std::future::poll_fn(move |cx| {
            let mut all = true;
            $(
                let ( $($skip,)* slot, .. ) = &mut slots;
                all &= slot.poll_done(cx);
            )*
            if all {
                ::std::task::Poll::Ready(( $( {
                    let ( $($skip,)* slot, .. ) = &mut slots;
                    slot.take()
                }, )* ))
            } else {
                ::std::task::Poll::Pending
            }
        }).await
    }};
    () => { () };
    ( $($e:expr),+ $(,)? ) => {
        $crate::gather!(@ { () } $($e,)+)
    };
}

/// When [`wait`] returns (asyncio's `return_when`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future finishes (`FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as any future finishes with `Err` (a panicked or cancelled
    /// [`Task`](crate::Task), or any `Err` output), or when all have finished
    /// (`FIRST_EXCEPTION`).
    FirstException,
    /// When every future has finished (`ALL_COMPLETED`).
    AllCompleted,
}

/// Wait for futures until `when` holds, then return `(done, pending)`
/// (`asyncio.wait(aws, return_when=...)`).
///
/// Each entry carries its index in the input order: `done` holds the outputs of
/// the futures that finished, `pending` the futures that did not (still
/// running; await or drop them). The futures' outputs are `Result`s, as tasks'
/// are, so that [`ReturnWhen::FirstException`] can see failures.
///
/// ```
/// use corio::ReturnWhen;
/// use std::time::Duration;
///
/// corio::run(async {
///     let fast = corio::create_task(async { corio::sleep(Duration::from_millis(5)).await; 1 });
///     let slow = corio::create_task(async { corio::sleep(Duration::from_secs(60)).await; 2 });
///     let (done, pending) = corio::wait(vec![fast, slow], ReturnWhen::FirstCompleted).await;
///     assert_eq!(done.len(), 1);
///     assert_eq!(done[0].0, 0); // index of `fast`
///     assert_eq!(*done[0].1.as_ref().unwrap(), 1);
///     assert_eq!(pending.len(), 1);
///     pending[0].1.cancel();
/// });
/// ```
#[track_caller]
pub fn wait<I, F, T, E>(futures: I, when: ReturnWhen) -> Wait<F>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Unpin,
{
    Wait {
        futures: futures.into_iter().map(Some).collect(),
        done: Vec::new(),
        when,
        deadline: None,
        at: Location::caller(),
    }
}

/// The outcome of [`wait`]: `(done, pending)`, each entry with its input index.
pub type WaitResult<F> = (Vec<(usize, <F as Future>::Output)>, Vec<(usize, F)>);

/// The future returned by [`wait`].
///
/// `F: Future` stays on the type because its layout needs it: it stores the
/// finished futures' `F::Output`s.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<F: Future> {
    futures: Vec<Option<F>>,
    done: Vec<(usize, F::Output)>,
    when: ReturnWhen,
    deadline: Option<Pin<Box<crate::time::Sleep>>>,
    /// The caller of [`wait`]: the await point when the futures record none.
    at: &'static Location<'static>,
}

impl<F: Future> Wait<F> {
    /// Return after `timeout` at the latest, whatever `when` says (asyncio's
    /// `wait(..., timeout=)`): the futures that finished by then are in `done`,
    /// the others in `pending`. Nothing is cancelled.
    ///
    /// ```
    /// use corio::ReturnWhen;
    /// use std::time::Duration;
    ///
    /// corio::run(async {
    ///     let slow = corio::create_task(corio::sleep(Duration::from_secs(60)));
    ///     let (done, pending) = corio::wait(vec![slow], ReturnWhen::AllCompleted)
    ///         .timeout(Duration::from_millis(10))
    ///         .await;
    ///     assert!(done.is_empty());
    ///     assert_eq!(pending.len(), 1);
    /// });
    /// ```
    #[track_caller] // the timer's await point: the caller's line
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.deadline = Some(Box::pin(crate::time::sleep(timeout)));
        self
    }
}

impl<F: Future> fmt::Debug for Wait<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("len", &self.futures.len())
            .field("done", &self.done.len())
            .field("when", &self.when)
            .finish()
    }
}

// No structural pinning: the futures are `Unpin`, outputs are only moved.
impl<F: Future> Unpin for Wait<F> {}

impl<F, T, E> Future for Wait<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    type Output = WaitResult<F>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut failed = this.done.iter().any(|(_, o)| o.is_err());
        let mut remaining = 0;
        for (i, slot) in this.futures.iter_mut().enumerate() {
            if let Some(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(out) => {
                        failed |= out.is_err();
                        this.done.push((i, out));
                        *slot = None;
                    }
                    Poll::Pending => remaining += 1,
                }
            }
        }
        let ready = remaining == 0
            || match this.when {
                ReturnWhen::FirstCompleted => !this.done.is_empty(),
                ReturnWhen::FirstException => failed,
                ReturnWhen::AllCompleted => false,
            };
        let timed_out = !ready
            && this
                .deadline
                .as_mut()
                .is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if !ready && !timed_out {
            crate::tree::record_wait_if_none(this.at);
            return Poll::Pending;
        }
        let done = std::mem::take(&mut this.done);
        let pending = std::mem::take(&mut this.futures)
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| f.map(|f| (i, f)))
            .collect();
        Poll::Ready((done, pending))
    }
}

/// A [`Stream`] of the futures' outputs in completion order
/// (`asyncio.as_completed(aws)`).
///
/// Each item is `(index, output)`, the index being the future's position in the
/// input. Take them with `StreamExt::next` (futures or futures-lite), or with
/// [`AsCompleted::next_completed`] where no `StreamExt` is in scope.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// corio::run(async {
///     // Deadlines from one instant, so the order holds however late each is polled.
///     let start = Instant::now();
///     let mut stream = corio::as_completed([30u64, 10, 20].map(|ms| async move {
///         corio::sleep_until(start + Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some((_index, ms)) = stream.next_completed().await {
///         order.push(ms);
///     }
///     assert_eq!(order, vec![10, 20, 30]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    AsCompleted {
        remaining: futures.len(),
        futures,
    }
}

/// The stream returned by [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    futures: Vec<Option<Pin<Box<F>>>>,
    remaining: usize,
}

impl<F> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<F: Future> AsCompleted<F> {
    /// The next output in completion order, `None` when all were returned: what
    /// `StreamExt::next` gives, without importing a `StreamExt` (named apart so
    /// that it never shadows it).
    ///
    /// While it waits, the task's await point is what one of the futures waits
    /// at, or the caller's line when none of them records one (tasks, say).
    #[track_caller]
    pub fn next_completed(&mut self) -> impl Future<Output = Option<(usize, F::Output)>> + '_ {
        let at = Location::caller();
        std::future::poll_fn(move |cx| {
            let next = Pin::new(&mut *self).poll_next(cx);
            if next.is_pending() {
                crate::tree::record_wait_if_none(at);
            }
            next
        })
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = (usize, F::Output);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        // Polls every unfinished future on each wake-up: O(n) per wake, fine for the
        // tens-to-hundreds of awaitables as_completed is used with.
        for (i, slot) in this.futures.iter_mut().enumerate() {
            if let Some(f) = slot {
                if let Poll::Ready(out) = f.as_mut().poll(cx) {
                    *slot = None;
                    this.remaining -= 1;
                    return Poll::Ready(Some((i, out)));
                }
            }
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
