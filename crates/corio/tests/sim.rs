//! corio::sim: determinism, virtual time, blocking work, leak detection, check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corio::sim::{Config, SimErrorKind, Strategy};

/// A program with spawns, yields, a lock, a queue and timers: enough choices
/// for different seeds to give different traces.
async fn busy_program() -> usize {
    let lock = Arc::new(corio::sync::Lock::new(()));
    let q = Arc::new(corio::queue::Queue::<usize>::new(2));
    let count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (lock, q, count) = (lock.clone(), q.clone(), count.clone());
        tasks.push(corio::create_task(async move {
            for j in 0..3 {
                let _g = lock.acquire().await.unwrap();
                corio::yield_now().await;
                count.fetch_add(1, Ordering::SeqCst);
                drop(_g);
                if j == 1 {
                    corio::sleep(Duration::from_millis(i as u64 % 3)).await;
                }
            }
            q.put(i).await.unwrap();
        }));
    }
    let mut got = 0;
    for _ in 0..6 {
        got += q.get().await.unwrap();
    }
    for t in tasks {
        t.await.unwrap();
    }
    got + count.load(Ordering::SeqCst)
}

#[test]
fn the_same_seed_gives_the_same_trace_100_of_100() {
    for strategy in [Strategy::Random, Strategy::Pct { depth: 3 }] {
        let config = Config::new().strategy(strategy);
        let first = config.run_seed(42, busy_program()).unwrap();
        assert_eq!(*first.output(), 15 + 18);
        assert!(first.trace().len() > 30, "{}", first.trace().len());
        for _ in 0..100 {
            let again = config.run_seed(42, busy_program()).unwrap();
            assert_eq!(again.trace(), first.trace());
            assert_eq!(again.virtual_elapsed(), first.virtual_elapsed());
        }
    }
}

#[test]
fn different_seeds_explore_different_orders() {
    let config = Config::new();
    let traces: std::collections::HashSet<Vec<(usize, u64)>> = (0..20)
        .map(|seed| {
            let out = config.run_seed(seed, busy_program()).unwrap();
            out.trace()
                .entries()
                .iter()
                .map(|e| (e.worker, e.task))
                .collect()
        })
        .collect();
    assert!(traces.len() >= 10, "only {} distinct traces", traces.len());
}

