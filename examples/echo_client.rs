//! A TCP echo client: asyncio's `open_connection` example, in corio.
//!
//! ```text
//! cargo run -p corio-examples --example echo_client -- 127.0.0.1:8888 hello world
//! ```
//!
//! Sends each argument as a line, prints what comes back, then closes.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8888".into());
    let mut messages: Vec<String> = args.collect();
    if messages.is_empty() {
        messages.push("Hello World!".into());
    }
    corio::run(async move {
        let (mut reader, mut writer) = corio::open_connection(addr.clone()).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot connect to {addr}: {e} (is echo_server running?)"),
            )
        })?;
        for msg in &messages {
            println!("send: {msg}");
            writer.write(msg.as_bytes());
            writer.write(b"\n");
            writer.drain().await?;
            let line = reader.readline().await?;
            print!("received: {}", String::from_utf8_lossy(&line));
        }
        println!("close the connection");
        writer.close();
        writer.wait_closed().await
    })
}
