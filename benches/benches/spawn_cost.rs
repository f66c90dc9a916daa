//! Instruction-count driver for the per-task cost of spawn + run + join, through the
//! facade (`Handle::create_task`, as the shared peer benchmark calls it) and through
//! corio-scheduler alone, on one worker: a task spawns `N` children one at a time and
//! awaits each. Run it under callgrind twice with different `N` and divide the
//! difference in instructions by the difference in `N` (start-up cancels out):
//!
//! ```sh
//! cargo bench -p corio-benches --bench spawn_cost --no-run   # prints the binary path
//! for n in 10000 30000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null BIN facade $n 2>&1 | grep refs
//! done
//! ```
//!
//! Modes: `scheduler` (corio-scheduler's `Handle::spawn`), `facade` (no context
//! variable set), `facade-vars` (8 context variables set in the spawning task, so
//! every child starts with a copy of them), `facade-yield` (one task awaits
//! `yield_now` `N` times: the per-poll cost, no spawn). Without valgrind it prints
//! ns per task, which on the shared machine is only a rough figure.

#![allow(missing_docs)]

use std::time::Instant;

use corio::ContextVar;

static VARS: [ContextVar<u64>; 8] = [
    ContextVar::new("v0"),
    ContextVar::new("v1"),
    ContextVar::new("v2"),
    ContextVar::new("v3"),
    ContextVar::new("v4"),
    ContextVar::new("v5"),
    ContextVar::new("v6"),
    ContextVar::new("v7"),
];

fn facade(n: u64, vars: bool) -> u64 {
    let rt = corio::Runtime::builder()
        .worker_threads(1)
        .build()
        .expect("building the corio runtime");
    let handle = rt.handle();
    let h = handle.clone();
    let outer = handle.create_task(async move {
        let _tokens: Vec<_> = if vars {
            VARS.iter()
                .enumerate()
                .map(|(i, v)| v.set(i as u64))
                .collect()
        } else {
            Vec::new()
        };
        let mut sum = 0;
        for i in 0..n {
            sum += h.create_task(async move { i }).await.expect("child task");
        }
        sum
    });
    rt.block_on(outer).expect("outer task")
}

/// One task awaiting `yield_now` `n` times; returns the sum `facade` would.
fn facade_yield(n: u64) -> u64 {
    let rt = corio::Runtime::builder()
        .worker_threads(1)
        .build()
        .expect("building the corio runtime");
    let outer = rt.handle().create_task(async move {
        for _ in 0..n {
            corio::yield_now().await;
        }
        n * n.saturating_sub(1) / 2
    });
    rt.block_on(outer).expect("outer task")
}

fn scheduler(n: u64) -> u64 {
    let ex = corio_scheduler::Builder::new()
        .worker_threads(1)
        .build()
        .expect("building the executor");
    let h = ex.handle().clone();
    let outer = ex.spawn(async move {
        let mut sum = 0;
        for i in 0..n {
            sum += h.spawn(async move { i }).await.expect("child task");
        }
        sum
    });
    ex.block_on(outer).expect("outer task")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`: run a short default then.
    let mode = args.get(1).map(String::as_str).unwrap_or("facade");
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let start = Instant::now();
    let sum = match mode {
        "scheduler" => scheduler(n),
        "facade" => facade(n, false),
        "facade-vars" => facade(n, true),
        "facade-yield" => facade_yield(n),
        "--bench" => facade(n, false),
        other => {
            eprintln!("unknown mode {other}: use scheduler, facade, facade-vars or facade-yield");
            std::process::exit(2);
        }
    };
    let per = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
    println!("{mode}: {n} tasks, {per:.0} ns/task (wall clock, start-up included)");
}
