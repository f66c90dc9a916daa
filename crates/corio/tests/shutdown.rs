//! Runtime shutdown: `shutdown_timeout` is bounded, plain `drop` is bounded, and a
//! runtime built right after a shutdown works.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{timeout, DropCounter};

/// Bound for "returned without blocking", generous for a loaded machine: with a stuck
/// blocking job running, a blocking drop waits 5 s for it, so under 4 s means it did not.
const NOT_BLOCKED: Duration = Duration::from_secs(4);

/// A blocking job that parks until released (or 10,000 s): a "stuck" closure the
/// runtime cannot interrupt. Released at the end of each test so no thread lingers.
struct Stuck {
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn stuck_job(rt: &corio::Runtime) -> (Stuck, corio::Task<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let task = rt.handle().create_task(async move {
        let _ = corio::to_thread(move || {
            let _ = started_tx.send(());
            let _ = release_rx.recv_timeout(Duration::from_secs(10_000));
        })
        .await;
    });
    (Stuck { started, release }, task)
}

/// Ten tasks sleeping an hour, each holding a drop token; returns once all ten
/// are asleep.
fn ten_sleepers(rt: &corio::Runtime, drops: &DropCounter) {
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let token = drops.token();
        let started = started.clone();
        rt.handle().create_task(async move {
            let _token = token;
            started.fetch_add(1, SeqCst);
            corio::sleep(Duration::from_secs(3600)).await;
        });
    }
    wait_until("the sleepers to start", || started.load(SeqCst) == 10);
}

/// Until `cond` holds, or fail after 10 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A fresh runtime runs a task, a timer and a blocking call.
fn fresh_runtime_works() {
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    let out = rt.block_on(async {
        let t = corio::create_task(async { 40 });
        corio::sleep(Duration::from_millis(5)).await;
        let b = corio::to_thread(|| 2).await.unwrap();
        t.await.unwrap() + b
    });
    assert_eq!(out, 42);
}

#[test]
fn shutdown_timeout_returns_within_the_timeout() {
    let drops = DropCounter::default();
    let d = drops.clone();
    timeout(60, move || {
        let rt = corio::Runtime::builder()
            .worker_threads(2)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (stuck, _stuck_task) = stuck_job(&rt);
        stuck.started.recv_timeout(Duration::from_secs(10)).unwrap();
        // The only blocking thread is busy: this one stays queued, and must be
        // cancelled (its closure dropped without running).
        let queued_drop = DropCounter::default();
        let token = queued_drop.token();
        let queued = rt.handle().create_task(async move {
            corio::to_thread(move || {
                let _token = token;
                unreachable!("a queued job must not run after shutdown");
            })
            .await
        });
        ten_sleepers(&rt, &d);

        let start = Instant::now();
        let clean = rt.shutdown_timeout(Duration::from_millis(100));
        let took = start.elapsed();
        eprintln!("shutdown_timeout(100 ms) returned after {took:?}");
        assert!(!clean, "the stuck blocking job was still running");
        assert!(took < Duration::from_millis(500), "took {took:?}");
        assert_eq!(d.get(), 10, "every sleeper's future was dropped on return");
        assert_eq!(queued_drop.get(), 1, "the queued job was dropped");
        // The task awaiting it is cancelled with the runtime (or, had it been
        // woken first, it would see the job's own cancellation).
        match queued.wait_blocking() {
            Err(e) => assert!(e.is_cancelled(), "{e}"),
            Ok(r) => assert!(matches!(&r, Err(e) if e.is_cancelled()), "{r:?}"),
        }

        fresh_runtime_works();
        let _ = stuck.release.send(());
    });
}

#[test]
fn drop_after_shutdown_timeout_does_not_wait_again() {
    timeout(60, || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let (stuck, _t) = stuck_job(&rt);
        stuck.started.recv_timeout(Duration::from_secs(10)).unwrap();
        let start = Instant::now();
        assert!(!rt.shutdown_timeout(Duration::from_millis(50)));
        assert!(start.elapsed() < NOT_BLOCKED);
        let _ = stuck.release.send(());
    });
}

#[test]
fn plain_drop_is_bounded() {
    let drops = DropCounter::default();
    let d = drops.clone();
    timeout(60, move || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let (stuck, _t) = stuck_job(&rt);
        stuck.started.recv_timeout(Duration::from_secs(10)).unwrap();
        ten_sleepers(&rt, &d);
        let start = Instant::now();
        drop(rt);
        let took = start.elapsed();
        // `Runtime`'s drop waits at most 5 s for running blocking jobs.
        assert!(took < Duration::from_secs(9), "took {took:?}");
        assert_eq!(d.get(), 10);
        fresh_runtime_works();
        let _ = stuck.release.send(());
    });
}

#[test]
fn shutdown_timeout_waits_for_quick_blocking_work() {
    timeout(60, || {
        let rt = corio::Runtime::new().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let (started_tx, started) = mpsc::channel();
        let flag = done.clone();
        let _t = rt.handle().create_task(async move {
            corio::to_thread(move || {
                let _ = started_tx.send(());
                std::thread::sleep(Duration::from_millis(50));
                flag.store(true, SeqCst);
            })
            .await
        });
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(rt.shutdown_timeout(Duration::from_secs(20)));
        assert!(done.load(SeqCst));
    });
}

