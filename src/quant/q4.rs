//! FP32 → 4-bit scalar quantization, one scale per vector: the traversal codes of the graph's
//! `q4` mode (what an `exact` set's graph keeps: half the bytes of INT8, the f32 kept by the
//! set does the final rerank).
//!
//! # The codec
//!
//! Codes `c_i ∈ [-7, 7]`, stored as the unsigned nibble `c_i + 8` (0 is never produced;
//! padding nibbles are 8, i.e. code 0). For a scale `s`, `x̂_i = c_i · s`. The scale is not
//! simply `max|x| / 7`: with 15 levels, one large component would make the step coarse for
//! all the others, so the encoder tries clipping points `t ∈ {1, 0.85, 0.72, 0.62, 0.53} ·
//! max|x|` (codes `round(x_i · 7 / t)` clamped), and keeps the one whose codes span the
//! direction of `x` best — the largest `(x·c)² / (c·c)` — with the least-squares scale
//! `s = (x·c) / (c·c)` for those codes, which minimises `‖x − s·c‖₂` over `s`.
//!
//! # Layout
//!
//! Blocks of 128 dimensions in 64 bytes: byte `j` of a block holds dimension `j` in its low
//! nibble and dimension `j + 64` in its high one, so one 64-byte load and a shift give two
//! runs of 64 consecutive dimensions, the operand of one `vpdpbusd` each against an INT8
//! query ([`crate::simd::dot_u4_i8`]). A row is [`row_bytes`] long (the dimension rounded
//! up to 128, padded with code 0).
//!
//! # Error
//!
//! Rounding leaves `|x_i − x̂_i| ≤ s/2` for unclipped components; clipped ones (above `t`)
//! err by `|x_i| − 7s` more, which the choice of `t` trades against the finer step. For a
//! query `q` the estimate `q·x̂` errs by `q·(x̂ − x)`; with rounding errors acting as
//! independent uniform noise that is about `‖q‖ · s / √12`. On a unit 768-d embedding
//! (components ≈ N(0, 1/768), `max|x|` ≈ 0.13, `s` ≈ 0.014 after clipping) that is ≈ 0.004
//! per inner product, against gaps of 0.01–0.05 between a query's 10th and 100th nearest
//! neighbours on the project's data sets: enough to steer a graph walk whose `ef` candidates
//! are then reranked with f32. `tests.rs` checks the codec's error on real vectors.

use crate::simd;

/// Dimensions per block.
pub const BLOCK_DIMS: usize = 128;
/// Bytes per block.
pub const BLOCK_BYTES: usize = BLOCK_DIMS / 2;

/// Bytes of one packed row of `dim` dimensions (`dim` rounded up to 128, two per byte).
#[inline]
pub const fn row_bytes(dim: usize) -> usize {
    dim.div_ceil(BLOCK_DIMS) * BLOCK_BYTES
}

/// Length of an INT8 query for rows of `dim` dimensions (`dim` rounded up to 128; the
/// query's padding must be 0).
#[inline]
pub const fn padded_dims(dim: usize) -> usize {
    dim.div_ceil(BLOCK_DIMS) * BLOCK_DIMS
}

/// Clipping points tried, as fractions of `max|x|`.
const CLIPS: [f32; 5] = [1.0, 0.85, 0.72, 0.62, 0.53];

/// Position of dimension `i` in a packed row: (byte, high nibble?).
#[inline(always)]
fn place(i: usize) -> (usize, bool) {
    let (b, j) = (i / BLOCK_DIMS, i % BLOCK_DIMS);
    (b * BLOCK_BYTES + j % BLOCK_BYTES, j >= BLOCK_BYTES)
}

#[inline(always)]
fn code(x: f32, inv: f32) -> i32 {
    let q = (x * inv).round();
    let q = if q > 7.0 { 7.0 } else { q };
    let q = if q < -7.0 { -7.0 } else { q };
    q as i32
}

/// Quantizes `src` into the packed row `dst` (at least [`row_bytes`]`(src.len())` bytes;
/// bytes past that are set to code-0 nibbles too) and returns the scale. An all-zero or
/// non-finite vector gives scale 0 and all codes 0.
pub fn quantize_into(src: &[f32], dst: &mut [u8]) -> f32 {
    dst.fill(0x88);
    let n = src.len().min(2 * dst.len());
    let src = &src[..n];
    let max = super::max_abs(src);
    if !(max.is_finite() && max >= f32::MIN_POSITIVE * 1e6) {
        return 0.0;
    }
    // The clip whose codes are best aligned with x: largest (x·c)² / (c·c).
    let (mut best_t, mut best) = (max, f64::NEG_INFINITY);
    for f in CLIPS {
        let inv = 7.0 / (max * f);
        let (mut xc, mut cc) = (0f64, 0f64);
        for &x in src {
            let c = code(x, inv) as f64;
            xc += x as f64 * c;
            cc += c * c;
        }
        if cc > 0.0 && xc * xc / cc > best {
            best = xc * xc / cc;
            best_t = max * f;
        }
    }
    let inv = 7.0 / best_t;
    let (mut xc, mut cc) = (0f64, 0f64);
    for (i, &x) in src.iter().enumerate() {
        let c = code(x, inv);
        xc += x as f64 * c as f64;
        cc += (c * c) as f64;
        let (byte, high) = place(i);
        let u = (c + 8) as u8;
        dst[byte] = if high {
            (dst[byte] & 0x0f) | (u << 4)
        } else {
            (dst[byte] & 0xf0) | u
        };
    }
    if cc == 0.0 {
        return 0.0;
    }
    (xc / cc) as f32
}

/// The code (`-7..=7`) of dimension `i` of a packed row.
#[inline]
pub fn code_at(row: &[u8], i: usize) -> i8 {
    let (byte, high) = place(i);
    let u = if high {
        row[byte] >> 4
    } else {
        row[byte] & 0x0f
    };
    u as i8 - 8
}

/// Writes `code · scale` for the first `dst.len()` dimensions of a packed row.
pub fn dequantize_into(row: &[u8], scale: f32, dst: &mut [f32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = if place(i).0 < row.len() {
            code_at(row, i) as f32 * scale
        } else {
            0.0
        };
    }
}

/// `Σ c_i · q_i` of a packed row against an INT8 query of [`padded_dims`] components whose
/// components sum to `q_sum` (the nibbles hold `c + 8`: `Σ u·q − 8·Σ q`).
#[inline(always)]
pub fn dot_query(row: &[u8], q: &[i8], q_sum: i32) -> i32 {
    simd::dot_u4_i8(row, q).wrapping_sub(8 * q_sum)
}

/// `Σ a_i · b_i` of two packed rows' codes (graph construction compares stored nodes; exact).
#[inline(always)]
pub fn dot_rows(a: &[u8], b: &[u8]) -> i32 {
    simd::dot_u4_u4(a, b)
}
