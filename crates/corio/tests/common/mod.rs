//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// Run `f` on its own thread and fail the test if it takes longer than `secs`
/// (every test that waits goes through this, so a hang fails instead of
/// blocking CI). A panic inside `f` is re-raised here with its message.
pub(crate) fn timeout<T, F>(secs: u64, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {secs} s"),
    }
}

/// `corio::run(fut)` with a timeout. Compiled into tests/sim_facade.rs, it
/// runs `fut` in a `corio::sim` simulation instead (seed `CORIO_SIM_SEED`,
/// default 0), so those test files run unchanged under simulation too.
pub(crate) fn run<F>(secs: u64, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(feature = "sim")]
    if module_path!().starts_with("sim_facade::") {
        return timeout(secs, move || simulate(fut));
    }
    run_real(secs, fut)
}

/// `corio::run(fut)` with a timeout, on the real runtime also when the file
/// is compiled into tests/sim_facade.rs: for the tests that need real time
/// (they measure `Instant::now()` or `elapsed()`), a real socket or a real
/// thread. The call site says which.
pub(crate) fn run_real<F>(secs: u64, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    timeout(secs, move || corio::run(fut))
}

/// Runs `fut` as a simulation's main future; a failure (a panic, a deadlock,
/// a leak of real time or I/O) fails the test with the simulation's report.
#[cfg(feature = "sim")]
fn simulate<F: std::future::Future + 'static>(fut: F) -> F::Output {
    let seed = std::env::var(corio::sim::SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match corio::sim::Config::new().run_seed(seed, fut) {
        Ok(out) => out.into_output(),
        Err(e) => panic!("under corio::sim: {e}"),
    }
}

/// Counts drops of the values it hands out.
#[derive(Clone, Default)]
pub(crate) struct DropCounter(pub std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl DropCounter {
    pub(crate) fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub(crate) struct DropToken(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The message of a panic payload.
pub(crate) fn panic_msg(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_owned()
    }
}
