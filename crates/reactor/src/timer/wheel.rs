//! A hierarchical timer wheel: O(1) insert, O(1) cancel, memory proportional
//! to the timers alive.
//!
//! # Why a wheel
//!
//! A binary heap costs O(log n) per insert and, worse, O(n) (or a tombstone) per
//! cancel; with a million pending timeouts that are almost always cancelled
//! (the common fate of a `timeout(fut)`), cancel is the hot operation. The wheel
//! keeps every timer in an intrusive doubly linked list hanging off one slot, so
//! insert is "compute the slot, push at the head" and cancel is "unlink"; both
//! touch a constant number of words whatever the number of timers.
//!
//! # Layout
//!
//! Time is counted in *ticks* of [`TICK_NS`] nanoseconds (16.4 µs) since the
//! reactor's base instant. There are [`LEVELS`] levels of 64 slots; a slot at
//! level `l` spans `64^l` ticks, so level 0 covers ~1 ms at tick resolution,
//! level 1 ~67 ms, level 2 ~4.3 s, level 3 ~4.6 min, level 4 ~4.9 h and level
//! 5 ~13 days. A timer goes to the level of the highest bit in which its
//! deadline differs from the wheel's current time (`elapsed`), exactly as in
//! tokio's wheel and the Varghese–Lauck paper. Deadlines further out than the
//! top level are clamped for placement only; when their slot comes up they are
//! re-inserted (cascaded), so they are never fired early.
//!
//! A 64-bit occupancy word per level lets [`Wheel::next_expiration`] find the
//! next non-empty slot with one `trailing_zeros`, without scanning.
//!
//! # Never early
//!
//! Deadlines are rounded *up* to a tick and the wheel's time is rounded *down*,
//! and an entry fires only when `entry.when <= elapsed`, so a timer never fires
//! before its deadline; it can be late by at most one tick (16.4 µs) plus the
//! time the OS takes to wake the driving thread.

use slab::Slab;

/// One tick, in nanoseconds: 2^14 ns = 16.384 µs. Fine enough that rounding a
/// deadline up to a tick costs far less than the 0.2 ms lateness budget, coarse
/// enough that six 64-slot levels reach ~13 days before clamping.
pub(crate) const TICK_NS: u64 = 1 << 14;
/// Bits of slot index per level (64 slots: one occupancy word).
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Six levels: 6 x 6 bits = 2^36 ticks = ~13 days at 16.4 µs a tick.
pub(crate) const LEVELS: usize = 6;
/// Largest distance (in ticks) the levels can represent; beyond it placement is clamped.
const MAX_SPAN: u64 = (1 << (SLOT_BITS * LEVELS as u32)) - 1;
const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Entry<T> {
    when: u64,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
    /// What firing hands back (the reactor's timer entry).
    payload: T,
}

/// The wheel. Not thread-safe by itself: the reactor keeps it under a mutex
/// (see reactor.rs). Every entry
/// in it is armed: firing or removing an entry takes it out and hands its
/// payload back.
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    /// Current time of the wheel, in ticks (only moves forward).
    elapsed: u64,
    entries: Slab<Entry<T>>,
    /// Head of each slot's list (index into `entries`), per level.
    heads: [[u32; SLOTS]; LEVELS],
    /// Bit `s` of `occupied[l]` is set when slot `s` of level `l` is non-empty.
    occupied: [u64; LEVELS],
    /// Wheel time when the entries last filled a quarter of their capacity.
    last_busy: u64,
}

