//! A hyper HTTP/1 client on corio: GET a URL (plain http) and print the
//! status, headers and body.
//!
//! ```sh
//! cargo run -p corio-examples --features hyper --example http_server &     # or any server
//! cargo run -p corio-examples --features hyper --example http_client -- http://127.0.0.1:3000/
//! ```
use bytes::Bytes;
use corio::net::TcpStream;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[corio::main]
async fn main() -> Result<(), Error> {
    let url: hyper::Uri = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000/".to_owned())
        .parse()?;
    if url.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs (no TLS in this example)").into());
    }
    let host = url.host().ok_or("the URL has no host")?.to_owned();
    let port = url.port_u16().unwrap_or(80);
    // Resolving a name blocks: do it on the blocking pool.
    let addrs = corio::to_thread(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map(|a| a.collect::<Vec<_>>())
    })
    .await??;
    let stream = corio::wait_for(TcpStream::connect(&addrs[..]), Duration::from_secs(10))
        .await
        .map_err(|_| "connect timed out after 10 s")??;

    let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
    corio::create_task(async move {
        if let Err(e) = conn.await {
            eprintln!("connection error: {e}");
        }
    });
    let authority = url.authority().ok_or("the URL has no authority")?.clone();
    let req = Request::get(url.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, authority.as_str())
        .body(Empty::<Bytes>::new())?;
    let resp = corio::wait_for(sender.send_request(req), Duration::from_secs(30))
        .await
        .map_err(|_| "no response within 30 s")??;
    println!("{:?} {}", resp.version(), resp.status());
    for (name, value) in resp.headers() {
        println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    println!();
    let body = resp.into_body().collect().await?.to_bytes();
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
