//! ProcessPool tests. This binary has its own `main` (`harness = false` in
//! Cargo.toml) because the pool starts copies of it as workers: `main` first calls
//! `maybe_run_worker`, so a copy started as a worker serves requests and exits
//! instead of running the tests. Tests run one after another; a watchdog fails
//! the whole binary if it hangs.
//!
//! Run one test: `cargo test -p corio-blocking --test process_pool -- <name filter>`.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, wait_timeout, LONG};
use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};

// ---- the registered functions -------------------------------------------------

/// The seed's `cpu_bound()`: `sum(i * i for i in range(n))`. For n = 10^7 the sum
/// is 333_333_283_333_335_000_000, above u64::MAX (~1.8e19): hence u128.
fn cpu_bound(n: u64) -> u128 {
    (0..u128::from(n)).map(|i| i * i).sum()
}
static CPU_BOUND: RemoteFn<u64, u128> = RemoteFn::new("cpu_bound", cpu_bound);

/// (x * x, pid of the worker that computed it).
fn square_with_pid(x: u64) -> (u64, u32) {
    (x * x, std::process::id())
}
static SQUARE: RemoteFn<u64, (u64, u32)> = RemoteFn::new("square", square_with_pid);

fn pid(_: ()) -> u32 {
    std::process::id()
}
static PID: RemoteFn<(), u32> = RemoteFn::new("pid", pid);

fn fail(msg: String) -> u32 {
    panic!("{msg}")
}
static FAIL: RemoteFn<String, u32> = RemoteFn::new("fail", fail);

/// Creates `path` (so the test knows the call is running), sleeps `ms`, then
/// removes `path` (so "the marker exists" means "the call is running now").
fn touch_and_sleep((path, ms): (String, u64)) -> u32 {
    std::fs::write(&path, b"running").expect("create marker file");
    std::thread::sleep(Duration::from_millis(ms));
    let _ = std::fs::remove_file(&path);
    std::process::id()
}
static TOUCH_AND_SLEEP: RemoteFn<(String, u64), u32> =
    RemoteFn::new("touch_and_sleep", touch_and_sleep);

/// Creates `path`, then waits until the test removes it (at most a minute), so the
/// call runs exactly as long as the test wants, however slow the machine.
fn touch_and_wait(path: String) -> u32 {
    std::fs::write(&path, b"running").expect("create marker file");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::path::Path::new(&path).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::id()
}
static TOUCH_AND_WAIT: RemoteFn<String, u32> = RemoteFn::new("touch_and_wait", touch_and_wait);

fn exit_with(code: i32) {
    std::process::exit(code)
}
static EXIT_WITH: RemoteFn<i32, ()> = RemoteFn::new("exit_with", exit_with);

fn abort(_: ()) {
    std::process::abort()
}
static ABORT: RemoteFn<(), ()> = RemoteFn::new("abort", abort);

/// Prints to stdout: must not corrupt the reply stream.
fn noisy(x: u32) -> u32 {
    println!("noisy output from a worker, not a frame");
    x + 1
}
static NOISY: RemoteFn<u32, u32> = RemoteFn::new("noisy", noisy);

