//! The first `ContextVar::set` of the process, made inside a task's poll, stays
//! with that task (its own test binary: no other test may set a variable first).

use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll};

use corio_core::{Context, ContextVar};

static FIRST: ContextVar<u32> = ContextVar::new("first");

#[test]
fn a_first_set_inside_a_poll_belongs_to_the_task() {
    let mut step = 0;
    let task = Context::new().scope(std::future::poll_fn(move |cx| {
        step += 1;
        match step {
            1 => {
                let _ = FIRST.set(1); // the first set in this process
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            _ => Poll::Ready(FIRST.get()),
        }
    }));
    let mut task = pin!(task);
    let waker = futures::task::noop_waker_ref();
    let mut cx = TaskContext::from_waker(waker);
    assert!(task.as_mut().poll(&mut cx).is_pending());
    // Between polls the value is the task's, not this thread's.
    assert_eq!(FIRST.get(), None);
    assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Some(1)));
    assert_eq!(FIRST.get(), None);
}
