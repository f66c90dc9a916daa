//! StreamWriter::drain is real back-pressure: a writer to a peer that does not
//! read is held back, and its memory stays bounded.

mod sync_support;

use std::time::Duration;

use corio::streams::{StreamReader, StreamWriter};
use sync_support::run_timeout;

#[test]
fn drain_blocks_on_a_slow_reader_and_memory_stays_bounded() {
    /// One write per loop iteration.
    const CHUNK: usize = 16 * 1024;
    /// Kernel socket buffers on Linux top out at a few MiB (net.core.wmem_max /
    /// rmem_max, autotuned); a writer that is not held back would pass this.
    const UNBOUNDED: usize = 64 * 1024 * 1024;
    run_timeout(async {
        let (tx, rx) = corio::net::UnixStream::pair().unwrap();
        let mut w = StreamWriter::new(tx);
        let mut r = StreamReader::new(rx);
        let (_low, high) = w.get_write_buffer_limits();
        assert_eq!(high, 64 * 1024, "asyncio's default high-water mark");
        let chunk = vec![7u8; CHUNK];
        let mut sent = 0usize;
        let mut most_buffered = 0usize;
        // Nobody reads: keep writing until drain stops returning.
        loop {
            w.write(&chunk);
            sent += CHUNK;
            most_buffered = most_buffered.max(w.get_write_buffer_size());
            match corio::wait_for(w.drain(), Duration::from_millis(200)).await {
                Ok(res) => {
                    res.unwrap();
                    assert!(
                        sent < UNBOUNDED,
                        "drain never pushed back ({sent} bytes sent)"
                    );
                }
                Err(_timeout) => break,
            }
        }
        // Held back: what sits in user space stays under twice the high-water mark.
        most_buffered = most_buffered.max(w.get_write_buffer_size());
        assert!(
            most_buffered < 2 * high,
            "buffer grew to {most_buffered} (high-water mark {high})"
        );
        assert!(
            w.get_write_buffer_size() > high,
            "drain returned while paused"
        );
        // Now the reader catches up and drain completes.
        let reader = corio::create_task(async move {
            let mut got = 0usize;
            while got < sent {
                let b = r.read(1 << 20).await.unwrap();
                assert!(!b.is_empty(), "EOF after {got} of {sent} bytes");
                assert!(b.iter().all(|&x| x == 7));
                got += b.len();
            }
            got
        });
        corio::wait_for(w.drain(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert!(w.get_write_buffer_size() <= w.get_write_buffer_limits().0);
        assert_eq!(
            corio::wait_for(reader, Duration::from_secs(10))
                .await
                .unwrap()
                .unwrap(),
            sent
        );
        assert_eq!(w.get_write_buffer_size(), 0);
    });
}

#[test]
fn drain_to_a_closed_peer_fails() {
    run_timeout(async {
        let (tx, rx) = corio::net::UnixStream::pair().unwrap();
        drop(rx);
        let mut w = StreamWriter::new(tx);
        w.write(b"nobody listens");
        let err = w.drain().await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
    });
}
