//! Runs the two say_after calls concurrently as tasks: about 2 s in all.
//!
//! Run with `cargo run --release --example say_after_tasks`.

use corio_examples::seed::{self, Out};

fn main() {
    corio::run(seed::say_after_tasks(Out::stdout()));
}
