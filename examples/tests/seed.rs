//! Runs every seed snippet (`corio_examples::seed`) and checks what it prints and
//! how long it takes, against generous bounds (the machine may be loaded).
//!
//! `harness = false`: the process-pool snippet starts workers that are copies of
//! this test binary, so `main` must call the worker entry point before anything
//! else. The snippets run in parallel threads (each under its own `corio::run`)
//! so the whole file takes about as long as the slowest one (3 s).

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio_examples::seed::{self, Out, CPU_BOUND};

/// Each check's result: its name and `Ok` or what went wrong.
type Outcome = (&'static str, Result<(), String>);

/// Run `snippet` under `corio::run` on a fresh thread; check the lines it wrote
/// and the elapsed time.
fn check<F, Fut>(
    name: &'static str,
    bounds: (f64, f64),
    snippet: F,
    lines_ok: fn(&[String]) -> bool,
    tx: mpsc::Sender<Outcome>,
) where
    F: FnOnce(Arc<Out>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        let out = Out::capture();
        let start = Instant::now();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            corio::run(snippet(out.clone()));
        }));
        let secs = start.elapsed().as_secs_f64();
        let lines = out.lines();
        let res = if run.is_err() {
            Err("panicked (see the message above)".to_owned())
        } else if !lines_ok(&lines) {
            Err(format!("unexpected output: {lines:?}"))
        } else if secs < bounds.0 || secs > bounds.1 {
            Err(format!(
                "took {secs:.3} s, expected within [{}, {}] s",
                bounds.0, bounds.1
            ))
        } else {
            Ok(())
        };
        let _ = tx.send((name, res));
    });
}

fn timestamp_line(line: &str, prefix: &str) -> bool {
    line.strip_prefix(prefix)
        .is_some_and(|t| t.len() == 8 && t.as_bytes()[2] == b':' && t.as_bytes()[5] == b':')
}

/// What both say_after snippets print: a start time, hello, world, an end time.
fn say_after_lines(l: &[String]) -> bool {
    l.len() == 4
        && timestamp_line(&l[0], "started at ")
        && l[1] == "hello"
        && l[2] == "world"
        && timestamp_line(&l[3], "finished at ")
}

fn main() {
    corio::process::maybe_run_worker(&[&CPU_BOUND]);

    let (tx, rx) = mpsc::channel();
    check(
        "hello",
        (0.95, 2.0),
        seed::hello,
        |l| l == ["hello", "world"],
        tx.clone(),
    );
    check(
        "say_after (sequential, 3 s)",
        (2.9, 4.0),
        seed::say_after_sequential,
        say_after_lines,
        tx.clone(),
    );
    check(
        "say_after_tasks (concurrent, 2 s)",
        (1.9, 2.8),
        seed::say_after_tasks,
        say_after_lines,
        tx.clone(),
    );
    check(
        "nested",
        (0.0, 1.0),
        seed::nested_main,
        |l| l == ["42"],
        tx.clone(),
    );
    check(
        "task",
        (0.0, 1.0),
        seed::task_main,
        |l| l == ["task returned 42"],
        tx.clone(),
    );
    check(
        "futures (0.5 s + 0.5 s)",
        (0.95, 2.5),
        seed::futures_main,
        |l| {
            l == [
                "awaited: future result",
                "gathered: future result, coroutine result",
            ]
        },
        tx.clone(),
    );
    check(
        "run_in_executor",
        (0.0, 20.0),
        |out| seed::run_in_executor_main(out, true),
        |l| {
            let hex_ok = |line: &String, prefix: &str| {
                line.strip_prefix(prefix)
                    .is_some_and(|h| h.len() == 200 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            };
            l.len() == 3
                && hex_ok(&l[0], "default thread pool ")
                && hex_ok(&l[1], "custom thread pool ")
                && l[2] == "custom process pool 333333283333335000000"
        },
        tx.clone(),
    );
    drop(tx);

    const CHECKS: usize = 7;
    // Every snippet is done in ~3 s; 60 s means a hang, not a slow machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut passed, mut failed) = (0, 0);
    for _ in 0..CHECKS {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((name, Ok(()))) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Ok((name, Err(why))) => {
                println!("test {name} ... FAILED: {why}");
                failed += 1;
            }
            Err(_) => {
                println!("test (remaining snippets) ... FAILED: hung or panicked");
                failed += CHECKS - passed - failed;
                break;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
