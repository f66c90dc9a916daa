//! Every snippet of asyncio's "Coroutines and Tasks" page, in order, with the
//! time each took.
//!
//! Run with `cargo run --release --example tour`.

use std::time::Instant;

use corio_examples::seed::{self, Out, CPU_BOUND};

fn main() {
    // Process-pool workers are copies of this program: serve and exit there.
    corio::process::maybe_run_worker(&[&CPU_BOUND]);

    let out = Out::stdout;
    let start = Instant::now();
    let step = |title: &str| println!("\n== {title} ({:.2?} so far)", start.elapsed());

    step("hello: print, sleep 1 s, print");
    corio::run(seed::hello(out()));

    step("say_after: awaited one after the other (about 3 s)");
    corio::run(seed::say_after_sequential(out()));

    step("say_after with create_task: concurrent (about 2 s)");
    corio::run(seed::say_after_tasks(out()));

    step("nested: calling without awaiting does nothing; awaiting prints 42");
    corio::run(seed::nested_main(out()));

    step("task: create_task(nested()) and await it");
    corio::run(seed::task_main(out()));

    step("futures: await a Deferred, then gather it with a coroutine");
    corio::run(seed::futures_main(out()));

    step("run_in_executor: default pool, ThreadPool, ProcessPool");
    corio::run(seed::run_in_executor_main(out(), true));

    println!("\n== tour finished in {:.2?}", start.elapsed());
}
