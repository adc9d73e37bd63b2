//! Portable kernels: plain Rust, correct on every target, and the reference the SIMD
//! kernels are tested against.
//!
//! The f32 kernels keep eight independent accumulators so that the compiler can vectorize
//! them for the baseline target (SSE2 on x86_64, NEON on aarch64) without reassociating
//! floating-point sums on its own. The i8 kernels are exact: products are summed in
//! wrapping 32-bit integers, which is exact whenever the true result fits (always for
//! lengths up to 65,536; see [`super`]) and never panics otherwise.

const LANES: usize = 8;

/// Truncates both slices to the shorter length.
#[inline(always)]
fn same_len<'a, T>(a: &'a [T], b: &'a [T]) -> (&'a [T], &'a [T]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

/// Sums eight lanes pairwise (same shape as the SIMD reductions).
#[inline(always)]
fn sum_lanes(v: [f32; LANES]) -> f32 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

/// Inner product of two f32 vectors.
pub fn dot_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = same_len(a, b);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum = sum_lanes(acc);
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Cosine similarity from the three sums of a cosine kernel: `ab / (|a| |b|)`, clamped to
/// `[-1, 1]`, and 0 when either norm is zero. Computed in f64 so that it adds no error of
/// its own.
#[inline(always)]
pub(crate) fn cos_from_sums(ab: f64, aa: f64, bb: f64) -> f32 {
    if aa <= 0.0 || bb <= 0.0 {
        return 0.0;
    }
    (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0) as f32
}

/// Cosine similarity of two f32 vectors; 0 when either has zero norm.
pub fn cos_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = same_len(a, b);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let (mut ab, mut aa, mut bb) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            ab[j] += x[j] * y[j];
            aa[j] += x[j] * x[j];
            bb[j] += y[j] * y[j];
        }
    }
    let (mut ab, mut aa, mut bb) = (sum_lanes(ab), sum_lanes(aa), sum_lanes(bb));
    for (x, y) in ra.iter().zip(rb) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cos_from_sums(ab as f64, aa as f64, bb as f64)
}

/// Squared Euclidean distance of two f32 vectors.
pub fn l2sq_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = same_len(a, b);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            let d = x[j] - y[j];
            acc[j] += d * d;
        }
    }
    let mut sum = sum_lanes(acc);
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Inner product of two i8 vectors, exact in i32 (wrapping past ±2^31, never panicking).
pub fn dot_i8_scalar(a: &[i8], b: &[i8]) -> i32 {
    let (a, b) = same_len(a, b);
    a.iter()
        .zip(b)
        .fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32))
}

/// Cosine similarity of two i8 vectors; 0 when either is all zero.
pub fn cos_i8_scalar(a: &[i8], b: &[i8]) -> f32 {
    let (a, b) = same_len(a, b);
    let (mut ab, mut aa, mut bb) = (0i32, 0i32, 0i32);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as i32, y as i32);
        ab = ab.wrapping_add(x * y);
        aa = aa.wrapping_add(x * x);
        bb = bb.wrapping_add(y * y);
    }
    // Squares are non-negative, so their wrapped sums are exact modulo 2^32 as u32.
    cos_from_sums(ab as f64, aa as u32 as f64, bb as u32 as f64)
}

/// Squared Euclidean distance of two i8 vectors, exact in u32 (wrapping past 2^32).
pub fn l2sq_i8_scalar(a: &[i8], b: &[i8]) -> u32 {
    let (a, b) = same_len(a, b);
    a.iter().zip(b).fold(0u32, |s, (&x, &y)| {
        let d = x as i32 - y as i32;
        s.wrapping_add((d * d) as u32)
    })
}

/// Bytes of one block of packed 4-bit codes: 128 dimensions, byte `j` holding dimension `j`
/// in its low nibble and dimension `j + 64` in its high nibble (see `crate::quant::q4`).
pub const U4_BLOCK_BYTES: usize = 64;

/// `Σ u_i · q_i` over whole blocks, where `u_i` is the unsigned 4-bit value (0..=15) of
/// dimension `i` in `packed` (block layout of [`U4_BLOCK_BYTES`]) and `q` the i8 query of
/// `2 · packed.len()` components; `min(packed.len() / 64, q.len() / 128)` blocks are summed.
/// Exact (|sum| ≤ 15 · 128 · n, no overflow below 2^20 dimensions).
pub fn dot_u4_i8_scalar(packed: &[u8], q: &[i8]) -> i32 {
    let blocks = (packed.len() / U4_BLOCK_BYTES).min(q.len() / (2 * U4_BLOCK_BYTES));
    let mut sum = 0i32;
    for b in 0..blocks {
        let p = &packed[b * U4_BLOCK_BYTES..(b + 1) * U4_BLOCK_BYTES];
        let (lo, hi) = q[b * 128..(b + 1) * 128].split_at(U4_BLOCK_BYTES);
        for j in 0..U4_BLOCK_BYTES {
            sum = sum
                .wrapping_add((p[j] & 15) as i32 * lo[j] as i32)
                .wrapping_add((p[j] >> 4) as i32 * hi[j] as i32);
        }
    }
    sum
}

/// `Σ (a_i − 8)·(b_i − 8)` of two packed rows of unsigned 4-bit values (the signed codes of
/// `crate::quant::q4`), over `min(a.len(), b.len()) / 64` whole blocks. Exact.
pub fn dot_u4_u4_scalar(a: &[u8], b: &[u8]) -> i32 {
    let blocks = a.len().min(b.len()) / U4_BLOCK_BYTES;
    let n = blocks * U4_BLOCK_BYTES;
    let mut sum = 0i32;
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        let (xl, xh) = ((x & 15) as i32 - 8, (x >> 4) as i32 - 8);
        let (yl, yh) = ((y & 15) as i32 - 8, (y >> 4) as i32 - 8);
        sum = sum.wrapping_add(xl * yl + xh * yh);
    }
    sum
}
