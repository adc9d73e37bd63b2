//! Per-entry access metadata for eviction: an LRU tick and an LFU counter, both atomics so
//! that readers update them under a shared lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Initial LFU counter of a new entry (Redis's LFU_INIT_VAL), so new entries are not
/// evicted before they had a chance to be read.
const LFU_INIT: u32 = 5;
/// Redis's lfu-log-factor: the counter grows logarithmically with accesses.
const LFU_LOG_FACTOR: f64 = 10.0;
/// Redis's lfu-decay-time in minutes: the counter drops by one per elapsed period.
const LFU_DECAY_MINUTES: u32 = 1;

/// Access metadata of one evictable entry (a blob key or a vector-set element).
#[derive(Debug)]
pub(crate) struct AccessMeta {
    /// Global logical clock value of the last access (unique per access).
    pub tick: AtomicU64,
    /// `minutes << 8 | counter`: Redis's LFU word (last decrement time, log counter).
    lfu: AtomicU32,
    /// A word of the owner's, in what would be padding (a set element keeps the low half of
    /// its name hash here: `store::vset::Elem` is 48 bytes, not 56); 0 for blobs and hashes.
    tag: u32,
}

impl AccessMeta {
    pub fn new(tick: u64, now_ms: u64) -> Self {
        Self::tagged(tick, now_ms, 0)
    }

    /// [`AccessMeta::new`] carrying the owner's word `tag`.
    pub fn tagged(tick: u64, now_ms: u64, tag: u32) -> Self {
        Self {
            tick: AtomicU64::new(tick),
            lfu: AtomicU32::new(pack(minutes(now_ms), LFU_INIT)),
            tag,
        }
    }

    /// The owner's word given to [`AccessMeta::tagged`].
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// Records an access: new tick, and a probabilistic LFU increment after decay.
    pub fn touch(&self, tick: u64, now_ms: u64, rnd: f64) {
        self.tick.store(tick, Ordering::Relaxed);
        let now_min = minutes(now_ms);
        let word = self.lfu.load(Ordering::Relaxed);
        let mut counter = decayed(word, now_min);
        if counter < 255 {
            let base = counter.saturating_sub(LFU_INIT) as f64;
            let p = 1.0 / (base * LFU_LOG_FACTOR + 1.0);
            if rnd < p {
                counter += 1;
            }
        }
        self.lfu.store(pack(now_min, counter), Ordering::Relaxed);
    }

    /// The LFU counter after decay, as eviction compares it.
    pub fn frequency(&self, now_ms: u64) -> u32 {
        decayed(self.lfu.load(Ordering::Relaxed), minutes(now_ms))
    }

    pub fn last_tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }
}

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0x00ff_ffff) as u32
}

fn pack(min: u32, counter: u32) -> u32 {
    (min << 8) | counter.min(255)
}

fn decayed(word: u32, now_min: u32) -> u32 {
    let last = word >> 8;
    let counter = word & 0xff;
    let elapsed = if now_min >= last {
        now_min - last
    } else {
        0x00ff_ffff - last + now_min
    };
    let periods = elapsed / LFU_DECAY_MINUTES;
    counter.saturating_sub(periods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_with_accesses_and_decays_with_time() {
        let m = AccessMeta::new(1, 0);
        assert_eq!(m.frequency(0), LFU_INIT);
        for i in 0..1000 {
            m.touch(2 + i, 0, 0.0);
        }
        let hot = m.frequency(0);
        assert!(hot > LFU_INIT + 10, "counter {hot}");
        assert_eq!(m.frequency(3 * 60_000), hot - 3);
    }
}
