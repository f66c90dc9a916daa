//! A 1 MiB future spawned through a `Handle` from a thread with an 8 MiB stack
//! runs on workers with 2 MiB stacks.
mod huge_support;

use huge_support::*;

#[test]
fn one_mib_future_through_a_handle_from_an_8_mib_thread() {
    const N: usize = 1 << 20;
    let rt = runtime();
    let handle = rt.handle();
    let out = on_thread(8 << 20, 120, move || {
        let fut = big_future::<N>();
        assert!(std::mem::size_of_val(&fut) >= N);
        handle.create_task(fut).wait_blocking()
    });
    assert_eq!(out.expect("the task completes"), N + 1);
    // Several at once, so both workers poll one.
    let handle = rt.handle();
    let outs = on_thread(8 << 20, 120, move || {
        let tasks: Vec<_> = (0..4)
            .map(|_| handle.create_task(big_future::<N>()))
            .collect();
        tasks
            .into_iter()
            .map(|t| t.wait_blocking())
            .collect::<Vec<_>>()
    });
    for out in outs {
        assert_eq!(out.expect("the task completes"), N + 1);
    }
}

/// The stack the spawning thread needs to spawn a 1 MiB future (the future itself aside):
/// the future is boxed by the first function it is passed to, so no frame below that holds
/// a copy of it (before, each of the spawn path's wrappers did: over 10 MiB in all).
/// Unoptimised builds copy a by-value argument at every call, so there the entry function
/// and the boxing helper hold three copies; optimised builds copy it straight from the
/// caller into its box (measured: at most 16 KiB of stack, the probe's resolution).
#[test]
fn spawning_a_one_mib_future_uses_little_stack() {
    if under_sanitizer() {
        eprintln!("skipped: stack painting does not work under a sanitizer");
        return;
    }
    const N: usize = 1 << 20;
    const LIMIT: usize = if cfg!(debug_assertions) {
        3 * N + (128 << 10)
    } else {
        128 << 10
    };
    let rt = runtime();
    let handle = rt.handle();
    let (used, task) = on_thread(16 << 20, 120, move || {
        let fut = big_future::<N>();
        let paint = Paint::below(&fut, 6 << 20);
        let task = handle.create_task(fut);
        (paint.high_water(), task)
    });
    eprintln!("stack high-water mark of spawning a 1 MiB future: {used} bytes");
    assert!(
        used < LIMIT,
        "spawning a 1 MiB future used {used} bytes of stack"
    );
    assert_eq!(task.wait_blocking().expect("the task completes"), N + 1);
}
