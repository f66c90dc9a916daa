//! Calling an async fn without awaiting it does nothing (and Rust warns); awaiting it prints 42.
//!
//! Run with `cargo run --release --example nested`.

use corio_examples::seed::{self, Out};

fn main() {
    corio::run(seed::nested_main(Out::stdout()));
}
