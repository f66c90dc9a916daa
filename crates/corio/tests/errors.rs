//! Every public error type composes with `?`: `Send + Sync + 'static` and
//! `Error`, opaque (built only by corio, read through accessors), with a short
//! one-line `Display` as tokio's "deadline has elapsed".

use std::error::Error;
use std::time::Duration;

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
    composes::<corio::queue::GetError>();
    composes::<corio::queue::PutError<u8>>();
    composes::<corio::queue::TaskDoneError>();
    composes::<corio::sync::ReleaseError>();
    composes::<corio::sync::BarrierError>();
    composes::<corio::streams::IncompleteReadError>();
    composes::<corio::streams::LimitOverrunError>();
    composes::<corio::streams::ReadError>();
    composes::<corio_reactor::cancel::Cancelled>();
    composes::<corio_reactor::timer::Elapsed>();
    // A simulation's failure is a test report (seed, step, trace, the command
    // that replays it), so its text is long on purpose; it still composes.
    #[cfg(feature = "sim")]
    {
        composes::<corio::sim::SimError>();
        composes::<corio::sim::CheckFailure>();
    }
}

/// `?` moves `err` into a `Box<dyn Error + Send + Sync>`, which gives it back by
/// downcast; its `Display` is one short line that starts in lowercase, with no
/// advice and no full stop. Returns the text.
fn check<E: Error + Send + Sync + 'static>(err: E) -> String {
    let text = err.to_string();
    assert!(
        !text.is_empty() && text.len() <= 80,
        "{text:?}: not short ({} bytes)",
        text.len()
    );
    crosses_question_mark(err)
}

/// [`check`] but for the length: for an error that lists others (a task
/// group's failures, each with its task's identity).
fn crosses_question_mark<E: Error + Send + Sync + 'static>(err: E) -> String {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text:?}: more than one line");
    assert!(
        !text.starts_with(char::is_uppercase),
        "{text:?}: starts in uppercase"
    );
    assert!(!text.ends_with('.'), "{text:?}: ends with a full stop");
    fn fails<E: Error + Send + Sync + 'static>(err: E) -> Result<(), Box<dyn Error + Send + Sync>> {
        Err(err)?;
        Ok(())
    }
    let boxed = fails(err).unwrap_err();
    assert_eq!(boxed.to_string(), text);
    assert!(
        boxed.downcast_ref::<E>().is_some(),
        "{text:?}: lost its type"
    );
    text
}

