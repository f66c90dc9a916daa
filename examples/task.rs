//! `create_task` schedules a coroutine to run concurrently; the task can be
//! cancelled or awaited for its value.
//!
//! ```python
//! import asyncio
//!
//! async def nested():
//!     return 42
//!
//! async def main():
//!     # Schedule nested() to run soon concurrently
//!     # with main()
//!     task = asyncio.create_task(nested())
//!
//!     # "task" can now be used to cancel "nested()", or
//!     # can simply be awaited to wait until it is completee:
//!     await task
//!
//! asyncio.run(main())
//! ```
//!
//! Run with `cargo run --release --example task`.

async fn nested() -> i32 {
    42
}

async fn spawn_and_await() {
    // Schedule nested() to run soon concurrently with this function.
    let task = corio::create_task(nested());

    // "task" can now be used to cancel "nested()" (`task.cancel()`), or can
    // simply be awaited to wait until it is complete. Its output is
    // `Result<i32, TaskError>`: `Err` had it panicked or been cancelled.
    let value = task.await.expect("nested() failed");
    println!("task returned {value}");
}

/// `asyncio.run(main())`.
pub fn main() {
    corio::run(spawn_and_await());
}
