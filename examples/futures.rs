//! Awaits a settable future (Deferred), then gathers it with a coroutine.
//!
//! Run with `cargo run --release --example futures`.

use corio_examples::seed::{self, Out};

fn main() {
    corio::run(seed::futures_main(Out::stdout()));
}
