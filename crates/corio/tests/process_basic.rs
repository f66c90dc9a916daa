//! corio::process: pipes, exit status, kill, errors, and reaping.

mod sync_support;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use corio::process::{create_subprocess_exec, Command, Stdio};
use sync_support::{proc_state, run_timeout};

#[test]
fn piped_stdin_stdout_round_trip() {
    run_timeout(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(child.id().is_some());
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.as_mut().unwrap();
        for i in 0..3 {
            let line = format!("line {i}\n");
            stdin.write(line.as_bytes());
            stdin.drain().await.unwrap();
            assert_eq!(stdout.readline().await.unwrap(), line.as_bytes());
        }
        stdin.wait_closed().await.unwrap(); // EOF for cat
        assert!(stdout.readline().await.unwrap().is_empty());
        let st = child.wait().await.unwrap();
        assert!(st.success());
        assert_eq!(child.returncode(), Some(0));
        assert!(child.id().is_none(), "reaped child still has a pid");
    });
}

#[test]
fn exit_codes_and_output() {
    run_timeout(async {
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        let st = create_subprocess_exec("true", Vec::<&str>::new())
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert!(st.success());
    });
}

#[test]
fn communicate_large_input_does_not_deadlock() {
    // 1 MiB through `cat`: far more than a pipe buffer (64 KiB) in both directions,
    // so writing all input before reading would deadlock.
    const SIZE: usize = 1 << 20;
    run_timeout(async {
        let input: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err) = child.communicate(Some(&input)).await.unwrap();
        assert_eq!(out.len(), SIZE);
        assert!(out == input);
        assert!(err.is_empty());
    });
}

#[test]
fn kill_and_terminate() {
    run_timeout(async {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(corio::wait_for(child.wait(), Duration::from_millis(50))
            .await
            .is_err());
        child.kill().unwrap();
        let st = child.wait().await.unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        assert_eq!(child.returncode(), Some(-libc::SIGKILL));
        child.kill().unwrap(); // already reaped: a no-op, not an error

        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        child.terminate().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
    });
}

#[test]
fn spawn_errors_are_reported() {
    let err = Command::new("/definitely/not/a/program")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn dropped_children_are_reaped() {
    run_timeout(async {
        let mut pids = Vec::new();
        for _ in 0..5 {
            let child = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
            pids.push(child.id().unwrap());
            drop(child); // never waited for
        }
        let killed = Command::new("sleep")
            .arg("100")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        pids.push(killed.id().unwrap());
        drop(killed);
        // The reaper reaps each as it exits: no zombie stays behind.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let zombies: Vec<_> = pids
                .iter()
                .filter(|&&p| proc_state(p) == Some('Z'))
                .collect();
            let alive: Vec<_> = pids.iter().filter(|&&p| proc_state(p).is_some()).collect();
            if alive.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "children not reaped: zombies {zombies:?}, still present {alive:?}"
            );
            corio::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn shell_command() {
    run_timeout(async {
        let out = Command::shell("printf '%s' \"$X\"; exit 5")
            .env("X", "from env")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"from env");
        assert_eq!(out.status.code(), Some(5));
    });
}
