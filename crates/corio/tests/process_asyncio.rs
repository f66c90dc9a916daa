//! corio::process against asyncio's subprocess semantics: cancel-safe
//! communicate, stderr into stdout, sessions and process groups, pre_exec,
//! stdin closed by close() alone; plus ports of CPython's
//! Lib/test/test_asyncio/test_subprocess.py cases (names kept).

mod sync_support;

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use corio::process::{create_subprocess_exec, create_subprocess_shell, Command, Stdio};
use sync_support::{eventually, proc_state, run_timeout};

const STEP: Duration = Duration::from_secs(20);

/// Fields of /proc/<pid>/stat after the command name: (ppid, pgrp, session).
fn stat_fields(stat: &str) -> (i64, i64, i64) {
    let after = &stat[stat.rfind(')').expect("stat has (comm)") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // after ")": state ppid pgrp session ...
    (
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].parse().unwrap(),
    )
}

fn own_stat() -> (i64, i64, i64) {
    stat_fields(&std::fs::read_to_string("/proc/self/stat").unwrap())
}

#[test]
fn communicate_cut_by_a_timeout_then_a_second_communicate_gets_the_rest() {
    run_timeout(async {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "echo early; echo err1 >&2; sleep 1; echo late; echo err2 >&2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The child sleeps for a second: 200 ms is always too short.
        let cut = corio::wait_for(child.communicate(None), Duration::from_millis(200)).await;
        assert!(cut.is_err(), "communicate should have timed out");
        assert!(child.stdout.is_some(), "the pipes stay with the Child");
        let (out, err) = corio::wait_for(child.communicate(None), STEP)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, b"early\nlate\n");
        assert_eq!(err, b"err1\nerr2\n");
        assert_eq!(child.returncode(), Some(0));
    });
}

