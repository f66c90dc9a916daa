//! corio: the asyncio-style facade (being built in issues 6 and 7).

pub mod sync; // issue 7 (facadeio): Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier
pub mod queue; // issue 7 (facadeio): Queue, PriorityQueue, LifoQueue
