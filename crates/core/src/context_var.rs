//! Context variables: values that follow a request through tasks and threads
//! (Python's `contextvars`).
//!
//! A [`ContextVar`] is declared once (usually as a `static`) and read with
//! [`get`](ContextVar::get). Its value lives in the *current context*: the
//! running task's while a task is polled inside a [`Context::scope`], the
//! thread's own otherwise. A [`Context`] is a copy-on-write snapshot: copying
//! one shares its map, and the first [`set`](ContextVar::set) in the copy clones
//! it (a small vector of the variables set so far), so a copy costs nothing
//! while no variable is set and one reference count otherwise.
//!
//! corio-core provides the mechanism; an executor decides where contexts
//! flow. Every task runs in a context of its own, made current around each
//! poll (what the task sets stays in it, and it is dropped with the future);
//! it starts empty unless the spawner passes one to
//! [`Builder::context`](crate::Builder::context). The `corio` facade passes
//! [`Context::current`] (so a task starts with a copy of its spawner's context,
//! as asyncio's `create_task` does), and corio-blocking runs pool jobs in a copy
//! of the submitter's context (as asyncio's `to_thread`). [`Context::scope`]
//! does the same for a future that is not a task.
//!
//! ```
//! use corio_core::{Context, ContextVar};
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
//!
//! let _token = REQUEST_ID.set(7);
//! let mut copy = Context::current();
//! std::thread::spawn(move || {
//!     copy.run(|| {
//!         assert_eq!(REQUEST_ID.get(), Some(7)); // inherited
//!         let _ = REQUEST_ID.set(8); // the copy's own value
//!     })
//! })
//! .join()
//! .unwrap();
//! assert_eq!(REQUEST_ID.get(), Some(7)); // untouched
//! ```
//!
//! A variable declared with [`ContextVar::not_inherited`] is left out of every
//! copy (per-task state such as a span stack).
//!
//! # Compared with asyncio and tokio
//!
//! | | asyncio `contextvars` | tokio `task_local!` | corio `ContextVar` |
//! |---|---|---|---|
//! | new tasks | start with a copy | start empty (inheritance cannot be added, tokio#6659) | start with a copy; opt out per variable |
//! | `to_thread` / pool jobs | run in a copy | see nothing | run in a copy (`to_thread`, `run_in_executor`, `ThreadPool`) |
//! | changing a value | `set()` -> `Token`, `reset(token)` | only for a scope (`scope`, `sync_scope`) | `set()` -> [`Token`], [`reset`](ContextVar::reset) |
//! | outside a task | the thread's context | `with` panics, `try_with` errs | the thread's own context |
//! | a spawn costs | a pointer copy (HAMT) | nothing | nothing while no variable is set, else a reference count |
//!
//! Values are cloned out by [`get`](ContextVar::get) (or borrowed with
//! [`with`](ContextVar::with)), so keep them cheap to clone: integers, `Arc`s.
//! Declare variables as `static`s (as Python declares them at module level): a
//! context keeps one slot per variable ever set in the process, so creating
//! variables without end makes every context grow.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

/// One variable's place in a context: set (both fields filled) or not (null, `None`).
#[derive(Clone)]
struct Slot {
    /// The address of the value inside `owner`, so that `get` reads it with one
    /// load: no call through `Any`, no type check. The slot of variable `id` is
    /// only ever filled by the one `ContextVar<T>` that owns `id`, from a `T`, so
    /// the handle that reads it knows the type.
    value: *const (),
    owner: Option<Arc<dyn Any + Send + Sync>>,
    inherit: bool,
}

impl Slot {
    const UNSET: Slot = Slot {
        value: ptr::null(),
        owner: None,
        inherit: true,
    };

    fn is_set(&self) -> bool {
        self.owner.is_some()
    }
}

// SAFETY: `value` only points into `owner`, which is `Send + Sync`; a `Slot`
// never writes through it.
unsafe impl Send for Slot {}
// SAFETY: as above.
unsafe impl Sync for Slot {}

