//! Inspection from outside: a child process with `CORIO_INSPECT=1` serves its task
//! tree on its Unix socket (owner only) and writes it to stderr on SIGUSR1.
//!
//! The child is this test binary run again with `INSPECT_CHILD=1` and one test
//! selected (`child_body`), which does nothing in a normal run.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// In the child: a runtime with inspection on and two named tasks, one waiting
/// on a queue; prints READY, then lives until stdin closes.
#[test]
fn child_body() {
    if std::env::var_os("INSPECT_CHILD").is_none() {
        return;
    }
    let rt = corio::Runtime::new().expect("runtime");
    let q = std::sync::Arc::new(corio::queue::Queue::<u8>::new(0));
    let q2 = q.clone();
    let _waiter = corio::TaskBuilder::new()
        .name("queue-waiter")
        .spawn_on(&rt.handle(), async move { q2.get().await });
    let _sleeper = corio::TaskBuilder::new()
        .name("sleeper")
        .spawn_on(&rt.handle(), corio::sleep(Duration::from_secs(3600)));
    println!("READY");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink); // until the parent closes stdin
    drop(rt);
}

fn start_child() -> (Child, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_body", "--exact", "--nocapture", "--test-threads=1"])
        .env("INSPECT_CHILD", "1")
        .env("CORIO_INSPECT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child exited before READY"
        );
        // libtest may print "test child_body ... " on the same line first.
        if line.trim_end().ends_with("READY") {
            break;
        }
    }
    // Keep reading: libtest's closing lines must not hit a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let pid = child.id();
    (child, pid)
}

/// Reads the tree from the socket until it names both tasks (tasks reach their
/// await points right after READY; 30 s at most).
fn read_tree(pid: u32) -> String {
    let path = corio::inspect::socket_path(pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut text = String::new();
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&path) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.read_to_string(&mut text);
            if text.contains("'queue-waiter'") && text.contains("waiting at") {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no usable tree at {}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(mut child: Child) -> String {
    drop(child.stdin.take()); // the child's main returns
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}\n{err}");
    err
}

#[test]
fn the_socket_serves_the_tree_and_is_owner_only() {
    let (child, pid) = start_child();
    let text = read_tree(pid);
    assert!(text.contains("'sleeper'"), "{text}");
    assert!(
        text.contains("inspect.rs"),
        "await point names this file: {text}"
    );
    let path = corio::inspect::socket_path(pid);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        dir_mode & 0o077,
        0,
        "socket directory open to others: {dir_mode:o}"
    );
    finish(child);
    assert!(!path.exists(), "socket left behind after shutdown");
}

#[test]
fn another_user_cannot_read_the_tree() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: switching to another user needs root");
        return;
    }
    let (child, pid) = start_child();
    let _ = read_tree(pid); // the socket is up
    let path = corio::inspect::socket_path(pid);
    // As `nobody` (uid 65534): connect must fail, or give no byte.
    let probe = Command::new("python3")
        .arg("-c")
        .arg(
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX)\n\
             try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('refused', e.errno); sys.exit(0)\n\
             s.settimeout(10)\n\
             d=s.recv(65536)\n\
             print('got', len(d))",
        )
        .arg(&path)
        .uid(65534)
        .gid(65534)
        .output();
    let out = match probe {
        Ok(o) => o,
        Err(e) => {
            finish(child);
            eprintln!("skipped: python3 not runnable ({e})");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    finish(child);
    assert!(
        stdout.starts_with("refused") || stdout.trim() == "got 0",
        "another user read the tree: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigusr1_writes_the_tree_to_stderr() {
    // Under ThreadSanitizer (ci/tsan.sh sets CORIO_SANITIZER=thread) the child never
    // runs its SIGUSR1 handler: TSan defers an asynchronous signal until the thread
    // that took it enters a function TSan intercepts, and the child's threads wait
    // in epoll_wait made as a raw system call (polling, through rustix), which TSan
    // does not see. The socket route (the tests above) covers the tree there.
    if std::env::var("CORIO_SANITIZER").as_deref() == Ok("thread") {
        eprintln!("skipped under ThreadSanitizer: it defers the signal indefinitely");
        return;
    }
    let (mut child, pid) = start_child();
    let _ = read_tree(pid); // tasks are at their await points
                            // Collect the child's stderr on a thread, so we can wait for the dump.
    let mut stderr = child.stderr.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGUSR1) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(seen.lock().unwrap().contains("'sleeper'")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let err = seen.lock().unwrap().clone();
    assert!(status.success(), "child failed: {status}\n{err}");
    assert!(err.contains("'queue-waiter'"), "no tree on stderr: {err}");
    assert!(err.contains("'sleeper'"), "{err}");
}

use std::os::unix::process::CommandExt;