/// Entry capacity below which the wheel never gives memory back (4096 entries
/// of ~32 bytes: 128 KiB).
const SHRINK_MIN: usize = 4096;
/// One second of ticks: how long the wheel must stay lightly used before its
/// entry storage is freed.
const SHRINK_AFTER_TICKS: u64 = 1_000_000_000 / TICK_NS;

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at time 0.
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            entries: Slab::new(),
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            last_busy: 0,
        }
    }

    /// Entries waiting for their deadline.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The wheel's current time in ticks: every deadline at or before it has fired.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Adds a timer due at tick `when` and returns its key, or gives `payload`
    /// back if `when <= elapsed` (it is due: the caller fires it at once).
    pub(crate) fn insert(&mut self, when: u64, payload: T) -> Result<usize, T> {
        if when <= self.elapsed {
            return Err(payload);
        }
        if self.entries.len() >= self.entries.capacity() / 4 {
            self.last_busy = self.elapsed;
        }
        let key = self.entries.insert(Entry {
            when,
            prev: NIL,
            next: NIL,
            level: 0,
            slot: 0,
            payload,
        });
        self.link(key);
        Ok(key)
    }

    /// The payload of entry `key`.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key).map(|e| &mut e.payload)
    }

    /// Cancels entry `key` (O(1)) and returns its payload (`None`: no such key).
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        if !self.entries.contains(key) {
            return None;
        }
        self.unlink(key);
        let payload = self.entries.remove(key).payload;
        self.maybe_shrink();
        Some(payload)
    }

    /// Gives memory back after a storm, but not to a steady load that empties
    /// the wheel now and then (re-growing 100,000 entries costs milliseconds):
    /// only once it has stayed under a quarter of its capacity for a second.
    fn maybe_shrink(&mut self) {
        if self.entries.capacity() > SHRINK_MIN
            && self.entries.len() < self.entries.capacity() / 4
            && self.elapsed.saturating_sub(self.last_busy) > SHRINK_AFTER_TICKS
        {
            if self.entries.is_empty() {
                self.entries = Slab::new();
            } else {
                // Frees the vacant tail (keys of entries still armed stay valid).
                self.entries.shrink_to_fit();
            }
            // At most one O(n) shrink per second.
            self.last_busy = self.elapsed;
        }
    }

    /// The tick of the earliest non-empty slot, if any timer is armed. The entries
    /// of that slot are due at or after it (cascading entries are re-inserted).
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        for level in 0..LEVELS {
            if let Some(t) = self.next_in_level(level) {
                return Some(t);
            }
        }
        None
    }

    fn next_in_level(&self, level: usize) -> Option<u64> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let slot_range = 1u64 << (SLOT_BITS * level as u32);
        let level_range = slot_range << SLOT_BITS;
        let now_slot = (self.elapsed / slot_range) % SLOTS as u64;
        let zeros = occupied.rotate_right(now_slot as u32).trailing_zeros() as u64;
        let slot = (zeros + now_slot) % SLOTS as u64;
        let level_start = self.elapsed & !(level_range - 1);
        let mut deadline = level_start + slot * slot_range;
        if deadline < self.elapsed {
            // The slot is behind the current position: it belongs to the next rotation.
            deadline += level_range;
        }
        Some(deadline)
    }

    /// Advances the wheel to `now` (ticks), taking out every entry due at or
    /// before it and handing its payload to `fire`. Returns how many fired.
    pub(crate) fn advance(&mut self, now: u64, fire: &mut impl FnMut(T)) -> usize {
        let mut fired = 0;
        while let Some(exp) = self.next_expiration() {
            if exp > now {
                break;
            }
            self.elapsed = exp;
            fired += self.process_slot_at(exp, fire);
        }
        if now > self.elapsed {
            self.elapsed = now;
        }
        if fired > 0 {
            self.maybe_shrink();
        }
        fired
    }

    /// Takes the list of the lowest occupied slot whose start is `exp` and fires
    /// or re-inserts each entry.
    fn process_slot_at(&mut self, exp: u64, fire: &mut impl FnMut(T)) -> usize {
        // Find the level whose next slot is `exp` (the lowest occupied one).
        let Some(level) = (0..LEVELS).find(|&l| self.occupied[l] != 0) else {
            return 0;
        };
        let slot_range = 1u64 << (SLOT_BITS * level as u32);
        let slot = ((exp / slot_range) % SLOTS as u64) as usize;
        let mut cur = std::mem::replace(&mut self.heads[level][slot], NIL);
        self.occupied[level] &= !(1u64 << slot);
        let mut fired = 0;
        while cur != NIL {
            let key = cur as usize;
            let e = &mut self.entries[key];
            cur = e.next;
            if e.when <= self.elapsed {
                fire(self.entries.remove(key).payload);
                fired += 1;
            } else {
                // Cascade to a lower level (or the same level, further round, if clamped).
                self.link(key);
            }
        }
        fired
    }

    fn level_for(&self, when: u64) -> usize {
        let when = when.min(self.elapsed + MAX_SPAN);
        // Force the lowest SLOT_BITS bits so a timer in the current level-0
        // rotation lands on level 0.
        let masked = (self.elapsed ^ when) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        (significant / SLOT_BITS as usize).min(LEVELS - 1)
    }

    fn link(&mut self, key: usize) {
        let when = self.entries[key].when;
        let level = self.level_for(when);
        let placed = when.min(self.elapsed + MAX_SPAN);
        let slot = ((placed >> (SLOT_BITS * level as u32)) % SLOTS as u64) as usize;
        let head = self.heads[level][slot];
        {
            let e = &mut self.entries[key];
            e.level = level as u8;
            e.slot = slot as u8;
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = key as u32;
        }
        self.heads[level][slot] = key as u32;
        self.occupied[level] |= 1u64 << slot;
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next, level, slot) = {
            let e = &self.entries[key];
            (e.prev, e.next, e.level as usize, e.slot as usize)
        };
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1u64 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payload: the deadline tick, so each fired entry can be checked.
    type W = Wheel<u64>;

    /// Steps through expirations one at a time, recording (wheel time, deadline)
    /// of each fired entry.
    fn fire_all(w: &mut W, upto: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(exp) = w.next_expiration() {
            if exp > upto {
                break;
            }
            w.advance(exp, &mut |when| {
                assert!(when <= exp, "fired early");
                out.push((exp, when));
            });
        }
        w.advance(upto, &mut |_| panic!("fired past the last expiration"));
        out
    }

    #[test]
    fn fires_in_order_never_early() {
        let mut w = W::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut n = 0;
        for _ in 0..5000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Spread over all levels: up to 2^34 ticks.
            let when = 1 + (rng % (1 << (rng % 35).max(1)));
            w.insert(when, when).expect("in the future");
            n += 1;
        }
        let fired = fire_all(&mut w, u64::MAX / 4);
        assert_eq!(fired.len(), n);
        for (t, when) in &fired {
            assert_eq!(t, when, "fired exactly at its tick");
        }
        assert!(fired.windows(2).all(|p| p[0].0 <= p[1].0));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn past_deadline_is_handed_back_at_insert() {
        let mut w = W::new();
        w.advance(100, &mut |_| {});
        assert_eq!(w.insert(50, 50), Err(50));
        assert_eq!(w.insert(100, 100), Err(100));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn cancel_unlinks() {
        let mut w = W::new();
        let keys: Vec<usize> = (1..1000).map(|i| w.insert(i * 7, i * 7).unwrap()).collect();
        for k in keys.iter().step_by(2) {
            assert!(w.remove(*k).is_some());
        }
        assert_eq!(w.len(), 499);
        let fired = fire_all(&mut w, 10_000);
        assert_eq!(fired.len(), 499);
        assert!(
            fired.iter().all(|(_, when)| when % 14 == 0),
            "only the kept ones"
        );
        assert_eq!(w.len(), 0);
        assert_eq!(w.remove(keys[1]), None, "fired entries are gone");
    }

    #[test]
    fn storage_is_kept_under_load_and_freed_after_a_quiet_second() {
        let mut w = W::new();
        let keys: Vec<usize> = (0..10_000)
            .map(|i| w.insert(1_000_000 + i, i).unwrap())
            .collect();
        let cap = w.entries.capacity();
        for k in &keys {
            w.remove(*k);
        }
        // Emptied at once after filling: kept for the next burst.
        assert_eq!(w.entries.capacity(), cap);
        let far = SHRINK_AFTER_TICKS * 4;
        let keys: Vec<usize> = (0..10_000).map(|i| w.insert(far + i, i).unwrap()).collect();
        // A second of quiet later, the storage goes.
        w.advance(SHRINK_AFTER_TICKS + 1, &mut |_| {});
        for k in &keys {
            w.remove(*k);
        }
        assert_eq!(w.len(), 0);
        assert!(w.entries.capacity() < cap, "storage not freed");
    }

    #[test]
    fn far_future_is_clamped_not_early() {
        let mut w = W::new();
        let when = MAX_SPAN * 3 + 12345;
        w.insert(when, when).unwrap();
        w.advance(when - 1, &mut |_| panic!("early"));
        assert_eq!(w.len(), 1);
        let mut fired = 0;
        w.advance(when, &mut |_| fired += 1);
        assert_eq!(fired, 1);
    }
}
