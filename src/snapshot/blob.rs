//! Blob values that are either owned (a heap copy) or served in place from a snapshot's
//! mapped blob section: restart maps the blobs instead of copying every value.
//!
//! A [`BlobBytes`] is two words, as the `Box<[u8]>` it replaces: a pointer and a length
//! whose top bit says "mapped". A mapped value's bytes belong to a [`Region`] (one read-only
//! mapping of one blob section); the region counts the values still pointing into it and is
//! unmapped when the last one is dropped (or replaced by a write), so an old snapshot's pages
//! and its disk space (the file may be unlinked by a later checkpoint: unlinking a mapped
//! file is safe) are given back once every value loaded from it has changed.
//!
//! The section's checksum is verified in full before `Engine::open` returns (as every
//! section's); what is served afterwards is what the file holds, as for the mapped vector
//! arrays (a write into a mapped snapshot file while the process runs is served as is, and
//! caught by the checksum at the next open).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::Mmap;
use parking_lot::RwLock;

/// The top bit of [`BlobBytes::len`]: the bytes are in a mapped region.
const MAPPED: usize = 1 << (usize::BITS - 1);

/// One mapped blob section (or log segment, see [`RegionHandle::shared`]) and how many
/// values point into it.
pub(crate) struct Region {
    map: Arc<Mmap>,
    live: AtomicUsize,
}

/// Live regions by start address, to find a value's region when it is dropped.
static REGIONS: RwLock<BTreeMap<usize, Arc<Region>>> = RwLock::new(BTreeMap::new());

/// A loader's handle on a region: hands out values pointing into it. While the handle
/// lives the region stays mapped; afterwards, as long as one of its values does.
pub(crate) struct RegionHandle {
    region: Arc<Region>,
}

impl RegionHandle {
    /// Registers `map` (a blob section mapped read-only).
    pub fn new(map: Mmap) -> RegionHandle {
        RegionHandle::shared(Arc::new(map))
    }

    /// Registers a mapping someone else holds too: a log segment whose records recovery
    /// replays ([`BlobBytes::in_region_or_copied`] serves their values in place). The owner
    /// guarantees the mapped bytes never change while any holder lives (the log deletes
    /// such a segment instead of reusing it).
    pub fn shared(map: Arc<Mmap>) -> RegionHandle {
        // The handle's own count: the region is not freed while values are being made.
        let region = Arc::new(Region {
            map,
            live: AtomicUsize::new(1),
        });
        if !region.map.is_empty() {
            REGIONS
                .write()
                .insert(region.map.as_ptr() as usize, region.clone());
        }
        RegionHandle { region }
    }

    /// The section's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.region.map
    }

    /// A value served from bytes `at..at + len` of the section; `None` when out of range
    /// or too long to flag.
    pub fn value(&self, at: usize, len: usize) -> Option<BlobBytes> {
        let end = at.checked_add(len)?;
        if end > self.region.map.len() || len & MAPPED != 0 || len == 0 {
            return None;
        }
        self.region.live.fetch_add(1, Ordering::Relaxed);
        // The pointer is inside the mapping (checked above) and not null.
        let ptr = NonNull::new(self.region.map[at..end].as_ptr().cast_mut())?;
        Some(BlobBytes {
            ptr,
            len: len | MAPPED,
        })
    }
}

impl Drop for RegionHandle {
    fn drop(&mut self) {
        release(&self.region);
    }
}

/// Drops one count of `region`; the last one unregisters (and so unmaps) it.
fn release(region: &Arc<Region>) {
    if region.live.fetch_sub(1, Ordering::AcqRel) == 1 {
        REGIONS.write().remove(&(region.map.as_ptr() as usize));
    }
}

/// Whether the mapping starting at `start` is still registered (tests).
#[cfg(test)]
pub(crate) fn region_alive(start: usize) -> bool {
    REGIONS.read().contains_key(&start)
}

/// A blob value: owned bytes, or bytes of a mapped snapshot section (see the module docs).
pub(crate) struct BlobBytes {
    ptr: NonNull<u8>,
    /// The length; [`MAPPED`] set when the bytes are in a region.
    len: usize,
}

// SAFETY: owned bytes are a `Box<[u8]>` (Send + Sync); mapped bytes are read-only memory of a
// mapping that stays alive while this value does (its region's count), never written.
unsafe impl Send for BlobBytes {}
// SAFETY: as for Send; no interior mutability.
unsafe impl Sync for BlobBytes {}

impl BlobBytes {
    /// A value of `b`'s bytes: served in place when they lie in a registered region and are
    /// at least `min` long (a region's pages are shared with the file: no copy, no fresh
    /// heap pages), else an owned copy. For recovery, whose replayed values lie in the
    /// log's mappings; any other caller's bytes are in no region and are copied (one ordered
    /// map lookup under a read lock first, so only recovery calls it).
    pub fn in_region_or_copied(b: &[u8], min: usize) -> BlobBytes {
        if b.len() >= min && b.len() & MAPPED == 0 {
            let addr = b.as_ptr() as usize;
            let regions = REGIONS.read();
            if let Some((&start, region)) = regions.range(..=addr).next_back() {
                let at = addr - start;
                // A count that reached 0 is being unregistered: never raised from 0.
                if at
                    .checked_add(b.len())
                    .is_some_and(|end| end <= region.map.len())
                    && region
                        .live
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                            (c > 0).then_some(c + 1)
                        })
                        .is_ok()
                {
                    return BlobBytes {
                        // A slice's pointer is never null.
                        ptr: NonNull::from(b).cast::<u8>(),
                        len: b.len() | MAPPED,
                    };
                }
            }
        }
        BlobBytes::from(b)
    }

    /// Whether the bytes are the value's own (not in a mapped snapshot section).
    pub fn is_owned(&self) -> bool {
        self.len & MAPPED == 0
    }

    /// The bytes, writable in place when they are owned.
    pub fn owned_mut(&mut self) -> Option<&mut [u8]> {
        if !self.is_owned() {
            return None;
        }
        // SAFETY: owned bytes come from `Box::into_raw` of a `[u8]` of `len` bytes that this
        // value alone holds; `&mut self` makes the borrow unique.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) })
    }
}

