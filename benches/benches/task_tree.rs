//! The task tree of a big program: 100,000 idle tasks in a 5-level tree on 2
//! workers. Prints how long `task_tree()` and its text take, and the longest a
//! spawn on a worker waited meanwhile (the snapshot takes each registry shard's
//! lock in turn, so a spawn or a finishing task may wait for one shard).
//!
//! `cargo bench -p corio-benches --bench task_tree`

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

    // A prober on the workers: spawns and awaits tiny tasks back to back and
    // records the longest spawn + join.
    let probing = Arc::new(AtomicBool::new(true));
    let worst_ns = Arc::new(AtomicU64::new(0));
    let prober = {
        let (probing, worst_ns) = (probing.clone(), worst_ns.clone());
        rt.handle().create_task(async move {
            while probing.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                corio::create_task(async {}).await.unwrap();
                worst_ns.fetch_max(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let baseline_worst = worst_ns.swap(0, Ordering::Relaxed);

    let mut snap_ms = Vec::new();
    let mut text_ms = Vec::new();
    let mut tasks = 0;
    for _ in 0..10 {
        let t0 = Instant::now();
        let tree = rt.handle().task_tree();
        snap_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let t1 = Instant::now();
        let text = tree.to_string();
        text_ms.push(t1.elapsed().as_secs_f64() * 1e3);
        tasks = tree.len();
        assert!(text.lines().count() > tasks);
    }
    let during_worst = worst_ns.load(Ordering::Relaxed);
    probing.store(false, Ordering::Relaxed);
    rt.block_on(prober).unwrap();
    snap_ms.sort_by(f64::total_cmp);
    text_ms.sort_by(f64::total_cmp);
    let (load1, _) = loadavg();
    println!(
        "task_tree: {tasks} tasks, snapshot median {:.1} ms (max {:.1}), text median {:.1} ms (max {:.1}); \
         longest spawn+join on a worker: {:.2} ms during the dumps, {:.2} ms before; load average {load1}",
        snap_ms[5], snap_ms[9], text_ms[5], text_ms[9],
        during_worst as f64 / 1e6, baseline_worst as f64 / 1e6,
    );
    stop.set();
    drop(rt);
}

fn loadavg() -> (String, ()) {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    (s.split_whitespace().next().unwrap_or("?").to_string(), ())
}
