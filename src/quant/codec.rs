//! The INT8 codec itself; the format and its error bounds are documented in [`super`].

use crate::simd;

/// Largest code magnitude; -128 is never produced.
const MAX_CODE: f32 = 127.0;

/// Smallest `max|x|` that is quantized: below it the scale would be subnormal and lose
/// precision (`1/scale` may even overflow), so such vectors quantize to all-zero codes
/// with scale 0; their components are all below 1.5e-36 anyway.
const MIN_MAX_ABS: f32 = MAX_CODE * f32::MIN_POSITIVE;

/// `1.5 · 2^23`: adding and subtracting it rounds an f32 of magnitude < 2^22 to the
/// nearest integer, ties to even, in plain arithmetic the compiler can vectorize on any
/// target (unlike `f32::round`, a libm call without SSE4.1).
const ROUNDING_BIAS: f32 = 12_582_912.0;

/// Largest absolute value of the components (NaN components are ignored, an infinite one
/// gives infinity); 0 for an empty slice.
pub fn max_abs(x: &[f32]) -> f32 {
    const LANES: usize = 8;
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    let mut m = [0f32; LANES];
    for c in chunks {
        for j in 0..LANES {
            let a = c[j].abs();
            m[j] = if a > m[j] { a } else { m[j] };
        }
    }
    let mut max = 0f32;
    for a in m.iter().chain(tail).map(|v| v.abs()) {
        max = if a > max { a } else { max };
    }
    max
}

/// Rounds `q` (|q| ≤ 127 up to rounding) to the nearest code, ties to even, clamped to
/// `[-127, 127]`. A NaN yields 0.
///
/// Written with compares and selects only (no `f32::clamp`, no saturating float → int
/// cast, whose NaN checks keep the loop scalar): after adding `1.5 · 2^23` the integer sits
/// in the low mantissa bits, so subtracting the bias's bit pattern yields it directly.
#[inline(always)]
fn to_code(q: f32) -> i8 {
    #[allow(clippy::eq_op)] // `q == q` is false exactly for NaN.
    let q = if q == q { q } else { 0.0 };
    let q = if q > MAX_CODE { MAX_CODE } else { q };
    let q = if q < -MAX_CODE { -MAX_CODE } else { q };
    ((q + ROUNDING_BIAS).to_bits() as i32 - ROUNDING_BIAS.to_bits() as i32) as i8
}

/// Quantizes `src` into `dst` and returns the scale: `code = round(x / scale)`,
/// `scale = max|x| / 127`.
///
/// The scale is 0, and every code 0, for an all-zero vector, for one whose `max|x|` is
/// below `127 · f32::MIN_POSITIVE`, and for one with an infinite component (the engine
/// rejects non-finite input before this point; this only keeps the codec total). On a
/// length mismatch the first `min(src.len(), dst.len())` components are quantized and the
/// rest of `dst` is set to 0.
pub fn quantize_into(src: &[f32], dst: &mut [i8]) -> f32 {
    let n = src.len().min(dst.len());
    let (src, (dst, dst_rest)) = (&src[..n], dst.split_at_mut(n));
    dst_rest.fill(0);
    let max = max_abs(src);
    if !(max >= MIN_MAX_ABS && max.is_finite()) {
        dst.fill(0);
        return 0.0;
    }
    let mut scale = max / MAX_CODE;
    if (scale * MAX_CODE).is_infinite() {
        // Only near f32::MAX: rounding up made 127 · scale overflow; one ulp less keeps
        // every dequantized value finite and still maps max|x| to ±127.
        scale = f32::from_bits(scale.to_bits() - 1);
    }
    let inv = 1.0 / scale;
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = to_code(x * inv);
    }
    scale
}

/// Writes `code · scale` for every code into `dst`. On a length mismatch the first
/// `min(codes.len(), dst.len())` values are written and the rest of `dst` is set to 0.
pub fn dequantize_into(codes: &[i8], scale: f32, dst: &mut [f32]) {
    let n = codes.len().min(dst.len());
    let (dst, dst_rest) = dst.split_at_mut(n);
    dst_rest.fill(0.0);
    for (d, &c) in dst.iter_mut().zip(&codes[..n]) {
        *d = c as f32 * scale;
    }
}

/// The dot product of two dequantized vectors, `x̂·ŷ = scale_a · scale_b · Σ a_i b_i`,
/// from their codes (exact integer sum); its distance to the true `x·y` is bounded in
/// [`super`]. The shorter length is used on a mismatch.
#[inline]
pub fn approx_dot(a_codes: &[i8], a_scale: f32, b_codes: &[i8], b_scale: f32) -> f32 {
    (a_scale as f64 * b_scale as f64 * simd::dot_i8(a_codes, b_codes) as f64) as f32
}

/// A vector quantized once (typically a query) to be compared against many stored codes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantizedVector {
    /// The codes, one per component, in `[-127, 127]`.
    pub codes: Vec<i8>,
    /// The scale: component `i` is approximately `codes[i] · scale`.
    pub scale: f32,
}

impl QuantizedVector {
    /// Quantizes `x` (see [`quantize_into`]).
    pub fn new(x: &[f32]) -> Self {
        let mut codes = vec![0i8; x.len()];
        let scale = quantize_into(x, &mut codes);
        Self { codes, scale }
    }

    /// Approximate dot product with a stored vector given by its codes and scale.
    #[inline]
    pub fn approx_dot(&self, codes: &[i8], scale: f32) -> f32 {
        approx_dot(&self.codes, self.scale, codes, scale)
    }

    /// Cosine similarity with a stored vector given by its codes; equal to the cosine of
    /// the two dequantized vectors (the scales cancel).
    #[inline]
    pub fn cos(&self, codes: &[i8]) -> f32 {
        simd::cos_i8(&self.codes, codes)
    }

    /// The dequantized vector.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.codes.len()];
        dequantize_into(&self.codes, self.scale, &mut out);
        out
    }
}
