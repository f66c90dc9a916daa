//! What placing the tasks of a message pipeline can win on two cores.
//!
//! The peer benchmark's `channel_ring`: 100 stages joined by `bounded(1)` channels, a
//! feeder pushing 200 tokens into the first and the timing task draining the last
//! (20,000 hops per run). Most of a hop is the channel's own work (async-channel and
//! event-listener: a listener allocated, locked in and out, a waker cloned and woken), and
//! on two cores most of what a hop costs over one core is that work's memory moving
//! between the cores: every channel is touched by the stage before it and the stage after
//! it, wherever each one last ran.
//!
//! Five setups, alternated round by round (one runtime alive at a time), medians in ns
//! per hop, each also as a ratio to tokio's multi-thread runtime on two workers:
//!
//! - `corio, 1 worker` and `tokio, 1 worker`: the whole pipeline on one core, what a hop
//!   costs each runtime with no memory crossing cores;
//! - `corio, 2 workers` and `tokio, 2 workers`: work stealing, the benchmark's setup;
//! - `corio, split`: two corio runtimes of one worker each, stages 0-49 and the feeder
//!   on one, stages 50-99 and the drain on the other. Only two channels cross cores, so
//!   this is about the best any placement of these tasks can do on two cores; a
//!   scheduler cannot know the pipeline's shape, so it is a ceiling, not a target.
//!
//! `CORIO_BENCH_ROUNDS` (default 7) rounds of `CORIO_BENCH_RUNS` (default 40) runs per
//! setup; the figure of a round is its median run.
//!
//! `cargo bench -p corio-benches --bench ring_placement`

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use smol::channel::{bounded, Receiver, Sender};

const STAGES: usize = 100;
const TOKENS: usize = 200;
/// Where `corio, split` cuts the pipeline: stages below this run on the first runtime.
const CUT: usize = STAGES / 2;

/// Receives every token, passes it on incremented.
async fn stage(rx: Receiver<usize>, tx: Sender<usize>) {
    for _ in 0..TOKENS {
        let v = rx.recv().await.expect("stage recv");
        tx.send(v + 1).await.expect("stage send");
    }
}

/// Pushes the tokens into the first channel.
async fn feed(tx: Sender<usize>) {
    for i in 0..TOKENS {
        tx.send(i).await.expect("feed");
    }
}

/// The channels of one run: the feeder's sender, each stage's pair, the drain's receiver.
struct Pipeline {
    feed: Sender<usize>,
    stages: Vec<(Receiver<usize>, Sender<usize>)>,
    drain: Receiver<usize>,
}

fn pipeline() -> Pipeline {
    let (feed, mut prev_rx) = bounded(1);
    let stages = (0..STAGES)
        .map(|_| {
            let (tx, rx) = bounded(1);
            (std::mem::replace(&mut prev_rx, rx), tx)
        })
        .collect();
    Pipeline {
        feed,
        stages,
        drain: prev_rx,
    }
}

/// Drains the last channel, then awaits the feeder and every stage.
async fn drain<J: Future>(rx: Receiver<usize>, joins: Vec<J>) {
    for _ in 0..TOKENS {
        black_box(rx.recv().await.expect("drain"));
    }
    for j in joins {
        j.await;
    }
}

/// One run on corio: `left` gets the stages below `cut` and the feeder, `right` the rest;
/// the timing task (the drain) runs on `right`.
fn run_corio(left: &corio::Runtime, right: &corio::Runtime, cut: usize) -> Duration {
    let (lh, rh) = (left.handle(), right.handle());
    right
        .block_on(rh.clone().create_task(async move {
            let t = Instant::now();
            let p = pipeline();
            let mut joins = Vec::with_capacity(STAGES + 1);
            for (k, (rx, tx)) in p.stages.into_iter().enumerate() {
                let h = if k < cut { &lh } else { &rh };
                joins.push(h.create_task(stage(rx, tx)));
            }
            joins.push(lh.create_task(feed(p.feed)));
            drain(p.drain, joins).await;
            t.elapsed()
        }))
        .expect("ring task")
}

