//! EMFILE recovery: when the process runs out of descriptors, `accept` returns
//! the error, the listener survives, and the queued connections are accepted
//! once descriptors are freed. This binary has a single test because it lowers
//! the process-wide RLIMIT_NOFILE (restored at the end).
mod common;

use common::*;
use corio_reactor::net::TcpListener;
use std::io::{ErrorKind, Read};

/// Connections queued in the listen backlog before the limit is lowered.
const PENDING: usize = 8;
/// Descriptors left free under the lowered limit: two accepts succeed, then EMFILE.
const SPARE: usize = 2;

fn open_fds() -> usize {
    // The directory handle itself is one more fd, counted then closed: harmless.
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(64)
}

fn set_soft_limit(n: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on structs we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let old = lim.rlim_cur;
        lim.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0, "setrlimit");
        old
    }
}

#[test]
fn accept_survives_emfile() {
    let listener = run(10, async { TcpListener::bind("127.0.0.1:0") }).expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Clients (blocking std sockets): the handshake completes in the backlog.
    let mut clients: Vec<std::net::TcpStream> = (0..PENDING)
        .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
        .collect();
    // Make sure the reactor and its fallback thread exist before the squeeze.
    run(
        10,
        corio_reactor::timer::sleep(std::time::Duration::from_millis(1)),
    );

    let old = set_soft_limit((open_fds() + SPARE) as libc::rlim_t);
    let result = run(30, async {
        let mut accepted = Vec::new();
        let mut saw_emfile = false;
        for _ in 0..PENDING {
            match listener.accept().await {
                Ok((s, _)) => accepted.push(s),
                Err(e) => {
                    assert!(
                        e.raw_os_error() == Some(libc::EMFILE)
                            || e.raw_os_error() == Some(libc::ENFILE),
                        "unexpected accept error {e:?}"
                    );
                    saw_emfile = true;
                    break;
                }
            }
        }
        assert!(saw_emfile, "the lowered limit never produced EMFILE");
        assert!(accepted.len() < PENDING);
        // Free the descriptors: the listener is still registered and ready, and
        // the queued connections are accepted now.
        let before = accepted.len();
        accepted.clear();
        std::io::Result::Ok(before)
    });
    set_soft_limit(old);
    let before = result.expect("squeeze phase");

    // Serve the remaining queued connections (each gets a greeting).
    run(30, async {
        for _ in before..PENDING {
            let (s, _) = listener.accept().await?;
            s.write_all(b"hi").await?;
        }
        std::io::Result::Ok(())
    })
    .expect("accept after EMFILE");
    let mut greeted = 0;
    for c in clients.iter_mut().skip(before) {
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut b = [0u8; 2];
        if c.read_exact(&mut b).is_ok() && &b == b"hi" {
            greeted += 1;
        }
    }
    assert_eq!(greeted, PENDING - before, "every queued client was served");
    // The first `before` clients were accepted then closed: they read EOF or reset.
    let mut b = [0u8; 1];
    assert!(!matches!(clients[0].read(&mut b), Ok(1)));
    let _ = ErrorKind::Other;
}
