//! Half-close: one side shuts its write half down, the other still answers.
mod common;

use common::*;
use corio_reactor::net::{TcpListener, TcpStream, UnixStream};
use futures::{AsyncReadExt, AsyncWriteExt};
use std::net::Shutdown;

#[test]
fn tcp_half_close_then_reply() {
    run(30, async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = async {
            let (mut s, _) = listener.accept().await?;
            // Read the whole request: it ends when the client shuts its write half.
            let mut req = Vec::new();
            s.read_to_end(&mut req).await?;
            // Our write half is still open: answer, then close.
            s.write_all(format!("got {} bytes", req.len()).as_bytes())
                .await?;
            s.close().await?;
            std::io::Result::Ok(req.len())
        };
        let client = async {
            let mut c = TcpStream::connect(addr).await?;
            c.write_all(&[7u8; 10_000]).await?;
            c.shutdown(Shutdown::Write)?;
            let mut reply = String::new();
            c.read_to_string(&mut reply).await?;
            // Writing after our own shutdown(Write) is an error, not a hang.
            let err = c
                .write_all(b"late")
                .await
                .expect_err("write after shutdown");
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err:?}");
            std::io::Result::Ok(reply)
        };
        let (n, reply) = futures::try_join!(server, client)?;
        assert_eq!(n, 10_000);
        assert_eq!(reply, "got 10000 bytes");
        std::io::Result::Ok(())
    })
    .expect("half close");
}

#[test]
fn unix_half_close_then_reply() {
    run(30, async {
        let (mut a, mut b) = UnixStream::pair()?;
        a.write_all(b"question").await?;
        a.close().await?;
        let mut q = Vec::new();
        b.read_to_end(&mut q).await?;
        assert_eq!(q, b"question");
        b.write_all(b"answer").await?;
        b.close().await?;
        let mut ans = Vec::new();
        a.read_to_end(&mut ans).await?;
        assert_eq!(ans, b"answer");
        std::io::Result::Ok(())
    })
    .expect("unix half close");
}

#[test]
fn read_after_shutdown_read_is_eof() {
    run(30, async {
        let (a, b) = UnixStream::pair()?;
        a.shutdown(Shutdown::Read)?;
        let mut buf = [0u8; 8];
        // No data and our read half is shut: end of stream at once, no hang.
        assert_eq!(a.read(&mut buf).await?, 0);
        drop(b);
        std::io::Result::Ok(())
    })
    .expect("read after shutdown");
}