/// Never returns (until killed).
fn sleep_forever(_: ()) {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
static SLEEP_FOREVER: RemoteFn<(), ()> = RemoteFn::new("sleep_forever", sleep_forever);

/// `n` bytes of result.
fn big(n: usize) -> Vec<u8> {
    vec![7; n]
}
static BIG: RemoteFn<usize, Vec<u8>> = RemoteFn::new("big", big);

/// A hostile worker: finds its reply pipe, announces a reply of `len` bytes,
/// sends `sent` bytes of it, and hangs.
fn bogus_reply((len, sent): (u32, usize)) {
    let reply_fd = (3..1024)
        .find(|&fd| {
            // SAFETY: fcntl(F_GETFL) only reads the fd's flags (-1 if not open).
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            flags >= 0 && flags & libc::O_ACCMODE == libc::O_WRONLY
        })
        .expect("the reply pipe");
    let mut bytes = len.to_le_bytes().to_vec();
    bytes.resize(4 + sent, 0xAB);
    // SAFETY: `bytes` is valid for reads of its length for the call.
    let n = unsafe { libc::write(reply_fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
    sleep_forever(())
}
static BOGUS_REPLY: RemoteFn<(u32, usize), ()> = RemoteFn::new("bogus_reply", bogus_reply);

/// Same name as `SQUARE` but a result type its bytes do not decode as.
static SQUARE_WRONG_RESULT: RemoteFn<u64, String> = RemoteFn::new("square", |x| x.to_string());

/// Declared but deliberately not passed to `maybe_run_worker`.
static NOT_REGISTERED: RemoteFn<(), u32> = RemoteFn::new("not_registered", pid);

// ---- the runner ---------------------------------------------------------------

/// Whole-binary limit: the tests take a few seconds; this only catches hangs.
const WATCHDOG: Duration = Duration::from_secs(120);
/// Set when the binary is started as a helper "parent" process by the orphan tests.
const HELPER_ENV: &str = "PROCESS_POOL_TEST_HELPER";

/// `(name, fn)` pairs from the test functions' names.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as fn())),*]
    };
}

fn main() {
    // First thing: in a worker copy of this binary, serve the pool and exit.
    maybe_run_worker(&[
        &CPU_BOUND,
        &SQUARE,
        &PID,
        &FAIL,
        &TOUCH_AND_SLEEP,
        &TOUCH_AND_WAIT,
        &EXIT_WITH,
        &ABORT,
        &NOISY,
        &SLEEP_FOREVER,
        &BIG,
        &BOGUS_REPLY,
    ]);
    if let Ok(mode) = std::env::var(HELPER_ENV) {
        helper(&mode);
        return;
    }

    let tests: &[(&str, fn())] = tests![
        computes_the_seed_cpu_bound,
        reuses_workers_for_1000_calls,
        panic_is_an_error_and_the_worker_lives_on,
        sigkill_mid_call_breaks_only_that_call,
        exit_and_abort_name_the_status,
        unknown_function_is_an_error_not_a_hang,
        stdout_prints_do_not_corrupt_replies,
        mismatched_result_type_is_a_codec_error,
        shutdown_reaps_workers_and_refuses_calls,
        shutdown_without_wait_returns_while_calls_run,
        workers_run_calls_in_parallel,
        awaited_under_tokio,
        no_orphan_when_the_parent_panics,
        no_orphan_when_the_parent_is_killed,
        not_a_worker_when_the_marker_is_garbage_and_stdin_a_file,
        not_a_worker_when_the_marker_is_the_launchers_pid_and_stdin_a_file,
        not_a_worker_when_the_marker_is_its_own_pid,
        not_a_worker_when_stdin_is_a_socket,
        not_a_worker_when_stdin_lacks_the_secret,
        not_a_worker_when_the_parent_is_another_program,
        not_a_worker_when_setuid,
        bogus_reply_sizes_under_a_memory_limit,
        reply_above_max_reply_size_is_a_clear_error,
        call_timeout_kills_and_replaces_a_hung_worker,
        shutdown_is_bounded_with_a_hung_worker,
        drop_is_bounded_with_a_hung_worker,
        shutdown_without_wait_still_kills_a_hung_worker,
        idle_worker_killed_is_reaped_and_replaced_at_once,
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    // libtest's filter (a substring) and `--skip NAME` (repeatable); other flags ignored.
    let mut filter = None;
    let mut skip = Vec::new();
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if a == "--skip" {
            skip.extend(rest.next().cloned());
        } else if !a.starts_with('-') && filter.is_none() {
            filter = Some(a.clone());
        }
    }

    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("process_pool tests: still running after {WATCHDOG:?}: hang, aborting");
        std::process::exit(2);
    });

    let start = Instant::now();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f))
            || skip.iter().any(|s| name.contains(s.as_str()))
        {
            continue;
        }
        ran += 1;
        let t0 = Instant::now();
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => println!("test {name} ... ok ({:?})", t0.elapsed()),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:?}",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len(),
        start.elapsed()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}

// ---- helpers ------------------------------------------------------------------

/// True if `pid` no longer exists, or exists only as a zombie whose reaper is not
/// us (e.g. an init in a container that does not reap): either way it has exited.
fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// True if `pid` is gone entirely (not even a zombie): it was reaped.
fn is_reaped(pid: u32) -> bool {
    !PathBuf::from(format!("/proc/{pid}")).exists()
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) only sends a signal; pid is one of our worker processes.
    let ret = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(
        ret,
        0,
        "kill({pid}, {sig}) failed: {}",
        std::io::Error::last_os_error()
    );
}

fn marker_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("corio-pp-{}-{tag}", std::process::id()))
}

// ---- the tests ------------------------------------------------------------------

