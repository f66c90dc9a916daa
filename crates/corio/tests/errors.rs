//! Every public error type composes with `?`: `Send + Sync + 'static` and `Error`.

use std::error::Error;

fn composes<E: Error + Send + Sync + 'static>() {}

#[test]
fn public_errors_are_send_sync_static() {
    composes::<corio::TaskError>();
    composes::<corio::TaskGroupError>();
    composes::<corio::TimeoutError>();
    composes::<corio::DeferredError>();
    composes::<corio::InvalidStateError>();
    composes::<corio::BlockingError>();
    composes::<corio::ForeignTokenError>();
    composes::<corio::queue::TryPutError<u8>>();
    composes::<corio::queue::TryGetError>();
    composes::<corio::queue::QueueShutDown<u8>>();
    composes::<corio::queue::TaskDoneError>();
    composes::<corio::sync::ReleaseError>();
    composes::<corio::sync::BrokenBarrierError>();
    composes::<corio::streams::IncompleteReadError>();
    composes::<corio::streams::LimitOverrunError>();
    composes::<corio::streams::ReadError>();
    composes::<corio_reactor::cancel::Cancelled>();
    composes::<corio_reactor::timer::Elapsed>();
}

/// Short `Display` texts, as tokio's "deadline has elapsed": what happened,
/// no advice in Python terms (the docs of each type give that).
#[test]
fn error_texts_are_short() {
    let q = corio::queue::Queue::new(1);
    q.put_nowait(1u8).unwrap();
    let full = q.put_nowait(2).unwrap_err();
    assert_eq!(full.to_string(), "queue is full");
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert_eq!(q.get_nowait().unwrap_err().to_string(), "queue is empty");
    q.task_done().unwrap();
    let done = q.task_done().unwrap_err();
    assert_eq!(done.to_string(), "task_done() called too many times");

    let late = corio::run(corio::wait_for(
        corio::sleep(std::time::Duration::from_secs(3600)),
        std::time::Duration::from_millis(1),
    ));
    assert_eq!(late.unwrap_err().to_string(), "deadline has elapsed");

    let pool = corio::ThreadPool::new(1);
    pool.shutdown(true);
    let refused = pool.submit(|| ()).wait().unwrap_err();
    assert_eq!(refused.to_string(), "pool is shut down");

    let d = corio::Deferred::new();
    d.set_result(1u8).unwrap();
    assert_eq!(
        d.set_result(2).unwrap_err().to_string(),
        "deferred already has an outcome"
    );
}

#[test]
fn a_task_panic_crosses_question_mark_into_a_boxed_error() {
    std::panic::set_hook(Box::new(|_| {}));
    let out = corio::run(async {
        async fn inner() -> Result<(), Box<dyn Error + Send + Sync>> {
            corio::create_task(async { panic!("disk full") }).await?;
            Ok(())
        }
        corio::create_task(inner()).await
    });
    let err = out
        .expect("the outer task itself did not fail")
        .unwrap_err();
    let task_err = err.downcast_ref::<corio::TaskError>().expect("a TaskError");
    assert!(task_err.is_panic());
    assert_eq!(task_err.panic_message(), Some("disk full"));
}

#[test]
fn a_cancelled_task_becomes_an_io_error_with_the_task_error_inside() {
    let err = corio::run(async {
        let t = corio::create_task(corio::sleep(std::time::Duration::from_secs(3600)));
        let id = t.id();
        assert!(t.cancel());
        let e = t.await.unwrap_err();
        assert_eq!(e.id(), id);
        assert_eq!(e.to_string(), format!("task {id} was cancelled"));
        std::io::Error::from(e)
    });
    assert_eq!(err.kind(), std::io::ErrorKind::Other);
    let inner = err.into_inner().expect("the TaskError is the source");
    assert!(inner.downcast::<corio::TaskError>().unwrap().is_cancelled());
}

#[test]
fn a_task_group_error_crosses_question_mark_and_keeps_its_failures() {
    std::panic::set_hook(Box::new(|_| {}));
    let err = corio::run(async {
        async fn body() -> Result<(), Box<dyn Error + Send + Sync>> {
            let tg = corio::TaskGroup::new();
            tg.create_task(async { panic!("child failed") });
            tg.join().await?;
            Ok(())
        }
        body().await.unwrap_err()
    });
    let group = err
        .downcast_ref::<corio::TaskGroupError>()
        .expect("a TaskGroupError");
    assert_eq!(group.failures().len(), 1);
    assert_eq!(group.failures()[0].message(), "child failed");
}
