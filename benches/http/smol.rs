//! hyper HTTP/1 hello world on smol (smol-hyper's FuturesIo and SmolTimer),
//! one executor thread. Run by ci/bench-http.sh: `http_smol PORT`.
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use std::convert::Infallible;

fn main() -> std::io::Result<()> {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = smol::net::TcpListener::bind(corio_benches::http::addr()).await?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            stream.set_nodelay(true)?;
            ex.spawn(async move {
                let _ = http1::Builder::new()
                    .timer(SmolTimer::new())
                    .serve_connection(
                        FuturesIo::new(stream),
                        service_fn(|_req| async {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(corio_benches::http::BODY),
                            )))
                        }),
                    )
                    .await;
            })
            .detach();
        }
    }))
}
