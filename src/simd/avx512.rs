//! AVX-512 VNNI kernel for the INT8 inner product (x86_64 only): the one kernel every graph
//! walk calls (`Graph::score` in `exact` and `q8`).
//!
//! `vpdpbusd` multiplies 64 unsigned bytes by 64 signed bytes and adds each group of four
//! products into an i32 lane, without saturation. Our operands are both signed, so the
//! kernel shifts one of them into `u8` range: `a + 128` is `a ^ 0x80` read as unsigned, and
//! `Σ a·b = Σ (a + 128)·b − 128·Σ b`, the correction accumulated by a second `vpdpbusd` of
//! the constant 128 with `b`. Per 64 bytes that is two loads, one XOR and two `vpdpbusd`,
//! against sixteen instructions in the AVX2 kernel (`vpmovsxbw` ×4, `vpmaddwd` ×2,
//! `vpaddd` ×2 per 32 bytes). The tail (length not a multiple of 64) is read with masked
//! loads, which never touch the bytes past the end.
//!
//! Exactness: every partial sum is computed modulo 2^32 (`vpdpbusd` and `vpaddd` wrap), so
//! the result equals the true dot product whenever that fits an i32, as the module contract
//! states (lengths up to 65,536).
//!
//! # Safety
//!
//! Every function here is `unsafe` for one reason only: the CPU must support AVX-512F,
//! AVX-512BW and AVX-512 VNNI (`is_x86_feature_detected!` for `avx512f`, `avx512bw`,
//! `avx512vnni`). Given that, any pair of slices is a valid input.

// The AVX-512 intrinsics and target features are stable since Rust 1.89, the crate's
// `rust-version`.

use core::arch::x86_64::*;

/// Inner product of two i8 vectors, exact in i32 (wrapping past ±2^31).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dot_i8_avx512(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let flip = _mm512_set1_epi8(-128);
    let mut i = 0;
    let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let (mut cor0, mut cor1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    // SAFETY: the unmasked loads read bytes [i, i + 64) (or + 128) with the end <= n, inside
    // both slices; the masked loads read only the bytes [i, n) their mask selects (masked-out
    // bytes are neither read nor faulted on). The caller guarantees the CPU features.
    unsafe {
        while i + 128 <= n {
            let x0 = _mm512_loadu_si512(pa.add(i).cast());
            let y0 = _mm512_loadu_si512(pb.add(i).cast());
            let x1 = _mm512_loadu_si512(pa.add(i + 64).cast());
            let y1 = _mm512_loadu_si512(pb.add(i + 64).cast());
            acc0 = _mm512_dpbusd_epi32(acc0, _mm512_xor_si512(x0, flip), y0);
            cor0 = _mm512_dpbusd_epi32(cor0, flip, y0);
            acc1 = _mm512_dpbusd_epi32(acc1, _mm512_xor_si512(x1, flip), y1);
            cor1 = _mm512_dpbusd_epi32(cor1, flip, y1);
            i += 128;
        }
        if i + 64 <= n {
            let x0 = _mm512_loadu_si512(pa.add(i).cast());
            let y0 = _mm512_loadu_si512(pb.add(i).cast());
            acc0 = _mm512_dpbusd_epi32(acc0, _mm512_xor_si512(x0, flip), y0);
            cor0 = _mm512_dpbusd_epi32(cor0, flip, y0);
            i += 64;
        }
        if i < n {
            // n - i is in 1..64: a mask of that many low bits.
            let k: __mmask64 = (1u64 << (n - i)) - 1;
            let x1 = _mm512_maskz_loadu_epi8(k, pa.add(i));
            let y1 = _mm512_maskz_loadu_epi8(k, pb.add(i));
            // Zeroed bytes of y contribute nothing to either sum.
            acc1 = _mm512_dpbusd_epi32(acc1, _mm512_xor_si512(x1, flip), y1);
            cor1 = _mm512_dpbusd_epi32(cor1, flip, y1);
        }
        let acc = _mm512_add_epi32(acc0, acc1);
        let cor = _mm512_add_epi32(cor0, cor1);
        // `flip` as unsigned is 128: cor holds 128·Σb per lane.
        _mm512_reduce_add_epi32(_mm512_sub_epi32(acc, cor))
    }
}

/// `Σ u_i · q_i` of packed unsigned 4-bit values and an i8 query, as
/// [`super::scalar::dot_u4_i8_scalar`]. Per block of 128 dimensions: two loads, two masks
/// (one after a 16-bit shift) and two `vpdpbusd`, the nibbles being the unsigned operand
/// as they are (no sign flip or correction: the caller subtracts `8 · Σ q` once per query).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dot_u4_i8_avx512(packed: &[u8], q: &[i8]) -> i32 {
    use super::scalar::U4_BLOCK_BYTES;
    let blocks = (packed.len() / U4_BLOCK_BYTES).min(q.len() / (2 * U4_BLOCK_BYTES));
    let (pp, pq) = (packed.as_ptr(), q.as_ptr());
    // SAFETY: block b reads packed bytes [64b, 64b + 64) and query bytes [128b, 128b + 128),
    // inside both slices by the choice of `blocks`; the caller guarantees the CPU features.
    unsafe {
        let mask = _mm512_set1_epi8(0x0f);
        let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for b in 0..blocks {
            let x = _mm512_loadu_si512(pp.add(b * 64).cast());
            let lo = _mm512_and_si512(x, mask);
            let hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), mask);
            acc0 = _mm512_dpbusd_epi32(acc0, lo, _mm512_loadu_si512(pq.add(b * 128).cast()));
            acc1 = _mm512_dpbusd_epi32(acc1, hi, _mm512_loadu_si512(pq.add(b * 128 + 64).cast()));
        }
        _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
    }
}
