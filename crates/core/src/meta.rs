//! Task identity: [`TaskId`] and [`TaskMeta`] (id, optional parent, name and spawn location).

use std::fmt;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::Arc;

/// A process-wide unique task id.
///
/// Ids come from one global counter (reserved by each thread in blocks), so two tasks never
/// share an id, whichever executor or thread spawned them.
///
/// ```
/// let (runnable, task) = corio_core::spawn(async {}, |_r| {});
/// assert_eq!(runnable.id(), task.id());
/// println!("spawned task {}", task.id());
/// # drop(runnable);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(NonZeroU64);

/// How many ids a thread reserves at once: large enough that the shared counter is touched
/// once per 1024 spawns, small enough that short-lived threads waste few ids.
const ID_BLOCK: u64 = 1024;

impl TaskId {
    /// The next unused id.
    ///
    /// Each thread reserves ids from the global counter in blocks of [`ID_BLOCK`], so the
    /// common case is a thread-local increment rather than an atomic read-modify-write on a
    /// cache line every spawning thread fights over. Ids are unique, and increase on each
    /// thread, but are not ordered across threads.
    pub(crate) fn next() -> TaskId {
        use std::cell::Cell;
        use std::sync::atomic::{AtomicU64, Ordering};
        // Starts at 1 so the id fits a NonZeroU64 (and `Option<TaskId>` stays 8 bytes).
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        std::thread_local! {
            // (next id, end of the reserved block); (0, 0): nothing reserved yet.
            static BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let reserve = || {
            // Relaxed: uniqueness needs only the atomicity of the increment. 2^64 ids at one
            // per nanosecond last 584 years; if the counter ever wrapped we abort rather than
            // hand out a duplicate.
            let start = NEXT_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            if start > u64::MAX - 2 * ID_BLOCK {
                std::process::abort();
            }
            start
        };
        let id = BLOCK
            .try_with(|block| {
                let (mut next, mut end) = block.get();
                if next == end {
                    next = reserve();
                    end = next + ID_BLOCK;
                }
                block.set((next + 1, end));
                next
            })
            // This thread's slot is gone (a spawn from a thread-local destructor): reserve a
            // whole block and use only its first id.
            .unwrap_or_else(|_| reserve());
        match NonZeroU64::new(id) {
            Some(id) => TaskId(id),
            None => std::process::abort(),
        }
    }

    /// A fresh id, never handed out before: give it to
    /// [`Builder::id`](crate::Builder::id) when the id must be known before the
    /// task exists (e.g. to record the task in a table before it can run).
    ///
    /// ```
    /// let id = corio_core::TaskId::fresh();
    /// assert_ne!(id, corio_core::TaskId::fresh());
    /// let (runnable, task) = corio_core::Builder::new().id(id).spawn(async {}, |_r| {});
    /// assert_eq!(task.id(), id);
    /// # drop(runnable);
    /// ```
    pub fn fresh() -> TaskId {
        TaskId::next()
    }

    /// The id as a number (stable for the life of the process; useful in logs).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What is known about a task besides its future: id, parent, name and where it was spawned.
///
/// The one type for a task's identity across corio: set with [`Builder`](crate::Builder);
/// read with [`Runnable::meta`](crate::Runnable::meta), [`Task::meta`](crate::Task::meta),
/// [`current`](crate::current), in [`Schedule::unhandled_panic`](crate::Schedule::unhandled_panic),
/// and (in the `corio` facade) from `current_task()` and `all_tasks()`. Cloning it is cheap
/// (the name is shared).
///
/// ```
/// use std::panic::Location;
/// let (runnable, task) = corio_core::Builder::new()
///     .name("worker-1")
///     .location(Location::caller())
///     .spawn(async { 1 }, |_r| {});
/// assert_eq!(task.meta().name(), Some("worker-1"));
/// assert!(task.meta().location().is_some());
/// # drop(runnable);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TaskMeta {
    pub(crate) id: TaskId,
    pub(crate) parent: Option<TaskId>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: Option<&'static Location<'static>>,
}

impl TaskMeta {
    /// Metadata for a task that corio-core did not spawn (e.g. a facade's record of a task
    /// it tracks): id, optional name, optional spawn location.
    pub fn new(
        id: TaskId,
        name: Option<Arc<str>>,
        location: Option<&'static Location<'static>>,
    ) -> TaskMeta {
        TaskMeta {
            id,
            parent: None,
            name,
            location,
        }
    }

    /// The task that spawned it, when the spawner recorded one with
    /// [`Builder::parent`](crate::Builder::parent) (`None` for tasks spawned from outside
    /// any task).
    pub fn parent(&self) -> Option<TaskId> {
        self.parent
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name given with [`Builder::name`](crate::Builder::name), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The spawn location given with [`Builder::location`](crate::Builder::location), if any.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }
}

impl fmt::Debug for TaskMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskMeta")
            .field("id", &self.id.as_u64())
            .field("parent", &self.parent.map(TaskId::as_u64))
            .field("name", &self.name())
            .field("location", &self.location)
            .finish()
    }
}

/// `"task 7"`, `"task 7 'worker' spawned at src/main.rs:10:5"`: what debug reports print.
impl TaskMeta {
    /// Writes what `Display` prints (`task 2 'accept' spawned at src/main.rs:12:5`)
    /// to `w` without `format_args!`: the form for dumps of many tasks, where the
    /// formatting machinery would cost several times the text itself.
    ///
    /// ```
    /// let (runnable, task) = corio_core::spawn(async {}, |_r| {});
    /// let mut line = String::new();
    /// task.meta().write_to(&mut line).unwrap();
    /// assert_eq!(line, task.meta().to_string());
    /// # drop(runnable);
    /// ```
    pub fn write_to<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        w.write_str("task ")?;
        crate::text::write_decimal(w, self.id.as_u64())?;
        if let Some(name) = self.name() {
            w.write_str(" '")?;
            w.write_str(name)?;
            w.write_char('\'')?;
        }
        if let Some(loc) = self.location {
            w.write_str(" spawned at ")?;
            crate::text::write_location(w, loc)?;
        }
        Ok(())
    }
}

impl fmt::Display for TaskMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}