fn computes_the_seed_cpu_bound() {
    let pool = ProcessPool::new(2);
    let task = pool.submit(&CPU_BOUND, 10_000_000);
    assert_eq!(
        wait_timeout(task, LONG).unwrap(),
        333_333_283_333_335_000_000u128
    );
    let small = futures::executor::block_on(pool.submit(&CPU_BOUND, 4)).unwrap();
    assert_eq!(small, 1 + 4 + 9);
}

fn reuses_workers_for_1000_calls() {
    let pool = ProcessPool::new(2);
    let tasks: Vec<_> = (0..1000u64).map(|i| pool.submit(&SQUARE, i)).collect();
    let mut pids = HashSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (sq, pid) = wait_timeout(task, LONG).unwrap();
        assert_eq!(sq, (i * i) as u64);
        pids.insert(pid);
    }
    assert!(
        !pids.is_empty() && pids.len() <= 2,
        "1000 calls on a 2-worker pool ran in {} processes",
        pids.len()
    );
    assert!(!pids.contains(&std::process::id()), "ran in the parent");
    let live: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert_eq!(live, pids, "the same workers are still alive");
}

fn panic_is_an_error_and_the_worker_lives_on() {
    let pool = ProcessPool::new(1);
    let before = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    let err = wait_timeout(pool.submit(&FAIL, "bad input".to_owned()), LONG).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(err.function(), Some("fail"));
    assert_eq!(err.panic_message(), Some("bad input"));
    assert!(err.to_string().contains("panicked"), "{err}");
    let after = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    assert_eq!(
        before, after,
        "the same worker process served the next call"
    );
}

fn sigkill_mid_call_breaks_only_that_call() {
    let pool = ProcessPool::new(1);
    let marker = marker_path("sigkill");
    let _ = std::fs::remove_file(&marker);
    let victim_call = pool.submit(&TOUCH_AND_SLEEP, (marker.display().to_string(), 60_000));
    eventually("the call is running in the worker", LONG, || {
        marker.exists()
    });
    let _ = std::fs::remove_file(&marker);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 1);
    let victim = pids[0];
    kill(victim, libc::SIGKILL);

    let err = wait_timeout(victim_call, LONG).unwrap_err();
    assert!(err.is_broken_pool(), "{err:?}");
    assert_eq!(err.worker_pid(), Some(victim));
    assert!(err.to_string().contains("SIGKILL"), "{err}");
    assert!(err.to_string().contains("broken pool"), "{err}");
    assert!(
        is_reaped(victim),
        "the killed worker was reaped (no zombie)"
    );

    // The pool replaced the worker at once, without waiting for a call.
    eventually("a replacement worker", LONG, || {
        let pids = pool.worker_pids();
        pids.len() == 1 && pids[0] != victim
    });
    let replacement = pool.worker_pids()[0];
    assert_eq!(
        wait_timeout(pool.submit(&PID, ()), LONG).unwrap(),
        replacement
    );
}

fn exit_and_abort_name_the_status() {
    let pool = ProcessPool::new(1);
    let err = wait_timeout(pool.submit(&EXIT_WITH, 3), LONG).unwrap_err();
    assert!(
        err.is_broken_pool() && err.to_string().ends_with(" exited with status 3"),
        "{err:?}"
    );
    let err = wait_timeout(pool.submit(&ABORT, ()), LONG).unwrap_err();
    assert!(
        err.is_broken_pool() && err.to_string().contains("SIGABRT"),
        "{err:?}"
    );
    // A worker killed while idle is replaced before the next call, which succeeds.
    let idle = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    kill(idle, libc::SIGKILL);
    eventually("the idle worker died", LONG, || has_exited(idle));
    let next = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    assert_ne!(next, idle);
}

fn unknown_function_is_an_error_not_a_hang() {
    let pool = ProcessPool::new(1);
    let err = wait_timeout(pool.submit(&NOT_REGISTERED, ()), LONG).unwrap_err();
    assert!(
        err.is_unknown_function() && err.function() == Some("not_registered"),
        "{err:?}"
    );
    assert!(err.to_string().contains("maybe_run_worker"), "{err}");
    // The pool is fine afterwards.
    assert_eq!(wait_timeout(pool.submit(&SQUARE, 3), LONG).unwrap().0, 9);
}

fn stdout_prints_do_not_corrupt_replies() {
    let pool = ProcessPool::new(1);
    for i in 0..5 {
        assert_eq!(wait_timeout(pool.submit(&NOISY, i), LONG).unwrap(), i + 1);
    }
}

