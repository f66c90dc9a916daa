//! A new timer earlier than the one the driving thread waits for wakes that
//! thread (via notify) so it recomputes its timeout. Alone in its binary so
//! that no other test's thread drives the reactor meanwhile.
mod common;

use common::*;
use corio_reactor::timer::sleep;
use std::time::{Duration, Instant};

#[test]
fn earlier_deadline_wakes_the_driver() {
    let (done_tx, done_rx) = futures::channel::oneshot::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    // The driver: a block_on thread waiting for a 5 s timer (or the signal).
    let driver = std::thread::spawn(move || {
        run(10, async move {
            let long = sleep(Duration::from_secs(5));
            futures::pin_mut!(long);
            assert!(futures::poll!(&mut long).is_pending());
            started_tx.send(()).expect("started");
            futures::future::select(long, done_rx).await;
        })
    });
    started_rx.recv().expect("driver started");
    // Let the driver reach the poller with its 5 s timeout.
    std::thread::sleep(Duration::from_millis(50));
    // This thread does not drive (futures' executor parks); only the driver
    // can fire the 10 ms timer, and only if the insert notified it.
    let start = Instant::now();
    futures::executor::block_on(sleep(Duration::from_millis(10)));
    let took = start.elapsed();
    done_tx.send(()).expect("signal driver");
    driver.join().expect("driver thread");
    assert!(took >= Duration::from_millis(10));
    // Un-notified, the driver would sleep out its 5 s poll timeout first; 4 s leaves a
    // loaded machine room without letting that through.
    assert!(
        took < Duration::from_secs(4),
        "the driver was not notified: {took:?}"
    );
}
