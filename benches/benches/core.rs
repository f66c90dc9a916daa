//! corio-core vs async-task (and tokio's current-thread spawn): the cost of one task's whole
//! life on a trivial executor, and the memory it takes.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-core cargo bench -p corio-benches --bench core -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups:
//! - `spawn_run_join`: spawn a trivial future, `run()` it directly, poll the join handle
//!   (corio-core, async-task); tokio: `tokio::spawn(..).await` inside a current-thread
//!   runtime's `block_on` (its whole scheduler path, so not the same work: for scale only).
//! - `spawn_yield_join`: the same plus one self-wake: the task yields once, goes through the
//!   schedule function into a thread-local queue and is run again (the waker path).
//!
//! Before the groups, the bench prints a paired A/B figure (corio-core and async-task
//! alternating under the same load), the header sizes, and what one trivial task allocates,
//! measured with a counting global allocator:
//! - corio-core: `Header` = state word + vtable pointer + `TaskMeta` (id, optional name,
//!   optional location) = 48 bytes; its hot part (state, vtable, id) is 3 words = 24 bytes;
//!   plus a 16-byte join-waker slot after it.
//! - async-task 4.7.1: `Header<M>` = state (8) + awaiter `Option<Waker>` (16) + vtable (8) +
//!   metadata `M` (0 for `()`) + `propagate_panic: bool` (padded to 8) = 40 bytes, no id
//!   (src/header.rs:18).
//! - tokio 1.54: `Header` = state + queue_next + vtable + owner_id = 4 words = 32 bytes
//!   (src/runtime/task/core.rs:169), plus the task id in `Core` (8) and a `Trailer` with the
//!   owned-list pointers (16), the join waker (16) and hooks (8); the whole `Cell` is aligned
//!   to 128 bytes on x86_64.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

/// Counts allocations and bytes, to report what one task costs in memory.
struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes) made by `f`, averaged over `n` runs.
fn measure_allocs(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    let (a0, b0) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    for _ in 0..n {
        f();
    }
    let (a1, b1) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
}

/// Polls a join handle once with a no-op waker (the task has already completed).
fn poll_ready<F: Future + Unpin>(f: &mut F) -> F::Output {
    match Pin::new(f).poll(&mut Context::from_waker(futures::task::noop_waker_ref())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the task ran to completion before its handle was polled"),
    }
}

