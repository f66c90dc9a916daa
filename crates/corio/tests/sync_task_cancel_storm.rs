//! Cancellation storm under corio's runtime: tasks using every primitive are
//! cancelled with Task::cancel at random moments; afterwards the lock is free,
//! every permit is back and the queue holds exactly what was put and not got.

mod sync_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corio::queue::Queue;
use corio::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore};
use sync_support::{run_timeout, Rng};

/// Tasks per storm: enough that many wait on each primitive at once.
const TASKS: u64 = 400;

#[test]
fn task_cancel_storm_keeps_invariants() {
    run_timeout(async {
        let lock = Arc::new(Lock::new(0u64));
        let sem = Arc::new(Semaphore::new(3));
        let bsem = Arc::new(BoundedSemaphore::new(2));
        let cond = Arc::new(Condition::new(0u64));
        let event = Arc::new(Event::new());
        let barrier = Arc::new(Barrier::new(4));
        let q: Queue<u64> = Queue::new(8);
        let (put_n, got_n) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut rng = Rng(0x5EED);
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let (lock, sem, bsem, cond, event, barrier, q) = (
                lock.clone(),
                sem.clone(),
                bsem.clone(),
                cond.clone(),
                event.clone(),
                barrier.clone(),
                q.clone(),
            );
            let (put_n, got_n) = (put_n.clone(), got_n.clone());
            tasks.push(corio::create_task(async move {
                match i % 7 {
                    0 => {
                        let mut g = lock.acquire().await.unwrap();
                        *g += 1;
                        corio::yield_now().await;
                    }
                    1 => {
                        let _p = sem.acquire().await.unwrap();
                        corio::sleep(Duration::from_micros(200)).await;
                    }
                    2 => {
                        let _p = bsem.acquire().await.unwrap();
                        corio::yield_now().await;
                    }
                    3 => {
                        let g = cond.acquire().await.unwrap();
                        let _g = cond.wait(g).await;
                    }
                    4 => event.wait().await,
                    5 => {
                        let _ = barrier.wait().await;
                    }
                    _ => {
                        if i % 2 == 0 {
                            q.put(i).await.unwrap();
                            put_n.fetch_add(1, Ordering::SeqCst);
                        } else {
                            q.get().await.unwrap();
                            got_n.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
            if rng.below(4) == 0 {
                corio::yield_now().await;
            }
        }
        // Cancel a random half, at random moments, while notifying the rest.
        for (k, t) in tasks.iter().enumerate() {
            if rng.below(2) == 0 {
                t.cancel();
            }
            if k % 50 == 0 {
                cond.notify(3);
                corio::yield_now().await;
            }
        }
        // Release everyone still waiting, then wait for every task to end.
        event.set();
        barrier.abort();
        q.shutdown(false);
        for _ in 0..50 {
            cond.notify_all();
            if tasks.iter().all(|t| t.done()) {
                break;
            }
            corio::sleep(Duration::from_millis(10)).await;
        }
        for t in tasks {
            let _ = corio::wait_for(t, Duration::from_secs(10))
                .await
                .expect("task ended");
        }
        assert!(!lock.locked(), "lock left locked");
        assert_eq!(lock.waiters(), 0);
        assert_eq!(sem.available_permits(), 3, "semaphore lost permits");
        assert_eq!(
            bsem.available_permits(),
            2,
            "bounded semaphore lost permits"
        );
        assert!(!cond.locked());
        assert_eq!(cond.waiters(), 0);
        assert_eq!(barrier.n_waiting(), 0);
        assert_eq!(
            q.qsize() as u64,
            put_n.load(Ordering::SeqCst) - got_n.load(Ordering::SeqCst),
            "queue length does not match puts minus gets"
        );
    });
}
