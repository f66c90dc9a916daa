//! Runs each asyncio-seed example as a program and checks what it prints and
//! how long it takes, against generous bounds (the machine may be loaded).
//!
//! The examples are compiled into this test as modules (the same files `cargo
//! run --example` builds). `main` runs each of them in a child process, a copy
//! of this test binary with `CORIO_EXAMPLE=<name>` set, and reads the child's
//! stdout: what a user sees when running the example. `harness = false`: the
//! child must reach the example's `main` (and a process-pool worker its worker
//! entry point) before anything else.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "../futures.rs"]
pub mod futures_example;
#[path = "../hello.rs"]
pub mod hello;
#[path = "../nested.rs"]
pub mod nested;
#[path = "../run_in_executor.rs"]
pub mod run_in_executor;
#[path = "../say_after.rs"]
pub mod say_after;
#[path = "../say_after_tasks.rs"]
pub mod say_after_tasks;
#[path = "../task.rs"]
pub mod task;

/// Which example a child process runs.
const WHICH: &str = "CORIO_EXAMPLE";

/// One example: its name, its `main`, the bounds on its run time in seconds,
/// and the check of its output lines.
struct Example {
    name: &'static str,
    main: fn(),
    secs: (f64, f64),
    lines_ok: fn(&[&str]) -> bool,
}

fn timestamp_line(line: &str, prefix: &str) -> bool {
    line.strip_prefix(prefix)
        .is_some_and(|t| t.len() == 8 && t.as_bytes()[2] == b':' && t.as_bytes()[5] == b':')
}

/// What both say_after examples print: a start time, hello, world, an end time.
fn say_after_lines(l: &[&str]) -> bool {
    l.len() == 4
        && timestamp_line(l[0], "started at ")
        && l[1] == "hello"
        && l[2] == "world"
        && timestamp_line(l[3], "finished at ")
}

fn hex_line(line: &str, prefix: &str) -> bool {
    line.strip_prefix(prefix)
        .is_some_and(|h| h.len() == 200 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

// Lower bounds are the sleeps the example must wait; upper bounds are loose
// (a loaded 2-core machine, a process start, a process pool's workers).
const EXAMPLES: [Example; 7] = [
    Example {
        name: "hello",
        main: hello::main,
        secs: (0.95, 10.0),
        lines_ok: |l| l == ["hello", "world"],
    },
    Example {
        name: "say_after",
        main: say_after::main,
        secs: (2.9, 12.0),
        lines_ok: say_after_lines,
    },
    Example {
        name: "say_after_tasks",
        main: say_after_tasks::main,
        secs: (1.9, 2.9 + 8.0),
        lines_ok: say_after_lines,
    },
    Example {
        name: "nested",
        main: nested::main,
        secs: (0.0, 10.0),
        lines_ok: |l| l == ["42"],
    },
    Example {
        name: "task",
        main: task::main,
        secs: (0.0, 10.0),
        lines_ok: |l| l == ["task returned 42"],
    },
    Example {
        name: "futures",
        main: futures_example::main,
        secs: (0.95, 10.0),
        lines_ok: |l| {
            l == [
                "awaited: future result",
                "gathered: future result, coroutine result",
            ]
        },
    },
    Example {
        name: "run_in_executor",
        main: run_in_executor::main,
        secs: (0.0, 30.0),
        lines_ok: |l| {
            l.len() == 3
                && hex_line(l[0], "default thread pool ")
                && hex_line(l[1], "custom thread pool ")
                && l[2] == "custom process pool 333333283333335000000"
        },
    },
];

/// Runs `example` in a child process; `Ok` or what went wrong.
fn check(example: &Example) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("no test binary path: {e}"))?;
    let start = Instant::now();
    let mut child = Command::new(exe)
        .env(WHICH, example.name)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut out)
            .map_err(|e| format!("reading its output: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("waiting for it: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    let lines: Vec<&str> = out.lines().collect();
    if !status.success() {
        Err(format!("exited with {status}; printed {lines:?}"))
    } else if !(example.lines_ok)(&lines) {
        Err(format!("unexpected output: {lines:?}"))
    } else if secs < example.secs.0 || secs > example.secs.1 {
        Err(format!(
            "took {secs:.3} s, expected within [{}, {}] s",
            example.secs.0, example.secs.1
        ))
    } else {
        Ok(())
    }
}

fn main() {
    // In a child: a process-pool worker serves and exits here; an example
    // runs and exits.
    corio::process::maybe_run_worker(&[&run_in_executor::CPU_BOUND]);
    if let Ok(name) = std::env::var(WHICH) {
        match EXAMPLES.iter().find(|e| e.name == name) {
            Some(example) => (example.main)(),
            None => panic!("{WHICH}={name}: no such example"),
        }
        return;
    }

    // In the parent: every example at once, so the file takes about as long as
    // the slowest one (3 s).
    let (tx, rx) = mpsc::channel();
    for (i, example) in EXAMPLES.iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send((i, check(example)));
        });
    }
    drop(tx);

    // Every example is done in ~3 s; 90 s means a hang, not a slow machine.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut passed, mut failed) = (0, 0);
    for _ in 0..EXAMPLES.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, Ok(()))) => {
                println!("test {} ... ok", EXAMPLES[i].name);
                passed += 1;
            }
            Ok((i, Err(why))) => {
                println!("test {} ... FAILED: {why}", EXAMPLES[i].name);
                failed += 1;
            }
            Err(_) => {
                println!("test (remaining examples) ... FAILED: no result within 90 s");
                failed = EXAMPLES.len() - passed;
                break;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
