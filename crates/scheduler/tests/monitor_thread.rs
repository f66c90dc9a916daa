//! The stall monitor's thread gives way to running threads: its ticks must not take
//! a CPU from a worker mid-task (on Linux it runs under `SCHED_BATCH`, which the
//! kernel never lets preempt a running thread on wake-up). The extra workers it starts
//! do not keep that policy.
#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::with_timeout;
use corio_scheduler::Builder;

/// `SCHED_OTHER` and `SCHED_BATCH` in `<sched.h>`.
const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

#[test]
fn the_monitor_thread_runs_under_sched_batch() {
    with_timeout(30, || {
        let ex = Builder::new()
            .worker_threads(1)
            .stall_threshold(Some(Duration::from_millis(10)))
            .build()
            .unwrap();
        assert_eq!(ex.block_on(ex.spawn(async { 7 })).unwrap(), 7);
        // The thread sets its policy as it starts: look until it has (or 10 s).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let policies = monitor_policies();
            if !policies.is_empty() && policies.iter().all(|&p| p == SCHED_BATCH) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "policies of the corio-monitor threads: {policies:?} (SCHED_BATCH is {SCHED_BATCH})"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(ex);
    });
}

#[test]
fn an_extra_worker_started_by_the_monitor_runs_under_the_normal_policy() {
    with_timeout(60, || {
        let ex = Builder::new()
            .worker_threads(1)
            .max_extra_workers(1)
            .stall_threshold(Some(Duration::from_millis(10)))
            .build()
            .unwrap();
        // Hold the only worker in a blocking call until the second task has run; the
        // monitor starts an extra worker, the only thread that can run that task.
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let blocker = ex.spawn(async move {
            started_tx.send(std::thread::current().id()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
        });
        let blocked = started_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the blocking task started");
        let (thread, policy) = ex
            .block_on(ex.spawn(async move {
                let seen = (std::thread::current().id(), own_policy());
                let _ = release_tx.send(());
                seen
            }))
            .unwrap();
        assert_ne!(
            thread, blocked,
            "no extra worker ran the task: the blocked one did"
        );
        assert_eq!(
            policy,
            Some(SCHED_OTHER),
            "policy of the extra worker's thread"
        );
        ex.block_on(blocker).unwrap();
    });
}

/// The calling thread's scheduling policy: field 41 of `/proc/thread-self/stat`.
fn own_policy() -> Option<u32> {
    policy_in_stat(&std::fs::read_to_string("/proc/thread-self/stat").ok()?)
}

/// The policy field of a `/proc/.../stat` line.
fn policy_in_stat(stat: &str) -> Option<u32> {
    // Fields from 3 on follow the `(comm)` field, which may contain spaces.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(41 - 3)?.parse().ok()
}

/// The scheduling policy of each thread of this process named `corio-monitor`:
/// field 41 of `/proc/self/task/<tid>/stat`.
fn monitor_policies() -> Vec<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("read /proc/self/task");
    tasks
        .filter_map(|task| {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim_end() != "corio-monitor" {
                return None;
            }
            policy_in_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)
        })
        .collect()
}
