//! A reader task and a writer task on one stream: each waits on its own
//! direction, neither steals the other's wake-up.
mod common;

use common::*;
use corio_reactor::net::{TcpListener, TcpStream};
use futures::AsyncWriteExt;

/// 16 MiB each way: many times the socket buffers, so both the reader and the
/// writer park in the reactor many times while the other is parked too.
const BYTES: usize = 16 << 20;

async fn pump(stream: TcpStream) -> std::io::Result<usize> {
    let writer = {
        let mut w = stream.clone();
        async move {
            let chunk = vec![0x5au8; 64 * 1024];
            let mut sent = 0;
            while sent < BYTES {
                let n = (BYTES - sent).min(chunk.len());
                w.write_all(&chunk[..n]).await?;
                sent += n;
            }
            w.close().await?;
            std::io::Result::Ok(sent)
        }
    };
    let reader = {
        let r = stream.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            loop {
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    return std::io::Result::Ok(got);
                }
                assert!(buf[..n].iter().all(|&b| b == 0x5a));
                got += n;
            }
        }
    };
    let (s, g) = futures::try_join!(writer, reader)?;
    assert_eq!(s, BYTES);
    Ok(g)
}

#[test]
fn reader_and_writer_on_one_stream_block_on() {
    run(60, async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (got, served) = futures::try_join!(
            async { pump(TcpStream::connect(addr).await?).await },
            tcp_echo_server(&listener, 1)
        )?;
        assert_eq!(got, BYTES);
        assert_eq!(served, BYTES as u64);
        std::io::Result::Ok(())
    })
    .expect("split rw");
}

/// The same with the reader and the writer as two tokio tasks on two worker
/// threads (the fallback driver delivers the readiness).
#[test]
fn reader_and_writer_on_one_stream_tokio_tasks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = tokio::spawn(async move {
                let (s, _) = listener.accept().await?;
                echo(s).await
            });
            let stream = TcpStream::connect(addr).await?;
            let w = stream.clone();
            let writer = tokio::spawn(async move {
                let mut w = w;
                let chunk = vec![1u8; 64 * 1024];
                for _ in 0..BYTES / chunk.len() {
                    w.write_all(&chunk).await?;
                }
                w.close().await?;
                std::io::Result::Ok(())
            });
            let reader = tokio::spawn(async move {
                let r = stream;
                let mut got = 0;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        return std::io::Result::Ok(got);
                    }
                    got += n;
                }
            });
            writer.await.expect("writer task")?;
            assert_eq!(reader.await.expect("reader task")?, BYTES);
            assert_eq!(server.await.expect("server task")?, BYTES as u64);
            std::io::Result::Ok(())
        })
        .await
        .expect("timed out")
    })
    .expect("split rw under tokio");
}
