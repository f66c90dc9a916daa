//! Errors are returned, not unwrapped: refused, in use, reset, after shutdown.
mod common;

use common::*;
use corio_reactor::net::{TcpListener, TcpStream, UdpSocket};
use futures::AsyncWriteExt;
use std::io::ErrorKind;
use std::time::Duration;

#[test]
fn connection_refused() {
    // Bind then drop to find a port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe port");
    let err = run(10, TcpStream::connect(addr)).expect_err("nobody listens");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
}

#[test]
fn address_in_use() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let err = TcpListener::bind(l.local_addr().expect("addr")).expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
    let u = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    let err = UdpSocket::bind(u.local_addr().expect("addr")).expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
}

#[test]
fn peer_reset_mid_write() {
    run(30, async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let client = TcpStream::connect(addr).await?;
        let (server, _) = listener.accept().await?;
        // SO_LINGER 0: closing sends RST instead of FIN.
        server.set_linger(Some(Duration::ZERO))?;
        drop(server);
        // Keep writing: the first write may still succeed, a later one must fail.
        let chunk = [0u8; 16 * 1024];
        let mut err = None;
        for _ in 0..10_000 {
            match client.write(&chunk).await {
                Ok(_) => corio_reactor::timer::sleep(Duration::from_millis(1)).await,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let err = err.expect("writing to a reset connection must fail");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // Reading after the reset: an error or end of stream, never a hang.
        let mut buf = [0u8; 16];
        match client.read(&mut buf).await {
            Ok(0) => {}
            Ok(n) => panic!("read {n} bytes from a reset connection"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}"),
        }
        std::io::Result::Ok(())
    })
    .expect("reset test");
}

#[test]
fn read_after_peer_shutdown_is_eof() {
    run(30, async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let client = TcpStream::connect(addr).await?;
        let (mut server, _) = listener.accept().await?;
        server.write_all(b"bye").await?;
        server.close().await?;
        let mut all = Vec::new();
        client.read_to_end(&mut all).await?;
        assert_eq!(all, b"bye");
        // Further reads keep returning end of stream.
        let mut buf = [0u8; 4];
        assert_eq!(client.read(&mut buf).await?, 0);
        std::io::Result::Ok(())
    })
    .expect("eof test");
}

#[test]
fn connect_timeout_with_timer() {
    // A connect bounded by `timeout` returns either an error or Elapsed, never hangs.
    // 127.0.0.1 answers at once, so this checks the composition compiles and runs.
    let r = run(10, async {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        match corio_reactor::timer::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await
        {
            Ok(res) => res.map(|_| ()),
            Err(elapsed) => Err(elapsed.into()),
        }
    });
    assert!(r.is_err());
}
