//! The scheduler is executor-generic: futures from other crates (here
//! `futures::channel`) run on it, and its tasks are plain futures other executors can
//! await.

mod common;

use common::with_timeout;
use corio_scheduler::Builder;
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};

#[test]
fn futures_channels_between_tasks_and_threads() {
    with_timeout(60, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let (mut tx, mut rx) = mpsc::channel::<u64>(16);
        let consumer = ex.spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.next().await {
                sum += v;
            }
            sum
        });
        let producer = ex.spawn(async move {
            for i in 1..=10_000u64 {
                tx.send(i).await.unwrap();
            }
        });
        // A oneshot completed from a plain OS thread.
        let (otx, orx) = oneshot::channel();
        let waiter = ex.spawn(async move { orx.await.unwrap() });
        std::thread::spawn(move || otx.send("from a thread").unwrap());
        ex.block_on(producer).unwrap();
        assert_eq!(ex.block_on(consumer).unwrap(), 10_000 * 10_001 / 2);
        // A corio Task awaited by another executor.
        assert_eq!(
            futures::executor::block_on(waiter).unwrap(),
            "from a thread"
        );
    });
}