fn named_runtime(name: &str, workers: usize) -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(workers)
        .thread_name(name)
        .build()
        .unwrap()
}

/// Runs `f`, returning how long it took and its panic message, if it panicked.
fn time_and_catch(f: impl FnOnce()) -> (Duration, Option<String>) {
    let start = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    (start.elapsed(), r.err().map(|p| common::panic_msg(&*p)))
}

fn assert_drop_inside_message(msg: &str, runtime: &str, place: &str) {
    for part in [
        &format!("runtime '{runtime}'") as &str,
        "dropped inside async code",
        place,
        "shutdown_background",
        "plain thread",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
}

#[test]
fn drop_inside_a_task_of_another_runtime_panics_and_shuts_down_in_background() {
    let drops = DropCounter::default();
    let d = drops.clone();
    timeout(60, move || {
        let outer = named_runtime("outer-rt", 1);
        let inner = named_runtime("inner-rt", 2);
        let (stuck, _t) = stuck_job(&inner);
        stuck.started.recv_timeout(Duration::from_secs(10)).unwrap();
        ten_sleepers(&inner, &d);
        let task = outer
            .handle()
            .create_task(async move { time_and_catch(move || drop(inner)) });
        let (took, msg) = task.wait_blocking().unwrap();
        assert!(took < NOT_BLOCKED, "took {took:?}");
        let msg = msg.expect("dropping a runtime inside a task panics");
        assert_drop_inside_message(&msg, "inner-rt", "a task of the runtime 'outer-rt'");
        wait_until("the inner runtime's tasks to be cancelled", || {
            d.get() == 10
        });
        // The outer runtime's worker was not harmed.
        assert_eq!(
            outer
                .block_on(outer.handle().create_task(async { 5 }))
                .unwrap(),
            5
        );
        let _ = stuck.release.send(());
    });
}

#[test]
fn drop_inside_block_on_panics() {
    timeout(60, || {
        let outer = named_runtime("outer-bo", 1);
        let inner = named_runtime("inner-bo", 1);
        let (took, msg) = outer.block_on(async move { time_and_catch(move || drop(inner)) });
        assert!(took < NOT_BLOCKED, "took {took:?}");
        let msg = msg.expect("dropping a runtime inside block_on panics");
        assert_drop_inside_message(
            &msg,
            "inner-bo",
            "a block_on future of the runtime 'outer-bo'",
        );
    });
}

#[test]
fn shutdown_background_returns_at_once() {
    let drops = DropCounter::default();
    let d = drops.clone();
    timeout(60, move || {
        let rt = named_runtime("background", 2);
        let (stuck, _t) = stuck_job(&rt);
        stuck.started.recv_timeout(Duration::from_secs(10)).unwrap();
        ten_sleepers(&rt, &d);
        let start = Instant::now();
        rt.shutdown_background();
        let took = start.elapsed();
        assert!(took < NOT_BLOCKED, "took {took:?}");
        wait_until("the tasks to be cancelled", || d.get() == 10);
        fresh_runtime_works();
        let _ = stuck.release.send(());
    });
}

#[test]
fn shutdown_background_inside_async_code_does_not_panic() {
    timeout(60, || {
        let outer = named_runtime("outer-sb", 1);
        let inner = named_runtime("inner-sb", 1);
        let sleeper = inner
            .handle()
            .create_task(corio::sleep(Duration::from_secs(3600)));
        let (took, msg) =
            outer.block_on(async move { time_and_catch(move || inner.shutdown_background()) });
        assert!(msg.is_none(), "{msg:?}");
        assert!(took < NOT_BLOCKED, "took {took:?}");
        assert!(sleeper.wait_blocking().unwrap_err().is_cancelled());
    });
}

#[test]
fn drop_while_unwinding_never_panics_again() {
    timeout(60, || {
        // In a task: the runtime goes to the background, the task keeps its panic
        // (a second panic would abort the whole test process).
        let outer = named_runtime("outer-uw", 1);
        let inner = named_runtime("inner-uw", 1);
        let task = outer.handle().create_task(async move {
            let _rt = inner;
            panic!("first panic");
        });
        let err = task.wait_blocking().unwrap_err();
        let payload = err.into_panic();
        assert_eq!(common::panic_msg(&*payload), "first panic");

        // On a plain thread: the bounded blocking shutdown, no second panic either.
        let rt = named_runtime("plain-uw", 1);
        let joined = std::thread::spawn(move || {
            let _rt = rt;
            panic!("second panic");
        })
        .join();
        assert_eq!(common::panic_msg(&*joined.unwrap_err()), "second panic");
    });
}

#[test]
fn last_reference_dropped_on_its_own_worker_does_not_deadlock() {
    timeout(60, || {
        let rt = Arc::new(named_runtime("self-owned", 2));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let mine = rt.clone();
        let task = rt.handle().create_task(async move {
            corio::to_thread(move || go_rx.recv_timeout(Duration::from_secs(10)))
                .await
                .unwrap()
                .unwrap();
            time_and_catch(move || drop(mine))
        });
        drop(rt);
        go_tx.send(()).unwrap();
        let (took, msg) = task.wait_blocking().unwrap();
        assert!(took < NOT_BLOCKED, "took {took:?}");
        let msg = msg.expect("dropping the runtime in its own task panics");
        assert_drop_inside_message(&msg, "self-owned", "a task of the runtime 'self-owned'");
    });
}
