//! FP32 → INT8 scalar quantization, one symmetric scale per vector.
//!
//! PLACEHOLDER: the codec's error bound and tests land with the quantization work;
//! the signatures below are the contract.

/// Quantizes `src` into `dst` (same length) and returns the scale:
/// `code = round(x / scale)`, `scale = max|x| / 127` (0 for an all-zero vector).
pub fn quantize_into(src: &[f32], dst: &mut [i8]) -> f32 {
    let max = src.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        dst.iter_mut().for_each(|d| *d = 0);
        return 0.0;
    }
    let scale = max / 127.0;
    let inv = 1.0 / scale;
    for (d, x) in dst.iter_mut().zip(src) {
        *d = (x * inv).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// Writes `code * scale` for every code into `dst` (same length).
pub fn dequantize_into(codes: &[i8], scale: f32, dst: &mut [f32]) {
    for (d, &c) in dst.iter_mut().zip(codes) {
        *d = c as f32 * scale;
    }
}