/// The variables set in one context, indexed by variable id - 1 (ids are
/// small and dense: one per variable ever set in the process), so a lookup is
/// one bounds check. Shared between contexts until one of them sets a variable
/// (copy on write).
type Map = Arc<Vars>;

#[derive(Clone, Default)]
struct Vars {
    slots: Vec<Slot>,
    /// How many of `slots` hold a variable declared `not_inherited`: while 0
    /// (the common case) a copy for a new task shares the map without looking
    /// at its slots.
    not_inherited: usize,
}

/// The context of the code running on a thread now: the running task's while a
/// task is polled, the thread's own otherwise.
///
/// It has no destructor, so every access is a plain thread-local load (no
/// "registered yet / destroyed yet" check): what is left in it when the thread
/// ends is dropped by [`FREE_AT_EXIT`], which only threads that set a variable
/// register.
struct Current {
    /// The current map as [`Arc::into_raw`] (owned by this cell), null when no
    /// variable is set: a `get` is this load, a bounds check, a null check and
    /// the clone.
    map: Cell<*const Vars>,
    /// How many references into `map`'s values are live on this thread (a `get`
    /// cloning, a `with` closure), plus [`RETIRED`] while maps replaced during
    /// such a borrow wait in [`RETIRED_MAPS`] for it to end. While it is not 0,
    /// a `set` copies the map instead of changing it in place and keeps the old
    /// one alive, so the borrowed value cannot be freed under the reader (as a
    /// `Clone` impl or a `with` closure that sets the variable would otherwise do).
    reading: Cell<usize>,
}

/// The flag in [`Current::reading`] saying maps wait in [`RETIRED_MAPS`].
const RETIRED: usize = 1 << (usize::BITS - 1);

thread_local! {
    static CURRENT: Current = const {
        Current {
            map: Cell::new(ptr::null()),
            reading: Cell::new(0),
        }
    };
    /// Its destructor drops the thread's own context when the thread ends.
    static FREE_AT_EXIT: FreeAtExit = const { FreeAtExit };
    /// Maps a `set` replaced while a value was borrowed (see [`Current::reading`]).
    static RETIRED_MAPS: RefCell<Vec<Map>> = const { RefCell::new(Vec::new()) };
}

impl Current {
    /// The address of the value in slot `index`, null when it is not set.
    #[inline(always)]
    fn value(&self, index: usize) -> *const () {
        let map = self.map.get();
        if map.is_null() {
            return ptr::null();
        }
        // SAFETY: a non-null `map` is an `Arc<Vars>` this cell owns; it stays alive
        // while the cell holds it, and this borrow ends before anything can replace it.
        let vars = unsafe { &*map };
        vars.slots.get(index).map_or(ptr::null(), |s| s.value)
    }

    /// Moves the current map out, leaving none.
    #[inline(always)]
    fn take(&self) -> Option<Map> {
        from_raw(self.map.replace(ptr::null()))
    }

    /// Swaps `map` with the current one.
    #[inline(always)]
    fn swap(&self, map: &mut Option<Map>) {
        let new = into_raw(map.take());
        *map = from_raw(self.map.replace(new));
    }

    /// A copy of the current map (one reference count), if there is one.
    #[inline]
    fn share(&self) -> Option<Map> {
        let map = self.map.get();
        if map.is_null() {
            return None;
        }
        // SAFETY: `map` is a live `Arc<Vars>` this cell owns (see `value`); the
        // count is raised before the new `Arc` is made, so both own one.
        unsafe {
            Arc::increment_strong_count(map);
            Some(Arc::from_raw(map))
        }
    }
}

#[inline(always)]
fn into_raw(map: Option<Map>) -> *const Vars {
    map.map_or(ptr::null(), Arc::into_raw)
}

