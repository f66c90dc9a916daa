//! The same two `say_after` calls run concurrently as tasks: about 2 s in all,
//! not 3.
//!
//! ```python
//! async def main():
//!     task1 = asyncio.create_task(
//!         say_after(1, 'hello'))
//!
//!     task2 = asyncio.create_task(
//!         say_after(2, 'world'))
//!
//!     print(f"started at {time.strftime('%X')}")
//!
//!     # wait until both tasks are completed (should take around 2 seconds)
//!     await task1
//!     await task2
//!
//!     print(f"finished at {time.strftime('%X')}")
//! ```
//!
//! Run with `cargo run --release --example say_after_tasks`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

// A task may run on another worker thread, so what it holds is `Send +
// 'static`: `&'static str` here, as Python's string literals.
async fn say_after(delay: Duration, what: &'static str) {
    corio::sleep(delay).await;
    println!("{what}");
}

/// Python's `time.strftime('%X')`: the wall-clock time as `HH:MM:SS` (UTC).
fn strftime_x() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

async fn say_concurrently() {
    let task1 = corio::create_task(say_after(Duration::from_secs(1), "hello"));

    let task2 = corio::create_task(say_after(Duration::from_secs(2), "world"));

    println!("started at {}", strftime_x());

    // Wait until both tasks are completed (should take around 2 seconds).
    // A task's output is `Result<T, TaskError>`: `Err` if it panicked or was
    // cancelled, neither of which happens here.
    task1.await.expect("say_after(1, 'hello') failed");
    task2.await.expect("say_after(2, 'world') failed");

    println!("finished at {}", strftime_x());
}

/// `asyncio.run(main())`.
pub fn main() {
    corio::run(say_concurrently());
}
