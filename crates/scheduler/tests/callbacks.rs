//! Builder options: thread names, stack size, start/stop callbacks, unhandled panics,
//! slow polls, worker count errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::with_timeout;
use corio_scheduler::{Builder, Executor};

#[test]
fn thread_names_prefix_and_fn() {
    with_timeout(30, || {
        let ex = Builder::new()
            .worker_threads(2)
            .thread_name("pool")
            .build()
            .unwrap();
        let name = ex.block_on(ex.spawn(async { std::thread::current().name().map(String::from) }));
        let name = name.unwrap().unwrap();
        assert!(name == "pool-0" || name == "pool-1", "{name}");

        let ex = Builder::new()
            .worker_threads(1)
            .thread_name_fn(|| "custom".to_string())
            .thread_stack_size(4 << 20)
            .build()
            .unwrap();
        let name = ex.block_on(ex.spawn(async { std::thread::current().name().map(String::from) }));
        assert_eq!(name.unwrap().as_deref(), Some("custom"));
    });
}

#[test]
fn big_stack_size_is_honoured() {
    with_timeout(30, || {
        let ex = Builder::new()
            .worker_threads(1)
            .thread_stack_size(16 << 20)
            .build()
            .unwrap();
        // 4 MiB on the stack would overflow the default 2 MiB thread stack.
        let sum = ex.block_on(ex.spawn(async {
            let big = [1u8; 4 << 20];
            std::hint::black_box(&big)
                .iter()
                .map(|&b| b as usize)
                .sum::<usize>()
        }));
        assert_eq!(sum.unwrap(), 4 << 20);
    });
}

/// Zero workers panics where it is given, as the facade's builder, the pools and
/// `Barrier::new(0)` do (asyncio raises `ValueError`).
#[test]
#[should_panic(expected = "worker_threads must be greater than 0")]
fn zero_workers_panics() {
    let _ = Builder::new().worker_threads(0);
}

#[test]
fn unhandled_panic_callback_gets_name_and_payload() {
    with_timeout(30, || {
        type Seen = Vec<(Option<String>, String)>;
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let s = seen.clone();
        let ex = Builder::new()
            .worker_threads(2)
            .unhandled_panic(move |meta, payload| {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                s.lock().unwrap().push((meta.name().map(String::from), msg));
            })
            .build()
            .unwrap();
        // Detached: nobody will retrieve the panic.
        drop(
            ex.spawn_with(corio_core::Builder::new().name("doomed"), async {
                panic!("boom")
            }),
        );
        // Awaited: retrieved, not reported.
        let err = ex.block_on(ex.spawn(async { panic!("seen") })).unwrap_err();
        assert!(err.is_panic());
        // The worker survived both.
        assert_eq!(ex.block_on(ex.spawn(async { 1 })).unwrap(), 1);
        while seen.lock().unwrap().is_empty() {
            std::thread::yield_now();
        }
        drop(ex);
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.as_slice(),
            &[(Some("doomed".to_string()), "boom".to_string())]
        );
    });
}

#[test]
fn slow_polls_are_reported() {
    with_timeout(30, || {
        // Every report: (task name, poll time). On a loaded machine even a trivial poll
        // can be pre-empted past the threshold, so quick tasks may show up too; what
        // must hold is that the blocking poll is reported exactly once and that every
        // report is of a poll that really took the threshold.
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let ex = Builder::new()
            .worker_threads(1)
            .on_slow_poll(Duration::from_millis(20), move |meta, took| {
                r.lock()
                    .unwrap()
                    .push((meta.name().map(str::to_owned), took));
            })
            .build()
            .unwrap();
        let t = ex.spawn_with(corio_core::Builder::new().name("sleepy"), async {
            std::thread::sleep(Duration::from_millis(50)); // a blocking poll, on purpose
        });
        ex.block_on(t).unwrap();
        for _ in 0..10 {
            ex.block_on(ex.spawn(async {})).unwrap();
        }
        drop(ex);
        let reports = reports.lock().unwrap();
        let sleepy = reports
            .iter()
            .filter(|(name, _)| name.as_deref() == Some("sleepy"))
            .count();
        assert_eq!(sleepy, 1, "{reports:?}");
        for (name, took) in reports.iter() {
            assert!(*took >= Duration::from_millis(20), "{name:?}: {took:?}");
        }
    });
}

#[test]
fn metrics_count() {
    with_timeout(30, || {
        let ex = Executor::builder().worker_threads(2).build().unwrap();
        let m = ex.metrics();
        assert_eq!(m.workers(), 2);
        let tasks: Vec<_> = (0..1000).map(|i| ex.spawn(async move { i })).collect();
        let sum: usize = ex.block_on(async {
            let mut s = 0;
            for t in tasks {
                s += t.await.unwrap();
            }
            s
        });
        assert_eq!(sum, 999 * 1000 / 2);
        assert!(m.polls() >= 1000);
        assert_eq!(m.alive_tasks(), 0);
        assert_eq!(m.injector_depth(), 0);
        assert_eq!(m.local_depth(0) + m.local_depth(1), 0);
        let _ = (m.steals(), m.parks(), m.busy_time(0), format!("{m:?}"));
    });
}
