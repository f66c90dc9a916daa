//! corio::start_server / open_connection: an echo server under 1,000 concurrent
//! clients, server lifecycle, Unix sockets, and connection failures.

mod sync_support;

use std::time::{Duration, Instant};

use corio::streams::{SocketAddress, StreamReader, StreamWriter};
use sync_support::{raise_nofile, run_timeout};

async fn echo(mut r: StreamReader, mut w: StreamWriter) {
    loop {
        match r.readline().await {
            Ok(line) if !line.is_empty() => {
                w.write(&line);
                if w.drain().await.is_err() {
                    return;
                }
            }
            _ => return, // EOF or error
        }
    }
}

#[test]
fn thousand_concurrent_clients() {
    // 1,000 clients: 2,000 descriptors (both ends live in this process) + slack.
    const CLIENTS: usize = 1_000;
    const ROUNDS: usize = 3;
    let limit = raise_nofile(4096);
    assert!(
        limit >= 2 * CLIENTS as u64 + 64,
        "RLIMIT_NOFILE hard limit too low: {limit}"
    );
    let elapsed = run_timeout(async {
        let server = corio::start_server(echo, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                corio::create_task(async move {
                    let (mut r, mut w) = corio::open_connection(addr).await?;
                    for round in 0..ROUNDS {
                        let msg = format!("client {i} round {round}\n");
                        w.write(msg.as_bytes());
                        w.drain().await?;
                        let back = r.readline().await?;
                        assert_eq!(back, msg.as_bytes());
                    }
                    w.close();
                    w.wait_closed().await?;
                    std::io::Result::Ok(())
                })
            })
            .collect();
        for c in clients {
            c.await.expect("client task").expect("client I/O");
        }
        let elapsed = start.elapsed();
        server.close();
        corio::wait_for(server.wait_closed(), Duration::from_secs(10))
            .await
            .expect("handlers end once clients close");
        assert_eq!(server.active_connections(), 0);
        elapsed
    });
    eprintln!(
        "echo: {CLIENTS} concurrent clients x {ROUNDS} round trips in {:?} ({:.0} round trips/s)",
        elapsed,
        (CLIENTS * ROUNDS) as f64 / elapsed.as_secs_f64()
    );
}

#[test]
fn server_lifecycle_and_addresses() {
    run_timeout(async {
        let server = corio::start_server(echo, "127.0.0.1:0").await.unwrap();
        assert!(server.is_serving());
        let addr = server.local_addr().unwrap();
        assert!(matches!(server.sockets()[0], SocketAddress::Inet(a) if a == addr));

        let (mut r, mut w) = corio::open_connection(addr).await.unwrap();
        assert_eq!(w.peername().and_then(SocketAddress::as_inet), Some(addr));
        assert!(w.get_extra_info("sockname").is_some());
        w.write(b"x\n");
        w.drain().await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"x\n");

        server.close();
        assert!(!server.is_serving());
        // The open connection keeps its handler: wait_closed waits for it.
        assert!(
            corio::wait_for(server.wait_closed(), Duration::from_millis(100))
                .await
                .is_err()
        );
        w.write(b"still served\n");
        w.drain().await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"still served\n");
        w.close();
        w.wait_closed().await.unwrap();
        corio::wait_for(server.wait_closed(), Duration::from_secs(10))
            .await
            .unwrap();
        // The listener is gone: new connections are refused.
        let err = corio::open_connection(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn start_server_errors() {
    run_timeout(async {
        let server = corio::start_server(echo, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let err = corio::start_server(echo, addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    });
    // Outside a runtime there is nowhere to run the server's tasks: the same
    // panic as create_task's.
    let err = std::panic::catch_unwind(|| {
        corio_reactor::block_on(corio::start_server(echo, "127.0.0.1:0"))
    })
    .expect_err("start_server outside a runtime panics");
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(msg.contains("called outside a corio runtime"), "{msg}");
}

#[test]
fn unix_server_round_trip() {
    let dir = std::env::temp_dir().join(format!("corio-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let p2 = path.clone();
    run_timeout(async move {
        let server = corio::start_unix_server(echo, &p2).await.unwrap();
        assert_eq!(server.sockets()[0].as_pathname(), Some(p2.as_path()));
        assert!(server.local_addr().is_none());
        let (mut r, mut w) = corio::open_unix_connection(&p2).await.unwrap();
        w.write(b"over unix\n");
        w.drain().await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"over unix\n");
        w.close();
        w.wait_closed().await.unwrap();
        server.close();
        corio::wait_for(server.wait_closed(), Duration::from_secs(10))
            .await
            .unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn abort_clients_cancels_handlers_and_closes_their_sockets() {
    run_timeout(async {
        let server = corio::start_server(echo, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let mut conns = Vec::new();
        for _ in 0..3 {
            let (mut r, mut w) = corio::open_connection(addr).await.unwrap();
            w.write(b"hi\n");
            w.drain().await.unwrap();
            assert_eq!(r.readline().await.unwrap(), b"hi\n");
            conns.push((r, w));
        }
        assert_eq!(server.active_connections(), 3);
        server.close();
        assert_eq!(server.abort_clients(), 3);
        corio::wait_for(server.wait_closed(), Duration::from_secs(10))
            .await
            .expect("aborted handlers end");
        // The server side of each connection is gone: clients read EOF.
        for (mut r, _w) in conns {
            let end = corio::wait_for(r.readline(), Duration::from_secs(10))
                .await
                .unwrap();
            assert!(end.map(|l| l.is_empty()).unwrap_or(true));
        }
    });
}

#[test]
fn host_names_are_resolved_for_start_server_and_open_connection() {
    run_timeout(async {
        // "localhost" needs a lookup (done on the blocking pool); it names the
        // loopback interface, where the server listens.
        let server = corio::start_server(echo, ("localhost", 0)).await.unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, mut w) = corio::open_connection(format!("localhost:{port}"))
            .await
            .unwrap();
        w.write(b"ping\n");
        w.drain().await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"ping\n");
        server.close();
    });
}
