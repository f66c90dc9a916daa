//! corio::run, Runtime, Handle, create_task outside a runtime, shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{timeout, DropCounter};

#[test]
fn run_returns_the_output_of_main() {
    assert_eq!(common::run(10, async { 40 + 2 }), 42);
}

#[test]
fn run_need_not_be_send() {
    let out = timeout(10, || {
        corio::run(async {
            let rc = std::rc::Rc::new(5); // !Send, held across an await
            corio::sleep(Duration::from_millis(1)).await;
            *rc
        })
    });
    assert_eq!(out, 5);
}

#[test]
fn nested_run_panics_with_the_message() {
    let msg = timeout(10, || {
        corio::run(async {
            let t = corio::create_task(async {
                std::panic::catch_unwind(|| corio::run(async {}))
                    .err()
                    .map(|p| common::panic_msg(&*p))
            });
            t.await.unwrap()
        })
    });
    let msg = msg.expect("nested run must panic");
    assert!(
        msg.contains("corio::run() cannot be called from a running runtime"),
        "{msg}"
    );
    // Also directly inside the main future (the block_on thread).
    let direct = timeout(10, || {
        corio::run(async {
            std::panic::catch_unwind(|| corio::run(async {}))
                .err()
                .map(|p| common::panic_msg(&*p))
        })
    });
    assert!(direct
        .unwrap()
        .contains("cannot be called from a running runtime"));
}

#[test]
fn run_drops_pending_detached_tasks() {
    let drops = DropCounter::default();
    let d = drops.clone();
    let start = Instant::now();
    timeout(20, move || {
        corio::run(async move {
            for _ in 0..10 {
                let token = d.token();
                corio::create_task(async move {
                    let _token = token;
                    corio::sleep(Duration::from_secs(3600)).await;
                });
            }
            corio::yield_now().await;
        })
    });
    // run returned long before the hour-long sleeps, and dropped every future.
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(drops.get(), 10);
}

/// One rule outside a runtime (asyncio's `RuntimeError: no running event
/// loop`): every function that needs the runtime panics, naming itself;
/// functions that need only the reactor (timers, sockets, queues, locks) work
/// under any executor.
#[test]
fn outside_a_runtime_one_rule() {
    fn panics_naming(what: &str, f: impl FnOnce()) {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("should panic outside a runtime");
        let msg = common::panic_msg(&*err);
        assert!(
            msg.contains("called outside a corio runtime"),
            "{what}: {msg}"
        );
        assert!(msg.contains(what), "{what}: {msg}");
    }
    panics_naming("corio::create_task()", || {
        drop(corio::create_task(async {}))
    });
    panics_naming("corio::to_thread()", || drop(corio::to_thread(|| 1)));
    panics_naming(
        "corio::Handle::current()",
        || drop(corio::Handle::current()),
    );
    panics_naming("corio::TaskGroup::create_task()", || {
        let group = corio::TaskGroup::new();
        drop(group.create_task(async {}));
        drop(group);
    });
    panics_naming("corio::start_server()", || {
        let server = corio::start_server(|_r, _w| async {}, "127.0.0.1:0");
        drop(futures::executor::block_on(server));
    });

    // Reactor-only functions work under another executor.
    timeout(20, || {
        futures::executor::block_on(async {
            corio::sleep(Duration::from_millis(1)).await;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (_r, _w) = corio::open_connection(addr).await.unwrap();
        })
    });
}

/// One rule for zero where asyncio raises `ValueError` (`max_workers`,
/// `Barrier(0)`): a panic at the call that receives the zero, naming it. Zero
/// where asyncio gives it a meaning stays valid (`Queue(0)` is unbounded,
/// `Semaphore(0)` starts with no permit).
#[test]
fn zero_one_rule() {
    fn panics_with(what: &str, f: impl FnOnce()) {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("zero should panic");
        let msg = common::panic_msg(&*err);
        assert!(msg.contains("must be greater than 0"), "{what}: {msg}");
    }
    panics_with("ThreadPool::new(0)", || drop(corio::ThreadPool::new(0)));
    panics_with("Barrier::new(0)", || drop(corio::sync::Barrier::new(0)));
    panics_with("Builder::worker_threads(0)", || {
        drop(corio::Runtime::builder().worker_threads(0))
    });
    panics_with("Builder::max_blocking_threads(0)", || {
        drop(corio::Runtime::builder().max_blocking_threads(0))
    });
    panics_with("BlockingPool max_threads(0)", || {
        drop(corio::BlockingPool::builder().max_threads(0))
    });
    assert_eq!(corio::queue::Queue::<u8>::new(0).maxsize(), 0);
    let sem = corio::sync::Semaphore::new(0);
    assert!(sem.try_acquire().is_none());
}

#[test]
fn handle_spawns_from_other_threads_and_waits_blocking() {
    timeout(20, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let h = rt.handle();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let h = h.clone();
                std::thread::spawn(move || {
                    h.create_task(async move {
                        corio::sleep(Duration::from_millis(5)).await;
                        i * 10
                    })
                    .wait_blocking()
                    .unwrap()
                })
            })
            .collect();
        let sum: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(sum, 60);
        // Tasks run on the workers even when no thread is in block_on.
        let t = h.create_task(async { 7 });
        assert_eq!(
            t.wait_blocking_timeout(Some(Duration::from_secs(5)))
                .ok()
                .unwrap()
                .unwrap(),
            7
        );
    });
}

#[test]
fn wait_blocking_on_a_runtime_thread_panics() {
    let r = common::run(10, async {
        let t = corio::create_task(async { 1 });
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let t2 = corio::create_task(async { 2 });
            t2.wait_blocking()
        }))
        .is_err()
            && t.await.is_ok()
    });
    assert!(r);
}

