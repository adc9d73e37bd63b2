//! A vector set as a snapshot stores it: its arenas as bytes, its slots, and a set made
//! back from them (`VectorSet::from_image`).

use super::*;

/// A slot read back from a snapshot: name, name hash, attributes, expiry.
pub(crate) type LoadedSlot = (Box<[u8]>, u64, Option<Box<str>>, u64);

/// One slot as a snapshot stores it.
pub(crate) struct SlotImage<'a> {
    pub name: &'a [u8],
    pub attrs: Option<&'a str>,
    pub expires_at: u64,
}

impl VectorSet {
    /// The arenas as bytes (each in two parts), for a snapshot: `(f32s, codes, scales, norms)`.
    pub fn arena_bytes(&self) -> [[&[u8]; 2]; 4] {
        [
            self.f32s.byte_parts(),
            self.codes.byte_parts(),
            self.scales.byte_parts(),
            self.norms.byte_parts(),
        ]
    }

    /// Every slot (holes as `None`) for a snapshot.
    pub fn slot_images(&self) -> impl Iterator<Item = Option<SlotImage<'_>>> {
        self.elems.iter().map(|e| {
            e.as_ref().map(|e| SlotImage {
                name: &e.name,
                attrs: e.attrs.as_deref(),
                expires_at: e.expires_at,
            })
        })
    }

    /// Rebuilds a set from a snapshot's slots and (mapped) arenas. Slots whose expiry passed
    /// become holes. Returns `None` when the arenas do not match the slot count.
    #[allow(clippy::too_many_arguments)]
    pub fn from_image(
        params: SetParams,
        uid: u64,
        slots: Vec<Option<LoadedSlot>>,
        f32s: Arena<f32>,
        codes: Arena<i8>,
        scales: Arena<f32>,
        norms: Arena<f32>,
        mut tick: impl FnMut() -> u64,
        now_ms: u64,
    ) -> Option<Self> {
        let n = slots.len();
        let d = params.dim;
        let mut set = VectorSet::new(params, uid);
        let f32_len = if set.keeps_f32() { n * d } else { 0 };
        let code_len = n * set.code_row();
        // Snapshots written before `exact` stopped keeping codes hold them too: ignored.
        let legacy_exact_codes = params.storage == StorageMode::Exact && codes.len() == n * d;
        // Only `q8` keeps scales; snapshots written before that hold a row per slot for every
        // set: ignored.
        let scale_len = if set.keeps_codes() { n } else { 0 };
        let legacy_scales = scales.len() == n;
        if f32s.len() != f32_len
            || (codes.len() != code_len && !legacy_exact_codes)
            || (scales.len() != scale_len && !legacy_scales)
            || norms.len() != n
        {
            return None;
        }
        set.f32s = f32s;
        if !legacy_exact_codes {
            set.codes = codes;
        }
        if set.keeps_codes() {
            set.scales = scales;
        }
        set.norms = norms;
        set.elems.reserve(n);
        // Sized once: growing the name table element by element rehashed it ~17 times at 100k.
        let elems = &set.elems;
        set.index.reserve(n, |&x| {
            elems[x as usize]
                .as_ref()
                .map_or(0, |e| table_hash(e.hash32().into()))
        });
        for (s, slot) in slots.into_iter().enumerate() {
            match slot {
                Some((name, hash, attrs, expires_at))
                    if !crate::store::expired(expires_at, now_ms) =>
                {
                    if set.find(hash, &name).is_some() {
                        return None; // a name twice: damaged image
                    }
                    let attrs = Attrs::from_boxed(attrs);
                    let bytes = set.element_bytes(name.len(), attrs.len());
                    if attrs.is_some() {
                        set.attrs_count += 1;
                    }
                    set.elems.push(Some(Elem {
                        name,
                        attrs,
                        expires_at,
                        meta: AccessMeta::tagged(tick(), now_ms, hash as u32),
                    }));
                    let elems = &set.elems;
                    set.index.insert_unique(table_hash(hash), s as u32, |&x| {
                        elems[x as usize]
                            .as_ref()
                            .map_or(0, |e| table_hash(e.hash32().into()))
                    });
                    set.live += 1;
                    set.bytes += bytes;
                }
                _ => {
                    set.elems.push(None);
                    set.free.insert(s as u32);
                }
            }
        }
        set.resync_slack();
        Some(set)
    }
}