impl Deref for BlobBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len & !MAPPED` initialised bytes: a live box of ours, or
        // a mapping kept alive by its region's count, which this value holds.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len & !MAPPED) }
    }
}

impl From<Box<[u8]>> for BlobBytes {
    fn from(b: Box<[u8]>) -> Self {
        let len = b.len();
        assert!(
            len & MAPPED == 0,
            "a blob longer than half the address space"
        );
        let raw = Box::into_raw(b);
        BlobBytes {
            // A box's pointer is never null (dangling but non-null when empty).
            ptr: NonNull::new(raw.cast::<u8>()).expect("boxes are non-null"),
            len,
        }
    }
}

impl From<&[u8]> for BlobBytes {
    fn from(b: &[u8]) -> Self {
        Box::<[u8]>::from(b).into()
    }
}

impl From<Vec<u8>> for BlobBytes {
    fn from(b: Vec<u8>) -> Self {
        b.into_boxed_slice().into()
    }
}

impl Clone for BlobBytes {
    /// A clone is an owned copy.
    fn clone(&self) -> Self {
        BlobBytes::from(&self[..])
    }
}

impl std::fmt::Debug for BlobBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobBytes")
            .field("len", &self.len())
            .field("owned", &self.is_owned())
            .finish()
    }
}

impl Drop for BlobBytes {
    fn drop(&mut self) {
        if self.is_owned() {
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
            // SAFETY: owned bytes come from `Box::into_raw` of exactly this slice, and are
            // freed once, here.
            drop(unsafe { Box::from_raw(slice) });
            return;
        }
        let addr = self.ptr.as_ptr() as usize;
        let region = REGIONS
            .read()
            .range(..=addr)
            .next_back()
            .map(|(_, r)| r.clone());
        if let Some(r) = region {
            release(&r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(bytes: &[u8]) -> Mmap {
        let mut m = memmap2::MmapMut::map_anon(bytes.len()).unwrap();
        m.copy_from_slice(bytes);
        m.make_read_only().unwrap()
    }

    #[test]
    fn a_region_lives_until_its_handle_and_every_value_from_it_are_dropped() {
        let handle = RegionHandle::new(mapped(b"hello, mapped world"));
        let start = handle.bytes().as_ptr() as usize;
        let a = handle.value(0, 5).unwrap();
        let b = handle.value(7, 6).unwrap();
        assert!(handle.value(15, 5).is_none(), "past the end");
        assert!(handle.value(3, 0).is_none(), "empty values are owned");
        assert_eq!((&a[..], &b[..]), (&b"hello"[..], &b"mapped"[..]));
        assert!(!a.is_owned());
        let c = a.clone();
        assert!(c.is_owned());
        assert_eq!(&c[..], b"hello");
        drop(handle);
        assert!(region_alive(start), "values still point into it");
        drop(a);
        assert_eq!(&b[..], b"mapped");
        drop(b);
        assert!(!region_alive(start), "the last value unmapped it");
    }

    #[test]
    fn bytes_inside_a_registered_region_are_served_in_place_and_others_copied() {
        let map = std::sync::Arc::new(mapped(b"0123456789abcdef"));
        let start = map.as_ptr() as usize;
        let handle = RegionHandle::shared(map.clone());
        let inside = BlobBytes::in_region_or_copied(&map[4..12], 4);
        assert!(!inside.is_owned());
        assert_eq!(&inside[..], b"456789ab");
        let short = BlobBytes::in_region_or_copied(&map[4..6], 4);
        assert!(short.is_owned(), "under the minimum: copied");
        let elsewhere = BlobBytes::in_region_or_copied(b"not mapped", 1);
        assert!(elsewhere.is_owned());
        assert_eq!(&elsewhere[..], b"not mapped");
        drop(handle);
        assert!(region_alive(start), "a value still points into it");
        drop(map);
        assert_eq!(&inside[..], b"456789ab", "the region holds the mapping");
        drop(inside);
        assert!(!region_alive(start));
    }

    #[test]
    fn owned_values_are_writable_in_place_and_mapped_ones_are_not() {
        let mut v = BlobBytes::from(&b"abc"[..]);
        v.owned_mut().unwrap().copy_from_slice(b"xyz");
        assert_eq!(&v[..], b"xyz");
        let handle = RegionHandle::new(mapped(b"abc"));
        let mut m = handle.value(0, 3).unwrap();
        assert!(m.owned_mut().is_none());
        let empty = BlobBytes::from(Vec::new());
        assert!(empty.is_empty() && empty.is_owned());
    }
}