#[test]
fn a_day_of_100_000_timers_runs_in_virtual_time() {
    const TIMERS: u64 = 100_000;
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let out = Config::new()
        .workers(2)
        .run_seed(1, async move {
            let start = corio::sim::now();
            // 100 tasks, each sleeping 1,000 times: deadlines spread over the day.
            let tasks: Vec<_> = (0..100u64)
                .map(|t| {
                    let f = f.clone();
                    corio::create_task(async move {
                        for i in 0..TIMERS / 100 {
                            let at = DAY.as_nanos() as u64 / (TIMERS / 100) * (i + 1) - t;
                            corio::sleep_until(start + Duration::from_nanos(at)).await;
                            f.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            corio::sim::now() - start
        })
        .unwrap();
    assert_eq!(fired.load(Ordering::Relaxed) as u64, TIMERS);
    assert_eq!(*out.output(), DAY);
}

#[test]
fn interval_and_timeouts_use_virtual_time() {
    Config::new().check(|| async {
        let start = corio::sim::now();
        let mut every = corio::interval(Duration::from_secs(10));
        for _ in 0..4 {
            every.tick().await;
        }
        assert_eq!(corio::sim::now() - start, Duration::from_secs(30));
        let slow = corio::wait_for(
            corio::sleep(Duration::from_secs(3600)),
            Duration::from_secs(5),
        );
        assert!(slow.await.is_err());
        assert_eq!(corio::sim::now() - start, Duration::from_secs(35));
        let cm = corio::timeout(Duration::from_secs(1));
        assert_eq!(cm.run(async { 7 }).await, Ok(7));
        assert_eq!(cm.when(), Some(start + Duration::from_secs(36)));
    });
}

#[test]
fn to_thread_runs_inline_at_a_virtual_cost() {
    let out = Config::new()
        .blocking_cost(Duration::from_millis(250))
        .run_seed(3, async {
            let here = std::thread::current().id();
            let there = corio::to_thread(move || std::thread::current().id())
                .await
                .unwrap();
            let pool = corio::ThreadPool::new(2);
            let n = corio::run_in_executor(Some(&pool), || 6 * 7).await.unwrap();
            (here == there, n)
        })
        .unwrap();
    assert_eq!(*out.output(), (true, 42));
    assert_eq!(out.virtual_elapsed(), Duration::from_millis(500));
}

#[test]
fn a_deadlock_is_reported_as_all_tasks_blocked() {
    let err = Config::new()
        .run_seed(0, async {
            let ev = corio::sync::Event::new();
            ev.wait().await; // nobody sets it
        })
        .unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Deadlock);
    assert!(
        err.message().contains("all tasks blocked, no timers"),
        "{err}"
    );
}

#[test]
fn a_real_socket_is_a_leak() {
    let err = Config::new()
        .run_seed(0, async {
            let r = corio::net::TcpListener::bind("127.0.0.1:0");
            assert!(r.is_err());
            corio::yield_now().await;
        })
        .unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Leak);
    assert!(err.message().contains("real socket"), "{err}");
}

#[test]
fn a_real_instant_given_to_a_timer_is_a_leak() {
    let err = Config::new()
        .run_seed(0, async {
            let real = std::time::Instant::now() + Duration::from_secs(1);
            corio::sleep_until(real).await;
        })
        .unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Leak);
    assert!(err.message().contains("Instant"), "{err}");
    // Reported at the poll that made it: the main future's first.
    assert_eq!(err.trace().len(), 1);
    assert_eq!(err.step(), err.trace().entries()[0].step);
}

#[test]
fn a_runtime_inside_a_simulation_is_a_leak() {
    let err = Config::new()
        .run_seed(0, async {
            assert!(corio::Runtime::new().is_err());
        })
        .unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Leak);
    assert!(err.message().contains("OS threads"), "{err}");
}

#[test]
fn a_wake_from_another_os_thread_is_a_leak() {
    let err = Config::new()
        .run_seed(0, async {
            let ev = Arc::new(corio::sync::Event::new());
            let (e, e2) = (ev.clone(), ev.clone());
            let waiter = corio::create_task(async move { e2.wait().await });
            // Until the waiter waits (no timers: it runs before time moves).
            corio::sleep(Duration::from_millis(1)).await;
            let (go, wait_go) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || {
                let _ = wait_go.recv();
                e.set();
            });
            // Block the simulation's thread on purpose until the thread has
            // woken the idle waiter, so the wake-up lands during the run.
            go.send(()).unwrap();
            t.join().unwrap();
            waiter.await.unwrap();
        })
        .unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Leak, "{err}");
    assert!(err.message().contains("another OS thread"), "{err}");
}

/// Runs `body` as a simulation that must fail with a leak at the main
/// future's first poll (where `body` let the real world in), and returns the
/// leak's message.
fn leak_at_first_poll<F: std::future::Future<Output = ()> + 'static>(body: F) -> String {
    let err = Config::new().run_seed(0, body).unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Leak, "{err}");
    assert_eq!(
        err.trace().len(),
        1,
        "not reported at the first divergence: {err}"
    );
    err.message().to_owned()
}

#[test]
fn a_thread_pool_job_is_a_leak_with_what_to_use_instead() {
    let msg = leak_at_first_poll(async {
        let pool = corio::ThreadPool::new(2);
        let err = pool.submit(|| 1).await.unwrap_err();
        assert!(err.to_string().contains("real thread pool"), "{err}");
        assert_eq!(pool.thread_count(), 0, "an OS thread was started");
    });
    assert!(msg.contains("real thread pool"), "{msg}");
    assert!(msg.contains("corio::to_thread"), "{msg}");
}

#[test]
fn a_signal_handler_is_a_leak() {
    let msg = leak_at_first_poll(async {
        assert!(corio::signal::signal(corio::signal::SIGUSR2).is_err());
    });
    assert!(msg.contains("signal handler"), "{msg}");
}

#[test]
fn a_child_process_is_a_leak() {
    let msg = leak_at_first_poll(async {
        assert!(corio::process::Command::new("true").spawn().is_err());
    });
    assert!(msg.contains("child process"), "{msg}");
}

