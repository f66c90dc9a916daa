//! [`Builder`]: configures and starts an [`Executor`].

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Arc as StdArc;
use std::time::Duration;

use corio_core::TaskMeta;
use crossbeam_utils::CachePadded;

use crate::executor::Executor;
use crate::idle::Idle;
use crate::lifo::LifoSlot;
use crate::owned::OwnedTasks;
use crate::park::Park;
use crate::shared::{
    Config, NameFn, OutsideCounters, Remote, Shared, SlowPollFn, ThreadCallback, ThreadCount,
    UnhandledPanicFn,
};
use crate::stall::{self, MonitorShared, StallConfig, StallFn, StallReport};
use crate::sync::{
    lock, Arc, AtomicBool, AtomicPtr, AtomicU64, Condvar, Injector, Mutex, Parker, Worker,
};
use crate::worker::{worker_main, WorkerCore};
use crate::Handle;

/// Default [`Builder::stall_threshold`]: Go's `sysmon` re-polls the network when nobody
/// has for 10 ms; a poll that long is a bug in async code either way. Off under loom
/// (the models that want the monitor turn it on).
#[cfg(not(loom))]
const DEFAULT_STALL_THRESHOLD: Option<Duration> = Some(Duration::from_millis(10));
#[cfg(loom)]
const DEFAULT_STALL_THRESHOLD: Option<Duration> = None;

