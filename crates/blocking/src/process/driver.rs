//! The driver threads: one per worker process. A driver takes calls from the
//! pool's queue, runs them in its worker, and replaces the worker when it dies,
//! times out or misbehaves; the monitor (`monitor.rs`) tells an idle driver when
//! its worker died.

use std::sync::Arc as StdArc;
use std::time::Instant;

use super::child::{CallFailure, Worker};
use super::{wait_on, wake_monitor, Call, Shared};
use crate::error::BlockingError;
use crate::sync::{lock, Ordering};

/// What an idle driver wakes up to.
enum Next {
    Call(Call),
    /// Its worker died while idle: reap and replace it.
    WorkerDied,
    /// The pool is shut down and the queue is empty.
    Done,
}

/// Takes the next call, sleeping while the queue is empty, or reports that the
/// driver's worker (`worker`, its pid) died.
fn next_call(shared: &Shared, worker: Option<u32>) -> Next {
    let mut st = lock(&shared.state);
    let mut may_spin = cfg!(not(loom));
    let died = |st: &super::State| worker.is_some_and(|pid| st.dead.contains(&pid));
    loop {
        if let Some(call) = st.queue.pop_front() {
            shared.queued.store(st.queue.len(), Ordering::Release);
            return Next::Call(call);
        }
        if died(&st) {
            return Next::WorkerDied;
        }
        if st.shutdown {
            return Next::Done;
        }
        let budget = if may_spin && st.counts.spinning == 0 {
            shared.spinner.budget()
        } else {
            std::time::Duration::ZERO
        };
        if !budget.is_zero() {
            st.counts.spinning += 1;
            drop(st);
            shared.spinner.spin(budget, || {
                shared.queued.load(Ordering::Acquire) != 0
                    || shared.shutting_down.load(Ordering::Acquire)
            });
            st = lock(&shared.state);
            st.counts.spinning -= 1;
            may_spin = false;
            continue;
        }
        st.counts.sleeping += 1;
        loop {
            st = wait_on(&shared.work, st);
            if st.counts.notified > 0 {
                st.counts.notified -= 1;
                break;
            }
            // Not claimed by a pusher, so still counted as sleeping.
            if st.shutdown || died(&st) {
                st.counts.sleeping -= 1;
                break;
            }
        }
    }
}

/// One driver thread per worker process: takes calls, runs them in its worker,
/// replaces the worker when it dies, and ends it at shutdown.
pub(super) fn driver(shared: StdArc<Shared>) {
    let _exit = DriverExit(&shared);
    let mut worker: Option<Worker> = None;
    loop {
        let call = match next_call(&shared, worker.as_ref().map(|w| w.pid)) {
            Next::Call(call) => call,
            Next::WorkerDied => {
                if let Some(w) = worker.take() {
                    w.end(&shared, false);
                }
                replace(&shared, &mut worker);
                continue;
            }
            Next::Done => break,
        };
        // Died so recently that the monitor has not said so yet: replace it
        // before handing it the call.
        if worker.as_ref().is_some_and(Worker::has_exited) {
            if let Some(w) = worker.take() {
                w.end(&shared, false);
            }
        }
        if worker.is_none() {
            match Worker::start(&shared) {
                Ok(w) => worker = Some(w),
                Err(err) => {
                    call.reply.complete(Err(err));
                    continue;
                }
            }
        }
        let Some(w) = worker.as_mut() else { continue };
        if !w.functions.iter().any(|f| f == call.name) {
            call.reply
                .complete(Err(BlockingError::unknown_function(call.name.to_owned())));
            continue;
        }
        let Call {
            name,
            arg,
            reply,
            timeout,
        } = call;
        let timeout = timeout.or(shared.config.call_timeout);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let failure = match w.call(name, arg, deadline, shared.config.max_reply_size) {
            Ok(result) => {
                reply.complete(result);
                continue;
            }
            Err(failure) => failure,
        };
        let Some(w) = worker.take() else { continue };
        let pid = w.pid;
        let err = match failure {
            CallFailure::TimedOut => {
                w.end(&shared, true);
                BlockingError::timed_out(name.to_owned(), timeout.unwrap_or_default())
            }
            CallFailure::TooLarge(size) => {
                w.end(&shared, true);
                BlockingError::reply_too_large(name.to_owned(), size, shared.config.max_reply_size)
            }
            CallFailure::Broken(err) => {
                // End of file or a broken pipe: the worker is exiting (wait for
                // it); garbage on the pipe: kill it now.
                let garbage = err.kind() == std::io::ErrorKind::InvalidData;
                let (status, killed) = w.end(&shared, garbage);
                let reason = if lock(&shared.state).grace_expired {
                    format!(
                        "was killed by the pool because the pool shut down and its {:?} grace period ran out",
                        shared.config.shutdown_grace
                    )
                } else if killed {
                    format!("broke the protocol ({err}) and was killed by the pool")
                } else {
                    status
                };
                BlockingError::broken_pool(pid, reason)
            }
        };
        reply.complete(Err(err));
        // Replace it now, so the pool is back at full strength before the next
        // call. If that fails, the next call retries (and reports why).
        replace(&shared, &mut worker);
    }
    if let Some(w) = worker.take() {
        w.end(&shared, false);
    }
}

/// Starts a replacement worker unless the pool is shutting down.
fn replace(shared: &StdArc<Shared>, worker: &mut Option<Worker>) {
    if !lock(&shared.state).shutdown {
        *worker = Worker::start(shared).ok();
    }
}

/// Uncounts the driver when it returns, or unwinds (e.g. a waker that panics), so
/// `shutdown(true)` never waits for a driver that is gone.
struct DriverExit<'a>(&'a Shared);

impl Drop for DriverExit<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.counts.threads -= 1;
        let last = st.counts.threads == 0;
        drop(st);
        self.0.exited.notify_all();
        if last {
            wake_monitor(self.0);
        }
    }
}
