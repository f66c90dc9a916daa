//! The stall monitor's thread gives way to running threads: its ticks must not take
//! a CPU from a worker mid-task (on Linux it runs under `SCHED_BATCH`, which the
//! kernel never lets preempt a running thread on wake-up).
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::with_timeout;
use corio_scheduler::Builder;

/// `SCHED_BATCH` in `<sched.h>`.
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
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // Fields from 3 on follow the `(comm)` field, which may contain spaces.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            after_comm.split_whitespace().nth(41 - 3)?.parse().ok()
        })
        .collect()
}
