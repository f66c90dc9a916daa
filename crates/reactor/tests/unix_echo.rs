//! Unix-socket echo with many concurrent clients, and socket pairs.
mod common;

use common::*;
use corio_reactor::net::{UnixListener, UnixStream};
use futures::future::try_join_all;

/// 100 clients x 200 round trips (see tcp_echo.rs).
const CLIENTS: usize = 100;
const ROUNDS: usize = 200;

#[test]
fn many_clients_echo() {
    let path = sock_path("echo");
    run(60, async {
        let listener = UnixListener::bind(&path)?;
        let clients = try_join_all((0..CLIENTS).map(|id| {
            let path = path.clone();
            async move { echo_client(UnixStream::connect(&path).await?, id, ROUNDS, 64).await }
        }));
        let (served, _) = futures::try_join!(unix_echo_server(&listener, CLIENTS), clients)?;
        assert_eq!(served, (CLIENTS * ROUNDS * 64) as u64);
        std::io::Result::Ok(())
    })
    .expect("echo failed");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn pair_echo() {
    run(30, async {
        let (a, b) = UnixStream::pair()?;
        futures::try_join!(echo(a), echo_client(b, 7, 500, 100))?;
        std::io::Result::Ok(())
    })
    .expect("pair echo failed");
}

#[test]
fn connect_to_missing_path_is_an_error() {
    let path = sock_path("missing");
    let err = run(10, UnixStream::connect(&path)).expect_err("no listener there");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
        ),
        "{err:?}"
    );
}

#[test]
fn bind_existing_path_is_addr_in_use() {
    let path = sock_path("inuse");
    let _l = run(10, async { UnixListener::bind(&path) }).expect("first bind");
    let err = UnixListener::bind(&path).expect_err("second bind must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let _ = std::fs::remove_file(&path);
}

/// More concurrent connects than the listener's backlog (std binds with 128):
/// on Linux the surplus non-blocking connects get EAGAIN and are retried.
#[test]
fn more_clients_than_backlog() {
    /// Well over the 128-entry backlog.
    const MANY: usize = 400;
    let path = sock_path("backlog");
    run(60, async {
        let listener = UnixListener::bind(&path)?;
        let clients = try_join_all((0..MANY).map(|id| {
            let path = path.clone();
            async move { echo_client(UnixStream::connect(&path).await?, id, 2, 8).await }
        }));
        let (served, _) = futures::try_join!(unix_echo_server(&listener, MANY), clients)?;
        assert_eq!(served, (MANY * 2 * 8) as u64);
        std::io::Result::Ok(())
    })
    .expect("backlog overflow");
    let _ = std::fs::remove_file(&path);
}