#[cfg(feature = "process-pool")]
#[test]
fn a_process_pool_call_is_a_leak() {
    fn double(x: u32) -> u32 {
        2 * x
    }
    static DOUBLE: corio::process::RemoteFn<u32, u32> =
        corio::process::RemoteFn::new("double", double);
    let msg = leak_at_first_poll(async {
        let pool = corio::ProcessPool::new(1);
        assert!(pool.submit(&DOUBLE, 2).await.is_err());
        assert!(
            pool.worker_pids().is_empty(),
            "a worker process was started"
        );
    });
    assert!(msg.contains("ProcessPool"), "{msg}");
}

#[test]
fn a_real_runtimes_handle_used_inside_is_a_leak() {
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    let h = rt.handle();
    let msg = leak_at_first_poll(async move {
        drop(h.create_task(async {}));
    });
    assert!(msg.contains("real corio Runtime"), "{msg}");
}

#[test]
fn call_later_reads_the_virtual_clock() {
    Config::new().check(|| async {
        let start = corio::sim::now();
        let cb = corio::Handle::current().call_later(Duration::from_secs(30), || {});
        assert_eq!(cb.when(), Some(start + Duration::from_secs(30)));
        cb.into_task().await.unwrap();
        assert_eq!(corio::sim::now() - start, Duration::from_secs(30));
    });
}

#[test]
fn check_reports_the_seed_and_a_replay_command() {
    /// Wrong: assumes the spawned task ran within one yield.
    async fn racy() {
        let hit = Arc::new(AtomicUsize::new(0));
        let h = hit.clone();
        let t = corio::create_task(async move { h.store(1, Ordering::SeqCst) });
        corio::yield_now().await;
        assert_eq!(hit.load(Ordering::SeqCst), 1, "the task has not run yet");
        t.await.unwrap();
    }
    let failure = Config::new().seeds(50).try_check(racy).unwrap_err();
    let text = failure.to_string();
    assert!(text.contains(&format!("seed {}", failure.seed())), "{text}");
    let replay = format!(
        "CORIO_SIM_SEED={} cargo test -p corio --test sim",
        failure.seed()
    );
    assert!(
        failure.replay_command().starts_with(&replay),
        "{}",
        failure.replay_command()
    );
    // The failing seed fails again, the same way, 10 of 10.
    for _ in 0..10 {
        let again = Config::new()
            .replay_seed(failure.seed())
            .try_check(racy)
            .unwrap_err();
        assert_eq!(again.error().trace(), failure.error().trace());
        assert_eq!(again.error().message(), failure.error().message());
    }
}