fn mismatched_result_type_is_a_codec_error() {
    let pool = ProcessPool::new(1);
    // The worker's `square` returns (u64, u32); decoding 3*3 = 9 as a string length
    // runs past the end of the reply.
    let err = wait_timeout(pool.submit(&SQUARE_WRONG_RESULT, 3), LONG).unwrap_err();
    assert!(err.is_codec(), "{err:?}");
    assert!(err.to_string().contains("postcard"), "{err}");
    assert_eq!(wait_timeout(pool.submit(&SQUARE, 3), LONG).unwrap().0, 9);
}

fn shutdown_reaps_workers_and_refuses_calls() {
    let pool = ProcessPool::new(2);
    let tasks: Vec<_> = (0..20u64).map(|i| pool.submit(&SQUARE, i)).collect();
    let pids = pool_pids_after(&pool, tasks);
    // Calls submitted before shutdown still run (Python's cancel_futures=False).
    let queued = pool.submit(&SQUARE, 7);
    pool.shutdown(true);
    assert_eq!(wait_timeout(queued, LONG).unwrap().0, 49);
    for pid in pids {
        assert!(is_reaped(pid), "worker {pid} reaped at shutdown");
    }
    assert!(pool.worker_pids().is_empty());
    let err = wait_timeout(pool.submit(&SQUARE, 1), LONG).unwrap_err();
    assert!(err.is_shutdown() && !err.is_cancelled(), "{err:?}");
}

fn shutdown_without_wait_returns_while_calls_run() {
    let pool = ProcessPool::new(1);
    let marker = marker_path("nowait");
    let _ = std::fs::remove_file(&marker);
    let call = pool.submit(&TOUCH_AND_WAIT, marker.display().to_string());
    eventually("the call is running", LONG, || marker.exists());
    let worker = pool.worker_pids()[0];
    // The call cannot finish until the marker is removed, so shutdown(false) returning
    // (on another thread, bounded) proves it did not wait for the call, at any load.
    let pool = std::sync::Arc::new(pool);
    let (tx, rx) = std::sync::mpsc::channel();
    let p = pool.clone();
    std::thread::spawn(move || {
        p.shutdown(false);
        let _ = tx.send(());
    });
    rx.recv_timeout(LONG)
        .expect("shutdown(false) returned while a call was running");
    assert!(!call.is_finished(), "the call was still running");
    let _ = std::fs::remove_file(&marker);
    // The running call completes, then the worker is closed and reaped.
    assert_eq!(wait_timeout(call, LONG).unwrap(), worker);
    eventually("the worker was reaped", LONG, || {
        pool.worker_pids().is_empty() && is_reaped(worker)
    });
}

fn workers_run_calls_in_parallel() {
    let pool = ProcessPool::new(2);
    let markers = [marker_path("par-a"), marker_path("par-b")];
    for m in &markers {
        let _ = std::fs::remove_file(m);
    }
    // Each call creates its marker, then sleeps long enough that both markers can
    // only exist at once if two workers run at the same time.
    let calls: Vec<_> = markers
        .iter()
        .map(|m| pool.submit(&TOUCH_AND_SLEEP, (m.display().to_string(), 2_000)))
        .collect();
    eventually("both calls running at once", LONG, || {
        markers.iter().all(|m| m.exists())
    });
    let pids: HashSet<u32> = calls
        .into_iter()
        .map(|c| wait_timeout(c, LONG).unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "two different workers");
    for m in &markers {
        let _ = std::fs::remove_file(m);
    }
}

fn pool_pids_after(
    _pool: &ProcessPool,
    tasks: Vec<corio_blocking::BlockingTask<(u64, u32)>>,
) -> HashSet<u32> {
    tasks
        .into_iter()
        .map(|t| wait_timeout(t, LONG).unwrap().1)
        .collect()
}

fn awaited_under_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = ProcessPool::new(2);
    let sum = rt.block_on(async {
        let a = tokio::spawn(pool.submit(&SQUARE, 5));
        let b = pool.submit(&CPU_BOUND, 1000);
        (a.await.unwrap().unwrap().0 as u128) + b.await.unwrap()
    });
    assert_eq!(sum, 25 + cpu_bound(1000));
}

