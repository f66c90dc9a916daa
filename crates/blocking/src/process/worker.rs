//! The worker side: what a child process does once `maybe_run_worker` sees it
//! was started by a [`ProcessPool`](super::ProcessPool).

use std::io::{self, BufReader, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::gate::Secret;
use super::sys;
use super::wire::{self, Hello, Request, Response};
use super::Registered;

/// Exit code when the parent is gone before the worker started.
const EXIT_ORPHANED: i32 = 70;
/// Exit code when the request stream is corrupt or a pipe fails.
const EXIT_PROTOCOL: i32 = 71;

/// Serves requests until stdin reaches end of file; returns the exit code.
/// `parent` and `secret` come from [`gate::admit`](super::gate::admit): only an
/// admitted process gets here.
pub(crate) fn serve(parent: u32, secret: &Secret, functions: &[&dyn Registered]) -> i32 {
    sys::set_parent_death_signal();
    // The parent may have died before the death signal was armed: then nobody
    // would ever close our stdin, so leave now (we would be an orphan).
    if sys::parent_pid() != parent {
        return EXIT_ORPHANED;
    }
    match serve_pipes(secret, functions) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("corio process-pool worker {}: {err}", std::process::id());
            EXIT_PROTOCOL
        }
    }
}

fn serve_pipes(secret: &Secret, functions: &[&dyn Registered]) -> io::Result<()> {
    let (requests, mut replies) = sys::take_stdio()?;
    let mut requests = BufReader::new(requests);

    let hello = Hello {
        pid: std::process::id(),
        functions: functions.iter().map(|f| f.name().to_owned()).collect(),
    };
    // The echoed secret tells the parent this reply stream comes from the
    // process that read its request pipe.
    let mut first = wire::MAGIC.to_vec();
    first.extend_from_slice(secret);
    let hello = wire::encode(&hello)?;
    first.extend_from_slice(&(hello.len() as u32).to_le_bytes());
    first.extend_from_slice(&hello);
    replies.write_all(&first)?;

    let fd = requests.get_ref().as_raw_fd();
    loop {
        // Between back-to-back calls, poll the pipe briefly before blocking in
        // read(2): the next request usually arrives within one round trip of the
        // parent, and catching it spinning saves a process wake-up (~13 µs).
        if requests.buffer().is_empty() {
            spin_until_readable(fd);
        }
        let Some(frame) = wire::read_frame(&mut requests)? else {
            return Ok(());
        };
        let request: Request = wire::decode(&frame)?;
        let response = dispatch(functions, &request);
        wire::write_frame(&mut replies, &wire::encode(&response)?)?;
    }
}

/// How long a worker polls its request pipe after a reply before blocking; the
/// same window as the thread pools' spinning (see `pool.rs`).
const SPIN_TIME: Duration = Duration::from_micros(50);

/// Polls `fd` (without blocking) until it is readable or [`SPIN_TIME`] has passed.
fn spin_until_readable(fd: RawFd) {
    let start = Instant::now();
    while start.elapsed() < SPIN_TIME {
        match sys::wait_readable(fd, start) {
            Ok(false) => std::thread::yield_now(),
            // Readable, hung up, or poll failed: let the blocking read find out.
            Ok(true) | Err(_) => return,
        }
    }
}

/// Runs one request. Only functions in `functions` can ever run.
fn dispatch(functions: &[&dyn Registered], request: &Request) -> Response {
    let Some(function) = functions.iter().find(|f| f.name() == request.name) else {
        return Response::UnknownFunction(request.name.clone());
    };
    match catch_unwind(AssertUnwindSafe(|| function.call_encoded(&request.arg))) {
        Ok(Ok(bytes)) => Response::Ok(bytes),
        Ok(Err(msg)) => Response::BadArgument(msg),
        Err(payload) => Response::Panicked(
            corio_core::panic_message(payload.as_ref())
                .unwrap_or("<non-string panic payload>")
                .to_owned(),
        ),
    }
}
