//! The corio facade: spawn_many through `corio::create_task` with debug mode off
//! and on (debug mode must cost nothing measurable when off), next to tokio.
//!
//! `cargo bench -p corio-benches --bench facade -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::Duration;

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

fn spawn_many(c: &mut Criterion) {
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

criterion_group!(benches, spawn_many);
criterion_main!(benches);