/// Starts this binary as a helper parent in `mode`; returns it and the pid of
/// the worker it started (the helper prints it).
fn start_helper(mode: &str) -> (std::process::Child, u32) {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .env(HELPER_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(helper.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("helper printed {line:?}"));
    (helper, pid)
}

fn no_orphan_when_the_parent_panics() {
    let (mut helper, worker) = start_helper("panic");
    let status = helper.wait().unwrap();
    assert!(!status.success(), "the helper panicked");
    // The pool's Drop ran during unwinding and reaped the worker.
    assert!(
        is_reaped(worker),
        "worker {worker} left behind by a panicking parent"
    );
}

fn no_orphan_when_the_parent_is_killed() {
    let (mut helper, worker) = start_helper("hold");
    kill(helper.id(), libc::SIGKILL);
    helper.wait().unwrap();
    // No unwinding, no Drop: the worker must notice on its own (stdin EOF, and
    // PR_SET_PDEATHSIG on Linux) and exit.
    eventually("the orphaned worker exited", LONG, || has_exited(worker));
}

// ---- who may become a worker ------------------------------------------------------

const MARKER_ENV: &str = "CORIO_PROCESS_POOL_WORKER";

/// What a probe run of this binary (not a worker: `main` ran) printed.
struct Probe {
    stdout: String,
    stderr: String,
}

/// The request an attacker would send: run `touch_and_sleep` to create `marker`.
fn attack_frame(marker: &std::path::Path) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Request {
        name: String,
        arg: Vec<u8>,
    }
    let arg = postcard::to_stdvec(&(marker.display().to_string(), 0u64)).unwrap();
    let request = postcard::to_stdvec(&Request {
        name: "touch_and_sleep".to_owned(),
        arg,
    })
    .unwrap();
    let mut frame = (request.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&request);
    frame
}

/// The attack frame behind a well-formed (but made-up) secret.
fn attack_with_made_up_secret(marker: &std::path::Path) -> Vec<u8> {
    let mut bytes = b"CORIOPS1".to_vec();
    bytes.extend_from_slice(&[0x5a; 32]);
    bytes.extend_from_slice(&attack_frame(marker));
    bytes
}

/// Runs `command` (this binary, in probe mode) to the end with a deadline and
/// checks that it was not a worker: `main` ran, no function name or handshake
/// went to stdout, the attack's marker file was never created, and stderr says
/// why (`reason`).
fn assert_not_a_worker(mut command: Command, marker: &std::path::Path, reason: &str) -> Probe {
    command
        .env(HELPER_ENV, "probe")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(LONG)
        .expect("the probe finished in time")
        .unwrap();
    let probe = Probe {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(output.status.success(), "probe failed: {}", probe.stderr);
    assert_eq!(
        probe.stdout, "main ran\npool refused\n",
        "stderr: {}",
        probe.stderr
    );
    for leak in ["touch_and_sleep", "cpu_bound", "CORIOPW1"] {
        assert!(!probe.stdout.contains(leak), "{leak} printed");
    }
    assert!(
        !marker.exists(),
        "a registered function ran for the attacker"
    );
    assert!(
        probe.stderr.contains("not started by a process pool") && probe.stderr.contains(reason),
        "refused for the wrong reason (wanted {reason:?}): {}",
        probe.stderr
    );
    probe
}

/// A file holding the attack (with a made-up secret in front).
fn attack_file(tag: &str, marker: &std::path::Path) -> std::fs::File {
    let path = marker_path(tag);
    std::fs::write(&path, attack_with_made_up_secret(marker)).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    file
}

fn probe_command() -> Command {
    Command::new(std::env::current_exe().unwrap())
}

fn not_a_worker_when_the_marker_is_garbage_and_stdin_a_file() {
    let marker = marker_path("garbage-marker");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = probe_command();
    cmd.env(MARKER_ENV, "x")
        .stdin(attack_file("garbage-in", &marker));
    assert_not_a_worker(cmd, &marker, "is not a process id");
}

fn not_a_worker_when_the_marker_is_the_launchers_pid_and_stdin_a_file() {
    let marker = marker_path("launcher-marker");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = probe_command();
    cmd.env(MARKER_ENV, std::process::id().to_string())
        .stdin(attack_file("launcher-in", &marker));
    assert_not_a_worker(cmd, &marker, "stdin is not a pipe");
}

fn not_a_worker_when_the_marker_is_its_own_pid() {
    // `exec` keeps the shell's pid, so `$$` is the program's own pid.
    let marker = marker_path("own-pid-marker");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("{MARKER_ENV}=$$ exec \"$0\""))
        .arg(std::env::current_exe().unwrap())
        .stdin(attack_file("own-pid-in", &marker));
    assert_not_a_worker(cmd, &marker, "is not the parent's process id");
}