#[inline(always)]
fn from_raw(map: *const Vars) -> Option<Map> {
    // SAFETY: every non-null pointer stored in `Current::map` came from
    // `Arc::into_raw` and is moved out exactly once (by `replace`).
    (!map.is_null()).then(|| unsafe { Arc::from_raw(map) })
}

/// Marks a value of the current map as borrowed until dropped (see
/// [`Current::reading`]); the last one frees the maps retired meanwhile.
struct Reading<'a>(&'a Current);

impl<'a> Reading<'a> {
    #[inline(always)]
    fn new(current: &'a Current) -> Self {
        current.reading.set(current.reading.get() + 1);
        Reading(current)
    }
}

impl Drop for Reading<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let left = self.0.reading.get() - 1;
        self.0.reading.set(left);
        if left == RETIRED {
            free_retired(self.0);
        }
    }
}

#[cold]
#[inline(never)]
fn free_retired(current: &Current) {
    current.reading.set(0);
    // Taken out first: dropping values runs their `Drop`, which may use variables.
    let maps = RETIRED_MAPS.with(|r| std::mem::take(&mut *r.borrow_mut()));
    drop(maps);
}

/// Keeps `map` alive until the borrows counted in `current.reading` end.
#[cold]
#[inline(never)]
fn retire(current: &Current, map: Map) {
    RETIRED_MAPS.with(|r| r.borrow_mut().push(map));
    current.reading.set(current.reading.get() | RETIRED);
}

/// See [`FREE_AT_EXIT`]. Only a `set` outside any task can leave a context in
/// [`CURRENT`] when the thread ends (a task's or a `run`'s is swapped back out
/// when its poll or call returns), so `set` registers it.
struct FreeAtExit;

impl Drop for FreeAtExit {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| drop(c.take()));
    }
}

/// A snapshot of a set of context variables (Python's `contextvars.Context`).
///
/// [`Context::current`] copies the current one; [`Context::run`] and
/// [`Context::scope`] run code in it. corio does this itself for tasks and
/// pool jobs; use it to carry context into threads or executors corio does
/// not manage.
///
/// ```
/// use corio_core::{Context, ContextVar};
///
/// static USER: ContextVar<&'static str> = ContextVar::new("user");
/// let _t = USER.set("ada");
/// let mut ctx = Context::current();
/// std::thread::spawn(move || ctx.run(|| assert_eq!(USER.get(), Some("ada"))))
///     .join()
///     .unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Context {
    map: Option<Map>,
}

impl Context {
    /// An empty context: no variable is set.
    pub fn new() -> Self {
        Context { map: None }
    }

    /// A copy of the current context, as a new task or thread job receives it:
    /// variables declared [`not_inherited`](ContextVar::not_inherited) are left out.
    #[inline]
    pub fn current() -> Self {
        if !ANY_SET.load(Ordering::Relaxed) {
            return Context { map: None };
        }
        Context {
            map: CURRENT.with(|c| c.share()).and_then(inherited),
        }
    }

    /// Run `f` with this context as the current one; what `f` sets is kept in
    /// `self` (Python's `Context.run`).
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let _enter = Enter::new(&mut self.map);
        f()
    }

    /// A future that polls `fut` with this context as the current one (for a
    /// future that is not a task, such as a `block_on`'s; a task gets its
    /// context from [`Builder::context`](crate::Builder::context)).
    pub fn scope<F: Future>(self, fut: F) -> Scoped<F> {
        Scoped { ctx: self, fut }
    }

    /// Whether no variable is set in this context.
    pub fn is_empty(&self) -> bool {
        match &self.map {
            None => true,
            Some(m) => !m.slots.iter().any(Slot::is_set),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field(
                "variables",
                &self
                    .map
                    .as_ref()
                    .map_or(0, |m| m.slots.iter().filter(|s| s.is_set()).count()),
            )
            .finish()
    }
}

/// The inherited part of a context: the same map when every variable in it is
/// inherited (the common case: no copy), else a copy without the others.
#[inline]
fn inherited(map: Map) -> Option<Map> {
    if map.not_inherited == 0 {
        return Some(map);
    }
    without_not_inherited(&map)
}

