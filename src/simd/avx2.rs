//! Our own AVX2 + FMA kernels (x86_64 only).
//!
//! Why they exist: simsimd's f32 dot runs one FMA chain, so it waits on the FMA latency
//! (4–5 cycles) for every 8 (or 16) products. Here every f32 kernel keeps several
//! independent accumulators, so the loop is bound by loads instead. The i8 kernels
//! sign-extend 16 bytes straight from memory to i16 (`vpmovsxbw ymm, m128`, no shuffles)
//! and multiply-add pairs into i32 lanes with `vpmaddwd`, which is exact for every i8
//! value including -128 (unlike the `vpmaddubsw` sign trick, which saturates).
//!
//! Every kernel reads only `min(a.len(), b.len())` elements of each slice.
//!
//! # Safety
//!
//! Every function here is `unsafe` for one reason only: the CPU must support AVX2 and
//! FMA (`is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")`). Given
//! that, any pair of slices is a valid input.

use core::arch::x86_64::*;

use super::scalar::cos_from_sums;

/// Horizontal sum of the 8 f32 lanes of a `__m256`.
macro_rules! hsum_ps {
    ($v:expr) => {{
        let v: __m256 = $v;
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }};
}

/// Horizontal wrapping sum of the 8 i32 lanes of a `__m256i`.
macro_rules! hsum_epi32 {
    ($v:expr) => {{
        let v: __m256i = $v;
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }};
}

/// Loads 16 i8 at `p` and sign-extends them to 16 i16 lanes.
macro_rules! load_i8x16_as_i16 {
    ($p:expr) => {
        _mm256_cvtepi8_epi16(_mm_loadu_si128($p as *const __m128i))
    };
}

/// Inner product of two f32 vectors: 4 accumulators × 8 lanes.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads elements [i, i + 8) with i + 8 <= n, inside both slices;
    // the caller guarantees AVX2 and FMA.
    let mut sum = unsafe {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        while i + 32 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
            acc2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 16)),
                _mm256_loadu_ps(pb.add(i + 16)),
                acc2,
            );
            acc3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 24)),
                _mm256_loadu_ps(pb.add(i + 24)),
                acc3,
            );
            i += 32;
        }
        while i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            i += 8;
        }
        hsum_ps!(_mm256_add_ps(
            _mm256_add_ps(acc0, acc1),
            _mm256_add_ps(acc2, acc3)
        ))
    };
    for j in i..n {
        sum += a[j] * b[j];
    }
    sum
}

/// Cosine similarity of two f32 vectors; 0 when either has zero norm. 2 accumulators × 3
/// sums × 8 lanes.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn cos_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads elements [i, i + 8) with i + 8 <= n, inside both slices;
    // the caller guarantees AVX2 and FMA.
    let (mut ab, mut aa, mut bb) = unsafe {
        let (mut ab0, mut aa0, mut bb0) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let (mut ab1, mut aa1, mut bb1) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        while i + 16 <= n {
            let x0 = _mm256_loadu_ps(pa.add(i));
            let y0 = _mm256_loadu_ps(pb.add(i));
            let x1 = _mm256_loadu_ps(pa.add(i + 8));
            let y1 = _mm256_loadu_ps(pb.add(i + 8));
            ab0 = _mm256_fmadd_ps(x0, y0, ab0);
            aa0 = _mm256_fmadd_ps(x0, x0, aa0);
            bb0 = _mm256_fmadd_ps(y0, y0, bb0);
            ab1 = _mm256_fmadd_ps(x1, y1, ab1);
            aa1 = _mm256_fmadd_ps(x1, x1, aa1);
            bb1 = _mm256_fmadd_ps(y1, y1, bb1);
            i += 16;
        }
        if i + 8 <= n {
            let x0 = _mm256_loadu_ps(pa.add(i));
            let y0 = _mm256_loadu_ps(pb.add(i));
            ab0 = _mm256_fmadd_ps(x0, y0, ab0);
            aa0 = _mm256_fmadd_ps(x0, x0, aa0);
            bb0 = _mm256_fmadd_ps(y0, y0, bb0);
            i += 8;
        }
        (
            hsum_ps!(_mm256_add_ps(ab0, ab1)),
            hsum_ps!(_mm256_add_ps(aa0, aa1)),
            hsum_ps!(_mm256_add_ps(bb0, bb1)),
        )
    };
    for j in i..n {
        let (x, y) = (a[j], b[j]);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cos_from_sums(ab as f64, aa as f64, bb as f64)
}

