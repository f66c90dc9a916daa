//! Some of the facade's own test files, compiled again and run under
//! `corio::sim`: their `common::run(secs, async { ... })` bodies run in a
//! simulation (virtual time, simulated workers, seed `CORIO_SIM_SEED`,
//! default 0) instead of on a runtime; the files are unchanged (see
//! `common::run`).
//!
//! The files chosen use no real I/O, real threads or wall-clock time. Others
//! do, and fail here as they should: tests that assert `start.elapsed()` of
//! the real clock (virtual sleeps take no real time), pass
//! `Instant::now()`-based deadlines to corio (reported as a leak of real
//! time), open real sockets (a leak), check that `to_thread` runs on another
//! thread, or use `Handle::current()` (a simulation has no runtime handle).

// Each file declares its own `mod common;`: compiled once per file, as in its
// own test binary.
#![allow(clippy::duplicate_mod)]

#[path = "cancel_sync.rs"]
mod cancel_sync;
#[path = "task_group.rs"]
mod task_group;
#[path = "task_group_scope.rs"]
mod task_group_scope;