fn not_a_worker_when_stdin_is_a_socket() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let marker = marker_path("socket-marker");
    let _ = std::fs::remove_file(&marker);
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    ours.write_all(&attack_with_made_up_secret(&marker))
        .unwrap();
    let mut cmd = probe_command();
    cmd.env(MARKER_ENV, std::process::id().to_string())
        .stdin(std::os::fd::OwnedFd::from(theirs));
    assert_not_a_worker(cmd, &marker, "stdin is not a pipe");
    drop(ours);
}

/// Pipes, the launcher's pid, the same program: only the secret is missing (an
/// old-style request straight away).
fn not_a_worker_when_stdin_lacks_the_secret() {
    let marker = marker_path("no-secret-marker");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = probe_command();
    cmd.env(MARKER_ENV, std::process::id().to_string())
        .stdin(Stdio::piped());
    feed_and_check(cmd, attack_frame(&marker), &marker, "pool's secret");
}

/// Pipes and a well-formed secret, the marker set to the parent's pid, but the
/// parent is a shell, not this program.
fn not_a_worker_when_the_parent_is_another_program() {
    let marker = marker_path("shell-parent-marker");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = Command::new("/bin/sh");
    // Not the last command, so the shell forks instead of exec-ing: it stays the parent.
    cmd.arg("-c")
        .arg(format!(
            "{MARKER_ENV}=$$; export {MARKER_ENV}; \"$0\"; exit $?"
        ))
        .arg(std::env::current_exe().unwrap())
        .stdin(Stdio::piped());
    feed_and_check(
        cmd,
        attack_with_made_up_secret(&marker),
        &marker,
        "runs a different program",
    );
}

/// A setuid copy of this binary (owned by `nobody`, run by root: the kernel
/// sets AT_SECURE) is refused before anything else is looked at. Needs root and
/// a temp dir that honours setuid bits; says so and checks nothing otherwise.
fn not_a_worker_when_setuid() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || nosuid(&std::env::temp_dir()) {
        println!("    (setuid check not exercised: needs root and a temp dir without nosuid)");
        return;
    }
    let dir = marker_path("setuid-dir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let prog = dir.join("prog");
    std::fs::copy(std::env::current_exe().unwrap(), &prog).unwrap();
    std::os::unix::fs::chown(&prog, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).unwrap();

    let marker = marker_path("setuid-marker");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = Command::new(&prog);
    cmd.env(MARKER_ENV, std::process::id().to_string());
    feed_and_check(cmd, attack_with_made_up_secret(&marker), &marker, "setuid");
    let _ = std::fs::remove_dir_all(&dir);
}

/// LeakSanitizer's hook, asked before its at-exit leak check (ci/asan.sh): no
/// check in the setuid copy of [`not_a_worker_when_setuid`]. LeakSanitizer stops
/// the world with ptrace, which a setuid (non-dumpable) process refuses, so that
/// copy would do everything right and then die with "LeakSanitizer has
/// encountered a fatal error"; `ASAN_OPTIONS=detect_leaks=0` does not reach it
/// either. Every other process of this binary keeps the check. Without a
/// sanitizer nothing calls this.
#[no_mangle]
extern "C" fn __lsan_is_turned_off() -> libc::c_int {
    // SAFETY: getauxval reads the auxiliary vector the kernel gave the process;
    // it has no preconditions.
    libc::c_int::from(unsafe { libc::getauxval(libc::AT_SECURE) } != 0)
}

