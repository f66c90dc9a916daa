//! A hyper HTTP/1 "Hello, World!" server on corio, with graceful shutdown on
//! Ctrl-C: stop accepting, let each connection finish its current request
//! (hyper's `graceful_shutdown`), give up after 10 s.
//!
//! ```sh
//! cargo run --release -p corio-examples --features hyper --example http_server -- 127.0.0.1:3000
//! curl http://127.0.0.1:3000/      # in another terminal
//! ```
use bytes::Bytes;
use corio::hyper::CorioTimer;
use corio::net::{TcpListener, TcpStream};
use corio::sync::Event;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

/// Serves one connection; when `stop` is set, asks hyper to finish the
/// request in flight and close.
async fn serve(stream: TcpStream, stop: Arc<Event>) {
    let _ = stream.set_nodelay(true);
    let mut conn = pin!(http1::Builder::new()
        .timer(CorioTimer)
        // Slowloris protection: a client must send its headers within 10 s.
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(stream, service_fn(hello)));
    let mut stopping = pin!(stop.wait());
    let mut asked = false;
    let res = poll_fn(|cx| {
        if !asked && stopping.as_mut().poll(cx).is_ready() {
            conn.as_mut().graceful_shutdown();
            asked = true;
        }
        conn.as_mut().poll(cx)
    })
    .await;
    if let Err(e) = res {
        eprintln!("connection error: {e}");
    }
}

#[corio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on http://{}", listener.local_addr()?);

    let stop = Arc::new(Event::new());
    let stop_on_ctrl_c = stop.clone();
    corio::create_task(async move {
        match corio::signal::ctrl_c().await {
            Ok(()) => println!("Ctrl-C: shutting down"),
            Err(e) => eprintln!("cannot watch Ctrl-C ({e}); stop the server with SIGKILL"),
        }
        stop_on_ctrl_c.set();
    });

    let mut connections = Vec::new();
    loop {
        // The next connection, or None once stop is set.
        let mut accept = pin!(listener.accept());
        let mut stopping = pin!(stop.wait());
        let next = poll_fn(|cx| {
            if stopping.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            accept.as_mut().poll(cx).map(Some)
        })
        .await;
        match next {
            Some(Ok((stream, _))) => {
                connections.retain(|t: &corio::Task<()>| !t.done());
                connections.push(corio::create_task(serve(stream, stop.clone())));
            }
            // EMFILE and the like: the listener stays usable, try again.
            Some(Err(e)) => {
                eprintln!("accept failed: {e}");
                corio::sleep(Duration::from_millis(100)).await;
            }
            None => break,
        }
    }
    let open = connections.len();
    match corio::wait_for(corio::gather(connections), Duration::from_secs(10)).await {
        Ok(_) => println!("{open} connection(s) closed; bye"),
        Err(_) => println!("connections still open after 10 s; bye anyway"),
    }
    Ok(())
}
