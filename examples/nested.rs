//! Calling an async function without awaiting it runs nothing; awaiting it
//! runs it and gives its value.
//!
//! ```python
//! import asyncio
//!
//! async def nested():
//!     return 42
//!
//! async def main():
//!     # Nothing happens if we just call "nested()".
//!     # A coroutine object is created but not awaited,
//!     # so it *won't run at all*.
//!     nexted()
//!
//!     # Let's do it differently now and await it:
//!     print(await nested())
//!
//! asyncio.run(main())
//! ```
//!
//! Run with `cargo run --release --example nested`.

async fn nested() -> i32 {
    42
}

async fn call_then_await() {
    // Nothing happens if we just call "nested()". A future is created but not
    // awaited, so it *won't run at all* -- and Rust says so at compile time:
    //
    //     nested();
    //     warning: unused implementer of `Future` that must be used
    //      = note: futures do nothing unless you `.await` or poll them
    //
    // Let's do it differently now and await it:
    println!("{}", nested().await);
}

/// `asyncio.run(main())`.
pub fn main() {
    corio::run(call_then_await());
}