#[test]
fn tasks_left_at_the_end_are_cancelled() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    Config::new()
        .run_seed(0, async move {
            let f = Flag(d);
            corio::create_task(async move {
                let _f = f;
                corio::sleep(Duration::from_secs(1_000_000)).await;
            });
            corio::yield_now().await;
        })
        .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn all_tasks_and_current_task_work_in_a_simulation() {
    corio::sim::check(|| async {
        let t = corio::create_task_named("sleeper", corio::sleep(Duration::from_secs(60)));
        assert!(corio::all_tasks()
            .iter()
            .any(|m| m.name() == Some("sleeper")));
        assert!(corio::current_task().is_some());
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

mod net {
    use super::*;
    use corio::sim::net::{self, TcpListener, TcpStream};
    use futures::AsyncWriteExt;
    use std::io::ErrorKind;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn echo_with_latency_takes_virtual_round_trips() {
        Config::new().check(|| async {
            net::set_latency(Duration::from_millis(10), Duration::from_millis(10));
            let listener = TcpListener::bind("10.0.0.1:7").unwrap();
            let server = corio::create_task(async move {
                let (mut s, peer) = listener.accept().await.unwrap();
                assert_eq!(peer.ip(), ip("127.0.0.1"));
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
            });
            let start = corio::sim::now();
            let mut c = TcpStream::connect("10.0.0.1:7").await.unwrap();
            c.write_all(b"hello").await.unwrap();
            c.close().await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"hello");
            // connect, data there, data back: three latencies.
            assert_eq!(corio::sim::now() - start, Duration::from_millis(30));
            server.await.unwrap();
        });
    }

    #[test]
    fn connecting_to_nothing_is_refused() {
        Config::new().check(|| async {
            let err = TcpStream::connect("10.0.0.9:1").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        });
    }

    #[test]
    fn a_partition_holds_data_until_healed() {
        Config::new().check(|| async {
            let listener = TcpListener::bind("10.0.0.1:80").unwrap();
            let mut c = TcpStream::connect_from(ip("10.0.0.2"), "10.0.0.1:80")
                .await
                .unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            net::partition(ip("10.0.0.1"), ip("10.0.0.2"));
            c.write_all(b"x").await.unwrap();
            let mut buf = [0u8; 1];
            let held = corio::wait_for(s.read(&mut buf), Duration::from_secs(5)).await;
            assert!(held.is_err(), "delivered across a partition");
            net::heal();
            let n = corio::wait_for(s.read(&mut buf), Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((n, buf[0]), (1, b'x'));
        });
    }

    #[test]
    fn disconnect_resets_both_ends() {
        Config::new().check(|| async {
            let listener = TcpListener::bind("10.0.0.1:80").unwrap();
            let mut c = TcpStream::connect("10.0.0.1:80").await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            let reader = corio::create_task(async move {
                let mut buf = [0u8; 1];
                s.read(&mut buf).await.map_err(|e| e.kind())
            });
            corio::sleep(Duration::from_millis(1)).await;
            net::disconnect(ip("127.0.0.1"), ip("10.0.0.1"));
            assert_eq!(reader.await.unwrap(), Err(ErrorKind::ConnectionReset));
            assert_eq!(
                c.write(b"x").await.unwrap_err().kind(),
                ErrorKind::ConnectionReset
            );
        });
    }

    #[test]
    fn loss_resets_some_connections_and_is_replayed_by_seed() {
        let run = |seed| {
            Config::new()
                .run_seed(seed, async {
                    net::set_loss(0.1);
                    let listener = TcpListener::bind("10.0.0.1:80").unwrap();
                    let mut c = TcpStream::connect("10.0.0.1:80").await.unwrap();
                    let _s = listener.accept().await.unwrap();
                    let mut sent = 0;
                    while c.write_all(b"x").await.is_ok() && sent < 1000 {
                        sent += 1;
                    }
                    sent
                })
                .unwrap()
                .into_output()
        };
        let counts: Vec<usize> = (0..10).map(run).collect();
        assert!(counts.iter().all(|&n| n < 1000), "{counts:?}");
        assert_eq!(counts, (0..10).map(run).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_window_makes_the_writer_wait() {
        Config::new().check(|| async {
            let listener = TcpListener::bind("10.0.0.1:80").unwrap();
            let mut c = TcpStream::connect("10.0.0.1:80").await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            let big = vec![7u8; net::WINDOW + 10];
            let blocked = corio::wait_for(c.write_all(&big), Duration::from_secs(1)).await;
            assert!(blocked.is_err(), "wrote past the window with no reader");
            let mut buf = vec![0u8; net::WINDOW];
            s.read_exact(&mut buf).await.unwrap();
        });
    }
}

#[cfg(feature = "macros")]
mod macro_attr {
    use std::time::Duration;

    #[corio::sim_test]
    async fn sim_test_runs_the_body_in_a_simulation() {
        let start = corio::sim::now();
        corio::sleep(Duration::from_secs(3600)).await;
        assert_eq!(corio::sim::now() - start, Duration::from_secs(3600));
    }

    #[corio::sim_test(worker_threads = 2)]
    async fn sim_test_takes_worker_threads() {
        let t = corio::create_task(async { 5 });
        assert_eq!(t.await.unwrap(), 5);
    }

    #[corio::sim_test]
    #[should_panic(
        expected = "replay it with:\n    CORIO_SIM_SEED=0 cargo test -p corio --test sim"
    )]
    async fn sim_test_reports_a_failing_seed() {
        corio::yield_now().await;
        panic!("planted");
    }
}

#[test]
fn a_sleeping_sim_task_shows_the_sleep_line() {
    let out = Config::new()
        .run_seed(0, async {
            let sleep_line = line!() + 2;
            let sleeper = corio::create_task_named("sleeper", async {
                corio::sleep(Duration::from_secs(3600)).await;
            });
            // Virtual time: the sleeper has slept for a second by then.
            corio::sleep(Duration::from_secs(1)).await;
            let at = corio::all_tasks()
                .iter()
                .find(|t| t.name() == Some("sleeper"))
                .and_then(|t| t.waiting_at())
                .map(|at| (at.file().ends_with("sim.rs"), at.line()));
            sleeper.cancel();
            (at, sleep_line)
        })
        .unwrap();
    let (at, sleep_line) = out.into_output();
    assert_eq!(at, Some((true, sleep_line)));
}
