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
