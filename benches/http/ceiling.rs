//! The cheapest HTTP/1 server we could write, for the "ceiling" row of
//! ci/bench-http.sh: one thread, edge-triggered epoll (the `polling` crate), no
//! HTTP parsing beyond counting request ends, one fixed response per request, no
//! async runtime. It measures what wrk, pinned to its one core, can send at all:
//! a hyper server whose req/s is close to this row's is held back by the client,
//! not by itself. Not a real server: it assumes each response fits the socket's
//! send buffer (a hello world does) and closes a connection that would block.
//! Run by ci/bench-http.sh: `http_ceiling PORT`.
use polling::{Event, Events, PollMode, Poller};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

/// The listener's key; connections get 1, 2, 3, ... (`polling` reserves `usize::MAX`).
const LISTENER: usize = 0;

fn main() -> io::Result<()> {
    let response = [
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n",
            corio_benches::http::BODY.len()
        )
        .as_bytes(),
        corio_benches::http::BODY,
    ]
    .concat();
    let listener = TcpListener::bind(corio_benches::http::addr())?;
    listener.set_nonblocking(true)?;
    let poller = Poller::new()?;
    // SAFETY: `polling` requires a source to be deleted from the poller before it is
    // closed. The listener lives until `main` returns, after the poller (declared later,
    // dropped first).
    unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Level)? };
    let mut connections: HashMap<usize, Connection> = HashMap::new();
    let mut next_key = LISTENER + 1;
    let mut events = Events::new();
    let mut input = vec![0u8; 64 * 1024];
    let mut output = Vec::with_capacity(64 * 1024);
    loop {
        events.clear();
        poller.wait(&mut events, None)?;
        for event in events.iter() {
            if event.key == LISTENER {
                accept_all(&listener, &poller, &mut connections, &mut next_key);
                continue;
            }
            let Some(connection) = connections.get_mut(&event.key) else {
                continue;
            };
            if !connection.serve(&mut input, &mut output, &response) {
                if let Some(connection) = connections.remove(&event.key) {
                    poller.delete(&connection.stream)?;
                }
            }
        }
    }
}

/// Accepts every pending connection and registers it, edge-triggered.
fn accept_all(
    listener: &TcpListener,
    poller: &Poller,
    connections: &mut HashMap<usize, Connection>,
    next_key: &mut usize,
) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let key = *next_key;
                *next_key += 1;
                let registered = stream
                    .set_nonblocking(true)
                    .and_then(|()| stream.set_nodelay(true))
                    // SAFETY: the stream is deleted from the poller before it is dropped
                    // (`main` removes it from `connections` and deletes it together).
                    .and_then(|()| unsafe {
                        poller.add_with_mode(&stream, Event::readable(key), PollMode::Edge)
                    });
                match registered {
                    Ok(()) => {
                        connections.insert(key, Connection { stream, matched: 0 });
                    }
                    Err(e) => eprintln!("register: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        }
    }
}

/// A client connection and how much of a request's end ("\r\n\r\n") its last read
/// ended with (a request may be split across reads).
struct Connection {
    stream: TcpStream,
    matched: usize,
}

impl Connection {
    /// Reads what the connection has and answers each complete request. `false`: close it.
    fn serve(&mut self, input: &mut [u8], output: &mut Vec<u8>, response: &[u8]) -> bool {
        loop {
            let n = match self.stream.read(input) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            let requests = count_request_ends(&input[..n], &mut self.matched);
            output.clear();
            for _ in 0..requests {
                output.extend_from_slice(response);
            }
            if self.stream.write_all(output).is_err() {
                return false;
            }
            // Edge-triggered: a short read drained the socket; more data is a new event.
            if n < input.len() {
                return true;
            }
        }
    }
}

/// Counts the "\r\n\r\n" in `bytes`, continuing a match of `matched` bytes from the
/// previous read and leaving the match at the end in it.
fn count_request_ends(bytes: &[u8], matched: &mut usize) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    let mut ends = 0;
    for &byte in bytes {
        *matched = if byte == END[*matched] {
            *matched + 1
        } else {
            // The only prefix of END that can end a mismatch is "\r".
            usize::from(byte == b'\r')
        };
        if *matched == END.len() {
            ends += 1;
            *matched = 0;
        }
    }
    ends
}
