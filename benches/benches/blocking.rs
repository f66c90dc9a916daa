//! corio-blocking benches, corio side by side with its peers.
//!
//! - `spawn_blocking_10k`: 10,000 trivial closures handed to the blocking pool at
//!   once, then all awaited: corio's `spawn_blocking`, tokio's
//!   `task::spawn_blocking`, smol's `blocking::unblock`.
//! - `spawn_blocking_round_trip`: one trivial closure, awaited before the next
//!   (latency of a single hand-off to a pool thread and back).
//! - `process_pool_round_trip`: one `ProcessPool::submit` of a trivial registered
//!   function (serialize, pipe to the worker, run, pipe back, deserialize).
//!
//! `main` is written by hand (no `criterion_main!`): the process pool starts copies
//! of this binary as workers, and `maybe_run_worker` must run first in them.
//!
//! Run: `cargo bench -p corio-benches --bench blocking -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};

/// Closures per iteration of the burst bench (the figure).
const BURST: u64 = 10_000;

fn echo(x: u64) -> u64 {
    x
}
static ECHO: RemoteFn<u64, u64> = RemoteFn::new("echo", echo);

fn spawn_blocking_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_blocking_10k");
    group.throughput(Throughput::Elements(BURST));
    group.sample_size(20);

    group.bench_function(BenchmarkId::new("corio", BURST), |b| {
        b.iter(|| {
            futures::executor::block_on(async {
                let tasks: Vec<_> = (0..BURST)
                    .map(|i| corio_blocking::spawn_blocking(move || black_box(i)))
                    .collect();
                for task in tasks {
                    black_box(task.await.unwrap());
                }
            })
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    group.bench_function(BenchmarkId::new("tokio", BURST), |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..BURST)
                    .map(|i| tokio::task::spawn_blocking(move || black_box(i)))
                    .collect();
                for task in tasks {
                    black_box(task.await.unwrap());
                }
            })
        })
    });

    group.bench_function(BenchmarkId::new("smol", BURST), |b| {
        b.iter(|| {
            futures::executor::block_on(async {
                let tasks: Vec<_> = (0..BURST)
                    .map(|i| blocking::unblock(move || black_box(i)))
                    .collect();
                for task in tasks {
                    black_box(task.await);
                }
            })
        })
    });
    group.finish();
}

fn spawn_blocking_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_blocking_round_trip");
    group.bench_function("corio", |b| {
        b.iter(|| {
            futures::executor::block_on(corio_blocking::spawn_blocking(|| black_box(1u64))).unwrap()
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async { tokio::task::spawn_blocking(|| black_box(1u64)).await })
                .unwrap()
        })
    });
    group.bench_function("smol", |b| {
        b.iter(|| futures::executor::block_on(blocking::unblock(|| black_box(1u64))))
    });
    group.finish();
}

fn process_pool_round_trip(c: &mut Criterion) {
    let pool = ProcessPool::new(1);
    // Start the worker outside the measurement.
    let _ = futures::executor::block_on(pool.submit(&ECHO, 0));
    let mut group = c.benchmark_group("process_pool_round_trip");
    group.bench_function("corio", |b| {
        b.iter_batched(
            || 42u64,
            |x| futures::executor::block_on(pool.submit(&ECHO, x)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    pool.shutdown(true);
}

fn main() {
    // In a process-pool worker (a copy of this binary) serve requests and exit.
    maybe_run_worker(&[&ECHO]);
    let mut c = Criterion::default().configure_from_args();
    spawn_blocking_10k(&mut c);
    spawn_blocking_round_trip(&mut c);
    process_pool_round_trip(&mut c);
    c.final_summary();
}
