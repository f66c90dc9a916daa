//! corio-core: runtime-agnostic tasks and wakers (being built in issue 2).