fn run_tokio(rt: &tokio::runtime::Runtime) -> Duration {
    let h = rt.handle().clone();
    rt.block_on(h.clone().spawn(async move {
        let t = Instant::now();
        let p = pipeline();
        let mut joins = Vec::with_capacity(STAGES + 1);
        for (rx, tx) in p.stages {
            joins.push(h.spawn(stage(rx, tx)));
        }
        joins.push(h.spawn(feed(p.feed)));
        drain(p.drain, joins).await;
        t.elapsed()
    }))
    .expect("ring task")
}

fn corio_rt(workers: usize) -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("corio runtime")
}

fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("tokio runtime")
}

/// The setups, in the order they run in each round.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    CorioOneWorker,
    TokioOneWorker,
    CorioTwoWorkers,
    TokioTwoWorkers,
    CorioSplit,
}

impl Setup {
    const ALL: [Setup; 5] = [
        Setup::CorioOneWorker,
        Setup::TokioOneWorker,
        Setup::CorioTwoWorkers,
        Setup::TokioTwoWorkers,
        Setup::CorioSplit,
    ];
    /// The reference of the ratios: the peer benchmark's best peer on this workload.
    const REFERENCE: Setup = Setup::TokioTwoWorkers;

    fn name(self) -> &'static str {
        match self {
            Setup::CorioOneWorker => "corio, 1 worker",
            Setup::TokioOneWorker => "tokio, 1 worker",
            Setup::CorioTwoWorkers => "corio, 2 workers",
            Setup::TokioTwoWorkers => "tokio, 2 workers",
            Setup::CorioSplit => "corio, split",
        }
    }

    /// Starts the setup's runtimes; the closure does one run.
    fn start(self) -> Box<dyn FnMut() -> Duration> {
        match self {
            Setup::CorioOneWorker | Setup::CorioTwoWorkers => {
                let rt = corio_rt(if self == Setup::CorioOneWorker { 1 } else { 2 });
                Box::new(move || run_corio(&rt, &rt, STAGES))
            }
            Setup::CorioSplit => {
                let (left, right) = (corio_rt(1), corio_rt(1));
                Box::new(move || run_corio(&left, &right, CUT))
            }
            Setup::TokioOneWorker | Setup::TokioTwoWorkers => {
                let rt = tokio_rt(if self == Setup::TokioOneWorker { 1 } else { 2 });
                Box::new(move || run_tokio(&rt))
            }
        }
    }
}

/// The median of `runs` runs of one setup, in ns per hop (after one warm-up run).
fn measure(setup: Setup, runs: usize) -> f64 {
    let mut one = setup.start();
    black_box(one());
    let mut ns: Vec<f64> = (0..runs)
        .map(|_| one().as_nanos() as f64 / (STAGES * TOKENS) as f64)
        .collect();
    median(&mut ns)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this report ignores.
    let rounds = env_or("CORIO_BENCH_ROUNDS", 7).max(1);
    let runs = env_or("CORIO_BENCH_RUNS", 40).max(1);
    println!(
        "== channel_ring placement: {STAGES} stages, {TOKENS} tokens, {rounds} alternating rounds \
         of {runs} runs (ns per hop, median of the rounds' medians)"
    );
    let mut figures = vec![Vec::with_capacity(rounds); Setup::ALL.len()];
    for _ in 0..rounds {
        for (i, setup) in Setup::ALL.iter().enumerate() {
            figures[i].push(measure(*setup, runs));
        }
    }
    let medians: Vec<f64> = figures.iter_mut().map(|f| median(f)).collect();
    let reference_at = Setup::ALL.iter().position(|s| *s == Setup::REFERENCE);
    let reference = medians[reference_at.expect("the reference is one of the setups")];
    for ((setup, m), f) in Setup::ALL.iter().zip(&medians).zip(&figures) {
        // `median` sorted each setup's figures: the first and last are its range.
        let (lo, hi) = (f[0], f[f.len() - 1]);
        println!(
            "{:<17} {m:>7.1} ns/hop  ({lo:.1}-{hi:.1})  / {}: {:.3}",
            setup.name(),
            Setup::REFERENCE.name(),
            m / reference
        );
    }
}
