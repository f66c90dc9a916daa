//! asyncio's queues: [`Queue`] (FIFO), [`LifoQueue`] and [`PriorityQueue`].
//!
//! A queue is a cloneable handle (an `Arc` inside): give one clone to each
//! producer and consumer task or thread. [`Queue::new(maxsize)`](GenericQueue::new)
//! with `maxsize == 0` is unbounded, as in asyncio; otherwise
//! [`put`](GenericQueue::put) waits while the queue is full.
//!
//! | asyncio | corio |
//! |---|---|
//! | `await q.put(x)` / `q.put_nowait(x)` | [`put(x).await`](GenericQueue::put) / [`put_nowait(x)`](GenericQueue::put_nowait) ([`TryPutError`]: `QueueFull`) |
//! | `await q.get()` / `q.get_nowait()` | [`get().await`](GenericQueue::get) / [`get_nowait()`](GenericQueue::get_nowait) ([`TryGetError`]: `QueueEmpty`) |
//! | `qsize()`, `empty()`, `full()`, `maxsize` | same names |
//! | `task_done()` / `await join()` | [`task_done`](GenericQueue::task_done) ([`TaskDoneError`] = `ValueError`) / [`join`](GenericQueue::join) |
//! | `shutdown(immediate)` (3.13) | [`shutdown(immediate)`](GenericQueue::shutdown) ([`GetError`], [`PutError`]) |
//! | `async for` over a queue (by hand in Python) | [`stream()`](GenericQueue::stream): a `futures_core::Stream` ending at shutdown |
//!
//! `get` and `put` are *cooperative*: each poll spends one unit of the running
//! task's budget (`corio_core::coop`), so a consumer that always finds an item
//! (a producer that keeps the queue full) still yields to the other tasks on its
//! worker instead of starving them.
//!
//! Both are cancellation-safe: a dropped `get` loses no item (items are only
//! taken when the future completes) and a dropped `put` gives back nothing it
//! did not store; a dropped waiter that had been woken passes the wake-up on.
//!
//! In a task cancelled cooperatively ([`crate::cancel`]) nothing waits, on
//! every await until the task ends: `get` fails with a cancelled [`GetError`]
//! (no item is taken), `put` with a cancelled [`PutError`] (the item comes
//! back), `join` returns at once and the stream ends. Inside
//! [`cleanup`](crate::cleanup) they wait normally.
//!
//! ```
//! use corio::queue::Queue;
//! futures::executor::block_on(async {
//!     let q = Queue::new(2);
//!     q.put(1).await.unwrap();
//!     q.put_nowait(2).unwrap();
//!     assert!(q.full());
//!     assert!(q.put_nowait(3).is_err()); // QueueFull
//!     assert_eq!(q.get().await.unwrap(), 1);
//!     assert_eq!(q.get_nowait().unwrap(), 2);
//!     q.task_done().unwrap();
//!     q.task_done().unwrap();
//!     q.join().await; // every item was marked done
//! });
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;

use crate::sync::loom_shim::{lock, Arc, Mutex};
use crate::sync::waitlist::{WaitKey, WaitList, WakeList};
use crate::tree::pending_at;

/// Cooperative budget check before a queue operation.
fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    corio_core::coop::poll_proceed(cx)
}

