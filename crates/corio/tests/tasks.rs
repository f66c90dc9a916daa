//! Task<T>: panics, cancellation (in sleep, in a socket read), names, detach.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::DropCounter;

#[test]
fn a_panic_reaches_the_awaiter_and_the_runtime_keeps_running() {
    common::run(20, async {
        let bad = corio::create_task_named("bad", async {
            corio::sleep(Duration::from_millis(5)).await;
            panic!("boom");
        });
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("boom"), "{err}");
        assert_eq!(common::panic_msg(&*err.into_panic()), "boom");
        // The runtime is fine: more tasks run.
        let ok: Vec<_> = (0..50)
            .map(|i| corio::create_task(async move { i }))
            .collect();
        let sum: i32 = corio::gather(ok)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(sum, 1225);
    });
}

#[test]
fn cancel_a_task_blocked_in_sleep() {
    let drops = DropCounter::default();
    let token = drops.token();
    let d = drops.clone();
    common::run(20, async move {
        let start = Instant::now();
        let t = corio::create_task(async move {
            let _token = token;
            corio::sleep(Duration::from_secs(3600)).await;
        });
        corio::sleep(Duration::from_millis(10)).await;
        assert!(!t.done());
        assert!(t.cancel());
        let err = t.await.unwrap_err();
        assert!(err.is_cancelled());
        // The future was dropped before the Task resolved.
        assert_eq!(d.get(), 1);
        assert!(start.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn cancel_a_task_blocked_in_a_socket_read() {
    let drops = DropCounter::default();
    let token = drops.token();
    let d = drops.clone();
    // Real runtime only (not under tests/sim_facade.rs): it uses a real socket.
    common::run_real(20, async move {
        let listener = corio_reactor::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = corio::create_task(async move {
            let _token = token;
            let s = corio_reactor::net::TcpStream::connect(addr).await.unwrap();
            let mut buf = [0u8; 16];
            s.read(&mut buf).await // the peer never writes
        });
        let (_peer, _) = listener.accept().await.unwrap();
        corio::sleep(Duration::from_millis(20)).await;
        assert!(!reader.done());
        assert!(reader.cancel());
        assert!(reader.cancelled() || reader.await.unwrap_err().is_cancelled());
        assert_eq!(d.get(), 1);
    });
}

#[test]
fn cancel_after_completion_keeps_the_result() {
    common::run(10, async {
        let t = corio::create_task(async { 5 });
        while !t.done() {
            corio::sleep(Duration::from_millis(1)).await;
        }
        assert!(!t.cancel());
        assert!(!t.cancelled());
        assert_eq!(t.await.unwrap(), 5);
    });
}

#[test]
fn dropping_a_task_detaches_it() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    common::run(10, async move {
        drop(corio::create_task(async move {
            corio::sleep(Duration::from_millis(10)).await;
            d.store(true, Ordering::SeqCst);
        }));
        corio::sleep(Duration::from_millis(200)).await;
    });
    assert!(done.load(Ordering::SeqCst));
}

#[test]
fn names_ids_and_builder() {
    common::run(10, async {
        let a = corio::TaskBuilder::new().name("a").spawn(async {});
        let b = corio::create_task(async {});
        assert_eq!(a.name(), Some("a"));
        assert_eq!(b.name(), None);
        assert_ne!(a.id(), b.id());
        assert!(b.location().unwrap().file().ends_with("tasks.rs"));
        assert!(format!("{a:?}").contains("\"a\""));
        a.await.unwrap();
        b.await.unwrap();
    });
}

#[test]
fn unhandled_panics_go_to_the_handler_with_name_and_location() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let polled = seen.clone();
    common::timeout(20, move || {
        let rt = corio::Runtime::builder()
            .worker_threads(2)
            .debug(false)
            .on_unhandled_panic(move |task, payload| {
                s.lock()
                    .unwrap()
                    .push(format!("{task}: {}", common::panic_msg(payload)));
            })
            .build()
            .unwrap();
        rt.block_on(async {
            drop(corio::create_task_named("lost", async {
                panic!("nobody awaits me")
            }));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                corio::sleep(Duration::from_millis(5)).await;
                if !polled.lock().unwrap().is_empty() {
                    break;
                }
            }
        });
        // The runtime still works.
        assert_eq!(
            rt.block_on(rt.handle().create_task(async { 1 })).unwrap(),
            1
        );
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains("'lost'") && seen[0].contains("tasks.rs"),
        "{}",
        seen[0]
    );
    assert!(seen[0].contains("nobody awaits me"));
}

#[test]
fn shutdown_policy_stops_block_on() {
    let r = common::timeout(20, || {
        let rt = corio::Runtime::builder()
            .worker_threads(2)
            .unhandled_panic(corio::UnhandledPanic::ShutdownRuntime)
            .on_unhandled_panic(|_, _| {})
            .build()
            .unwrap();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                drop(corio::create_task_named("fatal", async {
                    panic!("fatal error")
                }));
                corio::sleep(Duration::from_secs(30)).await;
            })
        }))
    });
    let msg = common::panic_msg(&*r.unwrap_err());
    assert!(
        msg.contains("ShutdownRuntime") && msg.contains("fatal"),
        "{msg}"
    );
}

#[test]
fn handle_types_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<corio::Handle>();
    send_sync::<corio::Task<u8>>();
    send_sync::<corio::Deferred<u8>>();
    send_sync::<corio::CallbackHandle>();
    unpin::<corio::Task<std::marker::PhantomPinned>>();
}