#[test]
fn communicate_cut_while_input_is_still_being_sent() {
    run_timeout(async {
        // The child reads nothing for a second, so 1 MiB of input cannot all
        // be in the pipe when the timeout hits.
        let input: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
        let mut child = Command::new("sh")
            .args(["-c", "sleep 1; exec cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let cut =
            corio::wait_for(child.communicate(Some(&input)), Duration::from_millis(200)).await;
        assert!(cut.is_err());
        // The input is sent once: giving it again is refused, not duplicated.
        let e = child.communicate(Some(b"again")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let (out, _) = corio::wait_for(child.communicate(None), STEP)
            .await
            .unwrap()
            .unwrap();
        assert!(out == input, "got {} of {} bytes", out.len(), input.len());
        assert_eq!(child.returncode(), Some(0));
    });
}

#[test]
fn stderr_into_stdout_in_order() {
    run_timeout(async {
        let mut child = Command::new("sh")
            .args(["-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2; echo 5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::STDOUT)
            .spawn()
            .unwrap();
        assert!(child.stderr.is_none(), "no pipe of its own");
        let (out, err) = child.communicate(None).await.unwrap();
        assert_eq!(out, b"1\n2\n3\n4\n5\n");
        assert!(err.is_empty());
        // output() keeps the redirect; resetting stderr undoes it.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo a; echo b >&2"]).stderr(Stdio::STDOUT);
        let out = cmd.output().await.unwrap();
        assert_eq!(out.stdout, b"a\nb\n");
        cmd.stderr(Stdio::piped());
        let out = cmd.output().await.unwrap();
        assert_eq!(
            (&out.stdout[..], &out.stderr[..]),
            (&b"a\n"[..], &b"b\n"[..])
        );
        // STDOUT is for stderr only.
        let e = Command::new("true")
            .stdout(Stdio::STDOUT)
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

/// CPython: test_start_new_session (getsid differs).
#[test]
fn start_new_session_gives_the_child_its_own_session() {
    run_timeout(async {
        let (_, my_pgrp, my_sid) = own_stat();
        let read_stat = |new_session: bool| async move {
            let out = Command::new("sh")
                .args(["-c", "exec cat /proc/self/stat"])
                .start_new_session(new_session)
                .output()
                .await
                .unwrap();
            assert!(out.status.success());
            stat_fields(&String::from_utf8(out.stdout).unwrap())
        };
        let (_, pgrp, sid) = read_stat(false).await;
        assert_eq!(
            (pgrp, sid),
            (my_pgrp, my_sid),
            "without it the session is inherited"
        );
        let (_, pgrp, sid) = read_stat(true).await;
        assert_ne!(sid, my_sid);
        assert_ne!(pgrp, my_pgrp);
        assert_eq!(pgrp, sid, "a session leader leads its own group");
    });
}

#[test]
fn process_group_zero_makes_the_child_a_group_leader() {
    run_timeout(async {
        let (_, my_pgrp, my_sid) = own_stat();
        let mut child = Command::new("sh")
            .args(["-c", "exec cat /proc/self/stat"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = i64::from(child.id().unwrap());
        let (out, _) = child.communicate(None).await.unwrap();
        let (_, pgrp, sid) = stat_fields(&String::from_utf8(out).unwrap());
        assert_eq!(pgrp, pid);
        assert_ne!(pgrp, my_pgrp);
        assert_eq!(sid, my_sid, "same session, new group");
        let e = Command::new("true")
            .process_group(0)
            .start_new_session(true)
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

/// CPython: test_kill_issue43884 (kill the whole group, children included).
#[test]
fn kill_the_process_group() {
    run_timeout(async {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 60 & echo $!; wait"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id().unwrap() as i32;
        let grandchild: u32 =
            String::from_utf8(child.stdout.as_mut().unwrap().readline().await.unwrap())
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        // SAFETY: killpg takes plain integers; the group is the child's own.
        assert_eq!(unsafe { libc::killpg(pgid, libc::SIGKILL) }, 0);
        let st = corio::wait_for(child.wait(), STEP).await.unwrap().unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        // The grandchild got the signal too (it is gone or a zombie of init).
        eventually(STEP, "the grandchild died with its group", || {
            matches!(proc_state(grandchild), None | Some('Z'))
        })
        .await;
    });
}

#[test]
fn pre_exec_runs_in_the_child_and_its_error_fails_the_spawn() {
    run_timeout(async {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask"]);
        // SAFETY: umask(2) is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o027);
                Ok(())
            });
        }
        let out = cmd.output().await.unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "0027");
        let mut cmd = Command::new("true");
        // SAFETY: builds an io::Error from an errno: no allocation.
        unsafe {
            cmd.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EACCES)));
        }
        let e = cmd.spawn().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    });
}

#[test]
fn stdin_closed_by_close_alone() {
    run_timeout(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        // More than a pipe holds: the rest goes out in the background, then
        // the pipe closes; no wait_closed.
        let input = vec![b'q'; 512 * 1024];
        stdin.write(&input);
        stdin.close();
        assert!(stdin.is_closing());
        let out = corio::wait_for(child.stdout.as_mut().unwrap().read_to_end(), STEP)
            .await
            .expect("cat saw the end of its input")
            .unwrap();
        assert_eq!(out.len(), input.len());
        assert!(corio::wait_for(child.wait(), STEP)
            .await
            .unwrap()
            .unwrap()
            .success());
    });
}

/// CPython: test_stdin_stdout.
#[test]
fn test_stdin_stdout() {
    run_timeout(async {
        let mut proc = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let data = b"x".repeat(1024);
        let stdin = proc.stdin.as_mut().unwrap();
        stdin.write(&data);
        stdin.drain().await.unwrap();
        stdin.close();
        let read = proc.stdout.as_mut().unwrap().read_to_end().await.unwrap();
        let st = proc.wait().await.unwrap();
        assert_eq!(st.code(), Some(0));
        assert_eq!(read, data);
    });
}

/// CPython: test_communicate, test_communicate_none_input, test_empty_input.
#[test]
fn test_communicate() {
    run_timeout(async {
        let run = |input: Option<&'static [u8]>| async move {
            let mut p = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let (out, _) = p.communicate(input).await.unwrap();
            (out, p.returncode())
        };
        assert_eq!(run(Some(b"hello")).await, (b"hello".to_vec(), Some(0)));
        assert_eq!(run(None).await, (Vec::new(), Some(0)));
        assert_eq!(run(Some(b"")).await, (Vec::new(), Some(0)));
    });
}

/// CPython: test_shell.
#[test]
fn test_shell() {
    run_timeout(async {
        // The same return type as create_subprocess_exec: a spawned Child.
        let mut child = create_subprocess_shell("exit 7").unwrap();
        assert_eq!(child.wait().await.unwrap().code(), Some(7));
        let st = Command::shell("exit 8").status().await.unwrap();
        assert_eq!(st.code(), Some(8));
    });
}

/// CPython: test_kill, test_terminate, test_send_signal.
#[test]
fn test_kill_terminate_send_signal() {
    run_timeout(async {
        // send_signal uses SIGUSR1, not CPython's SIGHUP: under `nohup` (or any
        // launcher that ignores SIGHUP) children inherit the ignored disposition
        // and a shell cannot reset it, so SIGHUP would not end the child.
        for (sig, how) in [(libc::SIGKILL, 0), (libc::SIGTERM, 1), (libc::SIGUSR1, 2)] {
            let mut p = Command::new("sh")
                .args(["-c", "echo ready; exec sleep 60"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            // Signal only once the shell has started (a signal to a shell still
            // starting could be caught by its set-up).
            assert_eq!(
                p.stdout.as_mut().unwrap().readline().await.unwrap(),
                b"ready\n"
            );
            match how {
                0 => p.kill().unwrap(),
                1 => p.terminate().unwrap(),
                _ => p.send_signal(sig).unwrap(),
            }
            let st = corio::wait_for(p.wait(), STEP).await.unwrap().unwrap();
            assert_eq!(st.signal(), Some(sig));
            assert_eq!(p.returncode(), Some(-sig));
        }
    });
}

/// CPython: test_stdin_broken_pipe (writing to a child that exited fails).
#[test]
fn test_stdin_broken_pipe() {
    run_timeout(async {
        let mut p = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        p.wait().await.unwrap();
        let stdin = p.stdin.as_mut().unwrap();
        stdin.write(&vec![0u8; 1 << 20]);
        let e = corio::wait_for(
            async {
                loop {
                    stdin.drain().await?;
                    stdin.write(b"more");
                    corio::sleep(Duration::from_millis(1)).await;
                }
                #[allow(unreachable_code)]
                std::io::Result::Ok(())
            },
            STEP,
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{e:?}"
        );
    });
}

/// CPython: test_communicate_ignore_broken_pipe.
#[test]
fn test_communicate_ignore_broken_pipe() {
    run_timeout(async {
        let mut p = Command::new("true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, _) = p.communicate(Some(&vec![1u8; 1 << 20])).await.unwrap();
        assert!(out.is_empty());
        assert_eq!(p.returncode(), Some(0));
    });
}

/// CPython: test_read_stdout_after_process_exit.
#[test]
fn test_read_stdout_after_process_exit() {
    run_timeout(async {
        let mut p = Command::new("sh")
            .args(["-c", "printf 'output'"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        p.wait().await.unwrap();
        let stdout = p.stdout.as_mut().unwrap();
        assert_eq!(stdout.read(100).await.unwrap(), b"output");
        // The end of the pipe is read rather than probed: a child that another test
        // forks meanwhile holds the write end until it execs, so right after the
        // exit the descriptor need not show the hang-up yet.
        assert_eq!(stdout.read(100).await.unwrap(), b"");
        assert!(stdout.at_eof());
    });
}

/// CPython: test_devnull_input, test_devnull_output, test_devnull_error.
#[test]
fn test_devnull() {
    run_timeout(async {
        let mut p = Command::new("cat")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, _) = p.communicate(None).await.unwrap();
        assert!(out.is_empty());
        let mut p = Command::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(
            p.communicate(None).await.unwrap(),
            (Vec::new(), b"err\n".to_vec())
        );
        let mut p = Command::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert_eq!(
            p.communicate(None).await.unwrap(),
            (b"out\n".to_vec(), Vec::new())
        );
    });
}

/// CPython: test_create_subprocess_env_shell / _exec.
#[test]
fn test_env() {
    run_timeout(async {
        let out = Command::shell("printf %s \"$FOO\"")
            .env("FOO", "bar")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"bar");
        let out = Command::new("sh")
            .args(["-c", "printf %s \"${FOO-unset}\""])
            .env_clear()
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"unset");
    });
}

/// CPython: test_cancel_process_wait (a cancelled wait leaves the child to a
/// later wait).
#[test]
fn test_cancel_process_wait() {
    run_timeout(async {
        let mut p = create_subprocess_exec("sleep", ["60"]).unwrap();
        assert!(corio::wait_for(p.wait(), Duration::from_millis(50))
            .await
            .is_err());
        assert_eq!(p.returncode(), None);
        p.kill().unwrap();
        let st = corio::wait_for(p.wait(), STEP).await.unwrap().unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
    });
}

/// CPython: test_subprocess_concurrent_wait / many children at once.
#[test]
fn test_many_concurrent_children() {
    run_timeout(async {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                corio::create_task(async move {
                    let out = Command::shell(format!("echo {i}; exit {}", i % 3))
                        .output()
                        .await
                        .unwrap();
                    (out.stdout, out.status.code())
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let (out, code) = t.await.unwrap();
            assert_eq!(out, format!("{i}\n").as_bytes());
            assert_eq!(code, Some((i % 3) as i32));
        }
    });
}

/// The child's pipes are futures-io streams too.
#[test]
fn child_pipes_implement_futures_io() {
    use futures::io::{AsyncBufReadExt, AsyncWriteExt};
    run_timeout(async {
        let mut p = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = p.stdin.take().unwrap();
        stdin.write_all(b"one\ntwo\n").await.unwrap();
        AsyncWriteExt::close(&mut stdin).await.unwrap();
        let stdout = p.stdout.as_mut().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).await.unwrap();
        assert_eq!(line, "one\n");
        let (rest, _) = p.communicate(None).await.unwrap();
        assert_eq!(rest, b"two\n");
    });
}
