//! #[corio::main] and #[corio::test] (feature `macros`): the expansion runs the
//! body on a fresh runtime with the options given. (Misuse errors are the
//! trybuild tests of corio-macros.)
use std::time::Duration;

#[corio::test]
async fn test_runs_on_a_runtime() {
    assert!(corio::Handle::try_current().is_some());
    corio::sleep(Duration::from_millis(1)).await;
    let t = corio::create_task(async { 6 * 7 });
    assert_eq!(t.await.unwrap(), 42);
}

#[corio::test(worker_threads = 3)]
async fn worker_threads_sets_the_worker_count() {
    let m = corio::Handle::current().metrics();
    assert_eq!(m.scheduler.workers(), 3);
}

#[corio::test(flavor = "current_thread")]
async fn current_thread_runs_every_task_on_one_thread() {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            corio::create_task(async {
                corio::yield_now().await;
                std::thread::current().id()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "tasks ran on {} threads", ids.len());
    // The current-thread flavor: the thread running the test body itself, no worker.
    assert_eq!(ids[0], std::thread::current().id());
    assert_eq!(corio::Handle::current().metrics().scheduler.workers(), 1);
}

#[corio::test(flavor = "current_thread")]
async fn current_thread_runs_local_tasks() {
    let state = std::rc::Rc::new(std::cell::RefCell::new(0));
    let s = state.clone();
    corio::create_local_task(async move { *s.borrow_mut() += 1 })
        .await
        .unwrap();
    assert_eq!(*state.borrow(), 1);
}

#[corio::test]
async fn a_test_may_return_a_result() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "7".parse()?;
    assert_eq!(n, 7);
    Ok(())
}

/// `#[corio::main]` works on any async fn: it becomes a blocking fn.
#[corio::main(worker_threads = 2)]
async fn compute(/* no arguments */) -> u32 {
    corio::create_task(async { 40 }).await.unwrap() + 2
}

#[test]
fn main_attribute_turns_an_async_fn_into_a_blocking_one() {
    assert_eq!(compute(), 42);
    // Each call builds and shuts down its own runtime.
    assert_eq!(compute(), 42);
    assert!(corio::Handle::try_current().is_none());
}

#[corio::test]
#[should_panic(expected = "boom")]
async fn other_attributes_are_kept() {
    panic!("boom");
}
