//! What `#[corio::main]` and `#[corio::test]` expand to call (corio-macros
//! generates `corio::__private::run_main::<Output, _>(config, async move { body })`).

use std::future::Future;

use crate::Runtime;

/// The attribute's options, as written by the macro.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct MainConfig {
    /// `worker_threads = N`.
    pub worker_threads: Option<usize>,
    /// `flavor = "current_thread"`.
    pub current_thread: bool,
    /// The annotated fn's name (for the error message).
    pub name: &'static str,
}

/// Builds the runtime `config` asks for, runs `fut` on it and shuts it down
/// (dropping the runtime: pending tasks are cancelled, blocking work gets a
/// bounded grace period, as after [`run`](crate::run)).
///
/// # Panics
///
/// If the runtime's threads cannot be started (the OS refused a thread): there
/// is nowhere to return the error from `main` or a test.
#[doc(hidden)]
#[track_caller]
pub fn run_main<T, F: Future<Output = T>>(config: MainConfig, fut: F) -> T {
    let mut builder = Runtime::builder();
    if config.current_thread {
        // Every task runs on this thread, inside `block_on`.
        builder = builder.current_thread();
    } else if let Some(n) = config.worker_threads {
        builder = builder.worker_threads(n);
    }
    match builder.build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => panic!(
            "corio: could not start the runtime for `{}`: {e} (the OS refused a thread; \
             lower worker_threads or raise the process's thread limit)",
            config.name
        ),
    }
}
