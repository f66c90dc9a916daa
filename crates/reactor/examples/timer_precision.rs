//! Timer precision: 1,000 sequential 1 ms sleeps, lateness (actual - requested)
//! for corio (block_on and the fallback driver under futures' executor) and tokio.
//!
//! Run on an idle machine: `cargo run --release -p corio-reactor --example timer_precision`
//! Prints median / p99 / max lateness in microseconds.

use std::time::{Duration, Instant};

/// 1,000 sleeps: the number the issue asks for; enough for a stable p99.
const SLEEPS: usize = 1000;
const PERIOD: Duration = Duration::from_millis(1);

fn report(name: &str, mut late: Vec<Duration>) {
    late.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let med = late[late.len() / 2];
    let p99 = late[late.len() * 99 / 100];
    let max = late[late.len() - 1];
    println!(
        "{name:<40} median {:>8.1} us   p99 {:>8.1} us   max {:>8.1} us   min {:>6.1} us",
        us(med),
        us(p99),
        us(max),
        us(late[0])
    );
}

async fn corio_run() -> Vec<Duration> {
    let mut late = Vec::with_capacity(SLEEPS);
    for _ in 0..SLEEPS {
        let start = Instant::now();
        corio_reactor::timer::sleep(PERIOD).await;
        let took = start.elapsed();
        assert!(took >= PERIOD, "a corio sleep completed early: {took:?}");
        late.push(took - PERIOD);
    }
    late
}

async fn tokio_run() -> Vec<Duration> {
    let mut late = Vec::with_capacity(SLEEPS);
    for _ in 0..SLEEPS {
        let start = Instant::now();
        tokio::time::sleep(PERIOD).await;
        late.push(start.elapsed().saturating_sub(PERIOD));
    }
    late
}

fn main() {
    report(
        "corio (block_on, drives itself)",
        corio_reactor::block_on(corio_run()),
    );
    report(
        "corio (futures block_on + fallback thread)",
        futures::executor::block_on(corio_run()),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    report("tokio (current_thread)", rt.block_on(tokio_run()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    report("tokio (multi_thread, 2 workers)", rt.block_on(tokio_run()));
}
