//! Transparent huge pages for the graph's big arrays.
//!
//! A search reads the codes (and lists) of a few hundred random nodes: with 4 KiB pages
//! nearly every one is a TLB miss, and under virtualisation a miss walks two page tables.
//! Where the kernel leaves THP to `madvise` (the common default), the arrays ask for 2 MiB
//! pages before their memory is first touched.
//!
//! The advice belongs to the address range, not to the allocation: once the buffer goes back
//! to the allocator, the range keeps asking for huge pages, and whatever the allocator puts
//! there next (small blocks of other values, most of the range unused) is backed by whole
//! 2 MiB pages — and with the kernel's default `max_ptes_none` (511) khugepaged collapses any
//! such range with a single page in use into a full 2 MiB page. Under a mix of vector-set
//! churn (graphs grown and rebuilt) and other allocations, that made the process resident
//! several times what it held. So a buffer withdraws its advice (`MADV_NOHUGEPAGE`) before
//! it is freed: when it moves on growth ([`resize_huge_with`]) and when its graph is dropped
//! ([`release`]).
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

/// Grows `v` to `len` elements, each made by `f`, after advising the kernel to back its
/// buffer with huge pages (buffers under 4 MiB are left alone). When the buffer must move,
/// the elements go to a new advised buffer of at least twice the capacity (so one-slot steps
/// cost amortised O(1)) and the old one withdraws its advice before it is freed. Only `len`
/// elements are written: the reserve beyond them is address space, not resident memory
/// (with huge pages, at most the one 2 MiB page being filled).
pub(super) fn resize_huge_with<T>(v: &mut Vec<T>, len: usize, f: impl FnMut() -> T) {
    if len > v.capacity() {
        let mut grown = Vec::with_capacity(len.max(v.capacity() * 2));
        advise(&mut grown, Advice::Huge);
        grown.append(v);
        release(v);
        *v = grown;
    }
    v.resize_with(len, f);
}

/// Withdraws the huge-page advice of `v`'s buffer (call before the buffer is freed).
pub(super) fn release<T>(v: &mut Vec<T>) {
    advise(v, Advice::NotHuge);
}

#[derive(Clone, Copy)]
enum Advice {
    Huge,
    NotHuge,
}

#[cfg(target_os = "linux")]
fn advise<T>(v: &mut Vec<T>, advice: Advice) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = v.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > first {
        let advice = match advice {
            Advice::Huge => libc::MADV_HUGEPAGE,
            Advice::NotHuge => libc::MADV_NOHUGEPAGE,
        };
        // SAFETY: madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE) only sets a hint on pages of this
        // process's own allocation (`first..end` lies inside `v`'s buffer, page-aligned); it
        // changes no contents and no permissions. A failure (THP disabled) is harmless and
        // ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, advice);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise<T>(_: &mut Vec<T>, _: Advice) {}
