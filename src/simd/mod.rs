//! Distance kernels for f32 and i8 vectors, chosen once at start for the CPU we run on.
//!
//! PLACEHOLDER (scalar only): the SIMD kernels and run-time dispatch land with the
//! kernel work; the signatures below are the contract every other module uses.
//! All kernels take two slices of equal length; on a length mismatch the shorter
//! length is used (never a panic).

/// Inner product of two f32 vectors.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine similarity of two f32 vectors; 0 when either has zero norm.
pub fn cos_f32(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// Squared Euclidean distance of two f32 vectors.
pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Inner product of two i8 vectors (exact, in i32).
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// Cosine similarity of two i8 vectors; 0 when either is all zero.
pub fn cos_i8(a: &[i8], b: &[i8]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as i64 * y as i64;
        aa += x as i64 * x as i64;
        bb += y as i64 * y as i64;
    }
    if aa == 0 || bb == 0 {
        0.0
    } else {
        (ab as f64 / ((aa as f64).sqrt() * (bb as f64).sqrt())) as f32
    }
}

/// Squared Euclidean distance of two i8 vectors (exact, in u32).
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i32 - y as i32;
            (d * d) as u32
        })
        .sum()
}

/// Euclidean norm of an f32 vector.
pub fn norm_f32(a: &[f32]) -> f32 {
    dot_f32(a, a).sqrt()
}

/// The instruction set the kernels in use were built for (e.g. `"scalar"`, `"avx2"`).
pub fn isa() -> &'static str {
    "scalar"
}
