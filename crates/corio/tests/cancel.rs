//! Cooperative cancellation: cleanup after cancel (on a real socket), level-
//! triggered leaves, shields, grace expiry, idempotent cancel, finished tasks
//! keep their result. Bounds are generous (a loaded 2-core box must pass):
//! "at once" is checked against the hour-long sleeps the leaves would
//! otherwise wait for.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::DropCounter;
use corio::cancel::Cancellable;
use corio::net::{TcpListener, TcpStream};
use futures::io::AsyncWriteExt;

const HOUR: Duration = Duration::from_secs(3600);
/// Far below any wait a leaf would make if the cancel were ignored, far above
/// any scheduling delay of a loaded machine.
const AT_ONCE: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Wait (with a bound) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        corio::sleep(ms(1)).await;
    }
}

/// One iteration of the socket cleanup check: a task blocked in sleep(1 h)
/// whose cleanup sleeps 10 ms and then writes to its TCP connection.
async fn cleanup_writes_to_socket(listener: Arc<TcpListener>) {
    let addr = listener.local_addr().unwrap();
    let blocked = Arc::new(AtomicBool::new(false));
    let cleaned = Arc::new(AtomicBool::new(false));
    let (b, c) = (blocked.clone(), cleaned.clone());
    let task = corio::TaskBuilder::new()
        .cancel_grace(Duration::from_secs(30))
        .spawn(async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            b.store(true, Ordering::SeqCst);
            corio::sleep(HOUR).await;
            assert!(corio::cancel::is_cancelled());
            corio::cleanup(async {
                corio::sleep(ms(10)).await;
                conn.write_all(b"goodbye").await.unwrap();
                conn.flush().await.unwrap();
            })
            .await;
            c.store(true, Ordering::SeqCst);
        });
    let (peer, _) = corio::wait_for(listener.accept(), AT_ONCE)
        .await
        .expect("accept in time")
        .unwrap();
    until("the task to block", || blocked.load(Ordering::SeqCst)).await;
    assert!(task.cancel());
    let out = corio::wait_for(task, AT_ONCE).await.expect("task resolved");
    assert!(out.unwrap_err().is_cancelled());
    assert!(
        cleaned.load(Ordering::SeqCst),
        "resolved Cancelled before the cleanup finished"
    );
    let mut buf = [0u8; 7];
    corio::wait_for(peer.read_exact(&mut buf), AT_ONCE)
        .await
        .expect("cleanup bytes in time")
        .unwrap();
    assert_eq!(&buf, b"goodbye");
}