/// The storage discipline of a [`GenericQueue`]: which item `get` returns next.
///
/// No `Send` or `'static` bound: a queue of `Rc`s or of borrowed items can be
/// named and used on one thread; it is `Send`/`Sync` exactly when its
/// container is `Send`.
pub trait Container {
    /// The item type.
    type Item;
    /// An empty container.
    fn empty() -> Self;
    /// Adds an item.
    fn push(&mut self, item: Self::Item);
    /// Removes the next item, if any.
    fn pop(&mut self) -> Option<Self::Item>;
    /// Number of items.
    fn len(&self) -> usize;
    /// True when there is no item.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out ([`Queue`]).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);
/// Last in, first out ([`LifoQueue`]).
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);
/// Smallest first, as Python's `heapq` ([`PriorityQueue`]); use `(priority, data)`
/// tuples as asyncio does, or `std::cmp::Reverse` for largest first.
#[derive(Debug)]
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T> Container for Fifo<T> {
    type Item = T;
    fn empty() -> Self {
        Fifo(VecDeque::new())
    }
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Container for Lifo<T> {
    type Item = T;
    fn empty() -> Self {
        Lifo(Vec::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Container for Priority<T> {
    type Item = T;
    fn empty() -> Self {
        Priority(BinaryHeap::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(t)| t)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// asyncio's `Queue`: FIFO.
pub type Queue<T> = GenericQueue<Fifo<T>>;
/// asyncio's `LifoQueue`: the most recently added item first.
///
/// ```
/// let q = corio::queue::LifoQueue::new(0);
/// q.put_nowait(1).unwrap();
/// q.put_nowait(2).unwrap();
/// assert_eq!(q.get_nowait().unwrap(), 2);
/// ```
pub type LifoQueue<T> = GenericQueue<Lifo<T>>;
/// asyncio's `PriorityQueue`: the smallest item first.
///
/// ```
/// let q = corio::queue::PriorityQueue::new(0);
/// q.put_nowait((2, "later")).unwrap();
/// q.put_nowait((1, "first")).unwrap();
/// assert_eq!(q.get_nowait().unwrap(), (1, "first"));
/// ```
pub type PriorityQueue<T> = GenericQueue<Priority<T>>;

struct State<C> {
    items: C,
    maxsize: usize,
    unfinished: usize,
    shutdown: bool,
    getters: WaitList<()>,
    putters: WaitList<()>,
    joiners: WaitList<()>,
}

impl<C: Container> State<C> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }
}

struct Inner<C> {
    state: Mutex<State<C>>,
}

/// A queue handle; see the [module docs](self). [`Queue`], [`LifoQueue`] and
/// [`PriorityQueue`] are this type with a [`Container`] each.
///
/// Cloning gives another handle to the same queue.
pub struct GenericQueue<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for GenericQueue<C> {
    fn clone(&self) -> Self {
        GenericQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Container> fmt::Debug for GenericQueue<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.inner.state);
        f.debug_struct("Queue")
            .field("qsize", &st.items.len())
            .field("maxsize", &st.maxsize)
            .field("unfinished", &st.unfinished)
            .field("shutdown", &st.shutdown)
            .field("getters", &st.getters.pending_len())
            .field("putters", &st.putters.pending_len())
            .finish()
    }
}

/// What a dropped waiter does: needs no [`Container`] method, so the futures
/// below drop without one.
impl<C> GenericQueue<C> {
    fn cancel_get(&self, key: WaitKey) {
        self.cancel_wait(key, |st| &mut st.getters);
    }

    fn cancel_put(&self, key: WaitKey) {
        self.cancel_wait(key, |st| &mut st.putters);
    }

    /// Removes a dropped getter's or putter's registration from its list.
    fn cancel_wait(&self, key: WaitKey, list: fn(&mut State<C>) -> &mut WaitList<()>) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.inner.state);
            let waiters = list(&mut st);
            if waiters.cancel(key).is_some() {
                // It was woken for a turn it will not take: wake the next one.
                let _ = waiters.notify_one((), &mut wakes);
            }
        }
        wakes.wake();
    }
}

