//! Stress of the wake path across threads: wakers fired from other threads
//! while the driver waits in the poller, driver hand-off between block_on
//! threads, and notify() storms. Every wait is bounded, so a lost wake-up
//! fails the test instead of hanging it.
mod common;

use common::*;
use corio_reactor::net::UnixStream;
use corio_reactor::Reactor;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A counter another thread bumps; the future waits until it reaches a value.
struct Shared {
    value: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

struct WaitFor<'a>(&'a Shared, u64);

impl Future for WaitFor<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.value.load(Ordering::SeqCst) >= self.1 {
            return Poll::Ready(());
        }
        *self.0.waker.lock().expect("lock") = Some(cx.waker().clone());
        if self.0.value.load(Ordering::SeqCst) >= self.1 {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// 20,000 cross-thread wake-ups of a block_on thread sitting in the poller.
#[test]
fn cross_thread_wakes_reach_the_driver() {
    const ROUNDS: u64 = 20_000;
    let ping = Arc::new(Shared {
        value: AtomicU64::new(0),
        waker: Mutex::new(None),
    });
    let pong = Arc::new(Shared {
        value: AtomicU64::new(0),
        waker: Mutex::new(None),
    });
    let (p2, q2) = (ping.clone(), pong.clone());
    let other = std::thread::spawn(move || {
        // This side runs under futures' executor: it parks, it does not drive.
        futures::executor::block_on(async {
            for i in 1..=ROUNDS {
                WaitFor(&p2, i).await;
                q2.value.store(i, Ordering::SeqCst);
                if let Some(w) = q2.waker.lock().expect("lock").take() {
                    w.wake();
                }
            }
        })
    });
    run(60, async {
        for i in 1..=ROUNDS {
            ping.value.store(i, Ordering::SeqCst);
            if let Some(w) = ping.waker.lock().expect("lock").take() {
                w.wake();
            }
            WaitFor(&pong, i).await;
        }
    });
    other.join().expect("other thread");
}

/// Several threads in block_on at once, each with its own sockets: only one
/// drives at a time, the others are woken by it, and the driving role is
/// handed over as threads finish at different times.
#[test]
fn block_on_threads_hand_over_driving() {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                run(60, async move {
                    let (a, b) = UnixStream::pair()?;
                    // Threads do different amounts of work so they finish apart.
                    futures::try_join!(echo(a), echo_client(b, t, 500 * (t + 1), 32))?;
                    std::io::Result::Ok(())
                })
                .expect("echo");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

/// notify() from many threads while I/O flows must not lose or wedge anything.
#[test]
fn notify_storm_during_io() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noisy: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    Reactor::get().notify();
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    run(60, async {
        let (a, b) = UnixStream::pair()?;
        for i in 0..5_000u32 {
            a.write_all(&i.to_le_bytes()).await?;
            let mut buf = [0u8; 4];
            b.read_exact(&mut buf).await?;
            assert_eq!(u32::from_le_bytes(buf), i);
            // A short timer now and then, so timer and I/O wakes interleave.
            if i % 500 == 0 {
                corio_reactor::timer::sleep(Duration::from_micros(200)).await;
            }
        }
        std::io::Result::Ok(())
    })
    .expect("io under notify storm");
    stop.store(true, Ordering::Relaxed);
    for t in noisy {
        t.join().expect("noisy thread");
    }
}
