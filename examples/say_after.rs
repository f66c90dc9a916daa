//! Awaiting two coroutines one after the other: "hello" after 1 s, "world"
//! 2 s later, about 3 s in all.
//!
//! ```python
//! import asyncio
//! import time
//!
//! async def say_after(delay, what):
//!     await asyncio.sleep(delay)
//!     print(what)
//!
//! async def main():
//!     print(f"started at {time.strftime('%X')}")
//!
//!     await say_after(1, 'hello')
//!     await say_after(2, 'world')
//!
//!     print(f"finished at {time.strftime{'%X'}}")
//!
//! asyncio.run(main())
//! ```
//!
//! Run with `cargo run --release --example say_after`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

async fn say_after(delay: Duration, what: &str) {
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

async fn say_in_sequence() {
    println!("started at {}", strftime_x());

    say_after(Duration::from_secs(1), "hello").await;
    say_after(Duration::from_secs(2), "world").await;

    println!("finished at {}", strftime_x());
}

/// `asyncio.run(main())`.
pub fn main() {
    corio::run(say_in_sequence());
}
