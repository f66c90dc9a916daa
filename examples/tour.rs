//! A tour of asyncio's "Coroutines and Tasks" page in corio: for each snippet,
//! the asyncio code, then the corio code that ports it, then what it prints
//! when run, with the time it took.
//!
//! Each step is one of the example files next to this one (`hello.rs`,
//! `say_after.rs`, ...): the tour prints that file's source and calls its
//! `main`, so what you read is exactly what runs.
//!
//! Run with `cargo run --release --example tour`.

use std::time::Instant;

// The examples, compiled into the tour as modules.
#[path = "futures.rs"]
pub mod futures_example;
#[path = "hello.rs"]
pub mod hello;
#[path = "nested.rs"]
pub mod nested;
#[path = "run_in_executor.rs"]
pub mod run_in_executor;
#[path = "say_after.rs"]
pub mod say_after;
#[path = "say_after_tasks.rs"]
pub mod say_after_tasks;
#[path = "task.rs"]
pub mod task;

/// One step: a title, the example's source and its `main`.
struct Step {
    title: &'static str,
    source: &'static str,
    main: fn(),
}

const STEPS: [Step; 7] = [
    Step {
        title: "Coroutines: print, sleep 1 s, print",
        source: include_str!("hello.rs"),
        main: hello::main,
    },
    Step {
        title: "Awaiting coroutines one after the other (about 3 s)",
        source: include_str!("say_after.rs"),
        main: say_after::main,
    },
    Step {
        title: "Running them concurrently with create_task (about 2 s)",
        source: include_str!("say_after_tasks.rs"),
        main: say_after_tasks::main,
    },
    Step {
        title: "Awaitables: calling without awaiting does nothing",
        source: include_str!("nested.rs"),
        main: nested::main,
    },
    Step {
        title: "Tasks: create_task(nested()) and await it",
        source: include_str!("task.rs"),
        main: task::main,
    },
    Step {
        title: "Futures: await a future-like object, then gather it",
        source: include_str!("futures.rs"),
        main: futures_example::main,
    },
    Step {
        title: "run_in_executor: default pool, thread pool, process pool",
        source: include_str!("run_in_executor.rs"),
        main: run_in_executor::main,
    },
];

/// The asyncio snippet of an example: the ```python block of its header.
fn python_of(source: &str) -> String {
    source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| !l.starts_with("```python"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(indent)
        .collect()
}

/// The corio code of an example: everything after its `//!` header.
fn rust_of(source: &str) -> String {
    source
        .lines()
        .skip_while(|l| l.starts_with("//!"))
        .skip_while(|l| l.is_empty())
        .map(indent)
        .collect()
}

/// A line of code set off by four spaces (blank lines stay blank).
fn indent(line: &str) -> String {
    if line.trim().is_empty() {
        "\n".to_owned()
    } else {
        format!("    {line}\n")
    }
}

fn main() {
    // Process-pool workers are copies of this program: serve and exit there.
    corio::process::maybe_run_worker(&[&run_in_executor::CPU_BOUND]);

    let start = Instant::now();
    for (i, step) in STEPS.iter().enumerate() {
        println!("\n=== {}. {}\n", i + 1, step.title);
        println!("--- asyncio:\n\n{}", python_of(step.source));
        println!("--- corio:\n\n{}", rust_of(step.source));
        println!("--- output:\n");
        let began = Instant::now();
        (step.main)();
        println!("\n({:.2?})", began.elapsed());
    }
    println!("\n=== tour finished in {:.2?}", start.elapsed());
}