impl<C: Container> GenericQueue<C> {
    /// A queue holding at most `maxsize` items; `0` means unbounded (asyncio).
    pub fn new(maxsize: usize) -> Self {
        GenericQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    items: C::empty(),
                    maxsize,
                    unfinished: 0,
                    shutdown: false,
                    getters: WaitList::new(),
                    putters: WaitList::new(),
                    joiners: WaitList::new(),
                }),
            }),
        }
    }

    /// Number of items in the queue.
    pub fn qsize(&self) -> usize {
        lock(&self.inner.state).items.len()
    }

    /// True when the queue holds no item.
    pub fn empty(&self) -> bool {
        lock(&self.inner.state).items.is_empty()
    }

    /// True when the queue is bounded and holds `maxsize` items.
    pub fn full(&self) -> bool {
        lock(&self.inner.state).full()
    }

    /// The bound given to [`new`](Self::new) (0 = unbounded).
    pub fn maxsize(&self) -> usize {
        lock(&self.inner.state).maxsize
    }

    /// True after [`shutdown`](Self::shutdown).
    pub fn is_shutdown(&self) -> bool {
        lock(&self.inner.state).shutdown
    }

    /// Adds `item` at once, or fails with a [`TryPutError`] that is
    /// [full](TryPutError::is_full) (asyncio's `QueueFull`) or
    /// [shut down](TryPutError::is_shutdown); the item comes back in the error.
    pub fn put_nowait(&self, item: C::Item) -> Result<(), TryPutError<C::Item>> {
        let mut wakes = WakeList::new();
        let r = {
            let mut st = lock(&self.inner.state);
            if st.shutdown {
                Err(TryPutError::shut_down(item))
            } else if st.full() {
                Err(TryPutError::full(item))
            } else {
                Self::push_locked(&mut st, item, &mut wakes);
                Ok(())
            }
        };
        wakes.wake();
        r
    }

    /// Takes the next item at once, or fails with a [`TryGetError`] that is
    /// [empty](TryGetError::is_empty) (asyncio's `QueueEmpty`) or, once shut down
    /// and empty, [shut down](TryGetError::is_shutdown).
    pub fn get_nowait(&self) -> Result<C::Item, TryGetError> {
        let mut wakes = WakeList::new();
        let r = {
            let mut st = lock(&self.inner.state);
            match Self::pop_locked(&mut st, &mut wakes) {
                Some(item) => Ok(item),
                None if st.shutdown => Err(TryGetError { shut_down: true }),
                None => Err(TryGetError { shut_down: false }),
            }
        };
        wakes.wake();
        r
    }

    fn push_locked(st: &mut State<C>, item: C::Item, wakes: &mut WakeList) {
        st.items.push(item);
        st.unfinished += 1;
        let _ = st.getters.notify_one((), wakes);
    }

    fn pop_locked(st: &mut State<C>, wakes: &mut WakeList) -> Option<C::Item> {
        let item = st.items.pop()?;
        let _ = st.putters.notify_one((), wakes);
        Some(item)
    }

    /// Waits for room (if bounded) and adds `item`. Fails with
    /// a [`PutError`] if the queue is or gets shut down meanwhile, and
    /// in a cancelled task; it carries the item back.
    #[track_caller]
    pub fn put(&self, item: C::Item) -> Put<'_, C> {
        Put {
            queue: self,
            item: Some(item),
            key: None,
            at: Location::caller(),
        }
    }

    /// Waits for an item and takes it. Fails with a [`GetError`] once the
    /// queue is shut down and empty, and in a cancelled task.
    #[track_caller]
    pub fn get(&self) -> Get<'_, C> {
        Get {
            queue: self,
            key: None,
            at: Location::caller(),
        }
    }

    fn poll_get(
        &self,
        key: &mut Option<WaitKey>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<C::Item, GetError>> {
        ready!(poll_proceed(cx));
        let mut wakes = WakeList::new();
        let r = {
            let mut st = lock(&self.inner.state);
            if let Some(k) = *key {
                if st.getters.poll(k, cx.waker()).is_pending() {
                    return Poll::Pending;
                }
                *key = None;
            }
            match Self::pop_locked(&mut st, &mut wakes) {
                Some(item) => Poll::Ready(Ok(item)),
                None if st.shutdown => Poll::Ready(Err(GetError::SHUT_DOWN)),
                None => {
                    *key = Some(st.getters.register(cx.waker()));
                    Poll::Pending
                }
            }
        };
        wakes.wake();
        r
    }

    fn poll_put(
        &self,
        item: &mut Option<C::Item>,
        key: &mut Option<WaitKey>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), PutError<C::Item>>> {
        if crate::cancel::is_cancelled() {
            if let Some(k) = key.take() {
                self.cancel_put(k);
            }
            // The item comes back, as at shutdown; `None` only when polled
            // after completion.
            return match item.take() {
                Some(value) => Poll::Ready(Err(PutError::cancelled(value))),
                None => Poll::Pending,
            };
        }
        ready!(poll_proceed(cx));
        let mut wakes = WakeList::new();
        let r = {
            let mut st = lock(&self.inner.state);
            if let Some(k) = *key {
                if st.putters.poll(k, cx.waker()).is_pending() {
                    return Poll::Pending;
                }
                *key = None;
            }
            let Some(value) = item.take() else {
                // Polled after completion.
                return Poll::Pending;
            };
            if st.shutdown {
                Poll::Ready(Err(PutError::shut_down(value)))
            } else if st.full() {
                *item = Some(value);
                *key = Some(st.putters.register(cx.waker()));
                Poll::Pending
            } else {
                Self::push_locked(&mut st, value, &mut wakes);
                Poll::Ready(Ok(()))
            }
        };
        wakes.wake();
        r
    }

    /// Marks one item taken with `get` as processed (for [`join`](Self::join)).
    ///
    /// Fails with [`TaskDoneError`] when called more times than items were put
    /// (asyncio's `ValueError`).
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.inner.state);
            if st.unfinished == 0 {
                return Err(TaskDoneError { _private: () });
            }
            st.unfinished -= 1;
            if st.unfinished == 0 {
                st.joiners.notify_all(|| (), &mut wakes);
            }
        }
        wakes.wake();
        Ok(())
    }

    /// Waits until every item ever put has been marked with
    /// [`task_done`](Self::task_done) (or drained by `shutdown(true)`). While it
    /// waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn join(&self) -> Join<'_, C> {
        Join {
            queue: self,
            key: None,
            at: Location::caller(),
        }
    }

    /// Items put but not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        lock(&self.inner.state).unfinished
    }

    /// Shuts the queue down (Python 3.13): `put` fails from now on with
    /// a [`PutError`]; `get` keeps returning the remaining items, then fails.
    /// With `immediate`, the remaining items are dropped at once (each counts
    /// as done for [`join`](Self::join)) so `get` fails at once too. Every
    /// blocked getter and putter is woken to see the shutdown.
    ///
    /// ```
    /// use corio::queue::Queue;
    /// futures::executor::block_on(async {
    ///     let q = Queue::new(0);
    ///     q.put_nowait("last").unwrap();
    ///     q.shutdown(false);
    ///     assert!(q.put("late").await.is_err());
    ///     assert_eq!(q.get().await.unwrap(), "last");
    ///     assert!(q.get().await.is_err()); // shut down and empty
    /// });
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut wakes = WakeList::new();
        let drained = {
            let mut st = lock(&self.inner.state);
            st.shutdown = true;
            let mut drained = Vec::new();
            if immediate {
                while let Some(item) = st.items.pop() {
                    drained.push(item);
                    st.unfinished = st.unfinished.saturating_sub(1);
                }
                if st.unfinished == 0 {
                    st.joiners.notify_all(|| (), &mut wakes);
                }
            }
            st.getters.notify_all(|| (), &mut wakes);
            st.putters.notify_all(|| (), &mut wakes);
            drained
        };
        // Items are dropped outside the lock: their Drop may do anything.
        drop(drained);
        wakes.wake();
    }

    /// A `Stream` of the items (each `next()` is a `get`), ending when the
    /// queue is shut down and empty.
    ///
    /// ```
    /// use futures::StreamExt;
    /// futures::executor::block_on(async {
    ///     let q = corio::queue::Queue::new(0);
    ///     for i in 0..3 { q.put_nowait(i).unwrap(); }
    ///     q.shutdown(false);
    ///     let all: Vec<i32> = q.stream().collect().await;
    ///     assert_eq!(all, [0, 1, 2]);
    /// });
    /// ```
    pub fn stream(&self) -> QueueStream<C> {
        QueueStream {
            queue: self.clone(),
            key: None,
        }
    }
}

