//! Many seeds: [`check`](super::check), [`Config::try_check`] and the replay
//! command printed on failure.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::Once;

use super::{Config, SimError};

/// Environment variable: run only this seed (replay a failure).
pub const SEED_ENV: &str = "CORIO_SIM_SEED";
/// Environment variable: how many seeds [`check`](super::check) runs (default 100).
pub const SEEDS_ENV: &str = "CORIO_SIM_SEEDS";

/// Seeds `check` runs when `CORIO_SIM_SEEDS` is not set.
pub(crate) const DEFAULT_SEEDS: u64 = 100;

/// A seed that failed in [`Config::try_check`]: the error, how many seeds ran
/// until it, and the command that replays it.
#[derive(Debug)]
pub struct CheckFailure {
    error: SimError,
    seeds_tried: u64,
    replay: String,
}

impl CheckFailure {
    /// The failing run's error (with its seed and trace).
    pub fn error(&self) -> &SimError {
        &self.error
    }

    /// The failing seed.
    pub fn seed(&self) -> u64 {
        self.error.seed()
    }

    /// Seeds run until the failure, the failing one included.
    pub fn seeds_tried(&self) -> u64 {
        self.seeds_tried
    }

    /// A shell command that runs the failing seed alone.
    pub fn replay_command(&self) -> &str {
        &self.replay
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n(failed at seed {} after {} seeds)\nreplay it with:\n    {}",
            self.error,
            self.seed(),
            self.seeds_tried,
            self.replay
        )
    }
}

impl std::error::Error for CheckFailure {}

/// What a passing [`Config::try_check`] ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    /// Seeds run (all passed).
    pub seeds: u64,
}

impl Config {
    /// Runs a fresh `body()` under each seed in turn (seeds `first_seed`,
    /// `first_seed + 1`, ...; [`seeds`](Config::seeds) of them, or only
    /// [`replay_seed`](Config::replay_seed)), stopping at the first failure.
    ///
    /// ```
    /// use corio::sim::{Config, Strategy};
    ///
    /// let report = Config::new()
    ///     .seeds(20)
    ///     .strategy(Strategy::Pct { depth: 2 })
    ///     .try_check(|| async {
    ///         let t = corio::create_task(async { 1 });
    ///         assert_eq!(t.await.unwrap(), 1);
    ///     })
    ///     .unwrap();
    /// assert_eq!(report.seeds, 20);
    /// ```
    pub fn try_check<F, Fut>(&self, body: F) -> Result<CheckReport, CheckFailure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        let seeds: Vec<u64> = match self.replay_seed {
            Some(s) => vec![s],
            None => (0..self.seeds)
                .map(|i| self.first_seed.wrapping_add(i))
                .collect(),
        };
        // A search expects failures: their panic messages go into the report,
        // not to stderr. A replay (one seed) shows them with their backtraces.
        let _quiet = self
            .quiet_panics
            .unwrap_or(self.replay_seed.is_none())
            .then(Quiet::enter);
        for (i, &seed) in seeds.iter().enumerate() {
            if let Err(error) = self.run_seed(seed, body()) {
                return Err(CheckFailure {
                    replay: replay_command(seed),
                    error,
                    seeds_tried: i as u64 + 1,
                });
            }
        }
        Ok(CheckReport {
            seeds: seeds.len() as u64,
        })
    }

    /// [`try_check`](Config::try_check), panicking on failure with the seed,
    /// the error and the command that replays it.
    #[track_caller]
    pub fn check<F, Fut>(&self, body: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        if let Err(failure) = self.try_check(body) {
            panic!("corio::sim::check: {failure}");
        }
    }
}

/// `CORIO_SIM_SEED=<seed> cargo test -p <package> <--lib|--test name> <test> -- --exact`,
/// from what the running test binary knows about itself.
fn replay_command(seed: u64) -> String {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "<package>".to_owned());
    let target = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
            _ => stem,
        });
    let target = match target {
        // A crate's unit tests run in a binary named after the crate.
        Some(t) if t == package.replace('-', "_") => " --lib".to_owned(),
        Some(t) => format!(" --test {t}"),
        None => String::new(),
    };
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(|n| format!(" {n} -- --exact"))
        .unwrap_or_default();
    format!("{SEED_ENV}={seed} cargo test -p {package}{target}{test}")
}

thread_local! {
    /// Set while this thread searches seeds: the panic hook stays silent.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Silences the panic hook on this thread until dropped (other threads, and
/// this one afterwards, report panics as before).
struct Quiet {
    was: bool,
}

impl Quiet {
    fn enter() -> Quiet {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !QUIET.with(Cell::get) {
                    prev(info);
                }
            }));
        });
        Quiet {
            was: QUIET.with(|q| q.replace(true)),
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        QUIET.with(|q| q.set(self.was));
    }
}