#[cold]
#[inline(never)]
fn without_not_inherited(map: &Map) -> Option<Map> {
    let slots: Vec<Slot> = map
        .slots
        .iter()
        .map(|s| if s.inherit { s.clone() } else { Slot::UNSET })
        .collect();
    slots.iter().any(Slot::is_set).then(|| {
        Arc::new(Vars {
            slots,
            not_inherited: 0,
        })
    })
}

/// Makes a context current until dropped, then stores what was set in it back
/// where it came from and restores the previous one (also when the code run
/// inside panics).
struct Enter<'a> {
    home: &'a mut Option<Map>,
    previous: Option<Map>,
}

impl<'a> Enter<'a> {
    fn new(home: &'a mut Option<Map>) -> Self {
        let mut previous = home.take();
        CURRENT.with(|c| c.swap(&mut previous));
        Enter { home, previous }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let mut mine = self.previous.take();
        CURRENT.with(|c| c.swap(&mut mine));
        *self.home = mine;
    }
}

/// A future polled inside a [`Context`] (see [`Context::scope`]).
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    ctx: Context,
    fut: F,
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // `fut` is structurally pinned: never moved out of `self` (no method hands
        // it out by value or `&mut`, no `Drop` impl, `Unpin` only when `F` is);
        // SAFETY: `fut` stays pinned (above); `map` is unpinned, only swapped.
        let (ctx, fut) = unsafe {
            let this = self.get_unchecked_mut();
            (&mut this.ctx, Pin::new_unchecked(&mut this.fut))
        };
        let _scope = ctx.enter_poll();
        fut.poll(cx)
    }
}

impl Context {
    /// Makes this context the current one for one poll of a task's future, until
    /// the returned guard is dropped (also by unwinding), which keeps here what the
    /// poll set: [`Scoped`]'s poll, and corio-core's harness around every task poll
    /// (see [`Builder::context`]).
    ///
    /// Entering and leaving swap this context with the thread's, so no other
    /// storage is needed: while the poll runs, `self` holds the thread's context.
    /// While no variable was ever set in the process, both are empty and nothing is
    /// swapped (one relaxed load each way); if the poll sets the first variable, the
    /// swap on leaving moves it from the thread into this context.
    ///
    /// [`Builder::context`]: crate::Builder::context
    #[inline(always)]
    pub(crate) fn enter_poll(&mut self) -> PollScope<'_> {
        // A context is non-empty only after some `set` stored `ANY_SET`, and it
        // reaches this thread through synchronisation: `self.map` is `None` here
        // whenever this load reads `false`.
        if ANY_SET.load(Ordering::Relaxed) {
            swap_current(&mut self.map);
        }
        PollScope(&mut self.map)
    }
}

/// Swaps `map` with the thread's current context.
#[inline]
fn swap_current(map: &mut Option<Map>) {
    CURRENT.with(|c| c.swap(map));
}

/// See [`Context::enter_poll`]: swaps back when dropped.
pub(crate) struct PollScope<'a>(&'a mut Option<Map>);

impl Drop for PollScope<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // `ANY_SET` only goes from false to true: if it was set on entering, it
        // is still set; if only the poll set it, the thread's context holds what
        // the poll set and `self.0` the thread's own (empty), so the same swap
        // puts each where it belongs.
        if ANY_SET.load(Ordering::Relaxed) {
            swap_current(self.0);
        }
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped").finish_non_exhaustive()
    }
}

/// A context variable (Python's `contextvars.ContextVar`): its value follows
/// the current task (a copy per spawned task) and the current thread.
///
/// ```
/// use corio_core::ContextVar;
///
/// static DEPTH: ContextVar<u32> = ContextVar::new("depth");
/// assert_eq!(DEPTH.get(), None);
/// let token = DEPTH.set(1);
/// assert_eq!(DEPTH.get(), Some(1));
/// DEPTH.reset(token).unwrap();
/// assert_eq!(DEPTH.get(), None);
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    inherit: bool,
    /// Assigned on first use (0 = not yet): ids are never reused, so a variable
    /// dropped and another created at the same address cannot see its values.
    id: AtomicU64,
    _value: PhantomData<fn() -> T>,
}

