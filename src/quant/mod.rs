//! FP32 → INT8 scalar quantization, one symmetric scale per vector; [`q4`]: 4-bit codes for
//! graph traversal.
//!
//! # The codec
//!
//! For a vector `x` of `n` components, `m = max_i |x_i|`:
//!
//! ```text
//! scale s = m / 127                     (0 for an all-zero vector)
//! code  c_i = round(x_i / s)            in [-127, 127]  (ties to even)
//! x̂_i  = c_i · s                       (dequantized)
//! ```
//!
//! The code -128 is never produced, so negation and `|c_i|` stay in range.
//!
//! # Error bounds
//!
//! **Per component.** In exact arithmetic `|x_i/s - c_i| ≤ 1/2`, so
//! `|x_i - x̂_i| ≤ s/2 = m/254`. In f32 the quotient `x_i · fl(1/s)` carries at most two
//! roundings of `u = 2^-24` on a value of magnitude ≤ 127 (≤ 127·2u ≈ 1.5e-5) and the
//! dequantizing product one more (≤ 127·u·s ≈ 7.6e-6·s), so what this code guarantees is
//!
//! ```text
//! |x_i - x̂_i| ≤ s · (1/2 + 2^-15)      = m · (1/254 + 2^-15/127)
//! ```
//!
//! **Cosine of a vector and its reconstruction.** Let `e = x̂ - x` and
//! `r = ‖e‖₂ / ‖x‖₂`. Every point of the ball of radius `‖e‖` around `x` makes an angle
//! θ with `x` where `sin θ ≤ r`; so if `r < 1`,
//!
//! ```text
//! cos(x, x̂) ≥ √(1 - r²),   r ≤ √n · s · (1/2 + 2^-15) / ‖x‖₂
//! ```
//!
//! Because `m ≤ ‖x‖₂`, the worst case over all vectors is `r ≤ √n / 254` (about
//! `0.077` for `n = 384`, i.e. `cos ≥ 0.997`); for a typical embedding, whose largest
//! component is much smaller than its norm, the bound is far tighter (for a unit
//! 384-d vector with `m = 0.2`: `r ≤ 0.0155`, `cos ≥ 0.99988`). Rounding errors behave like
//! independent uniform noise on `[-s/2, s/2]`, so in practice `‖e‖ ≈ s·√(n/12)`, half of
//! the bound. `tests/engine/quant_minilm.rs` checks both the bound and `cos ≥ 0.999` on all
//! 100,000 MiniLM vectors.
//!
//! **Cosine between two quantized vectors.** The scales cancel:
//! `cos(x̂, ŷ) = cos_i8(c_x, c_y)`, so cosine search can run on the codes alone.
//!
//! **Dot products.** With `x̂ = x + e`, `ŷ = y + f`,
//! `x̂·ŷ - x·y = x·f + e·y + e·f`, hence
//!
//! ```text
//! |x̂·ŷ - x·y| ≤ (s_y/2)·‖x‖₁ + (s_x/2)·‖y‖₁ + n·s_x·s_y/4     (plus f32 rounding)
//! ```
//!
//! and [`approx_dot`] computes `x̂·ŷ = s_x · s_y · Σ c_x,i · c_y,i` with an exact integer
//! sum ([`crate::simd::dot_i8`]), so a query quantized once ([`QuantizedVector`]) is
//! compared against stored codes without dequantizing them.

mod codec;
pub mod q4;
#[cfg(test)]
mod tests;

pub use codec::{approx_dot, dequantize_into, max_abs, quantize_into, QuantizedVector};