/// Future returned by [`GenericQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, C: Container> {
    queue: &'a GenericQueue<C>,
    item: Option<C::Item>,
    key: Option<WaitKey>,
    /// The caller's line: the task tree's await point while this waits.
    at: &'static Location<'static>,
}

impl<C: Container> Unpin for Put<'_, C> {}

impl<C: Container> Future for Put<'_, C> {
    type Output = Result<(), PutError<C::Item>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        pending_at(
            this.queue.poll_put(&mut this.item, &mut this.key, cx),
            this.at,
        )
    }
}

impl<C: Container> Drop for Put<'_, C> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.cancel_put(key);
        }
    }
}

impl<C: Container> fmt::Debug for Put<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

/// Future returned by [`GenericQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, C> {
    queue: &'a GenericQueue<C>,
    key: Option<WaitKey>,
    /// The caller's line: the task tree's await point while this waits.
    at: &'static Location<'static>,
}

impl<C: Container> Future for Get<'_, C> {
    type Output = Result<C::Item, GetError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if crate::cancel::is_cancelled() {
            // No item is taken (it stays for the other getters); a wake-up
            // we were handed goes on.
            this.leave();
            return Poll::Ready(Err(GetError::CANCELLED));
        }
        pending_at(this.queue.poll_get(&mut this.key, cx), this.at)
    }
}

