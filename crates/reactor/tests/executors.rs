//! Swappability: the reactor's I/O and timers under other executors, with no
//! setup (the fallback driver thread drives).
mod common;

use common::*;
use corio_reactor::net::{TcpListener, TcpStream, UnixStream};
use corio_reactor::timer::{sleep, timeout};
use futures::future::try_join_all;
use std::time::{Duration, Instant};

#[test]
fn under_futures_executor_block_on() {
    futures::executor::block_on(async {
        timeout(Duration::from_secs(30), async {
            let start = Instant::now();
            sleep(Duration::from_millis(5)).await;
            assert!(start.elapsed() >= Duration::from_millis(5));
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let clients = try_join_all((0..20).map(|id| async move {
                echo_client(TcpStream::connect(addr).await?, id, 50, 32).await
            }));
            futures::try_join!(tcp_echo_server(&listener, 20), clients)?;
            std::io::Result::Ok(())
        })
        .await
        .expect("timed out")
    })
    .expect("futures executor");
}

#[test]
fn under_futures_local_pool_with_spawned_tasks() {
    use futures::task::LocalSpawnExt;
    let mut pool = futures::executor::LocalPool::new();
    let spawner = pool.spawner();
    let (a, b) = UnixStream::pair().expect("pair");
    spawner
        .spawn_local(async move {
            echo(a).await.expect("echo");
        })
        .expect("spawn");
    let out = pool.run_until(timeout(Duration::from_secs(30), echo_client(b, 3, 200, 16)));
    out.expect("timed out").expect("client");
}

#[test]
fn under_tokio_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = tokio::spawn(async move {
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let (s, _) = listener.accept().await?;
                    tasks.push(tokio::spawn(echo(s)));
                }
                for t in tasks {
                    t.await.expect("echo task")?;
                }
                std::io::Result::Ok(())
            });
            let clients: Vec<_> = (0..20)
                .map(|id| {
                    tokio::spawn(async move {
                        // corio timers inside tokio tasks, too.
                        sleep(Duration::from_millis(id as u64 % 3)).await;
                        echo_client(TcpStream::connect(addr).await?, id, 50, 32).await
                    })
                })
                .collect();
            for c in clients {
                c.await.expect("client task")?;
            }
            server.await.expect("server task")?;
            std::io::Result::Ok(())
        })
        .await
        .expect("timed out")
    })
    .expect("tokio");
}

#[test]
fn under_tokio_current_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let start = Instant::now();
        // No tokio timer driver enabled: only corio's timers are at work.
        let r = timeout(Duration::from_millis(20), sleep(Duration::from_secs(10))).await;
        assert!(r.is_err());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}
