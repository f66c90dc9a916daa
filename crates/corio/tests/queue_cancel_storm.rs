//! Cancellation storm against corio::queue: producers and consumers drop their
//! `put`/`get` futures at random points; afterwards every item is accounted for.

mod sync_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use corio::queue::{PriorityQueue, Queue};
use sync_support::{poll_n_then_drop, with_timeout, Rng, TEST_TIMEOUT};

/// Iterations per thread (see sync_cancel_storm.rs for the sizing).
const ROUNDS: u64 = 3_000;

#[test]
fn queue_storm_loses_and_duplicates_nothing() {
    // maxsize 4: small, so putters block and get cancelled while queued too.
    let q: Queue<u64> = Queue::new(4);
    let put_sum = Arc::new(AtomicU64::new(0));
    let put_n = Arc::new(AtomicU64::new(0));
    let got_sum = Arc::new(AtomicU64::new(0));
    let got_n = Arc::new(AtomicU64::new(0));
    with_timeout(TEST_TIMEOUT, {
        let (q, put_sum, put_n, got_sum, got_n) = (
            q.clone(),
            put_sum.clone(),
            put_n.clone(),
            got_sum.clone(),
            got_n.clone(),
        );
        move || {
            let mut ts = Vec::new();
            for t in 0..4u64 {
                let (q, put_sum, put_n, got_sum, got_n) = (
                    q.clone(),
                    put_sum.clone(),
                    put_n.clone(),
                    got_sum.clone(),
                    got_n.clone(),
                );
                ts.push(std::thread::spawn(move || {
                    let mut rng = Rng(0xDEAD_BEEF ^ ((t + 1) * 104_729));
                    futures::executor::block_on(async {
                        for i in 0..ROUNDS {
                            if t % 2 == 0 {
                                let v = t * ROUNDS + i + 1;
                                if let Some(r) =
                                    poll_n_then_drop(q.put(v), rng.below(4) as u32).await
                                {
                                    r.unwrap();
                                    put_sum.fetch_add(v, Ordering::SeqCst);
                                    put_n.fetch_add(1, Ordering::SeqCst);
                                }
                            } else if let Some(r) =
                                poll_n_then_drop(q.get(), rng.below(4) as u32).await
                            {
                                got_sum.fetch_add(r.unwrap(), Ordering::SeqCst);
                                got_n.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                }));
            }
            for t in ts {
                t.join().unwrap();
            }
        }
    });
    // Whatever is left in the queue plus what was got is exactly what was put.
    let mut rest = (0u64, 0u64);
    while let Ok(v) = q.get_nowait() {
        rest.0 += v;
        rest.1 += 1;
    }
    assert!(rest.1 <= 4, "queue exceeded its maxsize");
    assert_eq!(
        got_n.load(Ordering::SeqCst) + rest.1,
        put_n.load(Ordering::SeqCst)
    );
    assert_eq!(
        got_sum.load(Ordering::SeqCst) + rest.0,
        put_sum.load(Ordering::SeqCst)
    );
    assert_eq!(q.unfinished_tasks() as u64, put_n.load(Ordering::SeqCst));
    // No waiter was left stuck: a fresh put/get round-trips at once.
    q.put_nowait(7).unwrap();
    assert_eq!(q.get_nowait(), Ok(7));
}

#[test]
fn priority_queue_storm_keeps_order_of_what_remains() {
    let q: PriorityQueue<u64> = PriorityQueue::new(8);
    with_timeout(TEST_TIMEOUT, {
        let q = q.clone();
        move || {
            let ts: Vec<_> = (0..3u64)
                .map(|t| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        let mut rng = Rng(77 + t);
                        futures::executor::block_on(async {
                            for i in 0..ROUNDS / 2 {
                                let _ = poll_n_then_drop(q.put(i), rng.below(3) as u32).await;
                                if rng.below(3) == 0 {
                                    let _ = poll_n_then_drop(q.get(), rng.below(3) as u32).await;
                                }
                            }
                        })
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
        }
    });
    assert!(q.qsize() <= 8, "queue exceeded its maxsize");
    let mut prev = 0;
    while let Ok(v) = q.get_nowait() {
        assert!(v >= prev, "priority order broken");
        prev = v;
    }
}
