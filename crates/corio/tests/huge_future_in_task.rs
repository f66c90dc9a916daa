//! A 256 KiB future spawned from inside a task, on a worker with a 2 MiB stack.
mod huge_support;

use huge_support::*;

#[test]
fn quarter_mib_future_spawned_from_a_task() {
    const N: usize = 256 << 10;
    let rt = runtime();
    let handle = rt.handle();
    let out = on_thread(2 << 20, 120, move || {
        handle
            .create_task(async {
                let mut sum = 0;
                // Spawn and await several, nested one level deeper too.
                for _ in 0..4 {
                    let fut = big_future::<N>();
                    assert!(std::mem::size_of_val(&fut) >= N);
                    sum += corio::create_task(fut).await.expect("child");
                }
                sum += corio::create_task(async {
                    corio::create_task_named("grandchild", big_future::<N>())
                        .await
                        .expect("grandchild")
                })
                .await
                .expect("child");
                sum += corio::TaskBuilder::new()
                    .name("built")
                    .spawn(big_future::<N>())
                    .await
                    .expect("built");
                sum
            })
            .wait_blocking()
    });
    assert_eq!(out.expect("the parent task"), 6 * (N + 1));
}
