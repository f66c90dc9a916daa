//! The snippets of asyncio's "Coroutines and Tasks" page, in corio.
//!
//! Each snippet is an `async fn` here that writes its lines to an [`Out`]; the
//! example binaries (`hello.rs`, `say_after.rs`, ...) run one with
//! [`Out::stdout`], `tour.rs` runs them all in order, and `tests/seed.rs`
//! runs them with [`Out::capture`] to check the lines and the elapsed time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corio::process::RemoteFn;
use corio::{Deferred, ProcessPool, ThreadPool};

/// Where an example writes its lines: stdout, a buffer, or both.
#[derive(Debug, Default)]
pub struct Out {
    lines: Mutex<Vec<String>>,
    echo: bool,
}

impl Out {
    /// Print each line (and keep it).
    pub fn stdout() -> Arc<Out> {
        Arc::new(Out {
            lines: Mutex::new(Vec::new()),
            echo: true,
        })
    }

    /// Only keep the lines (for tests).
    pub fn capture() -> Arc<Out> {
        Arc::new(Out::default())
    }

    /// Write one line.
    pub fn line(&self, line: impl Into<String>) {
        let line = line.into();
        if self.echo {
            println!("{line}");
        }
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Python's `time.strftime('%X')`: the wall-clock time as `HH:MM:SS` (UTC).
pub fn strftime_x() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// ```python
/// async def main():
///     print('hello')
///     await asyncio.sleep(1)
///     print('world')
/// ```
pub async fn hello(out: Arc<Out>) {
    out.line("hello");
    corio::sleep(Duration::from_secs(1)).await;
    out.line("world");
}

/// ```python
/// async def say_after(delay, what):
///     await asyncio.sleep(delay)
///     print(what)
/// ```
pub async fn say_after(delay: Duration, what: &'static str, out: Arc<Out>) {
    corio::sleep(delay).await;
    out.line(what);
}

/// Awaiting coroutines one after the other: about 3 seconds.
pub async fn say_after_sequential(out: Arc<Out>) {
    out.line(format!("started at {}", strftime_x()));

    say_after(Duration::from_secs(1), "hello", out.clone()).await;
    say_after(Duration::from_secs(2), "world", out.clone()).await;

    out.line(format!("finished at {}", strftime_x()));
}

/// Running them concurrently with `create_task`: about 2 seconds.
pub async fn say_after_tasks(out: Arc<Out>) {
    let task1 = corio::create_task(say_after(Duration::from_secs(1), "hello", out.clone()));

    let task2 = corio::create_task(say_after(Duration::from_secs(2), "world", out.clone()));

    out.line(format!("started at {}", strftime_x()));

    // Wait until both tasks are completed (should take around 2 seconds.)
    // `.unwrap()`: a task's output is Result<T, TaskError> (Err if it panicked
    // or was cancelled).
    task1.await.unwrap();
    task2.await.unwrap();

    out.line(format!("finished at {}", strftime_x()));
}

/// ```python
/// async def nested():
///     return 42
/// ```
pub async fn nested() -> i32 {
    42
}

/// Calling a coroutine function without awaiting does nothing.
pub async fn nested_main(out: Arc<Out>) {
    // Nothing happens if we just call "nested()". A future is created but not
    // awaited, so it *won't run at all* -- and Rust says so at compile time:
    //
    //     nested();
    //     warning: unused implementer of `Future` that must be used
    //      = note: futures do nothing unless you `.await` or poll them
    //
    // Let's do it differently now and await it:
    out.line(format!("{}", nested().await));
}

/// `asyncio.create_task(nested())`, then await the task.
pub async fn task_main(out: Arc<Out>) {
    // Schedule nested() to run soon concurrently with "task_main()".
    let task = corio::create_task(nested());

    // "task" can now be used to cancel "nested()", or can simply be awaited
    // to wait until it is complete:
    let value = task.await.unwrap();
    out.line(format!("task returned {value}"));
}

/// A low-level API that returns a future-like object: a [`Deferred`] set by a
/// callback half a second later (like `loop.run_in_executor` or a protocol
/// callback would).
pub fn function_that_returns_a_future_object() -> Deferred<&'static str> {
    let fut = Deferred::new();
    let setter = fut.clone();
    corio::Handle::current().call_later(Duration::from_millis(500), move || {
        // Setting twice would be an InvalidStateError; once is fine.
        let _ = setter.set_result("future result");
    });
    fut
}

/// A plain coroutine used next to the future.
pub async fn some_python_coroutine() -> &'static str {
    corio::sleep(Duration::from_millis(200)).await;
    "coroutine result"
}

/// Awaiting a future, and gathering it with a coroutine.
pub async fn futures_main(out: Arc<Out>) {
    let result = function_that_returns_a_future_object().await.unwrap();
    out.line(format!("awaited: {result}"));

    // this is also valid:
    let (a, b) = corio::gather!(
        function_that_returns_a_future_object(),
        some_python_coroutine()
    );
    out.line(format!("gathered: {}, {}", a.unwrap(), b));
}

/// ```python
/// def blocking_io():
///     with open('/dev/urandom', 'rb') as f:
///         return f.read(100)
/// ```
pub fn blocking_io() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // File operations (such as logging) can block the event loop: run them in
    // a thread pool.
    let mut buf = vec![0u8; 100];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// ```python
/// def cpu_bound():
///     return sum(i * i for i in range(10 ** 7))
/// ```
pub fn cpu_bound(n: u64) -> u128 {
    (0..n as u128).map(|i| i * i).sum()
}

/// The seed's argument: `range(10 ** 7)`.
pub const CPU_BOUND_N: u64 = 10_000_000;

/// `cpu_bound`, registered so a [`ProcessPool`] worker can run it. Every binary
/// that uses a process pool calls
/// `corio::process::maybe_run_worker(&[&CPU_BOUND])` first thing in `main`.
pub static CPU_BOUND: RemoteFn<u64, u128> = RemoteFn::new("cpu_bound", cpu_bound);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `loop.run_in_executor` with the default pool, a custom thread pool and (when
/// `with_process_pool`) a custom process pool.
pub async fn run_in_executor_main(out: Arc<Out>, with_process_pool: bool) {
    // 1. Run in the default loop's executor:
    let result = corio::run_in_executor(None, blocking_io).await;
    match result {
        Ok(Ok(bytes)) => out.line(format!("default thread pool {}", hex(&bytes))),
        Ok(Err(e)) => out.line(format!("default thread pool: reading failed: {e}")),
        Err(e) => out.line(format!("default thread pool: {e}")),
    }

    // 2. Run in a custom thread pool:
    {
        let pool = ThreadPool::default();
        match corio::run_in_executor(Some(&pool), blocking_io).await {
            Ok(Ok(bytes)) => out.line(format!("custom thread pool {}", hex(&bytes))),
            Ok(Err(e)) => out.line(format!("custom thread pool: reading failed: {e}")),
            Err(e) => out.line(format!("custom thread pool: {e}")),
        }
        // leaving the block drops the pool: like leaving `with ... as pool:`
    }

    // 3. Run in a custom process pool:
    if with_process_pool {
        let pool = ProcessPool::new(2);
        match pool.submit(&CPU_BOUND, CPU_BOUND_N).await {
            Ok(sum) => out.line(format!("custom process pool {sum}")),
            Err(e) => out.line(format!("custom process pool: {e}")),
        }
        pool.shutdown(true);
    }
}
