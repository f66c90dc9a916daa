//! The facade's runtime API inside a corio::sim simulation: Handle::current(),
//! the call_* callbacks, the task list and tree, local tasks. Each behaves as
//! on a runtime, on the simulated workers and the virtual clock, and a seed
//! replays the same trace.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio::sim::{Config, SimErrorKind};
use corio::Handle;

/// Runs `program` under seeds 0..20, checking that each seed gives the same
/// trace twice (the API adds no non-determinism of its own).
fn replays<F, Fut>(program: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let config = Config::new();
    for seed in 0..20 {
        let first = config
            .run_seed(seed, program())
            .unwrap_or_else(|e| panic!("{e}"));
        let again = config.run_seed(seed, program()).unwrap();
        assert_eq!(first.trace(), again.trace(), "seed {seed}");
    }
}

#[test]
fn handle_current_spawns_on_the_simulated_workers() {
    replays(|| async {
        let h = Handle::current();
        let t = h.create_task(async {
            corio::sleep(Duration::from_secs(5)).await;
            corio::current_task().unwrap().name().map(str::to_owned)
        });
        assert_eq!(t.await.unwrap(), None);
        assert!(Handle::try_current().is_some());
        assert!(!h.debug());
    });
}

#[test]
fn call_soon_later_at_and_threadsafe_run_in_virtual_time() {
    replays(|| async {
        let h = Handle::current();
        let log = Arc::new(Mutex::new(Vec::new()));
        let push = |what: &'static str| {
            let log = log.clone();
            move || log.lock().unwrap().push((what, corio::sim::now()))
        };
        let start = corio::sim::now();
        let later = h.call_later(Duration::from_secs(10), push("later"));
        assert_eq!(later.when(), Some(start + Duration::from_secs(10)));
        let at = h.call_at(start + Duration::from_secs(5), push("at"));
        let soon = h.call_soon(push("soon"));
        let threadsafe = h.call_soon_threadsafe(push("threadsafe"));
        let never = h.call_later(Duration::from_secs(1), push("cancelled"));
        assert!(never.cancel());
        for cb in [later, at, soon, threadsafe] {
            cb.into_task().await.unwrap();
        }
        assert!(never.into_task().await.unwrap_err().is_cancelled());
        let log = log.lock().unwrap().clone();
        let at_of = |what| {
            log.iter()
                .find(|(w, _)| *w == what)
                .map(|(_, t)| *t - start)
        };
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!(at_of("soon"), Some(Duration::ZERO));
        assert_eq!(at_of("threadsafe"), Some(Duration::ZERO));
        assert_eq!(at_of("at"), Some(Duration::from_secs(5)));
        assert_eq!(at_of("later"), Some(Duration::from_secs(10)));
        assert_eq!(corio::sim::now() - start, Duration::from_secs(10));
    });
}

#[test]
fn all_tasks_task_tree_and_current_task_see_the_simulation() {
    replays(|| async {
        let parent = corio::create_task_named("parent", async {
            let child = corio::create_task_named("child", corio::sleep(Duration::from_secs(60)));
            corio::sleep(Duration::from_secs(1)).await;
            child.cancel();
            let _ = child.await;
        });
        // Until the parent has spawned its child (it runs before time moves).
        corio::sleep(Duration::from_millis(500)).await;
        let tree = corio::task_tree();
        let find = |name| tree.tasks().iter().find(|t| t.name() == Some(name));
        let (p, c) = (find("parent").unwrap(), find("child").unwrap());
        assert_eq!(c.parent(), Some(p.id()));
        assert_eq!(
            tree.children(p.id()).map(|t| t.id()).collect::<Vec<_>>(),
            [c.id()]
        );
        assert_eq!(
            Handle::current().all_tasks().len(),
            corio::all_tasks().len()
        );
        let me = corio::current_task().unwrap();
        assert_eq!(me.name(), Some("sim-main"));
        assert!(corio::all_tasks().iter().any(|t| t.id() == me.id()));
        parent.await.unwrap();
        assert!(!corio::all_tasks().iter().any(|t| t.name() == Some("child")));
    });
}

#[test]
fn local_tasks_share_rc_state_and_stay_on_their_worker() {
    let program = || async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                corio::create_local_task(async move {
                    for _ in 0..3 {
                        corio::yield_now().await;
                    }
                    log.borrow_mut().push(i);
                    Rc::new(i) // a !Send output
                })
            })
            .collect();
        // Send tasks beside them, so other workers have work and would steal.
        let busy: Vec<_> = (0..4)
            .map(|_| {
                corio::create_task(async {
                    for _ in 0..3 {
                        corio::yield_now().await;
                    }
                })
            })
            .collect();
        for t in busy {
            t.await.unwrap();
        }
        let mut outs = Vec::new();
        for t in tasks {
            outs.push(*t.await.unwrap());
        }
        assert_eq!(outs, [0, 1, 2]);
        let mut seen = log.borrow().clone();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
    };
    replays(program);
    let config = Config::new();
    let mut moved_main = false;
    for seed in 0..50 {
        let out = config.run_seed(seed, program()).unwrap();
        let worker_of = |task| {
            let mut workers: Vec<usize> = out
                .trace()
                .entries()
                .iter()
                .filter(|e| e.task == task)
                .map(|e| e.worker)
                .collect();
            workers.dedup();
            workers.sort_unstable();
            workers.dedup();
            workers
        };
        // Tasks 1..=3 are the local ones (ids count first schedules).
        for local in 1..=3 {
            assert_eq!(
                worker_of(local).len(),
                1,
                "seed {seed}: local task {local} moved"
            );
        }
        moved_main |= worker_of(0).len() > 1;
    }
    // The main future is not pinned: the same check on it would fail.
    assert!(moved_main, "the pinning check checks nothing");
}

#[test]
fn cancelling_a_local_task_drops_it_on_the_simulation_thread() {
    corio::sim::check(|| async {
        let dropped = Rc::new(AtomicUsize::new(0));
        struct Flag(Rc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let t = corio::TaskBuilder::new()
            .name("local sleeper")
            .spawn_local(async move {
                let _flag = flag;
                corio::sleep(Duration::from_secs(3600)).await;
            });
        corio::yield_now().await;
        assert!(t.cancel());
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    });
}

#[test]
#[should_panic(expected = "no scheduler or blocking threads to count")]
fn metrics_say_a_simulation_has_none() {
    corio::sim::check(|| async {
        let _ = Handle::current().metrics();
    });
}

#[test]
fn call_soon_threadsafe_from_another_os_thread_is_a_leak() {
    let err = Config::new()
        .run_seed(0, async {
            let h = Handle::current();
            std::thread::spawn(move || {
                h.call_soon_threadsafe(|| {});
            })
            .join()
            .unwrap();
            corio::yield_now().await;
        })
        .unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::Leak, "{err}");
    assert!(err.message().contains("another OS thread"), "{err}");
    // At the main future's first poll, where the thread ran.
    assert_eq!(err.trace().len(), 1, "{err}");
}
