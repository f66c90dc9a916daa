//! The task tree of a big program: 100,000 idle tasks in a 5-level tree on 2
//! workers. Prints how long `task_tree()` and its text take, and the longest a
//! spawn on a worker took meanwhile (the snapshot takes each registry shard's
//! lock in turn, a chunk of slots per hold, so a spawn or a finishing task may
//! wait for one chunk).
//!
//! `cargo bench -p corio-benches --bench task_tree`
//!
//! With the argument `dumps-only` it builds the tree, takes 3 dumps and prints
//! their times, without the probers: the mode to count the dump's instructions,
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*dump_once*'
//! BIN dumps-only`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Children per task at each level (the first entry: the roots): 5 levels,
/// 10 + 100 + 1,000 + 10,000 + 90,000 = 101,110 tasks.
const BRANCHING: [usize; 5] = [10, 10, 10, 10, 9];

fn main() {
    let rt = corio::Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let stop = Arc::new(corio::sync::Event::new());
    rt.block_on(async {
        // Build the tree level by level: each task of a level spawns its share of
        // the next level's tasks, then waits for `stop`.
        fn spawn_level(level: usize, share: usize, stop: Arc<corio::sync::Event>) {
            for _ in 0..share {
                let stop = stop.clone();
                corio::create_task(async move {
                    if level + 1 < BRANCHING.len() {
                        spawn_level(level + 1, BRANCHING[level + 1], stop.clone());
                    }
                    stop.wait().await;
                })
                .detach();
            }
        }
        spawn_level(0, BRANCHING[0], stop.clone());
        let want: usize = (1..=BRANCHING.len())
            .map(|depth| BRANCHING[..depth].iter().product::<usize>())
            .sum();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let n = corio::all_tasks().len();
            if n >= want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {n} of {want} tasks after 120 s"
            );
            corio::sleep(Duration::from_millis(20)).await;
        }
    });

    if std::env::args().any(|a| a == "dumps-only") {
        for _ in 0..3 {
            let (snap, text, tasks) = dump(&rt.handle());
            println!("task_tree: {tasks} tasks, snapshot {snap:.1} ms, text {text:.1} ms");
        }
        stop.set();
        return;
    }

    // Probers on the workers: each spawns and awaits tiny tasks back to back and
    // records the longest spawn call (which locks the spawning thread's registry
    // shard, the lock a snapshot takes in turn) and the longest spawn + join.
    let probing = Arc::new(AtomicBool::new(true));
    let worst_spawn_ns = Arc::new(AtomicU64::new(0));
    let worst_ns = Arc::new(AtomicU64::new(0));
    // Time a spawn call spent blocked (off the CPU and not waiting for one: a lock
    // wait), from the thread's schedstat: at this machine's load the wall-clock
    // length of a call is mostly preemption, which this leaves out.
    let worst_blocked_ns = Arc::new(AtomicU64::new(0));
    let long_blocks = Arc::new(AtomicU64::new(0));
    let probers: Vec<_> = (0..2)
        .map(|_| {
            let (probing, worst_spawn_ns, worst_ns) =
                (probing.clone(), worst_spawn_ns.clone(), worst_ns.clone());
            let (worst_blocked_ns, long_blocks) = (worst_blocked_ns.clone(), long_blocks.clone());
            rt.handle().create_task(async move {
                while probing.load(Ordering::Relaxed) {
                    let s0 = schedstat();
                    let t0 = Instant::now();
                    let child = corio::create_task(async {});
                    let spawn_ns = t0.elapsed().as_nanos() as u64;
                    let s1 = schedstat();
                    worst_spawn_ns.fetch_max(spawn_ns, Ordering::Relaxed);
                    let blocked = spawn_ns.saturating_sub((s1.0 - s0.0) + (s1.1 - s0.1));
                    worst_blocked_ns.fetch_max(blocked, Ordering::Relaxed);
                    if blocked > 1_000_000 {
                        long_blocks.fetch_add(1, Ordering::Relaxed);
                    }
                    child.await.unwrap();
                    worst_ns.fetch_max(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    worst_spawn_ns.store(0, Ordering::Relaxed);
    worst_ns.store(0, Ordering::Relaxed);
    worst_blocked_ns.store(0, Ordering::Relaxed);
    long_blocks.store(0, Ordering::Relaxed);
    let t_base = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    let base_s = t_base.elapsed().as_secs_f64();
    let baseline_spawn = worst_spawn_ns.swap(0, Ordering::Relaxed);
    let baseline_worst = worst_ns.swap(0, Ordering::Relaxed);
    let base_blocked = worst_blocked_ns.swap(0, Ordering::Relaxed);
    let base_long = long_blocks.swap(0, Ordering::Relaxed);
    let t_dumps = Instant::now();

    let mut snap_ms = Vec::new();
    let mut text_ms = Vec::new();
    let mut tasks = 0;
    for _ in 0..10 {
        let (snap, text, n) = dump(&rt.handle());
        snap_ms.push(snap);
        text_ms.push(text);
        tasks = n;
    }
    let dumps_s = t_dumps.elapsed().as_secs_f64();
    let during_spawn = worst_spawn_ns.load(Ordering::Relaxed);
    let during_blocked = worst_blocked_ns.load(Ordering::Relaxed);
    let during_long = long_blocks.load(Ordering::Relaxed);
    let during_worst = worst_ns.load(Ordering::Relaxed);
    probing.store(false, Ordering::Relaxed);
    for prober in probers {
        rt.block_on(prober).unwrap();
    }
    snap_ms.sort_by(f64::total_cmp);
    text_ms.sort_by(f64::total_cmp);
    let (load1, _) = loadavg();
    println!(
        "task_tree: {tasks} tasks, snapshot median {:.1} ms (max {:.1}), text median {:.1} ms (max {:.1}); \
         longest spawn call on a worker: {:.2} ms during the dumps, {:.2} ms before; \
         longest spawn+join: {:.2} ms during, {:.2} ms before; \
         longest a spawn call was blocked: {:.3} ms during ({during_long} calls over 1 ms in \
         {dumps_s:.1} s), {:.3} ms before ({base_long} over 1 ms in {base_s:.1} s); load average {load1}",
        snap_ms[5], snap_ms[9], text_ms[5], text_ms[9],
        during_spawn as f64 / 1e6, baseline_spawn as f64 / 1e6,
        during_worst as f64 / 1e6, baseline_worst as f64 / 1e6,
        during_blocked as f64 / 1e6, base_blocked as f64 / 1e6,
    );
    stop.set();
    drop(rt);
}

/// One snapshot and its text: (snapshot ms, text ms, tasks).
fn dump(handle: &corio::Handle) -> (f64, f64, usize) {
    let (snap, text_ms, text) = dump_once(handle);
    let tasks = text.lines().count() - 1; // a header line, then a line per task
    (snap, text_ms, tasks)
}

/// What a dump costs: the snapshot and its text (what callgrind counts).
#[inline(never)]
fn dump_once(handle: &corio::Handle) -> (f64, f64, String) {
    let t0 = Instant::now();
    let tree = handle.task_tree();
    let snap = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let text = tree.to_string();
    let text_ms = t1.elapsed().as_secs_f64() * 1e3;
    (snap, text_ms, text)
}

/// This thread's (time on a CPU, time waiting for one) in ns, from
/// /proc/thread-self/schedstat; zeros where it cannot be read.
fn schedstat() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut f = s.split_whitespace().map(|v| v.parse().unwrap_or(0));
    (f.next().unwrap_or(0), f.next().unwrap_or(0))
}

fn loadavg() -> (String, ()) {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    (s.split_whitespace().next().unwrap_or("?").to_string(), ())
}