/// Squared Euclidean distance of two f32 vectors: 4 accumulators × 8 lanes.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn l2sq_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads elements [i, i + 8) with i + 8 <= n, inside both slices;
    // the caller guarantees AVX2 and FMA.
    let mut sum = unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let d = _mm256_sub_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * k)),
                    _mm256_loadu_ps(pb.add(i + 8 * k)),
                );
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        hsum_ps!(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3])
        ))
    };
    for j in i..n {
        let d = a[j] - b[j];
        sum += d * d;
    }
    sum
}

/// Inner product of two i8 vectors, exact in i32 (wrapping past ±2^31).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads bytes [i, i + 16) with i + 16 <= n, inside both slices;
    // the caller guarantees AVX2.
    let mut sum = unsafe {
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        while i + 32 <= n {
            let (x0, y0) = (load_i8x16_as_i16!(pa.add(i)), load_i8x16_as_i16!(pb.add(i)));
            let (x1, y1) = (
                load_i8x16_as_i16!(pa.add(i + 16)),
                load_i8x16_as_i16!(pb.add(i + 16)),
            );
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x0, y0));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x1, y1));
            i += 32;
        }
        if i + 16 <= n {
            let (x0, y0) = (load_i8x16_as_i16!(pa.add(i)), load_i8x16_as_i16!(pb.add(i)));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x0, y0));
            i += 16;
        }
        hsum_epi32!(_mm256_add_epi32(acc0, acc1))
    };
    for j in i..n {
        sum = sum.wrapping_add(a[j] as i32 * b[j] as i32);
    }
    sum
}

/// Cosine similarity of two i8 vectors; 0 when either is all zero.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn cos_i8_avx2(a: &[i8], b: &[i8]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads bytes [i, i + 16) with i + 16 <= n, inside both slices;
    // the caller guarantees AVX2.
    let (mut ab, mut aa, mut bb) = unsafe {
        let (mut ab0, mut aa0, mut bb0) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        let (mut ab1, mut aa1, mut bb1) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        while i + 32 <= n {
            let (x0, y0) = (load_i8x16_as_i16!(pa.add(i)), load_i8x16_as_i16!(pb.add(i)));
            let (x1, y1) = (
                load_i8x16_as_i16!(pa.add(i + 16)),
                load_i8x16_as_i16!(pb.add(i + 16)),
            );
            ab0 = _mm256_add_epi32(ab0, _mm256_madd_epi16(x0, y0));
            aa0 = _mm256_add_epi32(aa0, _mm256_madd_epi16(x0, x0));
            bb0 = _mm256_add_epi32(bb0, _mm256_madd_epi16(y0, y0));
            ab1 = _mm256_add_epi32(ab1, _mm256_madd_epi16(x1, y1));
            aa1 = _mm256_add_epi32(aa1, _mm256_madd_epi16(x1, x1));
            bb1 = _mm256_add_epi32(bb1, _mm256_madd_epi16(y1, y1));
            i += 32;
        }
        if i + 16 <= n {
            let (x0, y0) = (load_i8x16_as_i16!(pa.add(i)), load_i8x16_as_i16!(pb.add(i)));
            ab0 = _mm256_add_epi32(ab0, _mm256_madd_epi16(x0, y0));
            aa0 = _mm256_add_epi32(aa0, _mm256_madd_epi16(x0, x0));
            bb0 = _mm256_add_epi32(bb0, _mm256_madd_epi16(y0, y0));
            i += 16;
        }
        (
            hsum_epi32!(_mm256_add_epi32(ab0, ab1)),
            hsum_epi32!(_mm256_add_epi32(aa0, aa1)),
            hsum_epi32!(_mm256_add_epi32(bb0, bb1)),
        )
    };
    for j in i..n {
        let (x, y) = (a[j] as i32, b[j] as i32);
        ab = ab.wrapping_add(x * y);
        aa = aa.wrapping_add(x * x);
        bb = bb.wrapping_add(y * y);
    }
    // Squares are non-negative, so their wrapped sums are exact modulo 2^32 as u32.
    cos_from_sums(ab as f64, aa as u32 as f64, bb as u32 as f64)
}

