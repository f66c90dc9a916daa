//! corio::sync::Barrier: arrival indices, rounds, abort/reset, cancellation.

mod sync_support;

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use corio::sync::Barrier;
use sync_support::{poll_once, with_timeout, TEST_TIMEOUT};

#[test]
fn indices_are_arrival_order_and_rounds_repeat() {
    let b = Barrier::new(3);
    for _round in 0..2 {
        let mut w0 = b.wait();
        let mut w1 = b.wait();
        assert!(poll_once(Pin::new(&mut w0)).is_pending());
        assert!(poll_once(Pin::new(&mut w1)).is_pending());
        assert_eq!(b.n_waiting(), 2);
        assert_eq!(poll_once(Pin::new(&mut b.wait())), Poll::Ready(Ok(2)));
        assert_eq!(poll_once(Pin::new(&mut w1)), Poll::Ready(Ok(1)));
        assert_eq!(poll_once(Pin::new(&mut w0)), Poll::Ready(Ok(0)));
        assert_eq!(b.n_waiting(), 0);
    }
}

#[test]
fn threads_meet() {
    const N: usize = 4;
    let b = Arc::new(Barrier::new(N));
    let mut idx = with_timeout(TEST_TIMEOUT, move || {
        let ts: Vec<_> = (0..N)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || futures::executor::block_on(b.wait()).unwrap())
            })
            .collect();
        ts.into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    idx.sort();
    assert_eq!(idx, (0..N).collect::<Vec<_>>());
}

#[test]
fn abort_breaks_waiters_and_later_callers_until_reset() {
    let b = Barrier::new(3);
    let mut w = b.wait();
    assert!(poll_once(Pin::new(&mut w)).is_pending());
    b.abort();
    assert!(b.broken());
    let Poll::Ready(Err(err)) = poll_once(Pin::new(&mut w)) else {
        panic!("the waiter was not released broken")
    };
    assert!(err.to_string().contains("reset"), "{err}");
    assert!(matches!(
        poll_once(Pin::new(&mut b.wait())),
        Poll::Ready(Err(_))
    ));
    b.reset();
    assert!(!b.broken());
    let mut w = b.wait();
    assert!(poll_once(Pin::new(&mut w)).is_pending());
}

#[test]
fn reset_breaks_current_waiters_only() {
    let b = Barrier::new(2);
    let mut w = b.wait();
    assert!(poll_once(Pin::new(&mut w)).is_pending());
    b.reset();
    assert!(matches!(poll_once(Pin::new(&mut w)), Poll::Ready(Err(_))));
    assert!(!b.broken());
    let mut a = b.wait();
    assert!(poll_once(Pin::new(&mut a)).is_pending());
    assert_eq!(poll_once(Pin::new(&mut b.wait())), Poll::Ready(Ok(1)));
    assert_eq!(poll_once(Pin::new(&mut a)), Poll::Ready(Ok(0)));
}

#[test]
fn cancelled_waiter_leaves_the_round() {
    let b = Barrier::new(2);
    let mut w = b.wait();
    assert!(poll_once(Pin::new(&mut w)).is_pending());
    drop(w);
    assert_eq!(b.n_waiting(), 0);
    // One arrival alone must not pass: the cancelled one does not count.
    let mut a = b.wait();
    assert!(poll_once(Pin::new(&mut a)).is_pending());
}
