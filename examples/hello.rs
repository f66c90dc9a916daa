//! asyncio's first snippet: print "hello", wait one second, print "world".
//!
//! ```python
//! import asyncio
//!
//! async def main():
//!     print('hello')
//!     await asyncio.sleep(1)
//!     print('world')
//!
//! asyncio.run(main())
//! ```
//!
//! Run with `cargo run --release --example hello`.

use std::time::Duration;

async fn hello() {
    println!("hello");
    corio::sleep(Duration::from_secs(1)).await;
    println!("world");
}

/// `asyncio.run(main())`.
pub fn main() {
    corio::run(hello());
}
