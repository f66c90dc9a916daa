//! Prints "hello", waits for 1 second, then prints "world" (asyncio's first snippet).
//!
//! Run with `cargo run --release --example hello`.

use corio_examples::seed::{self, Out};

fn main() {
    corio::run(seed::hello(Out::stdout()));
}
