//! tokio-based futures inside corio tasks, through smol-rs's `async-compat`:
//! `Compat::new(fut)` enters a tokio runtime context (async-compat's own
//! single background thread, started on first use) around every poll, so
//! tokio's I/O and timers find their driver while corio runs the task.
use async_compat::Compat;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[test]
fn tokio_tcp_stream_inside_corio_tasks() {
    let out: Result<Vec<String>, Error> = corio::run(async {
        corio::wait_for(
            async {
                let listener = Compat::new(tokio::net::TcpListener::bind("127.0.0.1:0")).await?;
                let addr = listener.local_addr()?;
                // Server: a corio task running tokio's accept and stream I/O.
                let server = corio::create_task(Compat::new(async move {
                    for _ in 0..3 {
                        let (mut s, _) = listener.accept().await?;
                        let mut buf = vec![0u8; 64];
                        let n = s.read(&mut buf).await?;
                        buf.truncate(n);
                        buf.make_ascii_uppercase();
                        s.write_all(&buf).await?;
                    }
                    Ok::<_, Error>(())
                }));
                // Clients: corio tasks too, each with a tokio timer on the way.
                let clients: Vec<_> = ["one", "two", "three"]
                    .into_iter()
                    .map(|word| {
                        corio::create_task(Compat::new(async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            let mut s = tokio::net::TcpStream::connect(addr).await?;
                            s.write_all(word.as_bytes()).await?;
                            let mut reply = String::new();
                            s.read_to_string(&mut reply).await?;
                            Ok::<_, Error>(reply)
                        }))
                    })
                    .collect();
                let mut replies = Vec::new();
                for c in clients {
                    replies.push(c.await??);
                }
                server.await??;
                Ok(replies)
            },
            Duration::from_secs(60),
        )
        .await
        .expect("did not finish within 60 s")
    });
    let mut replies = out.expect("tokio I/O inside corio failed");
    replies.sort();
    assert_eq!(replies, ["ONE", "THREE", "TWO"]);
}

/// Without the wrapper tokio's I/O panics: there is no tokio reactor. The
/// failure is loud, not a hang.
#[test]
fn without_compat_tokio_io_panics_clearly() {
    let task = corio::run(async {
        corio::create_task(async {
            let _ = tokio::net::TcpListener::bind("127.0.0.1:0").await;
        })
        .await
    });
    let err = task.expect_err("tokio I/O outside a tokio context should panic");
    assert!(err.is_panic(), "{err}");
    let msg = err.panic_message().unwrap_or_default().to_owned();
    assert!(msg.contains("Tokio") || msg.contains("tokio"), "{msg}");
}
