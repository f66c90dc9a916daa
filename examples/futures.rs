//! Awaiting a future-like object set by a callback (asyncio's `Future`, corio's
//! `Deferred`), alone and gathered with a coroutine.
//!
//! ```python
//! async def main():
//!     await function_that_returns_a_future_object()
//!
//!     # this is also valid:
//!     await asyncio.gather(
//!         function_that_returns_a_future_object(),
//!         some_python_coroutine()
//!     )
//! ```
//!
//! Run with `cargo run --release --example futures`.

use std::time::Duration;

use corio::Deferred;

/// A low-level API returning a future-like object: a [`Deferred`] that a
/// callback sets half a second later (as `loop.run_in_executor` or a protocol
/// callback would).
fn function_that_returns_a_future_object() -> Deferred<&'static str> {
    let fut = Deferred::new();
    let setter = fut.clone();
    corio::Handle::current().call_later(Duration::from_millis(500), move || {
        // Setting a second outcome would be an error (asyncio's
        // InvalidStateError); this is the only one.
        let _ = setter.set_result("future result");
    });
    fut
}

/// A plain coroutine to gather next to the future.
async fn some_python_coroutine() -> &'static str {
    corio::sleep(Duration::from_millis(200)).await;
    "coroutine result"
}

async fn await_and_gather() {
    // A Deferred resolves to Result<T, DeferredError> (Err if it was
    // cancelled or given an exception).
    let result = function_that_returns_a_future_object().await;
    println!("awaited: {}", result.expect("the deferred failed"));

    // this is also valid:
    let (a, b) = corio::gather!(
        function_that_returns_a_future_object(),
        some_python_coroutine()
    );
    println!("gathered: {}, {b}", a.expect("the deferred failed"));
}

/// `asyncio.run(main())`.
pub fn main() {
    corio::run(await_and_gather());
}