/// A future that wakes itself once before completing (like `yield_now().await; 1`).
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        if self.0 {
            Poll::Ready(1)
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

thread_local! {
    static CORIO_Q: RefCell<VecDeque<corio_core::Runnable>> = const { RefCell::new(VecDeque::new()) };
    static ASYNC_TASK_Q: RefCell<VecDeque<async_task::Runnable>> = const { RefCell::new(VecDeque::new()) };
}

fn corio_schedule(r: corio_core::Runnable) {
    CORIO_Q.with(|q| q.borrow_mut().push_back(r));
}
fn async_task_schedule(r: async_task::Runnable) {
    ASYNC_TASK_Q.with(|q| q.borrow_mut().push_back(r));
}

fn corio_once() -> u64 {
    let (runnable, mut task) = corio_core::spawn(async { 1u64 }, corio_schedule);
    runnable.run();
    poll_ready(&mut task).unwrap()
}
fn async_task_once() -> u64 {
    let (runnable, mut task) = async_task::spawn(async { 1u64 }, async_task_schedule);
    runnable.run();
    poll_ready(&mut task)
}

fn report_sizes(tokio_rt: &tokio::runtime::Runtime) {
    let word = std::mem::size_of::<usize>();
    println!("== task header sizes (bytes, {word}-byte words)");
    println!(
        "corio-core   Header {} (hot part: state + vtable + id = {}) + join waker slot {}",
        corio_core::__layout::HEADER_SIZE,
        corio_core::__layout::HEADER_CORE_SIZE,
        corio_core::__layout::JOIN_WAKER_SIZE
    );
    println!("async-task   Header<()> 40 (state 8 + awaiter Option<Waker> 16 + vtable 8 + propagate_panic bool padded 8; async-task 4.7.1 src/header.rs:18), no task id");
    println!("tokio        Header 32 (state, queue_next, vtable, owner_id; tokio 1.54 src/runtime/task/core.rs:169) + id 8 in Core + Trailer 40 (owned list 16, join waker 16, hooks 8); Cell aligned to 128 on x86_64");
    println!("== memory of one trivial task (async {{ 1u64 }}), averaged over 1000 spawns");
    let (a, b) = measure_allocs(1000, || {
        black_box(corio_once());
    });
    println!("corio-core   {a:.2} allocations, {b:.0} bytes per task");
    let (a, b) = measure_allocs(1000, || {
        black_box(async_task_once());
    });
    println!("async-task   {a:.2} allocations, {b:.0} bytes per task");
    let (a, b) = tokio_rt.block_on(async {
        // Warm the runtime's internal structures first, so growth is not counted.
        for _ in 0..1000 {
            tokio::spawn(async { 1u64 }).await.unwrap();
        }
        let (a0, b0) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
        for _ in 0..1000 {
            black_box(tokio::spawn(async { 1u64 }).await.unwrap());
        }
        let (a1, b1) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
        ((a1 - a0) as f64 / 1000.0, (b1 - b0) as f64 / 1000.0)
    });
    println!("tokio        {a:.2} allocations, {b:.0} bytes per task (current-thread spawn)");
}

fn corio_yield_once() -> u64 {
    let (runnable, mut task) = corio_core::spawn(YieldOnce(false), corio_schedule);
    runnable.run();
    while let Some(r) = CORIO_Q.with(|q| q.borrow_mut().pop_front()) {
        r.run();
    }
    poll_ready(&mut task).unwrap()
}
fn async_task_yield_once() -> u64 {
    let (runnable, mut task) = async_task::spawn(YieldOnce(false), async_task_schedule);
    runnable.run();
    while let Some(r) = ASYNC_TASK_Q.with(|q| q.borrow_mut().pop_front()) {
        r.run();
    }
    poll_ready(&mut task)
}

/// Paired A/B timing: corio-core and async-task alternate in blocks of `BLOCK` tasks for
/// `ROUNDS` rounds, so both see the same machine load (on a shared 2-core box criterion's
/// separate runs can differ by 50% between groups); prints each side's median ns per task
/// and the ratio of the medians.
fn report_paired(what: &str, corio: fn() -> u64, async_task: fn() -> u64) {
    const BLOCK: u32 = 20_000;
    const ROUNDS: usize = 31;
    let time_block = |f: fn() -> u64| {
        let start = Instant::now();
        for _ in 0..BLOCK {
            black_box(f());
        }
        start.elapsed().as_nanos() as f64 / f64::from(BLOCK)
    };
    let (mut c, mut a) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        c.push(time_block(corio));
        a.push(time_block(async_task));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (c, a) = (median(&mut c), median(&mut a));
    println!("== paired {what} ({ROUNDS} alternating rounds of {BLOCK} tasks, medians)");
    println!(
        "corio-core {c:.1} ns, async-task {a:.1} ns, ratio corio/async-task {:.2}",
        c / a
    );
}

fn bench_core(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("could not build a tokio current-thread runtime");
    report_sizes(&tokio_rt);
    report_paired("spawn+run+join", corio_once, async_task_once);
    report_paired("spawn+yield+join", corio_yield_once, async_task_yield_once);

    let mut g = c.benchmark_group("spawn_run_join");
    g.bench_function("corio-core", |b| b.iter(|| black_box(corio_once())));
    g.bench_function("async-task", |b| b.iter(|| black_box(async_task_once())));
    g.bench_function("tokio-current-thread", |b| {
        b.iter_custom(|iters| {
            tokio_rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::spawn(async { 1u64 }).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("spawn_yield_join");
    g.bench_function("corio-core", |b| b.iter(|| black_box(corio_yield_once())));
    g.bench_function("async-task", |b| {
        b.iter(|| black_box(async_task_yield_once()))
    });
    g.finish();
}

/// Context variables: `get` with the variable set (a thread-local borrow, a
/// binary search over the variables set, a clone), `get` of a variable never
/// set (one relaxed load), and tokio's `task_local!` `with` alongside.
fn bench_context_var(c: &mut Criterion) {
    static SET: corio_core::ContextVar<u64> = corio_core::ContextVar::new("set");
    static NEVER: corio_core::ContextVar<u64> = corio_core::ContextVar::new("never");
    static OTHERS: [corio_core::ContextVar<u64>; 7] =
        [const { corio_core::ContextVar::new("other") }; 7];
    tokio::task_local! {
        static TL: u64;
    }
    let _t = SET.set(7);
    // Eight variables set in all, as the spawn-cost bench below uses.
    let _others: Vec<_> = OTHERS.iter().map(|v| v.set(1)).collect();
    let mut g = c.benchmark_group("context_var_get");
    g.bench_function("corio set (8 vars)", |b| b.iter(|| black_box(SET.get())));
    // The same `get`, its `Option<u64>` unwrapped before `black_box`: the
    // `Option` goes through the stack as two 8-byte stores read back as one
    // 16-byte load, a store-forwarding stall that is the harness's, not `get`'s.
    g.bench_function("corio set (8 vars), unwrapped", |b| {
        b.iter(|| black_box(SET.get().unwrap_or(0)))
    });
    g.bench_function("corio never set", |b| b.iter(|| black_box(NEVER.get())));
    g.bench_function("tokio task_local", |b| {
        TL.sync_scope(7, || b.iter(|| black_box(TL.with(|v| *v))))
    });
    g.finish();
}

criterion_group!(benches, bench_core, bench_context_var);
criterion_main!(benches);
