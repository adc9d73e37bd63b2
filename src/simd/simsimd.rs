//! Thin wrappers over the `simsimd` crate (its C kernels pick their own ISA at run time),
//! adapted to our contract: the shorter length on a mismatch, similarity instead of
//! distance, 0 for the cosine of a zero vector, exact integers for i8.
//!
//! simsimd returns every result as an f64; i8 dot products and squared distances are
//! computed in 32-bit integers on its side, so converting back is exact.

use ::simsimd::SpatialSimilarity;

/// Truncates both slices to the shorter length (simsimd refuses a mismatch).
#[inline(always)]
fn same_len<'a, T>(a: &'a [T], b: &'a [T]) -> (&'a [T], &'a [T]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

/// Turns simsimd's cosine *distance* into our cosine similarity.
///
/// simsimd reports distance 0 (similarity 1) when *both* vectors are zero, where our
/// contract says 0; it reports 1 (similarity 0) when only one is. So a distance of exactly
/// 0 is checked against an all-zero `a`; the scan stops at the first non-zero element, so
/// for the identical-vector case that also yields 0 it costs next to nothing.
#[inline(always)]
fn similarity<T: Copy + PartialEq + Default>(distance: f64, a: &[T]) -> f32 {
    if distance == 0.0 && a.iter().all(|&x| x == T::default()) {
        return 0.0;
    }
    (1.0 - distance).clamp(-1.0, 1.0) as f32
}

/// Inner product of two f32 vectors.
pub fn dot_f32_simsimd(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = same_len(a, b);
    // Lengths are equal, so simsimd always answers.
    <f32 as SpatialSimilarity>::dot(a, b).unwrap_or(0.0) as f32
}

/// Cosine similarity of two f32 vectors; 0 when either has zero norm.
pub fn cos_f32_simsimd(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = same_len(a, b);
    similarity(<f32 as SpatialSimilarity>::cos(a, b).unwrap_or(1.0), a)
}

/// Squared Euclidean distance of two f32 vectors.
pub fn l2sq_f32_simsimd(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = same_len(a, b);
    <f32 as SpatialSimilarity>::l2sq(a, b).unwrap_or(0.0) as f32
}

/// Inner product of two i8 vectors, exact in i32.
pub fn dot_i8_simsimd(a: &[i8], b: &[i8]) -> i32 {
    let (a, b) = same_len(a, b);
    // simsimd sums in a C `int`; the f64 holds that value exactly.
    <i8 as SpatialSimilarity>::dot(a, b).unwrap_or(0.0) as i64 as i32
}

/// Cosine similarity of two i8 vectors; 0 when either is all zero.
pub fn cos_i8_simsimd(a: &[i8], b: &[i8]) -> f32 {
    let (a, b) = same_len(a, b);
    similarity(<i8 as SpatialSimilarity>::cos(a, b).unwrap_or(1.0), a)
}

/// Squared Euclidean distance of two i8 vectors, exact in u32.
pub fn l2sq_i8_simsimd(a: &[i8], b: &[i8]) -> u32 {
    let (a, b) = same_len(a, b);
    // simsimd sums in a C `int`, which reads as negative past 2^31; modulo 2^32 the
    // value is still the exact sum, which fits a u32 for lengths up to 65,536.
    <i8 as SpatialSimilarity>::l2sq(a, b).unwrap_or(0.0) as i64 as u32
}

/// The best instruction set simsimd's own run-time dispatch found on this CPU.
pub fn simsimd_isa() -> &'static str {
    use ::simsimd::capabilities as caps;
    if caps::uses_sierra() {
        "sierra"
    } else if caps::uses_turin() {
        "turin"
    } else if caps::uses_sapphire() {
        "sapphire"
    } else if caps::uses_genoa() {
        "genoa"
    } else if caps::uses_ice() {
        "ice"
    } else if caps::uses_skylake() {
        "skylake"
    } else if caps::uses_haswell() {
        "haswell"
    } else if caps::uses_sve() {
        "sve"
    } else if caps::uses_neon() {
        "neon"
    } else {
        "serial"
    }
}