#[test]
fn cleanup_writes_to_a_tcp_socket_after_cancel_1000_of_1000() {
    common::timeout(600, || {
        let rt = corio::Runtime::builder().worker_threads(4).build().unwrap();
        rt.block_on(async {
            let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            // One iteration at a time, so each accept pairs with its own task's
            // connection; the 4 workers still run the task, its timers and the
            // test body in parallel.
            let done = Arc::new(AtomicUsize::new(0));
            for _ in 0..1000 {
                cleanup_writes_to_socket(listener.clone()).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
            assert_eq!(done.load(Ordering::SeqCst), 1000);
        });
    });
}

#[test]
fn leaves_complete_as_cancelled_at_once_level_triggered() {
    // Real runtime only (not under tests/sim_facade.rs): it uses a real socket.
    common::run_real(60, async {
        let (tx, rx) = std::sync::mpsc::channel::<(&'static str, Duration)>();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let blocked = Arc::new(AtomicBool::new(false));
        let b = blocked.clone();
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(60))
            .spawn(async move {
                let conn = TcpStream::connect(addr).await.unwrap();
                let other = corio::create_task(corio::sleep(HOUR));
                b.store(true, Ordering::SeqCst);
                corio::sleep(HOUR).await; // cancelled here
                let t = Instant::now();
                corio::sleep(HOUR).await;
                tx.send(("sleep", t.elapsed())).unwrap();
                let t = Instant::now();
                corio::yield_now().await;
                tx.send(("yield_now", t.elapsed())).unwrap();
                let t = Instant::now();
                let mut buf = [0u8; 4];
                let err = conn.read(&mut buf).await.unwrap_err();
                assert!(corio::cancel::is_cancelled_error(&err), "{err}");
                tx.send(("socket read", t.elapsed())).unwrap();
                let t = Instant::now();
                assert!(other.await.unwrap_err().is_cancelled());
                tx.send(("await task", t.elapsed())).unwrap();
                let t = Instant::now();
                let r = corio::to_thread(|| std::thread::sleep(ms(300))).await;
                assert!(matches!(&r, Err(e) if e.is_cancelled()), "{r:?}");
                tx.send(("to_thread", t.elapsed())).unwrap();
                let lock = corio::sync::Lock::new(());
                let _held = lock.try_acquire().unwrap();
                let t = Instant::now();
                assert!(lock.acquire().cancellable().await.is_err());
                assert!(corio::cancel::check().is_err());
                tx.send(("cancellable lock", t.elapsed())).unwrap();
                // Inside a cleanup scope leaves behave normally...
                let t = Instant::now();
                corio::cleanup(async {
                    assert!(!corio::cancel::is_cancelled());
                    corio::sleep(ms(30)).await;
                })
                .await;
                assert!(t.elapsed() >= ms(30), "the shielded sleep waited");
                // ...and the cancel is delivered again when it ends.
                assert!(corio::cancel::is_cancelled());
                let t = Instant::now();
                corio::sleep(HOUR).await;
                tx.send(("sleep after the shield", t.elapsed())).unwrap();
            });
        let (_peer, _) = listener.accept().await.unwrap();
        until("the task to block", || blocked.load(Ordering::SeqCst)).await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        let got: Vec<_> = rx.try_iter().collect();
        let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "sleep",
                "yield_now",
                "socket read",
                "await task",
                "to_thread",
                "cancellable lock",
                "sleep after the shield"
            ]
        );
        for (name, took) in got {
            assert!(took < AT_ONCE, "{name} waited {took:?}");
        }
    });
}

#[test]
fn shield_inside_a_cancelled_task_waits_normally() {
    // Real runtime only (not under tests/sim_facade.rs): it measures a wait on the real clock.
    common::run_real(60, async {
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(60))
            .spawn(async {
                corio::sleep(HOUR).await;
                let t = Instant::now();
                let v = corio::shield(async {
                    corio::sleep(ms(20)).await;
                    7
                })
                .await
                .unwrap();
                (v, t.elapsed())
            });
        corio::sleep(ms(5)).await;
        task.cancel();
        // The future returned a value after the cancel: the task still
        // resolves Cancelled (the value is dropped), after the shield.
        let start = Instant::now();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(start.elapsed() >= ms(15), "{:?}", start.elapsed());
    });
}

#[test]
fn cleanup_that_never_ends_is_dropped_when_the_grace_ends() {
    // Real runtime only (not under tests/sim_facade.rs): it measures the grace period on the real clock.
    common::run_real(60, async {
        let drops = DropCounter::default();
        let token = drops.token();
        let grace = ms(50);
        let task = corio::TaskBuilder::new()
            .cancel_grace(grace)
            .spawn(async move {
                let _t = token;
                corio::sleep(HOUR).await;
                corio::cleanup(std::future::pending::<()>()).await;
            });
        corio::sleep(ms(5)).await;
        let start = Instant::now();
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        let took = start.elapsed();
        assert_eq!(
            drops.get(),
            1,
            "the future was dropped before the task resolved"
        );
        assert!(took >= grace, "dropped before the grace ended: {took:?}");
        // grace + 10 ms on an idle box; the bound is generous for a loaded one.
        assert!(took < grace + AT_ONCE, "{took:?}");
    });
}

