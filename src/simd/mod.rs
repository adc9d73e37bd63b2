//! Distance kernels for f32 and i8 vectors, chosen once at start for the CPU we run on.
//!
//! Three providers implement the same six kernels (`<op>_<elem>_<provider>`):
//! - [`scalar`]: portable Rust, every target; the fallback and the test reference;
//! - [`avx2`]: our own AVX2 + FMA kernels with many accumulators (x86_64);
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

#[cfg(target_arch = "x86_64")]
pub mod avx2;
mod dispatch;
pub mod scalar;
pub mod simsimd;
#[cfg(test)]
mod tests;

pub use dispatch::{
    cos_f32, cos_i8, dot_f32, dot_i8, isa, kernel_names, l2sq_f32, l2sq_i8, norm_f32,
};