impl<C> Get<'_, C> {
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.cancel_get(key);
        }
    }
}

impl<C> Drop for Get<'_, C> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<C> fmt::Debug for Get<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

/// Future returned by [`GenericQueue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, C> {
    queue: &'a GenericQueue<C>,
    key: Option<WaitKey>,
    at: &'static Location<'static>,
}

impl<C: Container> Future for Join<'_, C> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        pending_at(this.poll_join(cx), this.at)
    }
}

impl<C> Join<'_, C> {
    /// [`Future::poll`] without recording the await point.
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        if crate::cancel::is_cancelled() {
            // A cancelled task stops waiting, as `sleep` does.
            this.leave();
            return Poll::Ready(());
        }
        let mut st = lock(&this.queue.inner.state);
        if let Some(k) = this.key {
            let r = st.joiners.poll(k, cx.waker());
            if r.is_ready() {
                this.key = None;
            }
            return r;
        }
        if st.unfinished == 0 {
            return Poll::Ready(());
        }
        this.key = Some(st.joiners.register(cx.waker()));
        Poll::Pending
    }

    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            let _ = lock(&self.queue.inner.state).joiners.cancel(key);
        }
    }
}

impl<C> Drop for Join<'_, C> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<C> fmt::Debug for Join<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").finish_non_exhaustive()
    }
}

/// The items of a queue as a `futures_core::Stream` ([`GenericQueue::stream`]).
pub struct QueueStream<C> {
    queue: GenericQueue<C>,
    key: Option<WaitKey>,
}

impl<C: Container> Stream for QueueStream<C> {
    type Item = C::Item;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<C::Item>> {
        let this = self.get_mut();
        if crate::cancel::is_cancelled() {
            // A cancelled task's stream ends, as at shutdown.
            this.leave();
            return Poll::Ready(None);
        }
        this.queue.poll_get(&mut this.key, cx).map(Result::ok)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.queue.qsize(), None)
    }
}

impl<C> QueueStream<C> {
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.cancel_get(key);
        }
    }
}

impl<C> Drop for QueueStream<C> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<C: Container> fmt::Debug for QueueStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("queue", &self.queue)
            .finish()
    }
}

/// Why [`GenericQueue::put_nowait`] failed: the queue is full (asyncio's
/// `QueueFull`, [`is_full`](Self::is_full)) or shut down (asyncio's
/// `QueueShutDown`, [`is_shutdown`](Self::is_shutdown)). The item comes back with
/// [`into_inner`](Self::into_inner).
///
/// ```
/// let q = corio::queue::Queue::new(1);
/// q.put_nowait("a").unwrap();
/// let err = q.put_nowait("b").unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.to_string(), "queue is full");
/// assert_eq!(err.into_inner(), "b");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TryPutError<T> {
    item: T,
    shut_down: bool,
}