/// Cancels a task blocked in sleep(1 h) and checks that the code after the
/// sleep never ran (the future was dropped at once).
async fn cancel_drops_without_cleanup(builder: Option<corio::TaskBuilder>) {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let fut = async move {
        corio::sleep(HOUR).await;
        c.store(true, Ordering::SeqCst);
    };
    let task = match builder {
        Some(b) => b.spawn(fut),
        None => corio::create_task(fut),
    };
    corio::sleep(ms(5)).await;
    task.cancel();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(!cleaned.load(Ordering::SeqCst));
}

#[test]
fn zero_grace_drops_at_once_without_cleanup() {
    common::run(60, async {
        let b = corio::TaskBuilder::new().cancel_grace(Duration::ZERO);
        cancel_drops_without_cleanup(Some(b)).await;
    });
}

#[test]
fn default_cancel_still_drops_at_once() {
    common::run(60, cancel_drops_without_cleanup(None));
}

#[test]
fn cancelling_twice_is_the_same_as_once() {
    common::run(60, async {
        let cleanups = Arc::new(AtomicUsize::new(0));
        let c = cleanups.clone();
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(60))
            .spawn(async move {
                corio::sleep(HOUR).await;
                corio::cleanup(corio::sleep(ms(10))).await;
                c.fetch_add(1, Ordering::SeqCst);
                corio::sleep(HOUR).await; // still cancelled: returns at once
            });
        corio::sleep(ms(5)).await;
        assert!(task.cancel());
        assert!(task.cancel());
        assert!(!task.done() || task.cancelled());
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(cleanups.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn cancelling_a_finished_task_keeps_its_result() {
    common::run(60, async {
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(60))
            .spawn(async { 5 });
        until("the task to finish", || task.done()).await;
        assert!(!task.cancel());
        assert!(!task.cancelled());
        assert_eq!(task.await.unwrap(), 5);
    });
}

#[test]
fn runtime_wide_grace_gives_task_group_children_their_cleanup() {
    common::timeout(60, || {
        let rt = corio::Runtime::builder()
            .cancel_grace(Duration::from_secs(30))
            .build()
            .unwrap();
        rt.block_on(async {
            let cleaned = Arc::new(AtomicUsize::new(0));
            let tg = corio::TaskGroup::new();
            let c = cleaned.clone();
            let r = tg
                .run(async {
                    for _ in 0..3 {
                        let c = c.clone();
                        tg.create_task(async move {
                            corio::sleep(HOUR).await;
                            corio::cleanup(corio::sleep(ms(5))).await;
                            c.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    tg.create_task(async {
                        corio::sleep(ms(10)).await;
                        panic!("child failed");
                    });
                    corio::sleep(HOUR).await;
                })
                .await;
            assert_eq!(r.unwrap_err().failures().len(), 1);
            // run() waited for the children, cleanup included.
            assert_eq!(cleaned.load(Ordering::SeqCst), 3);
        });
    });
}

#[test]
fn to_thread_closure_sees_the_cancel_request() {
    // Real runtime only (not under tests/sim_facade.rs): its to_thread closure waits for a cancel from another thread.
    common::run_real(60, async {
        let saw = Arc::new(AtomicBool::new(false));
        let s = saw.clone();
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(60))
            .spawn(async move {
                let r = corio::to_thread_cancellable(move |token| {
                    let end = Instant::now() + Duration::from_secs(30);
                    while !token.is_cancelled() && Instant::now() < end {
                        std::thread::sleep(ms(1));
                    }
                    s.store(token.is_cancelled(), Ordering::SeqCst);
                })
                .await;
                assert!(matches!(&r, Err(e) if e.is_cancelled()), "{r:?}");
            });
        corio::sleep(ms(10)).await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        until("the closure to see the token", || {
            saw.load(Ordering::SeqCst)
        })
        .await;
    });
}
