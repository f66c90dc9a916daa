//! A panic in a closure is an error for its awaiter, never a dead pool.

mod common;

use common::{wait_timeout, LONG};
use corio_blocking::{BlockingPool, ThreadPool};

#[test]
fn blocking_pool_panic_becomes_an_error_with_the_payload() {
    let pool = BlockingPool::builder().max_threads(1).build();
    let err = wait_timeout(pool.submit(|| -> u8 { panic!("boom {}", 42) }), LONG).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("boom 42"));
    assert!(err.to_string().contains("panicked: boom 42"), "{err}");
    // The single thread survived and runs the next closure.
    assert_eq!(wait_timeout(pool.submit(|| 7), LONG).unwrap(), 7);
    assert_eq!(pool.thread_count(), 1);
}

#[test]
fn non_string_payloads_are_kept_for_resume_unwind() {
    let pool = BlockingPool::new();
    let err = wait_timeout(pool.submit(|| std::panic::panic_any(1234u32)), LONG).unwrap_err();
    assert_eq!(err.panic_message(), None);
    let payload = err.try_into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&1234));
}

#[test]
fn thread_pool_panic_becomes_an_error() {
    let pool = ThreadPool::new(1);
    let err = wait_timeout(pool.submit(|| -> () { panic!("in a thread pool") }), LONG).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("in a thread pool"));
    assert_eq!(wait_timeout(pool.submit(|| 1), LONG).unwrap(), 1);
}
