//! Transparent huge pages for the graph's big arrays.
//!
//! A search reads the codes (and lists) of a few hundred random nodes: with 4 KiB pages
//! nearly every one is a TLB miss, and under virtualisation a miss walks two page tables.
//! Where the kernel leaves THP to `madvise` (the common default), the arrays ask for 2 MiB
//! pages before their memory is first touched.
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

/// Grows `v` to `len` elements, each made by `f`, after advising the kernel to back its
/// buffer with huge pages (buffers under 4 MiB are left alone).
pub(super) fn resize_huge_with<T>(v: &mut Vec<T>, len: usize, f: impl FnMut() -> T) {
    if len > v.len() {
        v.reserve_exact(len - v.len());
        advise(v);
    }
    v.resize_with(len, f);
}

#[cfg(target_os = "linux")]
fn advise<T>(v: &mut Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = v.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > first {
        // SAFETY: madvise(MADV_HUGEPAGE) only sets a hint on pages of this process's own
        // allocation (`first..end` lies inside `v`'s buffer, page-aligned); it changes no
        // contents and no permissions. A failure (THP disabled) is harmless and ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise<T>(_: &mut Vec<T>) {}
