//! Awaits say_after twice, one after the other: hello after 1 s, world after another 2 s (about 3 s).
//!
//! Run with `cargo run --release --example say_after`.

use corio_examples::seed::{self, Out};

fn main() {
    corio::run(seed::say_after_sequential(Out::stdout()));
}
