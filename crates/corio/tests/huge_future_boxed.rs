//! An already-boxed 1 MiB future spawned from a thread with a 256 KiB stack:
//! spawning it must not move the future out of its box.
mod huge_support;

use huge_support::*;
use std::future::Future;
use std::pin::Pin;

#[test]
fn boxed_one_mib_future_from_a_256_kib_thread() {
    const N: usize = 1 << 20;
    let rt = runtime();
    // Built (and boxed) where there is room; only the box crosses over.
    let boxed: Pin<Box<dyn Future<Output = usize> + Send>> =
        on_thread(8 << 20, 60, || Box::pin(big_future::<N>()));
    let typed = on_thread(8 << 20, 60, || Box::pin(big_future::<N>()));
    let handle = rt.handle();
    let (a, b) = on_thread(256 << 10, 120, move || {
        let a = handle.create_task(boxed);
        let b = corio::TaskBuilder::new()
            .name("typed")
            .spawn_on(&handle, typed);
        (a.wait_blocking(), b.wait_blocking())
    });
    assert_eq!(a.expect("dyn box"), N + 1);
    assert_eq!(b.expect("typed box"), N + 1);
}