/// What [`ContextVar::set`] returns: hand it to [`ContextVar::reset`] to restore
/// the value from before the `set`.
#[must_use = "without the token the previous value cannot be restored; use `let _ = var.set(v)` to ignore it"]
pub struct Token<T> {
    var: u64,
    old: Option<Arc<dyn Any + Send + Sync>>,
    _value: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("had_value", &self.old.is_some())
            .finish()
    }
}

/// [`ContextVar::reset`] was given a token made by another variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignTokenError {
    var: &'static str,
}

impl fmt::Display for ForeignTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token was created by a different ContextVar than '{}'",
            self.var
        )
    }
}

impl std::error::Error for ForeignTokenError {}

/// Where variable `id` sits in a [`Map`]: `usize::MAX` (never in bounds) for
/// id 0, a variable never set.
#[inline(always)]
fn index(id: u64) -> usize {
    // Ids count the variables ever used in this process: they fit a usize.
    (id as usize).wrapping_sub(1)
}

/// Set once any variable is set anywhere in the process: until then, copying
/// and entering contexts are skipped (a program that uses no context variables
/// pays two relaxed loads per poll). A thread that sets a variable stores it
/// before touching its context, and a context travels to other threads only
/// through synchronisation, so a thread that reads `false` has an empty context.
static ANY_SET: AtomicBool = AtomicBool::new(false);