/// One value of every public error type (of every kind with its own text),
/// made the way a user meets it.
#[test]
fn every_public_error_is_short_and_crosses_question_mark() {
    quiet_planted_panics();
    let (task, group, timeout) = corio::run(async {
        let t = corio::create_task(corio::sleep(Duration::from_secs(3600)));
        t.cancel();
        let task = t.await.unwrap_err();
        let tg = corio::TaskGroup::new();
        tg.create_task(async { panic!("child failed") });
        let group = tg.join().await.unwrap_err();
        let timeout = corio::wait_for(corio::sleep(Duration::from_secs(3600)), ms(1))
            .await
            .unwrap_err();
        (task, group, timeout)
    });
    assert!(task.is_cancelled());
    check(task);
    let text = crosses_question_mark(group);
    assert!(
        text.starts_with("1 task(s) of the group failed: ["),
        "{text}"
    );
    check(timeout);

    let cancelled = corio::Deferred::<u8>::new();
    cancelled.cancel();
    let err = corio::run(cancelled.clone()).unwrap_err();
    assert!(err.is_cancelled() && err.exception().is_none());
    check(err);
    check(cancelled.set_result(1).unwrap_err());
    let failed = corio::Deferred::<u8>::new();
    failed.set_exception("bad input").unwrap();
    let err = corio::run(failed).unwrap_err();
    assert!(!err.is_cancelled());
    assert_eq!(err.source().unwrap().to_string(), "bad input");
    check(err);

    let pool = corio::ThreadPool::new(1);
    let err = pool
        .submit(|| -> u8 { panic!("disk full") })
        .wait()
        .unwrap_err();
    assert!(err.is_panic() && !err.is_shutdown());
    assert_eq!(err.panic_message(), Some("disk full"));
    check(err);
    pool.shutdown(true);
    let err = pool.submit(|| ()).wait().unwrap_err();
    assert!(err.is_shutdown() && !err.is_cancelled() && !err.is_panic());
    check(err);
    let err = corio::BlockingError::cancelled();
    assert!(err.is_cancelled() && err.is_shutdown());
    check(err);

    static A: corio::ContextVar<u8> = corio::ContextVar::new("a");
    static B: corio::ContextVar<u8> = corio::ContextVar::new("b");
    check(B.reset(A.set(1)).unwrap_err());

    let q = corio::queue::Queue::new(1);
    q.put_nowait(1u8).unwrap();
    let full = q.put_nowait(2).unwrap_err();
    assert!(full.is_full() && !full.is_shutdown());
    check(full);
    assert_eq!(q.get_nowait().unwrap(), 1);
    let empty = q.get_nowait().unwrap_err();
    assert!(empty.is_empty() && !empty.is_shutdown());
    check(empty);
    q.task_done().unwrap();
    check(q.task_done().unwrap_err());
    q.shutdown(false);
    let refused = q.put_nowait(3).unwrap_err();
    assert!(refused.is_shutdown() && !refused.is_full());
    assert_eq!(check(refused.clone()), "queue is shut down");
    assert_eq!(refused.into_inner(), 3);
    let gone = q.get_nowait().unwrap_err();
    assert!(gone.is_shutdown() && !gone.is_empty());
    check(gone);
    let shut = corio::run(q.put(4)).unwrap_err();
    assert!(shut.is_shutdown() && !shut.is_cancelled());
    assert_eq!(shut.into_inner(), 4);
    let gone = corio::run(q.get()).unwrap_err();
    assert!(gone.is_shutdown() && !gone.is_cancelled());
    check(gone);

    check(corio::sync::BoundedSemaphore::new(1).release().unwrap_err());
    let barrier = corio::sync::Barrier::new(2);
    barrier.abort();
    let broken = corio::run(barrier.wait()).unwrap_err();
    assert!(broken.is_broken() && !broken.is_cancelled());
    check(broken);

    // The waits of a task cancelled cooperatively.
    let (tx, rx) = std::sync::mpsc::channel();
    corio::run(async move {
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(3600))
            .spawn(async move {
                corio::sleep(Duration::from_secs(3600)).await;
                let q = corio::queue::Queue::new(1);
                let lock = corio::sync::Lock::new(());
                let barrier = corio::sync::Barrier::new(2);
                let errs = (
                    q.get().await.unwrap_err(),
                    q.put(5u8).await.unwrap_err(),
                    barrier.wait().await.unwrap_err(),
                    lock.acquire().await.unwrap_err(),
                );
                tx.send(errs).unwrap();
            });
        corio::sleep(ms(5)).await;
        task.cancel();
        let _ = task.await;
    });
    let (get, put, barrier, lock) = rx.recv().expect("the cancelled task ran on");
    assert!(get.is_cancelled() && !get.is_shutdown());
    assert_eq!(check(get), "queue get cancelled");
    assert!(put.is_cancelled() && !put.is_shutdown());
    assert_eq!(check(put.clone()), "queue put cancelled");
    assert_eq!(put.into_inner(), 5);
    assert!(barrier.is_cancelled() && !barrier.is_broken());
    assert_eq!(check(barrier), "barrier wait cancelled");
    check(lock);

    let (incomplete, overrun, io) = corio_reactor::block_on(async {
        let mut r = corio::streams::StreamReader::detached(4);
        r.feed_data(b"abcdef");
        let overrun = r.readuntil(b"\n").await.unwrap_err();
        r.feed_eof();
        let incomplete = r.readexactly(10).await.unwrap_err();
        let io = r.readuntil(b"").await.unwrap_err();
        (incomplete, overrun, io)
    });
    assert!(incomplete.is_incomplete_read() && !incomplete.is_limit_overrun());
    assert_eq!(incomplete.partial(), Some(&b"abcdef"[..]));
    check(incomplete.incomplete_read().unwrap().clone());
    check(incomplete);
    assert!(overrun.is_limit_overrun() && overrun.io_error().is_none());
    check(overrun.limit_overrun().unwrap().clone());
    check(overrun);
    assert_eq!(
        io.io_error().map(std::io::Error::kind),
        Some(std::io::ErrorKind::InvalidInput)
    );
    assert!(io.source().is_some());
    check(io);

    check(corio_reactor::cancel::Cancelled::default());
    let elapsed = corio_reactor::block_on(corio_reactor::timer::timeout(
        ms(1),
        std::future::pending::<()>(),
    ));
    assert_eq!(check(elapsed.unwrap_err()), "deadline has elapsed");
}

/// The panics this file plants are expected: keep them out of the output, but
/// let an assertion's panic through.
fn quiet_planted_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planted = ["child failed", "disk full"];
        let msg = corio_core::panic_message(info.payload());
        if !msg.is_some_and(|m| planted.contains(&m)) {
            default(info);
        }
    }));
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
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
