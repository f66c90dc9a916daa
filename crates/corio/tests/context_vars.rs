//! Context variables follow tasks and thread-pool jobs as asyncio's contextvars do:
//! copied into each new task and each `to_thread` / pool job, never shared back.

use std::time::Duration;

use corio::{Context, ContextVar};

static REQUEST: ContextVar<u64> = ContextVar::new("request");
static NAME: ContextVar<String> = ContextVar::new("name");
static SPAN: ContextVar<u32> = ContextVar::not_inherited("span");

#[test]
fn a_task_starts_with_a_copy_of_its_spawners_context() {
    corio::run(async {
        let _t = REQUEST.set(1);
        let child = corio::create_task(async { REQUEST.get() });
        assert_eq!(child.await.unwrap(), Some(1));
    });
}

#[test]
fn the_copy_is_taken_at_spawn_time() {
    corio::run(async {
        let _t = REQUEST.set(1);
        let gate = std::sync::Arc::new(corio::sync::Event::new());
        let child = {
            let gate = gate.clone();
            corio::create_task(async move {
                gate.wait().await;
                REQUEST.get()
            })
        };
        let _ = REQUEST.set(2); // after the spawn: the child keeps 1
        gate.set();
        assert_eq!(child.await.unwrap(), Some(1));
    });
}

#[test]
fn nested_tasks_inherit_through_every_level() {
    corio::run(async {
        let _t = NAME.set("root".into());
        let grandchild = corio::create_task(async {
            let _ = REQUEST.set(5); // set in the middle level
            corio::create_task(async { (NAME.get(), REQUEST.get()) })
                .await
                .unwrap()
        });
        assert_eq!(
            grandchild.await.unwrap(),
            (Some("root".to_string()), Some(5))
        );
        // The middle level's set stayed in the middle level.
        assert_eq!(REQUEST.get(), None);
    });
}

#[test]
fn a_childs_set_is_not_seen_by_the_parent_or_siblings() {
    corio::run(async {
        let _t = REQUEST.set(10);
        let a = corio::create_task(async {
            let _ = REQUEST.set(11);
            corio::sleep(Duration::from_millis(5)).await;
            REQUEST.get() // its own value survives awaits
        });
        let b = corio::create_task(async {
            corio::sleep(Duration::from_millis(10)).await;
            REQUEST.get()
        });
        assert_eq!(a.await.unwrap(), Some(11));
        assert_eq!(b.await.unwrap(), Some(10));
        assert_eq!(REQUEST.get(), Some(10));
    });
}

#[test]
fn to_thread_and_run_in_executor_run_in_a_copy() {
    corio::run(async {
        let _t = REQUEST.set(42);
        let seen = corio::to_thread(|| {
            let before = REQUEST.get();
            let _ = REQUEST.set(43); // stays in the job's copy
            before
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(42));
        assert_eq!(REQUEST.get(), Some(42));
        let seen = corio::run_in_executor(None, || REQUEST.get())
            .await
            .unwrap();
        assert_eq!(seen, Some(42));
        // A pool thread reused for the next job does not keep the last job's values.
        let _ = REQUEST.set(7);
        let again = corio::to_thread(|| REQUEST.get()).await.unwrap();
        assert_eq!(again, Some(7));
    });
}

#[test]
fn thread_pool_jobs_run_in_a_copy() {
    let pool = corio::ThreadPool::new(2);
    corio::run(async {
        let _t = NAME.set("pool".into());
        let seen = pool.submit(|| NAME.get()).await.unwrap();
        assert_eq!(seen.as_deref(), Some("pool"));
    });
    // A pool thread outside any task starts empty: nothing leaks between jobs.
    let seen = corio::run(async { pool.submit(|| NAME.get()).await.unwrap() });
    assert_eq!(seen, None);
}

#[test]
fn not_inherited_variables_start_unset_in_tasks_and_jobs() {
    corio::run(async {
        let _s = SPAN.set(3);
        let _r = REQUEST.set(4);
        let child = corio::create_task(async { (SPAN.get(), REQUEST.get()) });
        assert_eq!(child.await.unwrap(), (None, Some(4)));
        let job = corio::to_thread(|| SPAN.get()).await.unwrap();
        assert_eq!(job, None);
        assert_eq!(SPAN.get(), Some(3));
    });
}

#[test]
fn a_handle_spawn_from_a_plain_thread_copies_that_threads_context() {
    let rt = corio::Runtime::new().unwrap();
    let handle = rt.handle().clone();
    let out = std::thread::spawn(move || {
        let _t = REQUEST.set(99);
        handle
            .create_task(async { REQUEST.get() })
            .wait_blocking_timeout(Some(Duration::from_secs(30)))
            .expect("task did not finish within 30 s")
    })
    .join()
    .unwrap();
    assert_eq!(out.unwrap(), Some(99));
}

#[test]
fn workers_do_not_leak_one_tasks_context_into_the_next() {
    corio::run(async {
        let setters: Vec<_> = (0..200u64)
            .map(|i| {
                corio::create_task(async move {
                    let _ = REQUEST.set(i);
                    corio::yield_now().await;
                    REQUEST.get() == Some(i)
                })
            })
            .collect();
        let clean: Vec<_> = (0..200)
            .map(|_| corio::create_task(async { REQUEST.get() }))
            .collect();
        for t in setters {
            assert!(t.await.unwrap(), "a task lost its own value across a yield");
        }
        for t in clean {
            assert_eq!(t.await.unwrap(), None, "a task saw another task's value");
        }
    });
}

#[test]
fn context_run_carries_values_into_threads_corio_does_not_manage() {
    corio::run(async {
        let _t = REQUEST.set(8);
        let mut ctx = Context::current();
        let seen = std::thread::spawn(move || ctx.run(|| REQUEST.get()))
            .join()
            .unwrap();
        assert_eq!(seen, Some(8));
    });
}

#[test]
fn what_runs_main_future_sets_stays_inside_the_run() {
    std::thread::spawn(|| {
        let _t = REQUEST.set(1);
        let inside = corio::run(async {
            let before = REQUEST.get();
            let _ = REQUEST.set(2);
            before
        });
        assert_eq!(inside, Some(1), "run's main future starts with a copy");
        assert_eq!(REQUEST.get(), Some(1), "the main future's set leaked out");
    })
    .join()
    .unwrap();
}
