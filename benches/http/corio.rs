//! hyper HTTP/1 hello world on corio (corio::hyper: no I/O adapter), one
//! worker thread. Run by ci/bench-http.sh: `http_corio PORT`.
use bytes::Bytes;
use corio::hyper::CorioTimer;
use corio::net::TcpListener;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use std::convert::Infallible;

#[corio::main(worker_threads = 1)]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind(corio_benches::http::addr())?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        stream.set_nodelay(true)?;
        corio::create_task(async move {
            let _ = http1::Builder::new()
                .timer(CorioTimer)
                .serve_connection(
                    stream,
                    service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            corio_benches::http::BODY,
                        ))))
                    }),
                )
                .await;
        });
    }
}