fn next_var_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl<T> ContextVar<T> {
    /// A variable inherited by new tasks and thread jobs (Python's default).
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name,
            inherit: true,
            id: AtomicU64::new(0),
            _value: PhantomData,
        }
    }

    /// A variable that new tasks and thread jobs do not inherit: each starts
    /// with it unset.
    ///
    /// ```
    /// use corio_core::{Context, ContextVar};
    ///
    /// static SPAN: ContextVar<&'static str> = ContextVar::not_inherited("span");
    /// let _t = SPAN.set("parent");
    /// Context::current().run(|| assert_eq!(SPAN.get(), None));
    /// assert_eq!(SPAN.get(), Some("parent"));
    /// ```
    pub const fn not_inherited(name: &'static str) -> Self {
        ContextVar {
            name,
            inherit: false,
            id: AtomicU64::new(0),
            _value: PhantomData,
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether new tasks and thread jobs inherit the variable.
    pub fn is_inherited(&self) -> bool {
        self.inherit
    }

    fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let fresh = next_var_id();
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => winner,
        }
    }
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// The value in the current context, or `None` when it is not set there.
    #[inline]
    pub fn get(&self) -> Option<T> {
        self.with(|v| v.cloned())
    }

    /// The value in the current context, or `default` when it is not set.
    pub fn get_or(&self, default: T) -> T {
        self.get().unwrap_or(default)
    }

    /// Calls `f` with a reference to the current value (no clone).
    ///
    /// `f` may set variables, this one included: the value it holds stays alive
    /// until it returns.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        // The id is 0 while the variable was never set: no slot has that index.
        let index = index(self.id.load(Ordering::Relaxed));
        CURRENT.with(|c| {
            let value = c.value(index);
            if value.is_null() {
                return f(None);
            }
            let _reading = Reading::new(c);
            // SAFETY: slot `index` is only filled by this variable (the one owning
            // the id), with a `T` (`replace`), so `value` points to a `T` in the
            // current map. The map and the value stay alive until `_reading` is
            // dropped: while it counts, `replace` neither changes the map in place
            // nor drops it (it retires it), and only `replace` removes values.
            let value: &T = unsafe { &*value.cast::<T>() };
            f(Some(value))
        })
    }

    /// Set the value in the current context; the token restores the previous
    /// one through [`reset`](Self::reset).
    pub fn set(&self, value: T) -> Token<T> {
        let old = self.replace(Some(Arc::new(value) as Arc<dyn Any + Send + Sync>));
        Token {
            var: self.id(),
            old,
            _value: PhantomData,
        }
    }

    /// Restore the value from before the `set` that made `token` (unset if it
    /// was unset then).
    ///
    /// # Errors
    /// [`ForeignTokenError`] when the token was made by another variable.
    pub fn reset(&self, token: Token<T>) -> Result<(), ForeignTokenError> {
        if token.var != self.id() {
            return Err(ForeignTokenError { var: self.name });
        }
        self.replace(token.old);
        Ok(())
    }

    /// Put `value` (or remove the variable with `None`) and return the old value.
    fn replace(
        &self,
        value: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let id = self.id();
        let inherit = self.inherit;
        ANY_SET.store(true, Ordering::Relaxed);
        // Touching it registers its destructor (once per thread).
        let _ = FREE_AT_EXIT.try_with(|_| {});
        CURRENT.with(|c| {
            let mut current = c.take().unwrap_or_default();
            if c.reading.get() != 0 {
                // A value of this map is borrowed (a `with` closure or a `Clone`
                // impl is setting a variable): change a copy, keep this one alive.
                let copy = Arc::new(Vars::clone(&current));
                retire(c, std::mem::replace(&mut current, copy));
            }
            let map = Arc::make_mut(&mut current);
            let i = index(id);
            if map.slots.len() <= i {
                map.slots.resize(i + 1, Slot::UNSET);
            }
            let new = match value {
                Some(owner) => Slot {
                    // The `T` itself: `owner` was made from a `T` (`set`) or is a
                    // token's old value, which this variable made the same way.
                    value: Arc::as_ptr(&owner).cast::<()>(),
                    owner: Some(owner),
                    inherit,
                },
                None => Slot::UNSET,
            };
            // A variable's slot is always of the same kind: only set/unset changes.
            let was_set = map.slots[i].is_set();
            if !inherit && was_set != new.is_set() {
                if was_set {
                    map.not_inherited -= 1;
                } else {
                    map.not_inherited += 1;
                }
            }
            let old = std::mem::replace(&mut map.slots[i], new).owner;
            let mut current = Some(current);
            c.swap(&mut current);
            old
        })
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .field("inherited", &self.inherit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<String> = ContextVar::new("b");
    static LOCAL: ContextVar<u32> = ContextVar::not_inherited("local");

    #[test]
    fn set_get_reset_on_a_plain_thread() {
        std::thread::spawn(|| {
            assert_eq!(A.get(), None);
            let t1 = A.set(1);
            let t2 = A.set(2);
            assert_eq!(A.get(), Some(2));
            A.reset(t2).unwrap();
            assert_eq!(A.get(), Some(1));
            A.reset(t1).unwrap();
            assert_eq!(A.get(), None);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_token_of_another_variable_is_refused() {
        std::thread::spawn(|| {
            static C: ContextVar<u32> = ContextVar::new("c");
            let t = A.set(1);
            let _ = C.set(5);
            let err = C.reset(t).unwrap_err();
            assert!(err.to_string().contains("'c'"), "{err}");
            assert_eq!(C.get(), Some(5));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn copies_are_isolated_both_ways() {
        std::thread::spawn(|| {
            let _t = B.set("parent".into());
            let mut copy = Context::current();
            copy.run(|| {
                assert_eq!(B.get().as_deref(), Some("parent"));
                let _ = B.set("child".into());
            });
            assert_eq!(B.get().as_deref(), Some("parent"));
            // What the copy set stays in the copy.
            copy.run(|| assert_eq!(B.get().as_deref(), Some("child")));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn not_inherited_variables_are_left_out_of_copies() {
        std::thread::spawn(|| {
            let _a = A.set(3);
            let _l = LOCAL.set(4);
            let mut copy = Context::current();
            copy.run(|| {
                assert_eq!(A.get(), Some(3));
                assert_eq!(LOCAL.get(), None);
            });
            assert_eq!(LOCAL.get(), Some(4));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn run_restores_the_outer_context_after_a_panic() {
        std::thread::spawn(|| {
            let _t = A.set(10);
            let mut ctx = Context::new();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.run(|| {
                    let _ = A.set(11);
                    panic!("boom");
                })
            }));
            assert!(r.is_err());
            assert_eq!(A.get(), Some(10));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn scoped_future_sees_its_context_on_every_poll() {
        std::thread::spawn(|| {
            let _t = A.set(1);
            let ctx = Context::current();
            let _ = A.set(2); // after the copy: not seen inside
            let fut = ctx.scope(async {
                let first = A.get();
                yield_once().await;
                let _ = A.set(9);
                yield_once().await;
                (first, A.get())
            });
            assert_eq!(futures::executor::block_on(fut), (Some(1), Some(9)));
            assert_eq!(A.get(), Some(2));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_threads_own_context_is_dropped_when_the_thread_ends() {
        static HELD: ContextVar<Arc<()>> = ContextVar::new("held at exit");
        let value = Arc::new(());
        let v = value.clone();
        std::thread::spawn(move || {
            let _ = HELD.set(v);
        })
        .join()
        .unwrap();
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn a_task_runs_in_its_builder_context_and_drops_it_with_its_future() {
        std::thread::spawn(|| {
            static HELD: ContextVar<Arc<()>> = ContextVar::new("held");
            let value = Arc::new(());
            let _t = HELD.set(value.clone());
            let queue = Arc::new(std::sync::Mutex::new(Vec::new()));
            let q = queue.clone();
            let (runnable, task) = crate::Builder::new().context(Context::current()).spawn(
                async {
                    let first = HELD.get().is_some();
                    let _ = A.set(5); // the task's own, not the thread's
                    yield_once().await;
                    (first, A.get())
                },
                move |r| q.lock().unwrap().push(r),
            );
            let _ = A.set(1);
            runnable.run();
            assert_eq!(A.get(), Some(1), "the task's set stayed in the task");
            let runnable = queue.lock().unwrap().pop().expect("woken once");
            runnable.run();
            // The task is done but its handle still lives: the context is gone.
            assert_eq!(Arc::strong_count(&value), 2);
            let out = futures::executor::block_on(task).unwrap();
            assert_eq!(out, (true, Some(5)));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_with_closure_that_sets_the_variable_keeps_its_borrow_alive() {
        std::thread::spawn(|| {
            static S: ContextVar<String> = ContextVar::new("borrowed");
            let _t = S.set("first".into());
            let seen = S.with(|v| {
                let v = v.expect("set");
                // Replaces (and, dropping the token, releases) the value `v` borrows.
                drop(S.set("second".into()));
                let _ = S.set("third".into());
                assert_eq!(S.get().as_deref(), Some("third"));
                v.clone() // still readable: the old map was kept alive
            });
            assert_eq!(seen, "first");
            assert_eq!(S.get().as_deref(), Some("third"));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_clone_impl_that_sets_its_own_variable_reads_a_live_value() {
        #[derive(Debug, PartialEq)]
        struct Loud(Box<u32>);
        static L: ContextVar<Loud> = ContextVar::new("loud");
        impl Clone for Loud {
            fn clone(&self) -> Self {
                if *self.0 == 1 {
                    drop(L.set(Loud(Box::new(2))));
                }
                Loud(Box::new(*self.0))
            }
        }
        std::thread::spawn(|| {
            let _t = L.set(Loud(Box::new(1)));
            assert_eq!(L.get(), Some(Loud(Box::new(1))));
            assert_eq!(L.get(), Some(Loud(Box::new(2))));
        })
        .join()
        .unwrap();
    }

    /// Returns Pending once (and wakes itself), so the scope is entered twice.
    async fn yield_once() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }
}