impl<T> TryPutError<T> {
    fn full(item: T) -> Self {
        TryPutError {
            item,
            shut_down: false,
        }
    }
    fn shut_down(item: T) -> Self {
        TryPutError {
            item,
            shut_down: true,
        }
    }
    /// The item that was not stored.
    pub fn into_inner(self) -> T {
        self.item
    }
    /// True when the queue was at `maxsize` (asyncio's `QueueFull`).
    pub fn is_full(&self) -> bool {
        !self.shut_down
    }
    /// True when the queue was shut down (asyncio's `QueueShutDown`).
    pub fn is_shutdown(&self) -> bool {
        self.shut_down
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryPutError")
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shut_down {
            f.write_str("queue is shut down")
        } else {
            f.write_str("queue is full")
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`GenericQueue::get_nowait`] failed: no item right now (asyncio's
/// `QueueEmpty`, [`is_empty`](Self::is_empty)), or shut down and empty, so no
/// item will ever come (asyncio's `QueueShutDown`, [`is_shutdown`](Self::is_shutdown)).
///
/// ```
/// let q = corio::queue::Queue::<u8>::new(0);
/// let err = q.get_nowait().unwrap_err();
/// assert!(err.is_empty() && !err.is_shutdown());
/// assert_eq!(err.to_string(), "queue is empty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryGetError {
    shut_down: bool,
}

impl TryGetError {
    /// True when the queue had no item (asyncio's `QueueEmpty`); a later call
    /// may succeed.
    pub fn is_empty(&self) -> bool {
        !self.shut_down
    }
    /// True when the queue is shut down and empty (asyncio's `QueueShutDown`).
    pub fn is_shutdown(&self) -> bool {
        self.shut_down
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shut_down {
            f.write_str("queue is shut down and empty")
        } else {
            f.write_str("queue is empty")
        }
    }
}

impl std::error::Error for TryGetError {}

/// Why [`GenericQueue::get`] returned no item: the queue is shut down and
/// empty, so no item will ever come (Python 3.13's `QueueShutDown`,
/// [`is_shutdown`](Self::is_shutdown)), or the waiting task was cancelled
/// cooperatively and took no item (asyncio's `CancelledError`,
/// [`is_cancelled`](Self::is_cancelled); see [`crate::cancel`]).
///
/// ```
/// futures::executor::block_on(async {
///     let q = corio::queue::Queue::<u8>::new(0);
///     q.shutdown(false);
///     let err = q.get().await.unwrap_err();
///     assert!(err.is_shutdown() && !err.is_cancelled());
///     assert_eq!(err.to_string(), "queue is shut down");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetError {
    cancelled: bool,
}

impl GetError {
    const SHUT_DOWN: GetError = GetError { cancelled: false };
    const CANCELLED: GetError = GetError { cancelled: true };

    /// True when the queue is shut down and empty.
    pub fn is_shutdown(&self) -> bool {
        !self.cancelled
    }

    /// True when the waiting task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.cancelled {
            "queue get cancelled"
        } else {
            "queue is shut down"
        })
    }
}

impl std::error::Error for GetError {}

/// Why [`GenericQueue::put`] did not store its item: the queue is shut down
/// (Python 3.13's `QueueShutDown`, [`is_shutdown`](Self::is_shutdown)), or
/// the waiting task was cancelled cooperatively (asyncio's `CancelledError`,
/// [`is_cancelled`](Self::is_cancelled); see [`crate::cancel`]). The item
/// comes back with [`into_inner`](Self::into_inner).
///
/// ```
/// futures::executor::block_on(async {
///     let q = corio::queue::Queue::new(0);
///     q.shutdown(false);
///     let err = q.put("late").await.unwrap_err();
///     assert!(err.is_shutdown() && !err.is_cancelled());
///     assert_eq!(err.into_inner(), "late");
/// });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PutError<T> {
    item: T,
    cancelled: bool,
}

impl<T> PutError<T> {
    fn shut_down(item: T) -> Self {
        PutError {
            item,
            cancelled: false,
        }
    }

    fn cancelled(item: T) -> Self {
        PutError {
            item,
            cancelled: true,
        }
    }

    /// The item that was not stored.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// True when the queue is shut down.
    pub fn is_shutdown(&self) -> bool {
        !self.cancelled
    }

    /// True when the waiting task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.cancelled {
            "queue put cancelled"
        } else {
            "queue is shut down"
        })
    }
}

impl<T> std::error::Error for PutError<T> {}

/// [`GenericQueue::task_done`] was called more times than items were put
/// (asyncio's `ValueError: task_done() called too many times`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError {
    _private: (),
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
