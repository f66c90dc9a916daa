//! Who may become a worker: the checks [`maybe_run_worker`](super::maybe_run_worker)
//! makes before a process serves anything. The module docs' "Security" section
//! says what each check closes.
//!
//! Every check happens before the process prints a byte or runs a registered
//! function, and a failed check means "not a worker": `main` runs as usual.

use std::ffi::OsStr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::sys;

/// Length of the per-spawn secret.
pub(crate) const SECRET_LEN: usize = 32;

/// A per-spawn random secret: the parent writes it first on the worker's stdin,
/// the worker echoes it at the start of its handshake.
pub(crate) type Secret = [u8; SECRET_LEN];

/// Precedes the secret on the worker's stdin, so a stream that is not a pool's
/// (a file, another program's output) is recognised before anything else happens.
pub(crate) const SECRET_MAGIC: [u8; 8] = *b"CORIOPS1";

/// How long a would-be worker waits for the secret. The parent writes it right
/// after starting the child, so it is normally in the pipe before `main` runs;
/// the bound only has to outlast a loaded machine.
const SECRET_WAIT: Duration = Duration::from_secs(10);

/// All checks, in order (cheap and non-consuming first; the secret, which reads
/// stdin, last). `Ok` carries the parent's pid and the secret to echo.
pub(crate) fn admit(marker: &OsStr) -> Result<(u32, Secret), String> {
    let parent = parse_marker(marker, sys::parent_pid())?;
    refuse_privileged(sys::is_privileged())?;
    require_pipes(sys::is_pipe(0), sys::is_pipe(1))?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match sys::parent_runs_same_executable(parent) {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "its parent process {parent} runs a different program, and a pool starts copies of itself"
            ))
        }
        Err(e) => return Err(format!("cannot check which program its parent runs ({e})")),
    }
    let secret = read_secret(0, Instant::now() + SECRET_WAIT)?;
    Ok((parent, secret))
}

/// The marker must be a pid, and the pid of this process's parent.
pub(crate) fn parse_marker(value: &OsStr, parent: u32) -> Result<u32, String> {
    let pid = value
        .to_str()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(|| format!("its value {value:?} is not a process id"))?;
    if pid != parent {
        return Err(format!(
            "its value {pid} is not the parent's process id ({parent})"
        ));
    }
    Ok(pid)
}

/// A setuid/setgid/capability-raised process never serves: its invoker chose the
/// environment and stdin, and must not get the program's privileges through them.
pub(crate) fn refuse_privileged(privileged: bool) -> Result<(), String> {
    if privileged {
        return Err(
            "it runs with privileges its invoker does not have (setuid, setgid or file capabilities)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Requests come only on a pipe the parent created, and replies go only to one:
/// never a file, a socket (inetd-style network service) or a terminal.
pub(crate) fn require_pipes(stdin_is_pipe: bool, stdout_is_pipe: bool) -> Result<(), String> {
    match (stdin_is_pipe, stdout_is_pipe) {
        (true, true) => Ok(()),
        (false, _) => Err("its stdin is not a pipe".to_owned()),
        (true, false) => Err("its stdout is not a pipe".to_owned()),
    }
}

/// Reads [`SECRET_MAGIC`] and the secret from `fd`, consuming exactly those bytes.
pub(crate) fn read_secret(fd: RawFd, deadline: Instant) -> Result<Secret, String> {
    let mut buf = [0u8; SECRET_MAGIC.len() + SECRET_LEN];
    sys::read_exact_until(fd, &mut buf, Some(deadline))
        .map_err(|e| format!("stdin did not start with a pool's secret ({e})"))?;
    let (magic, secret) = buf.split_at(SECRET_MAGIC.len());
    if magic != SECRET_MAGIC {
        return Err("stdin does not start with a pool's secret".to_owned());
    }
    let mut out = [0u8; SECRET_LEN];
    out.copy_from_slice(secret);
    Ok(out)
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn secrets_match(a: &Secret, b: &Secret) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_must_be_the_parents_pid() {
        assert_eq!(parse_marker(OsStr::new("42"), 42), Ok(42));
        for bad in ["x", "", "-1", "42 ", "0x2a", "4294967296"] {
            let err = parse_marker(OsStr::new(bad), 42).unwrap_err();
            assert!(err.contains("not a process id"), "{bad:?}: {err}");
        }
        let err = parse_marker(OsStr::new("43"), 42).unwrap_err();
        assert!(err.contains("not the parent's"), "{err}");
    }

    #[test]
    fn privileged_processes_are_refused() {
        assert!(refuse_privileged(false).is_ok());
        let err = refuse_privileged(true).unwrap_err();
        assert!(err.contains("setuid"), "{err}");
        // The test binary itself is not setuid.
        assert!(!sys::is_privileged());
    }

    #[test]
    fn both_ends_must_be_pipes() {
        assert!(require_pipes(true, true).is_ok());
        assert!(require_pipes(false, true).unwrap_err().contains("stdin"));
        assert!(require_pipes(true, false).unwrap_err().contains("stdout"));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!sys::is_pipe(std::os::fd::AsRawFd::as_raw_fd(&file)));
        assert!(!sys::is_pipe(-1));
    }

    #[test]
    fn secret_needs_the_magic_and_all_its_bytes() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        // A socket stands in for the pipe here: read_secret only reads.
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let soon = || Instant::now() + Duration::from_secs(20);
        tx.write_all(&SECRET_MAGIC).unwrap();
        tx.write_all(&[7; SECRET_LEN]).unwrap();
        tx.write_all(b"rest").unwrap();
        assert_eq!(read_secret(rx.as_raw_fd(), soon()), Ok([7; SECRET_LEN]));
        // The bytes after the secret were left in place.
        let mut rest = [0u8; 4];
        sys::read_exact_until(rx.as_raw_fd(), &mut rest, Some(soon())).unwrap();
        assert_eq!(&rest, b"rest");

        tx.write_all(&[0u8; SECRET_MAGIC.len() + SECRET_LEN])
            .unwrap();
        assert!(read_secret(rx.as_raw_fd(), soon()).is_err(), "wrong magic");
        tx.write_all(&SECRET_MAGIC).unwrap();
        drop(tx);
        assert!(read_secret(rx.as_raw_fd(), soon()).is_err(), "cut short");
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_parent_mapping_this_executable_counts_as_running_it() {
        use std::path::Path;
        let maps = "\
55d0c0a00000-55d0c0a2c000 r--p 00000000 fd:01 1234    /usr/bin/valgrind-tool
55d0c0b00000-55d0c0b20000 r-xp 00002000 fd:01 5678                       /work/target/prog
7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0                          [stack]
";
        assert!(sys::maps_name_file(maps, Path::new("/work/target/prog")));
        assert!(!sys::maps_name_file(maps, Path::new("/work/target/pro")));
        assert!(!sys::maps_name_file(maps, Path::new("/usr/bin/python3")));
        assert!(!sys::maps_name_file("", Path::new("/work/target/prog")));
        // This test binary's parent (cargo or a shell) is another program.
        assert!(!sys::parent_runs_same_executable(sys::parent_pid()).unwrap_or(false));
    }

    #[test]
    fn secrets_compare_whole() {
        let a = [1u8; SECRET_LEN];
        let mut b = a;
        assert!(secrets_match(&a, &b));
        b[SECRET_LEN - 1] ^= 1;
        assert!(!secrets_match(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!secrets_match(&a, &b));
    }
}
