//! Distance kernels for f32 and i8 vectors, chosen once at start for the CPU we run on.
//!
//! Three providers implement the same six kernels (`<op>_<elem>_<provider>`):
//! - [`scalar`]: portable Rust, every target; the fallback and the test reference;
//! - [`avx2`]: our own AVX2 + FMA kernels with many accumulators (x86_64);
//! - [`avx512`]: our own AVX-512 VNNI INT8 inner product (x86_64), the graph's kernel;
//! - [`simsimd`]: the `simsimd` crate's C kernels, which dispatch on their own.
//!
//! [`dot_f32`] and friends call, through one table filled on first use, whichever
//! provider `benches/kernels.rs` measured as faster for that (type, op, ISA);
//! [`isa`] and [`kernel_names`] say what was chosen.
//!
//! Contract of every kernel:
//! - slices of different lengths are never an error: the shorter length is used;
//! - cosine similarity is in `[-1, 1]` and is 0 when either vector has zero norm;
//! - i8 dot products and squared distances are exact, as long as the true value fits the
//!   result type, which holds for every input of length up to 65,536:
//!   |dot| ≤ 128² · 65,536 = 2^30 < 2^31 and l2sq ≤ 255² · 65,536 < 2^32. Longer inputs
//!   wrap (modulo 2^32) and never panic;
//! - f32 results carry ordinary f32 rounding error (relative to the sum of the absolute
//!   products); NaN and infinities are not handled specially (the engine rejects them).
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
mod dispatch;
pub mod scalar;
pub mod simsimd;
#[cfg(test)]
mod tests;

pub use dispatch::{
    cos_f32, cos_i8, dot_f32, dot_i8, dot_u4_i8, dot_u4_i8_kernel, dot_u4_u4, isa, kernel_names,
    l2sq_f32, l2sq_i8, norm_f32,
};

/// Asks the CPU to start loading `data` into cache (every 64-byte line of it), so a later
/// distance computation on it does not wait for memory. A hint only: no effect on results,
/// never faults, a no-op off x86_64. Graph walks call it for the neighbours they are about to
/// score, the way hnswlib does.
#[inline]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = data.as_ptr().cast::<i8>();
        let bytes = std::mem::size_of_val(data);
        let mut off = 0;
        while off < bytes {
            // SAFETY: PREFETCHT0 is part of SSE (baseline on x86_64), only hints the cache,
            // and never faults; `p + off` stays inside `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
