//! Another thread's scheduler accounting, as Linux keeps it in
//! `/proc/self/task/<tid>/schedstat` and `.../stat`: how long it ran on a CPU, how long
//! it waited on a run queue for one, and whether it is blocked now. The stall monitor
//! uses it to tell a worker stuck in a poll (running, or blocked in a system call) from
//! one that merely waits for a core on an oversubscribed machine.
//!
//! The files stay open and are re-read with `pread` at offset 0 (the kernel regenerates
//! them at every read from offset 0), one system call per sample. Elsewhere (and under
//! loom, and under Miri, whose isolation refuses to read /proc) nothing is known and
//! every call returns `None`.

/// The calling thread's OS thread id (0 if unknown).
pub(crate) fn current_tid() -> u64 {
    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    {
        // "/proc/thread-self" links to "<pid>/task/<tid>".
        std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse().ok())
            .unwrap_or(0)
    }
    #[cfg(not(all(target_os = "linux", not(loom), not(miri))))]
    {
        0
    }
}

/// One reading of a thread's `schedstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SchedStat {
    /// Time on a CPU (ns). The kernel adds to it at its timer tick and when the thread
    /// leaves the CPU, so it lags a running thread by up to one tick.
    pub(crate) ran_ns: u64,
    /// Time runnable but waiting on a run queue for a CPU (ns). A wait is added when it
    /// ends (the thread gets a CPU): a wait still in progress is not included.
    pub(crate) queued_ns: u64,
    /// Times the thread was put on a CPU.
    pub(crate) arrivals: u64,
}

/// Parses a `schedstat` line: `<ran_ns> <queued_ns> <arrivals>`.
#[cfg_attr(not(all(target_os = "linux", not(loom), not(miri))), allow(dead_code))]
fn parse_schedstat(text: &str) -> Option<SchedStat> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
    Some(SchedStat {
        ran_ns: fields.next()?.ok()?,
        queued_ns: fields.next()?.ok()?,
        arrivals: fields.next()?.ok()?,
    })
}

/// Parses the state letter of a `stat` line (`<pid> (<comm>) <state> ...`; the command
/// name may itself hold spaces and parentheses, so look after the last `)`).
#[cfg_attr(not(all(target_os = "linux", not(loom), not(miri))), allow(dead_code))]
fn parse_state(text: &str) -> Option<char> {
    let after = &text[text.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Is a thread in state `state` blocked (not running, not waiting for a CPU)? Only `R`
/// (running or runnable) is not.
#[cfg_attr(not(all(target_os = "linux", not(loom), not(miri))), allow(dead_code))]
fn is_blocked_state(state: char) -> bool {
    state != 'R'
}

/// The open accounting files of one thread (re-opened when the thread changes).
pub(crate) struct ThreadStats {
    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    files: Option<linux::Files>,
}

impl ThreadStats {
    pub(crate) fn new() -> ThreadStats {
        ThreadStats {
            #[cfg(all(target_os = "linux", not(loom), not(miri)))]
            files: None,
        }
    }

    /// Thread `tid`'s `schedstat` now (`None` if unknown: not Linux, `tid` 0, the
    /// thread gone, or scheduler statistics off).
    pub(crate) fn schedstat(&mut self, tid: u64) -> Option<SchedStat> {
        #[cfg(all(target_os = "linux", not(loom), not(miri)))]
        {
            let text = self.read(tid, linux::Which::SchedStat)?;
            parse_schedstat(&text).filter(|s| *s != SchedStat::OFF)
        }
        #[cfg(not(all(target_os = "linux", not(loom), not(miri))))]
        {
            let _ = tid;
            None
        }
    }

    /// Is thread `tid` blocked now (sleeping or in an uninterruptible wait: not running
    /// and not waiting for a CPU)? `None` if unknown.
    pub(crate) fn is_blocked(&mut self, tid: u64) -> Option<bool> {
        #[cfg(all(target_os = "linux", not(loom), not(miri)))]
        {
            let text = self.read(tid, linux::Which::Stat)?;
            parse_state(&text).map(is_blocked_state)
        }
        #[cfg(not(all(target_os = "linux", not(loom), not(miri))))]
        {
            let _ = tid;
            None
        }
    }

    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    fn read(&mut self, tid: u64, which: linux::Which) -> Option<String> {
        if tid == 0 {
            return None;
        }
        if self.files.as_ref().map(|f| f.tid) != Some(tid) {
            self.files = Some(linux::Files::open(tid));
        }
        self.files.as_ref()?.read(which)
    }
}

impl SchedStat {
    /// What `schedstat` reads when the kernel keeps no statistics.
    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    const OFF: SchedStat = SchedStat {
        ran_ns: 0,
        queued_ns: 0,
        arrivals: 0,
    };
}

#[cfg(all(target_os = "linux", not(loom), not(miri)))]
mod linux {
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    pub(super) enum Which {
        SchedStat,
        Stat,
    }

    pub(super) struct Files {
        pub(super) tid: u64,
        schedstat: Option<File>,
        stat: Option<File>,
    }

    impl Files {
        pub(super) fn open(tid: u64) -> Files {
            let open = |name: &str| File::open(format!("/proc/self/task/{tid}/{name}")).ok();
            Files {
                tid,
                schedstat: open("schedstat"),
                stat: open("stat"),
            }
        }

        pub(super) fn read(&self, which: Which) -> Option<String> {
            let file = match which {
                Which::SchedStat => self.schedstat.as_ref()?,
                Which::Stat => self.stat.as_ref()?,
            };
            // A `stat` line is about 300 bytes (its command name at most 64).
            let mut buf = [0u8; 1024];
            let n = file.read_at(&mut buf, 0).ok()?;
            String::from_utf8(buf[..n].to_vec()).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedstat_and_state() {
        assert_eq!(
            parse_schedstat("143069 3282143 2\n"),
            Some(SchedStat {
                ran_ns: 143_069,
                queued_ns: 3_282_143,
                arrivals: 2
            })
        );
        assert_eq!(parse_schedstat("1 2"), None);
        assert_eq!(parse_state("5539 (a (b) c) S 5536 5536"), Some('S'));
        assert_eq!(parse_state("5539 (cat) R 5536"), Some('R'));
        assert!(is_blocked_state('S') && is_blocked_state('D') && !is_blocked_state('R'));
    }

    /// The kept-open files are re-read fresh: a spinning thread's run time grows, and a
    /// sleeping thread is blocked.
    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    #[test]
    fn reads_another_threads_accounting() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        let tid = Arc::new(AtomicU64::new(0));
        let phase = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (t, p, d) = (tid.clone(), phase.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            t.store(current_tid(), SeqCst);
            // Phase 0: spin until told; phase 1: sleep until done.
            while p.load(SeqCst) == 0 {
                std::hint::spin_loop();
            }
            while !d.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        while tid.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        let tid = tid.load(SeqCst);
        let mut stats = ThreadStats::new();
        let first = stats.schedstat(tid).expect("schedstat of a live thread");
        let deadline = Instant::now() + Duration::from_secs(30);
        while stats.schedstat(tid).expect("still live").ran_ns <= first.ran_ns {
            assert!(
                Instant::now() < deadline,
                "a spinning thread's run time never grew"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        phase.store(1, SeqCst);
        // Sleeping most of the time: seen blocked within a few reads.
        while stats.is_blocked(tid) != Some(true) {
            assert!(
                Instant::now() < deadline,
                "a sleeping thread was never seen blocked"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        done.store(true, SeqCst);
        thread.join().unwrap();
    }
}
