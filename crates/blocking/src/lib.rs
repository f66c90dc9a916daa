//! corio-blocking: run blocking and CPU-bound work off the async threads.
//!
//! Python's `loop.run_in_executor(executor, func)` has three flavours; this crate
//! provides all three, each returning a [`BlockingTask`]: a plain future (no
//! runtime inside) that corio, tokio, `futures::executor` or any other executor can
//! await, and that a plain thread can [`wait`](BlockingTask::wait) on.
//!
//! | asyncio | corio-blocking |
//! |---|---|
//! | `await loop.run_in_executor(None, f)`, `await asyncio.to_thread(f)` | [`spawn_blocking(f)`](spawn_blocking)`.await` (the process-wide [`BlockingPool`]) |
//! | `ThreadPoolExecutor(max_workers)` / `run_in_executor(pool, f)` | [`ThreadPool::new(n)`](ThreadPool::new), [`pool.submit(f)`](ThreadPool::submit)`.await` |
//! | `ProcessPoolExecutor(max_workers)` / `run_in_executor(pool, f, arg)` | [`ProcessPool::new(n)`](ProcessPool::new), [`pool.submit(&F, arg)`](ProcessPool::submit)`.await` |
//!
//! ```
//! use corio_blocking::{spawn_blocking, ThreadPool};
//!
//! futures::executor::block_on(async {
//!     // 1. The default pool (elastic: up to 512 threads, idle ones exit after 10 s).
//!     let n = spawn_blocking(|| std::fs::metadata("/").is_ok()).await.unwrap();
//!     assert!(n);
//!
//!     // 2. A custom thread pool (`with ThreadPoolExecutor() as pool:`).
//!     let pool = ThreadPool::default();
//!     let s = pool.submit(|| "custom thread pool").await.unwrap();
//!     assert_eq!(s, "custom thread pool");
//!     // dropping `pool` waits for its work, like leaving the `with` block
//! });
//! // 3. The process pool needs a line in `main`: see the `process` module.
//! ```
//!
//! Panics in the work never take a pool down: they resolve the task with
//! a [`BlockingError`] whose [`is_panic`](BlockingError::is_panic) is true (with
//! the message, and for a thread pool the payload).
//!
//! The pools' thread protocol (idle counting, one spinning thread, shutdown) is
//! described in `pool.rs`; the result hand-off in `task.rs`.

mod blocking_pool;
mod error;
mod pool;
#[cfg(all(unix, feature = "process-pool"))]
pub mod process;
mod spinner;
mod sync;
mod task;
mod thread_pool;

pub use blocking_pool::{default_pool, spawn_blocking, BlockingPool, Builder};
pub use error::BlockingError;
#[cfg(all(unix, feature = "process-pool"))]
pub use process::{ProcessPool, ProcessPoolBuilder, RemoteFn};
pub use task::BlockingTask;
pub use thread_pool::ThreadPool;
