//! Helpers shared by the integration tests.
#![allow(dead_code)]

use corio_reactor::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

/// Runs `f` under corio's block_on with a deadline, so a hang fails the test.
pub(crate) fn run<F: Future>(secs: u64, f: F) -> F::Output {
    corio_reactor::block_on(corio_reactor::timer::timeout(Duration::from_secs(secs), f))
        .unwrap_or_else(|_| panic!("test did not finish within {secs} s"))
}

/// Echoes everything back until the peer closes its write side, then closes.
pub(crate) async fn echo<S>(mut s: S) -> io::Result<u64>
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 4096];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            s.close().await?;
            return Ok(total);
        }
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// Accepts `conns` connections and echoes on each, all concurrently on the
/// current task (no executor needed). Returns total bytes echoed.
pub(crate) async fn tcp_echo_server(listener: &TcpListener, conns: usize) -> io::Result<u64> {
    echo_server(conns, || async {
        let (s, _): (TcpStream, _) = listener.accept().await?;
        Ok(s)
    })
    .await
}

/// Same as [`tcp_echo_server`] for Unix sockets.
pub(crate) async fn unix_echo_server(listener: &UnixListener, conns: usize) -> io::Result<u64> {
    echo_server(conns, || async {
        let (s, _): (UnixStream, _) = listener.accept().await?;
        Ok(s)
    })
    .await
}

/// Takes `conns` streams from `accept` and echoes on each, accepting the next
/// while the earlier ones are served. Returns total bytes echoed.
async fn echo_server<S, A, F>(conns: usize, mut accept: A) -> io::Result<u64>
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin,
    A: FnMut() -> F,
    F: Future<Output = io::Result<S>>,
{
    let mut handlers = FuturesUnordered::new();
    let mut accepted = 0;
    let mut total = 0;
    while accepted < conns || !handlers.is_empty() {
        if accepted < conns && handlers.is_empty() {
            handlers.push(echo(accept().await?));
            accepted += 1;
        } else if accepted < conns {
            let accept = pin!(accept());
            match futures::future::select(accept, handlers.next()).await {
                futures::future::Either::Left((res, _)) => {
                    handlers.push(echo(res?));
                    accepted += 1;
                }
                futures::future::Either::Right((Some(res), _)) => total += res?,
                futures::future::Either::Right((None, _)) => {}
            }
        } else if let Some(res) = handlers.next().await {
            total += res?;
        }
    }
    Ok(total)
}

/// A client: `rounds` round trips of `size`-byte messages, checking each echo.
pub(crate) async fn echo_client<S>(
    mut s: S,
    id: usize,
    rounds: usize,
    size: usize,
) -> io::Result<()>
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin,
{
    let mut out = vec![0u8; size];
    let mut back = vec![0u8; size];
    for r in 0..rounds {
        for (i, b) in out.iter_mut().enumerate() {
            *b = (id + r + i) as u8;
        }
        s.write_all(&out).await?;
        s.read_exact(&mut back).await?;
        assert_eq!(out, back, "client {id} round {r}: echo differs");
    }
    s.close().await?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await?;
    assert!(rest.is_empty());
    Ok(())
}

/// A fresh socket path in the temp dir (removed if it exists).
pub(crate) fn sock_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("corio-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}
