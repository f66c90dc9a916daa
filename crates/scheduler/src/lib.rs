//! corio-scheduler: the work-stealing executor (being built in issue 3).
