//! TCP echo with many concurrent clients on 127.0.0.1, all on one block_on thread.
mod common;

use common::*;
use corio_reactor::net::{TcpListener, TcpStream};
use futures::future::try_join_all;

/// 100 clients x 200 round trips: enough concurrency that every socket waits
/// in the reactor many times, small enough to take well under a second.
const CLIENTS: usize = 100;
const ROUNDS: usize = 200;

#[test]
fn many_clients_echo() {
    run(60, async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let clients = try_join_all((0..CLIENTS).map(|id| async move {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            assert_eq!(s.peer_addr()?, addr);
            assert!(s.nodelay()?);
            echo_client(s, id, ROUNDS, 64).await
        }));
        let (served, _) = futures::try_join!(tcp_echo_server(&listener, CLIENTS), clients)?;
        assert_eq!(served, (CLIENTS * ROUNDS * 64) as u64);
        std::io::Result::Ok(())
    })
    .expect("echo failed");
}

#[test]
fn vectored_write_and_large_transfer() {
    use futures::AsyncWriteExt;
    run(60, async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // 8 MiB: far more than the socket buffers, so writers wait for writability.
        let total = 8 << 20;
        let client = async {
            let mut s = TcpStream::connect(addr).await?;
            let a = vec![1u8; 1000];
            let b = vec![2u8; 24];
            let mut sent = 0;
            let writer = async {
                let mut w = &s;
                while sent < total {
                    let n = w
                        .write_vectored(&[std::io::IoSlice::new(&a), std::io::IoSlice::new(&b)])
                        .await?;
                    assert!(n > 0);
                    sent += n;
                }
                w.close().await
            };
            let reader = async {
                let r = &s;
                let mut got = Vec::new();
                r.read_to_end(&mut got).await?;
                std::io::Result::Ok(got.len())
            };
            let (_, got) = futures::try_join!(writer, reader)?;
            // Closing twice is harmless (the peer closed too: ENOTCONN is swallowed).
            s.close().await?;
            std::io::Result::Ok(got)
        };
        let (served, got) = futures::try_join!(tcp_echo_server(&listener, 1), client)?;
        assert!(served >= total as u64);
        assert_eq!(got as u64, served);
        std::io::Result::Ok(())
    })
    .expect("transfer failed");
}
