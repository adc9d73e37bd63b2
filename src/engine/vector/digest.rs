//! A key's content digest (Redis's `DEBUG DIGEST-VALUE`): equal for equal content, whatever
//! the order elements were added in; reading it is not an access (no hit, no LRU touch).

use crate::engine::api::Engine;
use crate::error::Result;
use crate::store::{expired, Value};

/// 64-bit FNV-1a from a given offset basis.
fn fnv(basis: u64, parts: &[&[u8]]) -> u64 {
    let mut h = basis;
    for p in parts {
        for &b in p.iter() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separates parts, so ("ab", "c") and ("a", "bc") differ.
        h ^= p.len() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64's finalizer.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const BASES: [u64; 3] = [
    0xcbf2_9ce4_8422_2325,
    0x9e37_79b9_7f4a_7c15,
    0xd6e8_feb8_6659_fd93,
];

/// Three independent 64-bit hashes of `parts`.
fn lanes(parts: &[&[u8]]) -> [u64; 3] {
    BASES.map(|b| mix(fnv(b, parts)))
}

impl Engine {
    /// A 160-bit digest of the key's content (`None` for a missing or expired key): for a
    /// blob its bytes; for a vector set its dimension, size and every live element's name,
    /// stored vector (as [`Engine::vget`] reads it) and attributes, combined so that the
    /// order of elements does not matter. Not cryptographic: it tells equal content from
    /// different content, as Redis's digest is used.
    pub fn digest_value(&self, key: &[u8]) -> Result<Option<[u8; 20]>> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let now = self.store.now_ms();
        let data = shard.data.read();
        let Some(entry) = data.find(h, self.ks(), key).and_then(|s| data.entry(s)) else {
            return Ok(None);
        };
        if expired(entry.expires_at, now) {
            return Ok(None);
        }
        let total: [u64; 3] = match &entry.value {
            Value::Blob { data, .. } => lanes(&[b"string", data]),
            Value::Hash(hv) => {
                // Order-free, as a set's: the sum of each field's lanes.
                let mut sum = lanes(&[b"hash"]);
                for (f, v) in &hv.fields {
                    for (s, x) in sum.iter_mut().zip(lanes(&[f, v])) {
                        *s = s.wrapping_add(x);
                    }
                }
                sum
            }
            Value::VSet(set) => {
                let mut sum = [0u64; 3];
                let mut v = vec![0f32; set.params.dim];
                let mut live = 0u64;
                for slot in set.live_slots() {
                    let Some(e) = set.elem(slot).filter(|e| !expired(e.expires_at, now)) else {
                        continue;
                    };
                    live += 1;
                    set.read_vector(slot, &mut v);
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    let attrs = e.attrs.as_deref().map_or(&[][..], str::as_bytes);
                    let has = [u8::from(e.attrs.is_some())];
                    let l = lanes(&[&e.name, &bytes, &has, attrs]);
                    for (s, x) in sum.iter_mut().zip(l) {
                        *s = s.wrapping_add(x);
                    }
                }
                let head = lanes(&[
                    b"vectorset",
                    &(set.params.dim as u64).to_le_bytes(),
                    &live.to_le_bytes(),
                ]);
                [0, 1, 2].map(|i| mix(head[i] ^ sum[i]))
            }
        };
        let mut out = [0u8; 20];
        let all: Vec<u8> = total.iter().flat_map(|x| x.to_le_bytes()).collect();
        out.copy_from_slice(&all[..20]);
        Ok(Some(out))
    }
}
