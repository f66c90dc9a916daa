//! corio::queue shutdown (Python 3.13 semantics).

mod sync_support;

use std::pin::Pin;
use std::task::Poll;

use corio::queue::Queue;
use sync_support::poll_once;

#[test]
fn shutdown_wakes_blocked_getters_and_putters() {
    let q = Queue::new(1);
    let empty: Queue<u8> = Queue::new(1);
    let mut getter = empty.get();
    assert!(poll_once(Pin::new(&mut getter)).is_pending());
    q.put_nowait(1).unwrap();
    let mut putter = q.put(2);
    assert!(poll_once(Pin::new(&mut putter)).is_pending());

    empty.shutdown(false);
    q.shutdown(false);
    match poll_once(Pin::new(&mut getter)) {
        Poll::Ready(Err(e)) => assert_eq!(e.to_string(), "queue is shut down"),
        other => panic!("expected GetError::ShutDown, got {other:?}"),
    }
    match poll_once(Pin::new(&mut putter)) {
        Poll::Ready(Err(e)) => assert_eq!(e.into_inner(), 2),
        other => panic!("putter not failed by shutdown: {other:?}"),
    }
    // Graceful: the remaining item is still delivered, then gets fail.
    assert_eq!(q.get_nowait(), Ok(1));
    assert!(q.get_nowait().unwrap_err().is_shutdown());
    assert!(q.is_shutdown());
}

#[test]
fn immediate_shutdown_drains_and_releases_join() {
    let q = Queue::new(0);
    for i in 0..5 {
        q.put_nowait(i).unwrap();
    }
    q.get_nowait().unwrap(); // taken, not yet done
    let mut join = q.join();
    assert!(poll_once(Pin::new(&mut join)).is_pending());
    q.shutdown(true);
    assert_eq!(q.qsize(), 0);
    assert!(q.get_nowait().unwrap_err().is_shutdown());
    // 4 drained items count as done; one item is still being processed.
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(poll_once(Pin::new(&mut join)).is_pending());
    q.task_done().unwrap();
    assert!(poll_once(Pin::new(&mut join)).is_ready());
}
