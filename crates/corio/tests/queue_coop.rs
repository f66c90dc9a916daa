//! Queue get/put are cooperative: a task that always finds its queue ready
//! still yields, so other tasks on the same worker run.

mod sync_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use corio::queue::Queue;
use sync_support::with_timeout;

#[test]
fn always_ready_queue_does_not_starve_its_worker() {
    with_timeout(sync_support::TEST_TIMEOUT, || {
        // One worker: the busy task and the other task must share it.
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicU64::new(0));
        let q: Queue<u64> = Queue::new(1);
        q.put_nowait(0).unwrap();
        let busy = {
            let (q, stop, spins) = (q.clone(), stop.clone(), spins.clone());
            rt.handle().create_task(async move {
                // Never Pending on its own: there is always an item, and always room.
                while !stop.load(Ordering::Relaxed) {
                    let x = q.get().await.unwrap();
                    q.put(x + 1).await.unwrap();
                    spins.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let other = {
            let stop = stop.clone();
            rt.handle()
                .create_task(async move { stop.store(true, Ordering::Relaxed) })
        };
        rt.block_on(async {
            other.await.unwrap();
            busy.await.unwrap();
        });
        assert!(stop.load(Ordering::Relaxed));
        assert_eq!(q.qsize(), 1);
    });
}