/// True if `dir`'s filesystem ignores setuid bits.
fn nosuid(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` outlives the call.
    let ret = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    ret != 0 || st.f_flag & libc::ST_NOSUID != 0
}

/// Starts `cmd` with `input` already in its stdin pipe, then checks it.
fn feed_and_check(mut cmd: Command, input: Vec<u8>, marker: &std::path::Path, reason: &str) {
    use std::io::Write;
    // A pipe we fill before the child starts: what a launcher would hand over.
    let (reader, mut writer) = os_pipe();
    writer.write_all(&input).unwrap();
    drop(writer);
    cmd.stdin(reader);
    assert_not_a_worker(cmd, marker, reason);
}

/// A fresh pipe: (read end, write end).
fn os_pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fds into `fds`, which lives across the call.
    let ret = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(ret, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created by pipe and are owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

/// The helper parents used by the orphan tests, and the probe run of `main` by
/// the "who may become a worker" tests.
fn helper(mode: &str) {
    if mode == "rlimit" {
        rlimit_helper();
        return;
    }
    if mode == "probe" {
        println!("main ran");
        // A refused process starts no workers of its own.
        match wait_timeout(ProcessPool::new(1).submit(&PID, ()), LONG) {
            Err(err) if err.is_start_failure() && err.to_string().contains("not a pool worker") => {
                println!("pool refused")
            }
            other => println!("pool did not refuse: {other:?}"),
        }
        return;
    }
    let pool = ProcessPool::new(1);
    let worker = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    println!("{worker}");
    match mode {
        "panic" => panic!("helper parent panics with a live worker"),
        _ => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
    }
}

// ---- limits: reply size, timeouts, bounded shutdown, reaping ------------------

/// Runs the hostile calls under an address-space limit (so a 1 GiB allocation
/// would fail and abort the process) and prints what each returned.
fn rlimit_helper() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    // Headroom for the pool's threads (stacks, malloc arenas), well short of 1 GiB.
    let limit = vm_kib * 1024 + (768 << 20);
    let rlim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit reads `rlim`, which outlives the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlim) }, 0);
    // With the limit in place, 1 GiB cannot be had.
    assert!(Vec::<u8>::new().try_reserve_exact(1 << 30).is_err());

    // Default cap: a 1 GiB announcement is refused before any allocation.
    let pool = ProcessPool::new(1);
    let err = wait_timeout(pool.submit(&BOGUS_REPLY, (1 << 30, 0)), LONG).unwrap_err();
    println!("default cap: {err}");
    drop(pool);
    // A cap above the announcement: the buffer grows only as bytes arrive, so a
    // worker that sends 1 KiB of its "1 GiB" and hangs costs 1 KiB, then times out.
    let pool = ProcessPool::builder()
        .max_workers(2)
        .max_reply_size(usize::MAX)
        .call_timeout(Duration::from_millis(500))
        .build();
    let a = pool.submit(&BOGUS_REPLY, (1 << 30, 1024));
    let b = pool.submit(&BOGUS_REPLY, (1 << 30, 1024));
    println!("raised cap: {}", wait_timeout(a, LONG).unwrap_err());
    println!("raised cap: {}", wait_timeout(b, LONG).unwrap_err());
    println!(
        "after: {:?}",
        wait_timeout(pool.submit(&SQUARE, 3), LONG).map(|r| r.0)
    );
}

fn bogus_reply_sizes_under_a_memory_limit() {
    // ThreadSanitizer needs its fixed shadow layout: a process started under an
    // address-space limit tries to lift it and exits (status 66) when it cannot,
    // so the helper's pool workers (which inherit the limit) never start.
    // ci/asan.sh covers this test; ci/tsan.sh sets CORIO_SANITIZER=thread.
    if std::env::var("CORIO_SANITIZER").as_deref() == Ok("thread") {
        println!("    (memory-limit check not exercised under ThreadSanitizer)");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .env(HELPER_ENV, "rlimit")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper failed ({:?}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with("default cap: ")
            && lines[0].contains("replied 1073741824 bytes")
            && lines[0].ends_with(&format!("above max_reply_size {}", 8 << 20)),
        "{}",
        lines[0]
    );
    for line in &lines[1..3] {
        assert!(
            line.starts_with("raised cap: ") && line.contains("did not finish within"),
            "{line}"
        );
    }
    assert_eq!(lines[3], "after: Ok(9)");
}

fn reply_above_max_reply_size_is_a_clear_error() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_reply_size(1024)
        .build();
    assert_eq!(
        wait_timeout(pool.submit(&BIG, 900), LONG).unwrap().len(),
        900
    );
    let before = pool.worker_pids();
    let err = wait_timeout(pool.submit(&BIG, 10_000), LONG).unwrap_err();
    assert!(err.is_reply_too_large(), "{err:?}");
    assert_eq!(err.function(), Some("big"));
    assert!(
        err.to_string().ends_with("above max_reply_size 1024"),
        "{err}"
    );
    assert!(err.to_string().contains("max_reply_size"), "{err}");
    for pid in before {
        assert!(
            is_reaped(pid),
            "the worker that sent it was killed and reaped"
        );
    }
    assert_eq!(
        wait_timeout(pool.submit(&BIG, 10), LONG).unwrap(),
        vec![7; 10]
    );
}

fn call_timeout_kills_and_replaces_a_hung_worker() {
    let pool = ProcessPool::new(1);
    let hung = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    let t0 = Instant::now();
    let err = wait_timeout(
        pool.submit_timeout(&SLEEP_FOREVER, (), Duration::from_millis(200)),
        LONG,
    )
    .unwrap_err();
    assert!(t0.elapsed() >= Duration::from_millis(200), "not early");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.function(), Some("sleep_forever"));
    assert!(err.to_string().ends_with("within 200ms"), "{err}");
    assert!(is_reaped(hung), "the hung worker was killed and reaped");
    let next = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    assert_ne!(next, hung);

    // The builder's timeout applies to every call; a fast call is unaffected.
    let pool = ProcessPool::builder()
        .max_workers(1)
        .call_timeout(Duration::from_millis(200))
        .build();
    assert_eq!(wait_timeout(pool.submit(&SQUARE, 5), LONG).unwrap().0, 25);
    let err = wait_timeout(pool.submit(&SLEEP_FOREVER, ()), LONG).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("did not finish within"), "{err}");
}

/// A pool with a short grace period, one call hung in its worker and one queued.
fn pool_with_a_hung_call(
    tag: &str,
) -> (
    ProcessPool,
    corio_blocking::BlockingTask<u32>,
    corio_blocking::BlockingTask<u32>,
    u32,
) {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .shutdown_grace(Duration::from_millis(300))
        .build();
    let worker = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    let marker = marker_path(tag);
    let _ = std::fs::remove_file(&marker);
    let running = pool.submit(&TOUCH_AND_SLEEP, (marker.display().to_string(), 3_600_000));
    eventually("the call is running", LONG, || marker.exists());
    let _ = std::fs::remove_file(&marker);
    let queued = pool.submit(&PID, ());
    (pool, running, queued, worker)
}

/// Checks what a bounded shutdown left: the running call broken, the queued
/// one cancelled, the worker reaped.
fn check_after_grace(
    hung: corio_blocking::BlockingTask<u32>,
    queued: corio_blocking::BlockingTask<u32>,
    worker: u32,
) {
    let err = wait_timeout(hung, LONG).unwrap_err();
    assert!(
        err.is_broken_pool()
            && err.worker_pid() == Some(worker)
            && err.to_string().contains("grace period"),
        "the hung call's worker was killed: {err:?}"
    );
    let err = wait_timeout(queued, LONG).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    eventually("the hung worker was reaped", LONG, || is_reaped(worker));
}

fn shutdown_is_bounded_with_a_hung_worker() {
    let (pool, hung, queued, worker) = pool_with_a_hung_call("bounded-shutdown");
    let t0 = Instant::now();
    pool.shutdown(true);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "calls got their grace period ({took:?})"
    );
    assert!(
        took < Duration::from_secs(10),
        "shutdown(true) took {took:?}"
    );
    assert!(
        is_reaped(worker),
        "shutdown(true) returned with the worker reaped"
    );
    assert!(pool.worker_pids().is_empty());
    check_after_grace(hung, queued, worker);
}

fn drop_is_bounded_with_a_hung_worker() {
    let (pool, hung, queued, worker) = pool_with_a_hung_call("bounded-drop");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        drop(pool);
        let _ = tx.send(t0.elapsed());
    });
    let took = rx.recv_timeout(LONG).expect("drop returned");
    assert!(took < Duration::from_secs(10), "drop took {took:?}");
    assert!(is_reaped(worker));
    check_after_grace(hung, queued, worker);
}

fn shutdown_without_wait_still_kills_a_hung_worker() {
    let (pool, hung, queued, worker) = pool_with_a_hung_call("bounded-nowait");
    let t0 = Instant::now();
    pool.shutdown(false);
    // The hung call sleeps an hour: anything well under that did not wait for it (a
    // generous bound, so a loaded machine does not fail it).
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "shutdown(false) waited"
    );
    // The pool's monitor enforces the grace period on its own.
    check_after_grace(hung, queued, worker);
    assert!(pool.worker_pids().is_empty());
}

fn idle_worker_killed_is_reaped_and_replaced_at_once() {
    let pool = ProcessPool::new(1);
    let idle = wait_timeout(pool.submit(&PID, ()), LONG).unwrap();
    assert_eq!(pool.worker_pids(), vec![idle]);
    kill(idle, libc::SIGKILL);
    // No call is made: the pool notices the death on its own.
    eventually("the dead worker is reaped and replaced", LONG, || {
        let pids = pool.worker_pids();
        is_reaped(idle) && pids.len() == 1 && !pids.contains(&idle)
    });
    assert!(!has_zombie_children(), "no zombie child left");
    let replacement = pool.worker_pids()[0];
    assert_eq!(
        wait_timeout(pool.submit(&PID, ()), LONG).unwrap(),
        replacement
    );
}

/// True if some child of this process is a zombie.
fn has_zombie_children() -> bool {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .any(|stat| {
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
}
