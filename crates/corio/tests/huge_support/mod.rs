//! Helpers for the huge-future tests: each case is its own test binary, because
//! a stack overflow aborts the whole process and would hide the other cases.
#![allow(dead_code)]

use std::time::Duration;

/// Rust's default stack for spawned threads: the workers get exactly this.
pub(crate) const WORKER_STACK: usize = 2 << 20;

/// A future whose state holds an `N`-byte array across an await (so the array
/// lives in the future itself, not on a stack), and that reads it back after
/// the await: it resolves to `N + 1` only if the array survived intact.
pub(crate) async fn big_future<const N: usize>() -> usize {
    let mut buf = [0u8; N];
    buf[0] = 1;
    buf[N - 1] = 1;
    corio::yield_now().await;
    corio::sleep(Duration::from_millis(1)).await;
    // Read the whole array so the compiler cannot shrink it.
    std::hint::black_box(&mut buf);
    buf.iter().map(|&b| usize::from(b)).sum::<usize>() + N - 1
}

/// Runs `f` on a new thread with a `stack`-byte stack, failing after `secs`.
pub(crate) fn on_thread<T: Send + 'static>(
    stack: usize,
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => {
            thread.join().expect("test thread");
            out
        }
        Err(_) => match thread.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("test thread gave no result within {secs} s"),
        },
    }
}

/// A runtime whose workers have Rust's default 2 MiB stack.
pub(crate) fn runtime() -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(2)
        .thread_stack_size(WORKER_STACK)
        .build()
        .expect("build a runtime")
}

/// True when ci/asan.sh or ci/tsan.sh runs the tests (they set `CORIO_SANITIZER`).
/// Stack painting cannot work there: AddressSanitizer moves locals to a heap-allocated
/// "fake stack" (detect_stack_use_after_return), so the address of a local says nothing
/// about the thread's stack and painting below it writes to unmapped memory; both
/// sanitizers also grow every frame, so the figures would not be corio's.
pub(crate) fn under_sanitizer() -> bool {
    std::env::var_os("CORIO_SANITIZER").is_some()
}

/// Paint on this thread's stack, to find how deep the calls made after it reach.
///
/// `Paint::below(&local, depth)` fills `depth` bytes starting 16 KiB below `local` (a
/// variable of the measuring frame; the gap leaves room for this function's own frame) with a
/// pattern; [`Paint::high_water`] then finds the lowest byte that changed and returns its
/// distance from `local`. The calls in between must move values by plain moves of locals, so
/// the measuring frame itself adds no copies. A signal handler running meanwhile could only
/// make the figure larger; the unpainted gap makes 16 KiB the smallest figure it can give.
pub(crate) struct Paint {
    top: usize,
    bottom: usize,
    words: usize,
}

const PATTERN: u64 = 0x5A5A_5A5A_C3C3_C3C3;
const WORD: usize = std::mem::size_of::<u64>();
const GAP: usize = 16 << 10;

impl Paint {
    #[inline(never)]
    pub(crate) fn below<T>(local: &T, depth: usize) -> Paint {
        let top = local as *const T as usize;
        let start = (top - GAP) & !(WORD - 1);
        let bottom = start - depth;
        let words = depth / WORD;
        for i in 0..words {
            // SAFETY: [bottom, start) is unused stack of this thread below the live frames
            // (the caller's thread has a stack deeper than `depth` + the gap), accessed only
            // through volatile accesses here and in `high_water`.
            unsafe { std::ptr::write_volatile((bottom + i * WORD) as *mut u64, PATTERN) };
        }
        Paint { top, bottom, words }
    }

    #[inline(never)]
    pub(crate) fn high_water(&self) -> usize {
        for i in 0..self.words {
            let at = self.bottom + i * WORD;
            // SAFETY: as in `below`.
            if unsafe { std::ptr::read_volatile(at as *const u64) } != PATTERN {
                assert!(i > 0, "the calls used every painted byte: paint deeper");
                return self.top - at;
            }
        }
        GAP
    }
}
