//! `loop.run_in_executor`: blocking I/O in the default pool and in a custom
//! thread pool, and the CPU-bound `cpu_bound()` in a custom process pool.
//!
//! Run with `cargo run --release --example run_in_executor`.

use corio_examples::seed::{self, Out, CPU_BOUND};

fn main() {
    // First thing in main: in a process-pool worker (a copy of this program)
    // this serves requests and exits; in the parent it returns at once. Python's
    // `if __name__ == "__main__":` guard plays the same role.
    corio::process::maybe_run_worker(&[&CPU_BOUND]);

    corio::run(seed::run_in_executor_main(Out::stdout(), true));
}
