//! corio::queue: put/get semantics, bounds, kinds, task_done/join, errors.

mod sync_support;

use std::pin::Pin;
use std::task::Poll;

use corio::queue::{LifoQueue, PriorityQueue, Queue, TryGetError};
use futures::{FutureExt, StreamExt};
use sync_support::{block_on_timeout, poll_once};

#[test]
fn fifo_lifo_priority_orders() {
    let q = Queue::new(0);
    let l = LifoQueue::new(0);
    let p = PriorityQueue::new(0);
    for x in [3, 1, 2] {
        q.put_nowait(x).unwrap();
        l.put_nowait(x).unwrap();
        p.put_nowait(x).unwrap();
    }
    let drain =
        |f: &dyn Fn() -> Result<i32, TryGetError>| (0..3).map(|_| f().unwrap()).collect::<Vec<_>>();
    assert_eq!(drain(&|| q.get_nowait()), [3, 1, 2]);
    assert_eq!(drain(&|| l.get_nowait()), [2, 1, 3]);
    assert_eq!(drain(&|| p.get_nowait()), [1, 2, 3]);
}

#[test]
fn bounded_queue_reports_full_and_empty() {
    let q = Queue::new(2);
    assert_eq!(q.maxsize(), 2);
    assert!(q.empty());
    assert!(q.get_nowait().unwrap_err().is_empty());
    q.put_nowait('a').unwrap();
    q.put_nowait('b').unwrap();
    assert!(q.full());
    let err = q.put_nowait('c').unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.to_string(), "queue is full");
    assert_eq!(err.into_inner(), 'c');
    assert_eq!(q.qsize(), 2);
    // Unbounded: never full.
    let u = Queue::new(0);
    for i in 0..10_000 {
        u.put_nowait(i).unwrap();
    }
    assert!(!u.full());
}

#[test]
fn put_waits_for_room_and_get_waits_for_item() {
    let q = Queue::new(1);
    q.put_nowait(1).unwrap();
    let mut put = q.put(2);
    assert!(poll_once(Pin::new(&mut put)).is_pending());
    assert_eq!(q.get_nowait().unwrap(), 1); // wakes the putter
    assert_eq!(poll_once(Pin::new(&mut put)), Poll::Ready(Ok(())));
    assert_eq!(q.get_nowait().unwrap(), 2);

    let mut get = q.get();
    assert!(poll_once(Pin::new(&mut get)).is_pending());
    q.put_nowait(3).unwrap();
    assert_eq!(poll_once(Pin::new(&mut get)), Poll::Ready(Ok(3)));
}

#[test]
fn producer_consumer_threads_deliver_everything_once() {
    const ITEMS: u64 = 20_000;
    let q: Queue<u64> = Queue::new(16);
    let (sum, count) = block_on_timeout({
        let q = q.clone();
        async move {
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        futures::executor::block_on(async {
                            for i in 0..ITEMS / 2 {
                                q.put(p * (ITEMS / 2) + i).await.unwrap();
                            }
                        })
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        futures::executor::block_on(async {
                            let (mut sum, mut n) = (0u64, 0u64);
                            while let Ok(x) = q.get().await {
                                sum += x;
                                n += 1;
                                q.task_done().unwrap();
                            }
                            (sum, n)
                        })
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            q.join().await;
            q.shutdown(false);
            consumers
                .into_iter()
                .map(|c| c.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        }
    });
    assert_eq!(count, ITEMS);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn task_done_too_often_is_an_error_and_join_waits() {
    let q = Queue::new(0);
    let err = q.task_done().unwrap_err();
    assert!(err.to_string().contains("too many times"));
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let mut join = q.join();
    assert!(poll_once(Pin::new(&mut join)).is_pending());
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert!(
        poll_once(Pin::new(&mut join)).is_pending(),
        "join returned with one item unfinished"
    );
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert!(poll_once(Pin::new(&mut join)).is_ready());
    assert!(q.task_done().is_err());
}

#[test]
fn stream_yields_items_then_ends_at_shutdown() {
    let q = Queue::new(0);
    let out = block_on_timeout({
        let q = q.clone();
        async move {
            let producer = {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        q.put_nowait(i).unwrap();
                    }
                    q.shutdown(false);
                })
            };
            let v: Vec<i32> = q.stream().collect().await;
            producer.join().unwrap();
            v
        }
    });
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

#[test]
fn put_error_gives_item_back() {
    let q = Queue::new(0);
    q.shutdown(false);
    let err = q.put_nowait(String::from("kept")).unwrap_err();
    assert!(err.is_shutdown() && !err.is_full(), "{err:?}");
    assert_eq!(err.into_inner(), "kept");
    let e = q
        .put(String::from("also"))
        .now_or_never()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.into_inner(), "also");
}

#[test]
fn producer_consumer_tasks_on_the_runtime() {
    // 4 producer and 4 consumer tasks on corio's workers through a small queue.
    const PER_PRODUCER: u64 = 2_500;
    let total = sync_support::run_timeout(async {
        let q: Queue<u64> = Queue::new(4);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let q = q.clone();
                corio::create_task(async move {
                    for i in 0..PER_PRODUCER {
                        q.put(p * PER_PRODUCER + i).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                corio::create_task(async move {
                    let mut sum = 0u64;
                    while let Ok(x) = q.get().await {
                        sum += x;
                        q.task_done().unwrap();
                    }
                    sum
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        q.join().await;
        q.shutdown(false);
        let mut total = 0;
        for c in consumers {
            total += c.await.unwrap();
        }
        total
    });
    let n = 4 * PER_PRODUCER;
    assert_eq!(total, n * (n - 1) / 2);
}

/// The queue types carry no bound a method does not need (as async-channel's
/// `Sender<T>`): a queue of `Rc`s or of borrowed items can be named, built and
/// used on one thread; a `Priority` of an unordered type can still be named.
#[test]
fn queues_of_non_send_and_borrowed_items() {
    use std::rc::Rc;
    struct Unordered;

    let q: Queue<Rc<u8>> = Queue::new(1);
    q.put_nowait(Rc::new(7)).unwrap();
    assert!(q.full());
    // The item is there: this get completes in its first poll.
    let got = futures::executor::block_on(q.get()).unwrap();
    assert_eq!(*got, 7);

    let text = String::from("borrowed");
    let borrowed: LifoQueue<&str> = LifoQueue::new(0);
    borrowed.put_nowait(&text[..4]).unwrap();
    assert_eq!(borrowed.get_nowait().unwrap(), "borr");

    let p: PriorityQueue<Rc<u8>> = PriorityQueue::new(0);
    p.put_nowait(Rc::new(2)).unwrap();
    p.put_nowait(Rc::new(1)).unwrap();
    assert_eq!(*p.get_nowait().unwrap(), 1);

    // Only named: `Priority<T>` asks for `T: Ord` where it orders, not here.
    let _unordered: Option<corio::queue::Priority<Unordered>> = None;
}
