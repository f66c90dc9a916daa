//! A TCP echo server: asyncio's `start_server` example, in corio.
//!
//! ```text
//! cargo run -p corio-examples --example echo_server -- 127.0.0.1:8888
//! cargo run -p corio-examples --example echo_client -- 127.0.0.1:8888 hello world
//! ```
//!
//! Each connection gets its own task; lines are echoed back until the client
//! closes. Ctrl-C closes the server, waits for the open connections, and exits.

use corio::streams::{StreamReader, StreamWriter};

async fn handle_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    let peer = writer
        .peername()
        .map(ToString::to_string)
        .unwrap_or_else(|| "?".into());
    println!("{peer}: connected");
    loop {
        match reader.readline().await {
            Ok(line) if line.is_empty() => break, // the client closed
            Ok(line) => {
                print!("{peer}: {}", String::from_utf8_lossy(&line));
                writer.write(&line);
                if let Err(e) = writer.drain().await {
                    eprintln!("{peer}: write failed: {e}");
                    break;
                }
            }
            Err(e) => {
                eprintln!("{peer}: read failed: {e}");
                break;
            }
        }
    }
    let _ = writer.wait_closed().await;
    println!("{peer}: closed");
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    corio::run(async move {
        let server = corio::start_server(handle_echo, addr.clone()).await?;
        for a in server.sockets() {
            println!("serving on {a} (Ctrl-C to stop)");
        }
        corio::signal::ctrl_c().await?;
        println!("closing");
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}