/// Squared Euclidean distance of two i8 vectors, exact in u32 (wrapping past 2^32).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn l2sq_i8_avx2(a: &[i8], b: &[i8]) -> u32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads bytes [i, i + 16) with i + 16 <= n, inside both slices;
    // the caller guarantees AVX2.
    let mut sum = unsafe {
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        while i + 32 <= n {
            // Differences of i8 fit in i16 ([-255, 255]); squares of pairs fit in i32.
            let d0 = _mm256_sub_epi16(load_i8x16_as_i16!(pa.add(i)), load_i8x16_as_i16!(pb.add(i)));
            let d1 = _mm256_sub_epi16(
                load_i8x16_as_i16!(pa.add(i + 16)),
                load_i8x16_as_i16!(pb.add(i + 16)),
            );
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(d1, d1));
            i += 32;
        }
        if i + 16 <= n {
            let d0 = _mm256_sub_epi16(load_i8x16_as_i16!(pa.add(i)), load_i8x16_as_i16!(pb.add(i)));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
            i += 16;
        }
        // Lanes wrap modulo 2^32 like u32 additions, so the reinterpretation is exact.
        hsum_epi32!(_mm256_add_epi32(acc0, acc1)) as u32
    };
    for j in i..n {
        let d = a[j] as i32 - b[j] as i32;
        sum = sum.wrapping_add((d * d) as u32);
    }
    sum
}

/// `Σ u_i · q_i` of packed unsigned 4-bit values and an i8 query, as
/// [`super::scalar::dot_u4_i8_scalar`] (same blocks, same result). Per 32 packed bytes: one
/// load, two masks (one after a 16-bit shift), two `vpmaddubsw` (u8 × i8 into i16 pairs,
/// at most 2 · 15 · 128 = 3,840: no saturation) and one `vpmaddwd` into i32.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_u4_i8_avx2(packed: &[u8], q: &[i8]) -> i32 {
    use super::scalar::U4_BLOCK_BYTES;
    let blocks = (packed.len() / U4_BLOCK_BYTES).min(q.len() / (2 * U4_BLOCK_BYTES));
    let (pp, pq) = (packed.as_ptr(), q.as_ptr());
    // SAFETY: block b reads packed bytes [64b, 64b + 64) and query bytes [128b, 128b + 128),
    // inside both slices by the choice of `blocks`; the caller guarantees AVX2.
    unsafe {
        let mask = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_si256();
        for b in 0..blocks {
            for h in [0usize, 32] {
                let x = _mm256_loadu_si256(pp.add(b * 64 + h).cast());
                let lo = _mm256_and_si256(x, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
                let qlo = _mm256_loadu_si256(pq.add(b * 128 + h).cast());
                let qhi = _mm256_loadu_si256(pq.add(b * 128 + 64 + h).cast());
                let s =
                    _mm256_add_epi16(_mm256_maddubs_epi16(lo, qlo), _mm256_maddubs_epi16(hi, qhi));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
            }
        }
        hsum_epi32!(acc)
    }
}

/// `Σ (a_i − 8)·(b_i − 8)` of two packed 4-bit rows, as
/// [`super::scalar::dot_u4_u4_scalar`]: `Σ a·b − 8·Σ (a + b) + 64` per dimension, the
/// products by `vpmaddubsw` (both operands 0..=15), the sums by `vpmaddubsw` with ones.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_u4_u4_avx2(a: &[u8], b: &[u8]) -> i32 {
    use super::scalar::U4_BLOCK_BYTES;
    let blocks = a.len().min(b.len()) / U4_BLOCK_BYTES;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: every load reads bytes [32h, 32h + 32) with 32h + 32 <= 64·blocks, inside both
    // slices; the caller guarantees AVX2.
    let sum = unsafe {
        let mask = _mm256_set1_epi8(0x0f);
        let (ones8, ones16) = (_mm256_set1_epi8(1), _mm256_set1_epi16(1));
        let eight = _mm256_set1_epi16(8);
        let mut acc = _mm256_setzero_si256();
        for h in 0..2 * blocks {
            let x = _mm256_loadu_si256(pa.add(32 * h).cast());
            let y = _mm256_loadu_si256(pb.add(32 * h).cast());
            let (xl, xh) = (
                _mm256_and_si256(x, mask),
                _mm256_and_si256(_mm256_srli_epi16(x, 4), mask),
            );
            let (yl, yh) = (
                _mm256_and_si256(y, mask),
                _mm256_and_si256(_mm256_srli_epi16(y, 4), mask),
            );
            let prod = _mm256_add_epi16(_mm256_maddubs_epi16(xl, yl), _mm256_maddubs_epi16(xh, yh));
            let sums = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_add_epi8(xl, yl), ones8),
                _mm256_maddubs_epi16(_mm256_add_epi8(xh, yh), ones8),
            );
            let t = _mm256_sub_epi16(prod, _mm256_mullo_epi16(sums, eight));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(t, ones16));
        }
        hsum_epi32!(acc)
    };
    sum.wrapping_add(64 * 128 * blocks as i32)
}
