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
//! `yield_now` `N` times: the per-poll cost, no spawn) and `facade-ping-pong` (two
//! tasks pass a number back and forth `N` times over bounded channels). A third argument
//! `no-monitor` builds the runtime with `stall_threshold(None)`; compare with the
//! default (monitor on, 10 ms) by instructions per unit of `N`. Callgrind runs the
//! threads one at a time, far slower than natively, so the monitor thread ticks (every
//! 2.5 ms of wall-clock time while a worker is busy) about 50 times more often per task
//! than it would natively: `--separate-threads=yes` shows its share apart from the
//! worker's. Without valgrind it prints ns per task, which on the shared machine is
//! only a rough figure.

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

/// A one-worker facade runtime, with the stall monitor on (the default) or off.
fn runtime(monitor: bool) -> corio::Runtime {
    let builder = corio::Runtime::builder().worker_threads(1);
    let builder = if monitor {
        builder
    } else {
        builder.stall_threshold(None)
    };
    builder.build().expect("building the corio runtime")
}

fn facade(rt: &corio::Runtime, n: u64, vars: bool) -> u64 {
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

/// One task yields `n` times; returns the sum `facade` would.
fn yields(rt: &corio::Runtime, n: u64) -> u64 {
    let task = rt.handle().create_task(async move {
        let mut sum = 0;
        for i in 0..n {
            corio::yield_now().await;
            sum += i;
        }
        sum
    });
    rt.block_on(task).expect("yielding task")
}

/// Two tasks pass a number back and forth `n` times; returns the sum `facade` would.
fn ping_pong(rt: &corio::Runtime, n: u64) -> u64 {
    use futures::{SinkExt, StreamExt};
    let (mut ping_tx, mut ping_rx) = futures::channel::mpsc::channel::<u64>(1);
    let (mut pong_tx, mut pong_rx) = futures::channel::mpsc::channel::<u64>(1);
    let handle = rt.handle();
    handle.create_task(async move {
        while let Some(v) = ping_rx.next().await {
            if pong_tx.send(v).await.is_err() {
                break;
            }
        }
    });
    let pinger = handle.create_task(async move {
        let mut sum = 0;
        for i in 0..n {
            ping_tx.send(i).await.expect("ponger alive");
            sum += pong_rx.next().await.expect("ponger answers");
        }
        sum
    });
    rt.block_on(pinger).expect("pinging task")
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
    let monitor = args.get(3).map(String::as_str) != Some("no-monitor");
    let start = Instant::now();
    let sum = match mode {
        "scheduler" => scheduler(n),
        "facade" | "--bench" => facade(&runtime(monitor), n, false),
        "facade-vars" => facade(&runtime(monitor), n, true),
        "facade-yield" => yields(&runtime(monitor), n),
        "facade-ping-pong" => ping_pong(&runtime(monitor), n),
        other => {
            eprintln!(
                "unknown mode {other}: use scheduler, facade, facade-vars, facade-yield or \
                 facade-ping-pong"
            );
            std::process::exit(2);
        }
    };
    let per = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
    println!("{mode}: {n} tasks, {per:.0} ns/task (wall clock, start-up included)");
}
