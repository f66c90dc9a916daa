//! 10,000 concurrent TCP connections. The server side lives in this test
//! process (10,000 accepted sockets open at once, all served concurrently on
//! one thread); the client side runs in a child process (this same test binary,
//! re-run with an environment variable) so that each process needs ~10,000
//! descriptors rather than 20,000. RLIMIT_NOFILE is raised in both; the test
//! skips with a message if the OS does not allow it.
mod common;

use common::*;
use corio_reactor::net::{TcpListener, TcpStream};
use futures::future::try_join_all;
use futures::AsyncWriteExt;
use std::process::Command;

/// The figure.
const CONNS: usize = 10_000;
/// One end of every connection, plus headroom for the harness and the reactor.
const NEEDED_FDS: libc::rlim_t = (CONNS + 500) as libc::rlim_t;
const CHILD_ENV: &str = "CORIO_TEST_CONNECT_TO";

/// Raises the soft (and if needed the hard) descriptor limit; false if refused.
fn raise_nofile(needed: libc::rlim_t) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    if lim.rlim_cur >= needed {
        return true;
    }
    let new = libc::rlimit {
        rlim_cur: needed,
        rlim_max: lim.rlim_max.max(needed),
    };
    // SAFETY: setrlimit reads the struct we own. Raising the hard limit needs
    // CAP_SYS_RESOURCE; without it the call fails and we report it.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 }
}

/// The client side; a no-op unless run as the child of the test below.
#[test]
fn child_clients() {
    let Ok(addr) = std::env::var(CHILD_ENV) else {
        return;
    };
    assert!(
        raise_nofile(NEEDED_FDS),
        "child: cannot raise RLIMIT_NOFILE"
    );
    let addr: std::net::SocketAddr = addr.parse().expect("address from parent");
    run(120, async {
        let streams = try_join_all((0..CONNS).map(|_| TcpStream::connect(addr))).await?;
        try_join_all(streams.into_iter().enumerate().map(|(i, s)| async move {
            s.write_all(&[i as u8]).await?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await?;
            assert_eq!(b[0], i as u8);
            std::io::Result::Ok(())
        }))
        .await
    })
    .expect("child clients");
}

#[test]
fn ten_thousand_concurrent_connections() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    if !raise_nofile(NEEDED_FDS) {
        eprintln!(
            "SKIPPED ten_thousand_concurrent_connections: RLIMIT_NOFILE cannot be raised to \
             {NEEDED_FDS} here (raise `ulimit -n`)"
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_clients",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, addr.to_string())
        .spawn()
        .expect("spawn the client process");
    let served = run(120, async {
        let mut conns = Vec::with_capacity(CONNS);
        while conns.len() < CONNS {
            let (s, _) = listener.accept().await?;
            conns.push(s);
        }
        // All 10,000 are open at once here; each gets its byte echoed.
        try_join_all(conns.into_iter().map(|mut s| async move {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await?;
            s.write_all(&b).await?;
            s.close().await?;
            std::io::Result::Ok(())
        }))
        .await
        .map(|v| v.len())
    });
    let status = child.wait().expect("wait for the client process");
    assert!(status.success(), "client process failed: {status}");
    assert_eq!(served.expect("server"), CONNS);
}
