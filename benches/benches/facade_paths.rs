//! The peer benchmark's scheduler and timer workloads, each run through the corio
//! facade (`Handle::create_task`, `corio::sleep`, as users and the shared peer
//! benchmark call them) and through corio-scheduler alone (its own `Handle::spawn`,
//! with the reactor as its park hook, as the facade wires it), so that the two views
//! of corio cannot disagree unnoticed.
//!
//! Workloads (sizes smaller than the peer benchmark's, so a criterion run stays
//! short; the shapes are the same): `spawn_many` (a task spawns 10,000 tasks and
//! awaits them), `yield_many` (100 tasks x 200 yields), `ping_pong` (1,000 pairs:
//! spawn a task, a oneshot there and one back), `chained_spawn` (each task spawns
//! the next, depth 1,000), `channel_ring` (50 tasks in a ring of bounded(1)
//! channels, 100 tokens) and `timers` (10,000 tasks each sleep 1-4 ms).
//!
//! First a paired report: facade and scheduler-only alternate, one runtime alive at
//! a time, for `CORIO_BENCH_ROUNDS` rounds (default 11), and the medians per
//! operation and their ratio are printed (criterion groups run minutes apart and, on
//! a shared machine, differ by more than the facade costs). Then one criterion group
//! per workload with both rows.
//!
//! `cargo bench -p corio-benches --bench facade_paths -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio_benches::ReactorPark;
use corio_reactor::Reactor;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::channel::oneshot;

/// Worker threads: the machines have 2 cores.
const WORKERS: usize = 2;

/// A future that owns its result, boxed so both runtimes' join handles fit one type.
type Join<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How a workload spawns: through the facade or through the scheduler alone.
trait Spawner: Clone + Send + Sync + 'static {
    fn spawn<F>(&self, fut: F) -> Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

impl Spawner for corio::Handle {
    fn spawn<F>(&self, fut: F) -> Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.create_task(fut);
        Box::pin(async move { task.await.expect("facade task") })
    }
}

impl Spawner for corio_scheduler::Handle {
    fn spawn<F>(&self, fut: F) -> Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = corio_scheduler::Handle::spawn(self, fut);
        Box::pin(async move { task.await.expect("scheduler task") })
    }
}

/// One of the two set-ups, alive for one round or one criterion group.
enum Rt {
    Facade(corio::Runtime),
    Scheduler(corio_scheduler::Executor, corio_reactor::DriverGuard),
}

const SETUPS: [&str; 2] = ["corio-facade", "corio-scheduler-only"];

impl Rt {
    fn new(label: &str) -> Rt {
        match label {
            "corio-facade" => Rt::Facade(
                corio::Runtime::builder()
                    .worker_threads(WORKERS)
                    .build()
                    .expect("corio runtime"),
            ),
            _ => {
                let ex = corio_scheduler::Builder::new()
                    .worker_threads(WORKERS)
                    .park_hook(Arc::new(ReactorPark))
                    .build()
                    .expect("corio-scheduler executor");
                Rt::Scheduler(ex, Reactor::get().register_driver())
            }
        }
    }

