//! Schedules nested() as a task with create_task, then awaits it.
//!
//! Run with `cargo run --release --example task`.

use corio_examples::seed::{self, Out};

fn main() {
    corio::run(seed::task_main(Out::stdout()));
}
