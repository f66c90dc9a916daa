//! A 1 MiB main future given to `corio::run` on a thread with an 8 MiB stack.
mod huge_support;

use huge_support::*;

#[test]
fn one_mib_main_future_to_run_on_an_8_mib_thread() {
    const N: usize = 1 << 20;
    let out = on_thread(8 << 20, 120, || {
        let fut = big_future::<N>();
        assert!(std::mem::size_of_val(&fut) >= N);
        corio::run(fut)
    });
    assert_eq!(out, N + 1);
}

#[test]
fn one_mib_future_to_block_on_and_spawned_from_it() {
    const N: usize = 1 << 20;
    let out = on_thread(8 << 20, 120, || {
        let rt = runtime();
        let first = rt.block_on(big_future::<N>());
        // And one spawned from the main future onto the 2 MiB workers.
        let second = rt.block_on(async { corio::create_task(big_future::<N>()).await });
        first + second.expect("the spawned task completes")
    });
    assert_eq!(out, 2 * (N + 1));
}