    /// Runs `workload` as a task (so its spawns come from a worker thread, as in
    /// the peer benchmark) and returns the time it measured.
    fn run(&self, workload: Workload) -> Duration {
        match self {
            Rt::Facade(rt) => {
                let h = rt.handle();
                rt.block_on(h.create_task(workload.run(h.clone())))
                    .expect("root task")
            }
            Rt::Scheduler(ex, _) => {
                let h = ex.handle().clone();
                ex.block_on(h.spawn(workload.run(h.clone())))
                    .expect("root task")
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Workload {
    SpawnMany,
    YieldMany,
    PingPong,
    ChainedSpawn,
    ChannelRing,
    Timers,
}

const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 100;
const YIELDS: usize = 200;
const PING_PONGS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;
const RING_TASKS: usize = 50;
const RING_STEPS: usize = 100;
const TIMER_TASKS: usize = 10_000;

impl Workload {
    const ALL: [Workload; 6] = [
        Workload::SpawnMany,
        Workload::YieldMany,
        Workload::PingPong,
        Workload::ChainedSpawn,
        Workload::ChannelRing,
        Workload::Timers,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::SpawnMany => "spawn_many",
            Workload::YieldMany => "yield_many",
            Workload::PingPong => "ping_pong",
            Workload::ChainedSpawn => "chained_spawn",
            Workload::ChannelRing => "channel_ring",
            Workload::Timers => "timers",
        }
    }

    /// Operations per run (the unit of the report's ns/op).
    fn ops(self) -> usize {
        match self {
            Workload::SpawnMany => SPAWN_MANY,
            Workload::YieldMany => YIELD_TASKS * YIELDS,
            Workload::PingPong => PING_PONGS,
            Workload::ChainedSpawn => CHAIN_DEPTH,
            Workload::ChannelRing => RING_TASKS * RING_STEPS,
            Workload::Timers => TIMER_TASKS,
        }
    }

    /// The workload's body, generic over how it spawns; returns the time it took.
    fn run<S: Spawner>(self, s: S) -> Join<Duration> {
        match self {
            Workload::SpawnMany => Box::pin(spawn_many(s)),
            Workload::YieldMany => Box::pin(yield_many(s)),
            Workload::PingPong => Box::pin(ping_pong(s)),
            Workload::ChainedSpawn => Box::pin(chained_spawn(s)),
            Workload::ChannelRing => Box::pin(channel_ring(s)),
            Workload::Timers => Box::pin(timers(s)),
        }
    }
}

async fn spawn_many<S: Spawner>(s: S) -> Duration {
    let t = Instant::now();
    let tasks: Vec<_> = (0..SPAWN_MANY)
        .map(|i| s.spawn(async move { black_box(i) }))
        .collect();
    for task in tasks {
        black_box(task.await);
    }
    t.elapsed()
}

async fn yield_many<S: Spawner>(s: S) -> Duration {
    let t = Instant::now();
    let tasks: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            s.spawn(async {
                for _ in 0..YIELDS {
                    corio::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    t.elapsed()
}

async fn ping_pong<S: Spawner>(s: S) -> Duration {
    let t = Instant::now();
    let tasks: Vec<_> = (0..PING_PONGS)
        .map(|_| {
            let s2 = s.clone();
            s.spawn(async move {
                let (ping_tx, ping_rx) = oneshot::channel::<()>();
                let (pong_tx, pong_rx) = oneshot::channel::<()>();
                drop(s2.spawn(async move {
                    ping_rx.await.expect("ping");
                    pong_tx.send(()).expect("pong");
                }));
                ping_tx.send(()).expect("ping");
                pong_rx.await.expect("pong");
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    t.elapsed()
}

/// Each task spawns the next and exits; the last one sends on `done`.
fn link<S: Spawner>(s: S, n: usize, done: oneshot::Sender<()>) {
    if n == 0 {
        let _ = done.send(());
    } else {
        let s2 = s.clone();
        drop(s.spawn(async move { link(s2, n - 1, done) }));
    }
}

async fn chained_spawn<S: Spawner>(s: S) -> Duration {
    let t = Instant::now();
    let (tx, rx) = oneshot::channel();
    link(s, CHAIN_DEPTH, tx);
    rx.await.expect("end of the chain");
    t.elapsed()
}

async fn channel_ring<S: Spawner>(s: S) -> Duration {
    let t = Instant::now();
    let (first_tx, mut prev_rx) = smol::channel::bounded::<usize>(1);
    let mut tasks = Vec::with_capacity(RING_TASKS);
    for _ in 0..RING_TASKS {
        let (tx, rx) = smol::channel::bounded::<usize>(1);
        let my_rx = std::mem::replace(&mut prev_rx, rx);
        tasks.push(s.spawn(async move {
            for _ in 0..RING_STEPS {
                let v = my_rx.recv().await.expect("ring recv");
                tx.send(v + 1).await.expect("ring send");
            }
        }));
    }
    let feeder = s.spawn(async move {
        for i in 0..RING_STEPS {
            first_tx.send(i).await.expect("feed");
        }
    });
    for _ in 0..RING_STEPS {
        black_box(prev_rx.recv().await.expect("drain"));
    }
    feeder.await;
    for task in tasks {
        task.await;
    }
    t.elapsed()
}

async fn timers<S: Spawner>(s: S) -> Duration {
    let t = Instant::now();
    let tasks: Vec<_> = (0..TIMER_TASKS)
        .map(|i| {
            let d = Duration::from_millis(1 + (i % 4) as u64);
            s.spawn(async move { corio::sleep(d).await })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    t.elapsed()
}

/// Facade and scheduler-only alternate, one runtime alive at a time (two would
/// share the process-wide reactor unevenly); prints medians in ns per operation.
fn paired_report() {
    let rounds: usize = std::env::var("CORIO_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    println!("== paired: facade vs scheduler alone ({rounds} alternating rounds, medians, ns/op)");
    for w in Workload::ALL {
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, label) in SETUPS.iter().enumerate() {
                let rt = Rt::new(label);
                black_box(rt.run(w)); // warm-up: threads started, caches filled
                let ns = rt.run(w).as_nanos() as f64 / w.ops() as f64;
                times[i].push(ns);
            }
        }
        let [facade, sched] = times.map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        });
        println!(
            "{:<14} facade {facade:>9.1}  scheduler {sched:>9.1}  facade/scheduler {:.3}",
            w.name(),
            facade / sched
        );
    }
}

fn facade_paths(c: &mut Criterion) {
    paired_report();
    for w in Workload::ALL {
        let mut g = c.benchmark_group(format!("facade_paths_{}", w.name()));
        g.throughput(Throughput::Elements(w.ops() as u64));
        for label in SETUPS {
            let rt = Rt::new(label);
            g.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| rt.run(w)).sum())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, facade_paths);
criterion_main!(benches);