/// Configures an [`Executor`]: worker count, thread names and stack size, callbacks,
/// the park hook, the current-thread flavor.
///
/// # Example
///
/// ```
/// use corio_scheduler::Builder;
///
/// let ex = Builder::new()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .thread_stack_size(1 << 20)
///     .on_thread_start(|| println!("worker started"))
///     .build()?;
/// let task = ex.spawn(async { 6 * 7 });
/// assert_eq!(ex.block_on(task).unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    worker_threads: Option<usize>,
    thread_name: StdArc<NameFn>,
    stack_size: Option<usize>,
    on_thread_start: Option<StdArc<ThreadCallback>>,
    on_thread_stop: Option<StdArc<ThreadCallback>>,
    park_hook: Option<StdArc<dyn Park>>,
    current_thread: bool,
    unhandled_panic: Option<StdArc<UnhandledPanicFn>>,
    slow_poll: Option<(Duration, StdArc<SlowPollFn>)>,
    stall_threshold: Option<Duration>,
    max_extra_workers: Option<usize>,
    on_stall: Option<StdArc<StallFn>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("thread_stack_size", &self.stack_size)
            .field("current_thread", &self.current_thread)
            .field("park_hook", &self.park_hook.is_some())
            .field("stall_threshold", &self.stall_threshold)
            .field("max_extra_workers", &self.max_extra_workers)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A multi-threaded executor with one worker per CPU, threads named
    /// `corio-worker-N`, the platform's default stack size.
    pub fn new() -> Builder {
        Builder {
            worker_threads: None,
            thread_name: name_prefix("corio-worker".to_string()),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            park_hook: None,
            current_thread: false,
            unhandled_panic: None,
            slow_poll: None,
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            max_extra_workers: None,
            on_stall: None,
        }
    }

    /// Number of worker threads (default: `num_cpus::get()`).
    ///
    /// # Panics
    /// If `n` is 0 (as tokio's builder; [`current_thread`](Builder::current_thread)
    /// is the one-thread flavour).
    #[must_use]
    #[track_caller]
    pub fn worker_threads(mut self, n: usize) -> Builder {
        assert!(
            n > 0,
            "corio-scheduler: worker_threads must be greater than 0"
        );
        self.worker_threads = Some(n);
        self
    }

    /// Worker threads are named `{prefix}-{index}`.
    #[must_use]
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = name_prefix(prefix.into());
        self
    }

    /// Worker threads are named by calling `f` (once per thread).
    #[must_use]
    pub fn thread_name_fn(mut self, f: impl Fn() -> String + Send + Sync + 'static) -> Builder {
        self.thread_name = StdArc::new(f);
        self
    }

    /// Stack size of the worker threads, in bytes.
    #[must_use]
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Called on each worker thread when it starts, before it runs any task.
    #[must_use]
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_start = Some(StdArc::new(f));
        self
    }

    /// Called on each worker thread when it stops, after it dropped its queued tasks.
    #[must_use]
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_stop = Some(StdArc::new(f));
        self
    }

    /// Lets one idle worker at a time wait in `hook` (e.g. the reactor) instead of its
    /// own parker; see [`Park`].
    #[must_use]
    pub fn park_hook(mut self, hook: StdArc<dyn Park>) -> Builder {
        self.park_hook = Some(hook);
        self
    }

    /// The current-thread flavor: no worker threads; tasks run on the thread inside
    /// [`Executor::block_on`] (one such thread at a time; others wait for it), and only
    /// while one is there. For tests and embedding.
    #[must_use]
    pub fn current_thread(mut self) -> Builder {
        self.current_thread = true;
        self
    }

    /// Called with the payload of a task panic that nobody will retrieve (the task was
    /// detached, or its `Task` dropped without being awaited). Default: one line on
    /// stderr with the task's id, name and spawn location. A panic inside the callback
    /// is caught and ignored.
    #[must_use]
    pub fn unhandled_panic(
        mut self,
        f: impl Fn(&TaskMeta, Box<dyn Any + Send>) + Send + Sync + 'static,
    ) -> Builder {
        self.unhandled_panic = Some(StdArc::new(f));
        self
    }

    /// Debug mode: call `f` after every poll that took at least `threshold`, with the
    /// task's metadata and the poll's duration. Zero cost when unset (one branch per
    /// poll); when set, each poll is timed. A panic inside `f` is caught and ignored.
    #[must_use]
    pub fn on_slow_poll(
        mut self,
        threshold: Duration,
        f: impl Fn(&TaskMeta, Duration) + Send + Sync + 'static,
    ) -> Builder {
        self.slow_poll = Some((threshold, StdArc::new(f)));
        self
    }

    /// A worker inside one poll for longer than `threshold` is **stalled** (default
    /// 10 ms; `None` turns the stall monitor off). While a worker is stalled, a monitor
    /// thread keeps the executor going: another worker (or the monitor) waits in the
    /// [park hook](Builder::park_hook) so I/O and timers are still delivered, an idle
    /// worker is woken to steal the stalled worker's queued tasks, and when every worker
    /// is stalled an extra worker is started (see [`max_extra_workers`](Builder::max_extra_workers)).
    /// Each stall is reported to [`on_stall`](Builder::on_stall). Time the worker's
    /// thread waits for a CPU (an oversubscribed machine) is not a stall, but its queued
    /// tasks are stolen after `threshold` in one poll all the same.
    ///
    /// Cost when nothing stalls: three relaxed stores per poll, and a monitor that
    /// sleeps while every worker is idle and otherwise wakes every `threshold / 4`.
    /// The current-thread flavor has no monitor.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let ex = corio_scheduler::Builder::new()
    ///     .worker_threads(1)
    ///     .stall_threshold(Some(Duration::from_millis(20)))
    ///     .on_stall(|_| {}) // silence the default report
    ///     .build()?;
    /// // The only worker blocks for 300 ms; an extra worker runs the second task.
    /// let blocker = ex.spawn(async { std::thread::sleep(Duration::from_millis(300)) });
    /// std::thread::sleep(Duration::from_millis(50));
    /// let start = Instant::now();
    /// ex.block_on(ex.spawn(async {})).unwrap();
    /// assert!(start.elapsed() < Duration::from_millis(250));
    /// ex.block_on(blocker).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.stall_threshold = threshold;
        self
    }

    /// How many extra workers may run at once while every worker is stalled (default:
    /// `worker_threads`). Each retires once the stall it stood in for has ended, so the
    /// thread count never exceeds `worker_threads + max_extra_workers` workers, plus the
    /// monitor thread.
    #[must_use]
    pub fn max_extra_workers(mut self, n: usize) -> Builder {
        self.max_extra_workers = Some(n);
        self
    }

    /// Called once when a stall is detected ([`StallReport::ended`] is `false`: how long
    /// so far) and once when it ends (`true`: the total), on the monitor thread. Default:
    /// one line on stderr for each, in release builds too; pass `|_| {}` to silence it.
    /// A panic inside `f` is caught and ignored.
    #[must_use]
    pub fn on_stall(mut self, f: impl Fn(&StallReport) + Send + Sync + 'static) -> Builder {
        self.on_stall = Some(StdArc::new(f));
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if no worker would start (`num_cpus` reported 0) or more than
    /// 32768 were asked; the OS error if a thread could not be spawned (the threads
    /// already started are stopped and joined first).
    pub fn build(self) -> io::Result<Executor> {
        let n = if self.current_thread {
            1
        } else {
            self.worker_threads.unwrap_or_else(num_cpus::get)
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "corio-scheduler: no worker thread to start (the CPU count read 0): set \
                 worker_threads(n)",
            ));
        }
        if n > 1 << 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("corio-scheduler: worker_threads({n}) is above the limit of 32768"),
            ));
        }
        let stall = match self.stall_threshold {
            Some(threshold) if !self.current_thread => Some(StallConfig {
                threshold,
                max_extra: self.max_extra_workers.unwrap_or(n).min((1 << 15) - n),
                on_stall: self
                    .on_stall
                    .unwrap_or_else(|| StdArc::new(stall::default_on_stall)),
            }),
            _ => None,
        };
        let slots = n + stall.as_ref().map_or(0, |s| s.max_extra);
        let mut cores: Vec<WorkerCore> = (0..slots)
            .map(|index| WorkerCore {
                index,
                local: Worker::new_fifo(),
                parker: Parker::new(),
            })
            .collect();
        let remotes = cores
            .iter()
            .map(|core| {
                CachePadded::new(Remote {
                    stealer: core.local.stealer(),
                    lifo: LifoSlot::new(),
                    unparker: core.parker.unparker().clone(),
                    in_hook: AtomicBool::new(false),
                    polls: AtomicU64::new(0),
                    steals: AtomicU64::new(0),
                    parks: AtomicU64::new(0),
                    busy_ns: AtomicU64::new(0),
                    spawned: AtomicU64::new(0),
                    completed: AtomicU64::new(0),
                    active: AtomicBool::new(core.index < n),
                    idle_at: AtomicU64::new(0),
                    hook_looks: AtomicU64::new(0),
                    task_id: AtomicU64::new(0),
                    task_location: AtomicPtr::new(std::ptr::null_mut()),
                    tid: AtomicU64::new(0),
                })
            })
            .collect();
        let spare = cores.split_off(n);
        let monitor_parker = stall.as_ref().map(|_| Parker::new());
        let monitor = monitor_parker
            .as_ref()
            .map(|parker| MonitorShared::new(parker, spare));
        let shared = Arc::new(Shared {
            remotes,
            num_workers: n,
            monitor,
            injector: Injector::new(),
            idle: Idle::with_spares(n, slots),
            owned: OwnedTasks::new(n),
            shutdown: AtomicBool::new(false),
            park_hook: self.park_hook,
            hook_busy: AtomicBool::new(false),
            spin: corio_core::spin::SpinGovernor::new(crate::worker::SPIN_BEFORE_PARK),
            config: Config {
                unhandled_panic: self.unhandled_panic,
                slow_poll: self.slow_poll,
                on_thread_start: self.on_thread_start,
                on_thread_stop: self.on_thread_stop,
                thread_name: self.thread_name,
                stack_size: self.stack_size,
                stall,
            },
            outside: CachePadded::new(OutsideCounters::default()),
            exited: Mutex::new(ThreadCount::default()),
            extra_threads: Mutex::new(Vec::new()),
            exited_cv: Condvar::new(),
            core: Mutex::new(None),
            core_waiters: Mutex::new(Vec::new()),
            current_thread: self.current_thread,
        });
        let handle = Handle::from_shared(shared.clone());
        if self.current_thread {
            *crate::sync::lock(&shared.core) = cores.into_iter().next();
            return Ok(Executor::from_parts(handle, Vec::new()));
        }
        let mut threads = Vec::with_capacity(n);
        for core in cores {
            let index = core.index;
            let builder = shared.config.thread_builder();
            let worker_shared = shared.clone();
            lock(&shared.exited).started += 1;
            match builder.spawn(move || worker_main(worker_shared, core, false)) {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    shared.worker_exited();
                    // Stop the ones already running; the cores not yet handed out are dropped.
                    drop(Executor::from_parts(handle, threads));
                    return Err(io::Error::new(
                        err.kind(),
                        format!(
                            "corio-scheduler: could not spawn worker thread {index} of {n}: {err} \
                             (try fewer worker_threads or a smaller thread_stack_size)"
                        ),
                    ));
                }
            }
        }
        // Under loom the models drive the monitor's steps themselves
        // (`loom_model::Monitor`): its ticking loop would not end.
        #[cfg(loom)]
        drop(monitor_parker);
        #[cfg(not(loom))]
        if let Some(parker) = monitor_parker {
            if let Err(err) = stall::start_monitor(shared.clone(), parker) {
                drop(Executor::from_parts(handle, threads));
                return Err(io::Error::new(
                    err.kind(),
                    format!(
                        "corio-scheduler: could not spawn the stall monitor thread: {err} \
                         (or turn it off with stall_threshold(None))"
                    ),
                ));
            }
        }
        Ok(Executor::from_parts(handle, threads))
    }
}

fn name_prefix(prefix: String) -> StdArc<NameFn> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    StdArc::new(move || {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{prefix}-{i}")
    })
}
