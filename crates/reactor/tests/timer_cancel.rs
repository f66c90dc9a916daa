//! Cancel storms: dropped sleeps leave no entry behind (one test per binary
//! because it counts the process-wide `pending_timers`).
mod common;

use common::*;
use corio_reactor::timer::sleep;
use corio_reactor::Reactor;
use std::time::Duration;

#[test]
fn cancel_storms_leave_no_entries() {
    let reactor = Reactor::get();
    assert_eq!(reactor.pending_timers(), 0);
    // 1. 200,000 registered-then-dropped sleeps on one thread, 1 min to 84 min
    // (several levels of the wheel). Each is polled (registered) right after it
    // is made: its deadline counts from its creation, and making all 200,000
    // first took over a second under ThreadSanitizer on a loaded machine. The
    // count is of armed timers (a fired one no longer counts), so none may
    // come due before it is taken: the shortest is a minute away.
    run(60, async {
        let mut sleeps = Vec::with_capacity(200_000);
        for i in 0..200_000u64 {
            let mut s = sleep(Duration::from_secs(60 + i % 5000));
            if futures::poll!(&mut s).is_pending() {
                sleeps.push(s);
            }
        }
        assert!(sleeps.len() > 100_000, "{} registered", sleeps.len());
        assert_eq!(reactor.pending_timers(), sleeps.len());
        drop(sleeps);
        assert_eq!(reactor.pending_timers(), 0);
    });

    // 2. Four threads registering, resetting and dropping at random while a
    // driver fires the ones that come due; survivors must still fire.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                run(60, async move {
                    let mut live = Vec::new();
                    for _ in 0..20_000 {
                        match rng.u8(0..4) {
                            0 | 1 => {
                                let mut s = sleep(Duration::from_micros(rng.u64(0..20_000)));
                                if futures::poll!(&mut s).is_pending() {
                                    live.push(s);
                                }
                            }
                            2 if !live.is_empty() => {
                                let i = rng.usize(0..live.len());
                                drop(live.swap_remove(i));
                            }
                            _ if !live.is_empty() => {
                                let i = rng.usize(0..live.len());
                                let d = std::time::Instant::now()
                                    + Duration::from_micros(rng.u64(0..20_000));
                                live[i].reset(d);
                            }
                            _ => {}
                        }
                    }
                    // Every survivor still completes.
                    futures::future::join_all(live).await;
                })
            })
        })
        .collect();
    for t in threads {
        t.join().expect("storm thread");
    }
    assert_eq!(reactor.pending_timers(), 0);
}
