//! Stall reports: a task that blocked its worker thread (see
//! [`Builder::stall_threshold`](super::Builder::stall_threshold)).

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::TaskMeta;

/// The handler type of [`Builder::on_stall`](super::Builder::on_stall).
pub(crate) type StallHandler = Arc<dyn Fn(&StallReport) + Send + Sync + 'static>;

/// A task that has blocked its worker thread for longer than the stall threshold: what
/// [`Builder::on_stall`](super::Builder::on_stall) is called with, once when the stall
/// is detected ([`ended`](StallReport::ended) is `false`) and once when it ends.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let reports = Arc::new(Mutex::new(Vec::new()));
/// let r = reports.clone();
/// let rt = corio::Runtime::builder()
///     .worker_threads(2)
///     .stall_threshold(Some(Duration::from_millis(20)))
///     .on_stall(move |report| r.lock().unwrap().push(report.clone()))
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     let t = corio::create_task_named("blocker", async {
///         std::thread::sleep(Duration::from_millis(200)); // a blocking call: a bug
///     });
///     t.await.unwrap();
/// });
/// while reports.lock().unwrap().len() < 2 {
///     std::thread::sleep(Duration::from_millis(5));
/// }
/// let reports = reports.lock().unwrap();
/// assert_eq!(reports[0].task().and_then(|t| t.name()), Some("blocker"));
/// assert!(!reports[0].ended() && reports[1].ended());
/// ```
#[derive(Clone, Debug)]
pub struct StallReport {
    task: Option<TaskMeta>,
    inner: corio_scheduler::StallReport,
}

impl StallReport {
    /// A report about `task` (found when the stall began).
    pub(crate) fn with_task(report: &corio_scheduler::StallReport, task: Option<TaskMeta>) -> Self {
        StallReport {
            task,
            inner: report.clone(),
        }
    }

    /// The stalled task (id, name, spawn location), if it is in the runtime's task
    /// table (every task spawned through corio is, while it runs).
    pub fn task(&self) -> Option<&TaskMeta> {
        self.task.as_ref()
    }

    /// The stalled task's id, as a number ([`TaskId::as_u64`](crate::TaskId::as_u64)).
    pub fn task_id(&self) -> u64 {
        self.inner.task_id()
    }

    /// Where the stalled task was spawned.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.inner.location()
    }

    /// Index of the blocked worker thread.
    pub fn worker(&self) -> usize {
        self.inner.worker()
    }

    /// How long the task has blocked its worker: so far, or in total once
    /// [`ended`](StallReport::ended) (to within a quarter of the threshold).
    pub fn elapsed(&self) -> Duration {
        self.inner.elapsed()
    }

    /// `true` for the report sent when the stall ends.
    pub fn ended(&self) -> bool {
        self.inner.ended()
    }
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => write!(f, "{task} {}", self.inner.what()),
            None => write!(f, "{}", self.inner),
        }
    }
}

/// The default handler: one line on stderr per report, in release builds too.
pub(crate) fn default_handler(report: &StallReport) {
    eprintln!("corio: {report}");
}
