//! Handle::call_soon, call_later, call_at, call_soon_threadsafe; cancellation.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[test]
fn call_soon_runs_on_a_worker() {
    common::timeout(20, || {
        let rt = corio::Runtime::builder()
            .worker_threads(2)
            .thread_name("cb")
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let h = rt.handle().call_soon(move || {
            tx.send(std::thread::current().name().map(str::to_owned))
                .unwrap();
        });
        let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(name.unwrap().starts_with("cb"));
        assert!(h.when().is_none());
    });
}

#[test]
fn call_soon_threadsafe_from_many_threads() {
    common::timeout(20, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let h = rt.handle();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    h.call_soon_threadsafe(move || tx.send(i).unwrap());
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut got: Vec<i32> = (0..8)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
    });
}

#[test]
fn call_later_and_call_at_respect_the_delay() {
    common::timeout(20, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let tx2 = tx.clone();
        let h1 = rt.handle().call_later(Duration::from_millis(40), move || {
            tx.send(("later", Instant::now())).unwrap()
        });
        let h2 = rt
            .handle()
            .call_at(start + Duration::from_millis(20), move || {
                tx2.send(("at", Instant::now())).unwrap()
            });
        assert!(h1.when().unwrap() >= start + Duration::from_millis(40));
        let mut got = [
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        ];
        // Under load both may fire in the same turn and run on two workers in
        // either order: check each one's time, not the order.
        got.sort_by_key(|(name, _)| *name);
        let [(at, t_at), (later, t_later)] = got;
        assert_eq!((at, later), ("at", "later"));
        assert!(t_at >= start + Duration::from_millis(20));
        assert!(t_later >= start + Duration::from_millis(40));
        let t = h2.into_task();
        assert!(rt.block_on(t).is_ok());
    });
}

#[test]
fn a_cancelled_callback_never_runs() {
    common::timeout(20, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let h = rt.handle().call_later(Duration::from_millis(30), move || {
            r.store(true, Ordering::SeqCst)
        });
        assert!(h.cancel());
        assert!(h.cancelled());
        assert!(!h.cancel(), "already cancelled");
        rt.block_on(corio::sleep(Duration::from_millis(100)));
        assert!(!ran.load(Ordering::SeqCst));
        assert!(h.done());
    });
}
