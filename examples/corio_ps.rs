//! `corio-ps PID`: print the task tree of a running corio program.
//!
//! The program must have inspection on: `CORIO_INSPECT=1 ./your-program`, or
//! `corio::Runtime::builder().inspect(true)`. It then serves its task tree on a
//! Unix socket that only its own user can open; this tool connects and prints
//! what it receives:
//!
//! ```text
//! $ CORIO_INSPECT=1 cargo run --example echo_server &
//! $ cargo run --example corio_ps -- $!
//! 3 tasks
//! ├── task 1 'accept' (examples/echo_server.rs:20:5) waiting at ... for 4.1s, 1 poll
//! ...
//! ```
//!
//! (`kill -USR1 PID` makes the program write the same tree to its own stderr.)

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let Some(pid) = std::env::args().nth(1).and_then(|a| a.parse::<u32>().ok()) else {
        eprintln!("usage: corio_ps PID  (the program must run with CORIO_INSPECT=1)");
        return ExitCode::from(2);
    };
    let path = corio::inspect::socket_path(pid);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "cannot connect to {}: {e}\nis process {pid} a corio program running with \
                 CORIO_INSPECT=1 (or Builder::inspect(true)), and yours?",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // A live program answers at once; a stuck one still answers (the inspector
    // has its own thread), so a few seconds is plenty.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut tree = String::new();
    if let Err(e) = stream.read_to_string(&mut tree) {
        eprintln!("reading the task tree from {} failed: {e}", path.display());
        return ExitCode::FAILURE;
    }
    print!("{tree}");
    ExitCode::SUCCESS
}
