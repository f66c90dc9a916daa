//! corio::hyper (feature `hyper`): hyper 1.x HTTP/1 and HTTP/2 servers and
//! clients on corio talking to each other over loopback (TCP and Unix), and
//! the header-read timeout (needs a Timer) closing a silent connection.
use bytes::Bytes;
use corio::hyper::{CorioExecutor, CorioTimer};
use corio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Every await of a test is bounded by this, so a hang fails instead of blocking CI.
const LIMIT: Duration = Duration::from_secs(60);

/// Echoes the method, path and body: "GET /a <body>".
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let head = format!("{} {} ", req.method(), req.uri().path());
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => Bytes::from(format!("body error: {e}")),
    };
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(Bytes::from(out))))
}

fn request(path: &str, body: &str) -> Result<Request<Full<Bytes>>, Error> {
    Ok(Request::post(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::from(body.to_owned())))?)
}

async fn body_text(resp: Response<Incoming>) -> Result<String, Error> {
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(bytes.to_vec())?)
}

/// Serves HTTP/1 connections from `listener` until the test ends.
fn spawn_http1_server(listener: TcpListener) {
    corio::create_task(async move {
        while let Ok((stream, _)) = listener.accept().await {
            corio::create_task(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(CorioTimer)
                    .serve_connection(stream, service_fn(echo))
                    .await;
            });
        }
    });
}

/// An HTTP/1 client connection to `addr`, its connection task spawned.
async fn http1_client(
    addr: std::net::SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, Error> {
    let stream = TcpStream::connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
    corio::create_task(conn);
    Ok(sender)
}

fn run<F: std::future::Future<Output = Result<(), Error>>>(f: F) {
    corio::run(async {
        corio::wait_for(f, LIMIT)
            .await
            .expect("test did not finish in time")
    })
    .expect("test failed");
}

#[test]
fn http1_keep_alive_over_tcp() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        spawn_http1_server(listener);
        let mut sender = http1_client(addr).await?;
        // Many requests on one connection: keep-alive and the read path's
        // readiness rules (each request is a short read) work together.
        for i in 0..200 {
            // The connection task returns to idle after each response.
            sender.ready().await?;
            let resp = sender
                .send_request(request(&format!("/r{i}"), "ping")?)
                .await?;
            assert_eq!(resp.status(), 200);
            assert_eq!(body_text(resp).await?, format!("POST /r{i} ping"));
        }
        // A body far larger than hyper's read buffer and the socket buffers.
        let big = "x".repeat(1 << 20);
        sender.ready().await?;
        let resp = sender.send_request(request("/big", &big)?).await?;
        assert_eq!(body_text(resp).await?.len(), "POST /big ".len() + big.len());
        Ok(())
    });
}

#[test]
fn http1_many_concurrent_clients() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        spawn_http1_server(listener);
        let clients: Vec<_> = (0..50)
            .map(|c| {
                corio::create_task(async move {
                    let mut sender = http1_client(addr).await?;
                    for i in 0..10 {
                        sender.ready().await?;
                        let resp = sender
                            .send_request(request("/", &format!("{c}-{i}"))?)
                            .await?;
                        assert_eq!(body_text(resp).await?, format!("POST / {c}-{i}"));
                    }
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for c in clients {
            c.await??;
        }
        Ok(())
    });
}

#[test]
fn http2_concurrent_streams_over_tcp() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        corio::create_task(async move {
            while let Ok((stream, _)) = listener.accept().await {
                corio::create_task(async move {
                    let _ = hyper::server::conn::http2::Builder::new(CorioExecutor::new())
                        .timer(CorioTimer)
                        .serve_connection(stream, service_fn(echo))
                        .await;
                });
            }
        });
        let stream = TcpStream::connect(addr).await?;
        let (sender, conn) =
            hyper::client::conn::http2::handshake(CorioExecutor::new(), stream).await?;
        corio::create_task(conn);
        // 100 requests in flight at once on one connection (HTTP/2 streams,
        // each a task spawned through CorioExecutor).
        let requests: Vec<_> = (0..100)
            .map(|i| {
                let mut sender = sender.clone();
                corio::create_task(async move {
                    let resp = sender
                        .send_request(request(&format!("/s{i}"), "h2")?)
                        .await?;
                    assert_eq!(resp.version(), hyper::Version::HTTP_2);
                    body_text(resp).await
                })
            })
            .collect();
        for (i, r) in requests.into_iter().enumerate() {
            assert_eq!(r.await??, format!("POST /s{i} h2"));
        }
        Ok(())
    });
}

#[test]
fn http1_over_unix_socket() {
    run(async {
        let dir = std::env::temp_dir().join(format!("corio-hyper-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("http.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        corio::create_task(async move {
            while let Ok((stream, _)) = listener.accept().await {
                corio::create_task(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(stream, service_fn(echo)),
                );
            }
        });
        let stream = UnixStream::connect(&path).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
        corio::create_task(conn);
        let resp = sender.send_request(request("/unix", "hi")?).await?;
        assert_eq!(body_text(resp).await?, "POST /unix hi");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    });
}

/// A client that connects and sends nothing (or half a header) is cut off
/// after header_read_timeout: the server's connection future ends with a
/// timeout error and the client reads end of stream.
#[test]
fn header_read_timeout_closes_a_silent_connection() {
    run(async {
        let timeout = Duration::from_millis(300);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = corio::create_task(async move {
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await?;
                let res = hyper::server::conn::http1::Builder::new()
                    .timer(CorioTimer)
                    .header_read_timeout(timeout)
                    .serve_connection(stream, service_fn(echo))
                    .await;
                outcomes.push(res.map_err(|e| e.to_string()));
            }
            Ok::<_, Error>(outcomes)
        });
        for partial in [&b""[..], b"GET / HTTP/1.1\r\nHost: x\r\n"] {
            let client = TcpStream::connect(addr).await?;
            client.write_all(partial).await?;
            let start = Instant::now();
            let mut rest = Vec::new();
            // The server closes (possibly after a 408 response): end of stream.
            client.read_to_end(&mut rest).await?;
            let waited = start.elapsed();
            assert!(
                waited >= timeout - Duration::from_millis(50),
                "closed after {waited:?}"
            );
            assert!(
                rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
                "{rest:?}"
            );
        }
        for outcome in server.await?? {
            let err = outcome.expect_err("a silent connection must end in an error");
            assert!(
                err.contains("timeout") || err.contains("timed out"),
                "{err}"
            );
        }
        Ok(())
    });
}
