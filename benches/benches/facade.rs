//! The corio facade: spawn_many through `corio::create_task` with debug mode off
//! and on (debug mode must cost nothing measurable when off), next to tokio; and
//! spawn_many from inside a task through the facade, through corio-scheduler
//! alone and through tokio (`facade_spawn_many_in_task`), so the facade's
//! per-task cost over the scheduler shows in one table.
//!
//! `cargo bench -p corio-benches --bench facade -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Tasks per iteration: enough that per-iteration overhead (one block_on) is
/// noise next to the spawns.
const TASKS: usize = 10_000;

/// Worker threads: the machines have 2 cores.
const WORKERS: usize = 2;

fn corio_runtime(debug: bool) -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(WORKERS)
        .debug(debug)
        // Far above any poll here: debug mode's clock reads are measured, not reports.
        .slow_poll_threshold(Duration::from_secs(1))
        .debug_sink(|_| {})
        .build()
        .expect("building the corio runtime")
}

/// One spawn_many round on `rt`: spawn `TASKS` tasks and await them all.
fn spawn_many_once(rt: &corio::Runtime) -> usize {
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| corio::create_task(async move { i }))
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.expect("task");
        }
        sum
    })
}

/// Paired A/B: debug off and on alternate for `ROUNDS` rounds, so both see the
/// same machine load (on the shared 2-core box separate criterion runs differ by
/// up to 2x between groups); prints each side's median ns per task and the ratio.
fn report_paired_debug() {
    // 31 rounds: a median robust to a few rounds disturbed by other processes.
    const ROUNDS: usize = 31;
    // One runtime alive at a time: with two, the one whose idle worker waits in
    // the (process-wide) reactor is woken through the poller and the other
    // through a condvar, which biases the comparison more than debug mode does.
    let time_round = |debug: bool| {
        let rt = corio_runtime(debug);
        black_box(spawn_many_once(&rt)); // warm-up: threads started, caches filled
        let start = Instant::now();
        black_box(spawn_many_once(&rt));
        start.elapsed().as_nanos() as f64 / TASKS as f64
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(time_round(false));
        b.push(time_round(true));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut a), median(&mut b));
    println!("== paired spawn_many, debug off vs on ({ROUNDS} alternating rounds of {TASKS} tasks, medians)");
    println!(
        "debug off {a:.1} ns/task, debug on {b:.1} ns/task, ratio on/off {:.3}",
        b / a
    );
}

fn spawn_many(c: &mut Criterion) {
    report_paired_debug();

    let mut g = c.benchmark_group("facade_spawn_many");
    g.throughput(Throughput::Elements(TASKS as u64));

    for (label, debug) in [("corio-debug-off", false), ("corio-debug-on", true)] {
        let rt = corio_runtime(debug);
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|i| corio::create_task(async move { i }))
                        .collect();
                    let mut sum = 0;
                    for t in tasks {
                        sum += t.await.expect("task");
                    }
                    sum
                })
            })
        });
    }

    // The same loop on corio-scheduler alone: the facade's own cost per task
    // (task registry for all_tasks/shutdown) is the difference.
    let ex = corio_scheduler::Builder::new()
        .worker_threads(WORKERS)
        .build()
        .expect("building the corio-scheduler executor");
    g.bench_function(BenchmarkId::from_parameter("corio-scheduler-only"), |b| {
        b.iter(|| {
            ex.block_on(async {
                let tasks: Vec<_> = (0..TASKS).map(|i| ex.spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.expect("task");
                }
                sum
            })
        })
    });

    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("building the tokio runtime");
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.expect("task");
                }
                sum
            })
        })
    });
    g.finish();
}

/// The same spawn_many, spawned from inside a task (a worker thread), the way the
/// peer benchmark's `spawn_many` does and most programs spawn: through the
/// facade's `Handle::create_task`, through corio-scheduler's `Handle::spawn` alone,
/// and through tokio's `Handle::spawn`. The facade and scheduler-only rows differ
/// only by the facade's per-task work (task table, context variables, statistics),
/// so the two views of corio cannot drift apart unnoticed.
fn spawn_many_in_task(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_spawn_many_in_task");
    g.throughput(Throughput::Elements(TASKS as u64));

    let rt = corio_runtime(false);
    let h = rt.handle();
    g.bench_function(BenchmarkId::from_parameter("corio-facade"), |b| {
        b.iter(|| {
            let h2 = h.clone();
            rt.block_on(h.create_task(async move {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|i| h2.create_task(async move { i }))
                    .collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.expect("task");
                }
                sum
            }))
            .expect("root task")
        })
    });
    drop(rt);

    let ex = corio_scheduler::Builder::new()
        .worker_threads(WORKERS)
        .build()
        .expect("building the corio-scheduler executor");
    let h = ex.handle().clone();
    g.bench_function(BenchmarkId::from_parameter("corio-scheduler-only"), |b| {
        b.iter(|| {
            let h2 = h.clone();
            ex.block_on(h.spawn(async move {
                let tasks: Vec<_> = (0..TASKS).map(|i| h2.spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.expect("task");
                }
                sum
            }))
            .expect("root task")
        })
    });
    drop(ex);

    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("building the tokio runtime");
    let h = tokio_rt.handle().clone();
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            let h2 = h.clone();
            tokio_rt
                .block_on(h.spawn(async move {
                    let tasks: Vec<_> = (0..TASKS).map(|i| h2.spawn(async move { i })).collect();
                    let mut sum = 0;
                    for t in tasks {
                        sum += t.await.expect("task");
                    }
                    sum
                }))
                .expect("root task")
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_many, spawn_many_in_task);
criterion_main!(benches);
