//! `loop.run_in_executor`: blocking I/O in the default pool and in a custom
//! thread pool, and CPU-bound work in a custom process pool.
//!
//! ```python
//! import asyncio
//! import concurrent.futures
//!
//! def blocking_io():
//!     # File operations (such as logging) can block the
//!     # event loop: run them in a thread pool.
//!     with open('/dev/urandom', 'rb') as f:
//!         return f.read(100)
//!
//! def cpu_bound():
//!     # CPU-bound operations will block the event loop:
//!     # in general it is preferrable to run them in a
//!     # process  pool.
//!     return sum(i * i for i in range(10 ** 7))
//!
//! async def main():
//!     loop = asyncio.get_running_loop()
//!
//!     ## Options:
//!
//!     # 1. Run in the default loop's executor:
//!     result = await loop.run_in_executor(
//!         None, blocking_io)
//!     print('default thread pool', result)
//!
//!     # 2. Run in a custom thread pool:
//!     with concurrent.futures.ThreadPoolExecutor() as pool:
//!         result = await loop.run_in_executor(pool, blocking_io)
//!         print('custom thread pool', result)
//!
//!     # 3. Run in a custom process pool:
//!     with concurrent.futures.ProcessPoolExecutor() as pool:
//!         result = await loop.run_in_executor(pool, cpu_bound)
//!         print('custom process pool', result)
//!
//! asyncio.run(main())
//! ```
//!
//! Run with `cargo run --release --example run_in_executor`.

use std::io::Read;

use corio::process::RemoteFn;
use corio::{ProcessPool, ThreadPool};

fn blocking_io() -> std::io::Result<Vec<u8>> {
    // File operations (such as logging) can block the event loop: run them in
    // a thread pool.
    let mut buf = vec![0u8; 100];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

fn cpu_bound(n: u64) -> u128 {
    // CPU-bound operations block a worker thread: run them in a pool. (Rust has
    // no GIL, so a ThreadPool would do as well; a process pool isolates them.)
    (0..u128::from(n)).map(|i| i * i).sum()
}

/// `cpu_bound`, registered by name so that a process-pool worker (a copy of
/// this program) can run it: closures cannot cross a process boundary.
pub static CPU_BOUND: RemoteFn<u64, u128> = RemoteFn::new("cpu_bound", cpu_bound);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn three_executors() {
    // 1. Run in the default loop's executor. The outer Result is the pool's
    // (BlockingError: the closure panicked), the inner one blocking_io's.
    match corio::run_in_executor(None, blocking_io).await {
        Ok(Ok(bytes)) => println!("default thread pool {}", hex(&bytes)),
        Ok(Err(e)) => println!("default thread pool: reading failed: {e}"),
        Err(e) => println!("default thread pool: {e}"),
    }

    // 2. Run in a custom thread pool:
    {
        let pool = ThreadPool::default();
        match corio::run_in_executor(Some(&pool), blocking_io).await {
            Ok(Ok(bytes)) => println!("custom thread pool {}", hex(&bytes)),
            Ok(Err(e)) => println!("custom thread pool: reading failed: {e}"),
            Err(e) => println!("custom thread pool: {e}"),
        }
        // Leaving the block drops the pool: like leaving `with ... as pool:`.
    }

    // 3. Run in a custom process pool (range(10 ** 7) as the argument):
    {
        let pool = ProcessPool::default();
        match pool.submit(&CPU_BOUND, 10_000_000).await {
            Ok(sum) => println!("custom process pool {sum}"),
            Err(e) => println!("custom process pool: {e}"),
        }
    }
}

/// `asyncio.run(main())`, after the process-pool worker entry point.
pub fn main() {
    // First thing in main: in a process-pool worker (a copy of this program)
    // this serves calls and exits; in the parent it returns at once. Python's
    // `if __name__ == "__main__":` guard plays the same role.
    corio::process::maybe_run_worker(&[&CPU_BOUND]);

    corio::run(three_executors());
}
