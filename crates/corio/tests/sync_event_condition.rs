//! corio::sync::{Event, Condition}: wake-ups, predicates, cancellation.

mod sync_support;

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use corio::sync::{Condition, Event};
use futures::FutureExt;
use sync_support::{poll_once, with_timeout, TEST_TIMEOUT};

#[test]
fn event_set_wakes_all_waiters_even_if_cleared_after() {
    let ev = Event::new();
    let mut ws: Vec<_> = (0..3).map(|_| ev.wait()).collect();
    for w in &mut ws {
        assert!(poll_once(Pin::new(w)).is_pending());
    }
    ev.set();
    ev.clear(); // asyncio: waiters woken by set() still return
    for w in &mut ws {
        assert!(poll_once(Pin::new(w)).is_ready());
    }
    assert!(!ev.is_set());
    // A new waiter after clear waits again.
    assert!(ev.wait().now_or_never().is_none());
}

#[test]
fn event_across_threads() {
    let ev = Arc::new(Event::new());
    with_timeout(TEST_TIMEOUT, {
        let ev = ev.clone();
        move || {
            let ts: Vec<_> = (0..4)
                .map(|_| {
                    let ev = ev.clone();
                    std::thread::spawn(move || futures::executor::block_on(ev.wait()))
                })
                .collect();
            ev.set();
            for t in ts {
                t.join().unwrap();
            }
        }
    });
    assert!(ev.is_set());
    assert!(ev.wait().now_or_never().is_some());
}

#[test]
fn condition_wait_for_predicate_across_threads() {
    let cond = Arc::new(Condition::new(0u32));
    let seen = with_timeout(TEST_TIMEOUT, {
        let cond = cond.clone();
        move || {
            let c2 = cond.clone();
            let consumer = std::thread::spawn(move || {
                futures::executor::block_on(async {
                    let g = c2.acquire().await.unwrap();
                    let g = c2.wait_for(g, |n| *n >= 5).await.unwrap();
                    *g
                })
            });
            futures::executor::block_on(async {
                for _ in 0..5 {
                    *cond.acquire().await.unwrap() += 1;
                    cond.notify_all();
                }
            });
            consumer.join().unwrap()
        }
    });
    assert_eq!(seen, 5);
    assert!(!cond.locked());
}

#[test]
fn condition_notify_n_wakes_exactly_n_in_order() {
    let cond = Condition::new(());
    let mut ws = Vec::new();
    for _ in 0..3 {
        let g = cond.lock().try_acquire().expect("lock free between waits");
        let mut w = Box::pin(cond.wait(g));
        assert!(poll_once(w.as_mut()).is_pending());
        ws.push(w);
    }
    assert!(!cond.locked(), "wait released the lock");
    assert_eq!(cond.notify(2), 2);
    assert!(
        poll_once(ws[2].as_mut()).is_pending(),
        "third waiter woke without a notify"
    );
    let g0 = match poll_once(ws[0].as_mut()) {
        Poll::Ready(g) => g.unwrap(),
        Poll::Pending => panic!("first waiter not woken"),
    };
    // The second was notified but must wait for the lock held by the first.
    assert!(poll_once(ws[1].as_mut()).is_pending());
    drop(g0);
    assert!(poll_once(ws[1].as_mut()).is_ready());
    assert_eq!(cond.waiters(), 1);
    assert_eq!(cond.notify_all(), 1);
}

#[test]
fn condition_cancelled_after_notify_passes_it_on() {
    let cond = Condition::new(());
    let g = cond.lock().try_acquire().unwrap();
    let mut a = Box::pin(cond.wait(g));
    assert!(poll_once(a.as_mut()).is_pending());
    let g = cond.lock().try_acquire().unwrap();
    let mut b = Box::pin(cond.wait(g));
    assert!(poll_once(b.as_mut()).is_pending());
    assert_eq!(cond.notify(1), 1); // goes to `a`
    drop(a); // cancelled before it ran: `b` gets the notification instead
    assert!(poll_once(b.as_mut()).is_ready());
    drop(b);
    assert!(!cond.locked());
}

#[test]
#[should_panic(expected = "belongs to another Lock")]
fn condition_wait_with_foreign_guard_panics() {
    let cond = Condition::new(());
    let other = corio::sync::Lock::new(());
    let g = other.try_acquire().unwrap();
    // wait() checks the guard's identity before anything else.
    let _w = cond.wait(g);
}