#[test]
fn block_on_and_metrics() {
    timeout(20, || {
        let rt = corio::Runtime::builder()
            .worker_threads(2)
            .max_blocking_threads(4)
            .thread_name("metrics-test")
            .build()
            .unwrap();
        let n = rt.block_on(async {
            let tasks: Vec<_> = (0..100)
                .map(|i| corio::create_task(async move { i }))
                .collect();
            corio::gather(tasks)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .sum::<i32>()
        });
        assert_eq!(n, 4950);
        let m = rt.metrics();
        assert_eq!(m.live_tasks, 0);
        assert!(m.blocking_threads <= 4);
        let _ = format!("{m:?}");
        assert!(rt.shutdown_timeout(Duration::from_secs(5)));
    });
}

#[test]
fn worker_threads_are_named() {
    let name = timeout(10, || {
        let rt = corio::Runtime::builder()
            .worker_threads(1)
            .thread_name("named")
            .build()
            .unwrap();
        rt.block_on(
            rt.handle()
                .create_task(async { std::thread::current().name().map(str::to_owned) }),
        )
        .unwrap()
    });
    assert!(name.unwrap().starts_with("named"));
}

#[test]
fn all_tasks_and_current_task() {
    common::run(10, async {
        assert!(corio::current_task().is_none()); // main future is not a task
        let t = corio::create_task_named("sleeper", corio::sleep(Duration::from_secs(60)));
        let line = line!() - 1;
        let infos = corio::all_tasks();
        let info = infos.iter().find(|i| i.id() == t.id()).expect("listed");
        assert_eq!(info.name(), Some("sleeper"));
        let loc = info.location().unwrap();
        assert!(loc.file().ends_with("runtime.rs"));
        assert_eq!(loc.line(), line);
        assert!(info.to_string().contains("'sleeper'"));
        t.cancel();
        let _ = t.await;
        // The cancelled task's future was dropped: it is gone from the list.
        assert!(corio::all_tasks()
            .iter()
            .all(|i| i.name() != Some("sleeper")));

        let me = corio::create_task_named("me", async { corio::current_task().unwrap() });
        let id = me.id();
        let info = me.await.unwrap();
        assert_eq!((info.id(), info.name()), (id, Some("me")));
    });
}

#[test]
fn shutdown_timeout_cancels_pending_tasks() {
    let drops = DropCounter::default();
    let d = drops.clone();
    timeout(20, move || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let h = rt.handle();
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let token = d.token();
            let s = started.clone();
            h.create_task(async move {
                let _token = token;
                s.fetch_add(1, Ordering::SeqCst);
                corio::sleep(Duration::from_secs(3600)).await;
            });
        }
        rt.block_on(corio::sleep(Duration::from_millis(20)));
        assert!(rt.shutdown_timeout(Duration::from_secs(5)));
    });
    assert_eq!(drops.get(), 5);
}

#[test]
fn two_runtimes_share_the_reactor() {
    // One reactor per process: whichever runtime's idle worker drives it fires
    // the other's timers too, and when that runtime goes away the other takes
    // over driving.
    timeout(30, || {
        let a = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let b = corio::Runtime::builder().worker_threads(1).build().unwrap();
        // Let both go idle (one of them ends up driving the reactor).
        std::thread::sleep(Duration::from_millis(20));
        for rt in [&a, &b] {
            let start = Instant::now();
            rt.block_on(corio::sleep(Duration::from_millis(30)));
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(30) && took < Duration::from_secs(10),
                "{took:?}"
            );
        }
        drop(a);
        let start = Instant::now();
        b.block_on(async {
            let t = corio::create_task(corio::sleep(Duration::from_millis(30)));
            t.await.unwrap();
        });
        // Generous: this checks the timer fires (nobody driving the reactor would hang
        // until the 30 s timeout), not how fast.
        assert!(start.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn wait_blocking_timeout_gives_the_task_back() {
    timeout(20, || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let gate = corio::Deferred::<()>::new();
        let opened = gate.clone();
        let task = rt.handle().create_task(async move {
            let _ = opened.await;
            9
        });
        let task = match task.wait_blocking_timeout(Some(Duration::from_millis(20))) {
            Err(still_running) => still_running,
            Ok(out) => panic!("finished before the gate opened: {out:?}"),
        };
        gate.set_result(()).unwrap();
        assert_eq!(task.wait_blocking().unwrap(), 9);
    });
}

#[test]
fn a_worker_that_never_idles_still_delivers_io() {
    // One worker, kept busy by a task that yields until the read is done: nobody waits
    // in the reactor, so the socket's readiness arrives only through the worker's
    // periodic look at it between tasks.
    timeout(60, || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let read = rt.block_on(async move {
            let done = Arc::new(AtomicUsize::new(0));
            let spinner = corio::create_task({
                let done = done.clone();
                async move {
                    while done.load(Ordering::SeqCst) == 0 {
                        corio::yield_now().await;
                    }
                }
            });
            let reader = corio::create_task(async move {
                let s = corio::net::TcpStream::connect(addr).await.unwrap();
                let mut buf = [0; 5];
                s.read_exact(&mut buf).await.unwrap();
                done.store(1, Ordering::SeqCst);
                buf
            });
            let (mut peer, _) = corio::to_thread(move || listener.accept())
                .await
                .unwrap()
                .unwrap();
            // Written while the worker is busy with the spinner.
            corio::to_thread(move || std::io::Write::write_all(&mut peer, b"hello"))
                .await
                .unwrap()
                .unwrap();
            spinner.await.unwrap();
            reader.await.unwrap()
        });
        assert_eq!(&read, b"hello");
    });
}
