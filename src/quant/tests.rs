//! Unit tests of the codec: edge cases and the documented error bounds on random vectors.
//! The bound on real embeddings is checked in `tests/engine/quant_minilm.rs`.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

/// The documented per-component bound, as a multiple of the scale.
const COMPONENT_BOUND: f64 = 0.5 + 1.0 / 32768.0;

fn round_trip(x: &[f32]) -> (Vec<i8>, f32, Vec<f32>) {
    let mut codes = vec![0i8; x.len()];
    let scale = quantize_into(x, &mut codes);
    let mut back = vec![0f32; x.len()];
    dequantize_into(&codes, scale, &mut back);
    (codes, scale, back)
}

fn assert_within_component_bound(x: &[f32], scale: f32, back: &[f32]) {
    for (i, (&a, &b)) in x.iter().zip(back).enumerate() {
        let err = (a as f64 - b as f64).abs();
        assert!(
            err <= scale as f64 * COMPONENT_BOUND,
            "component {i}: {a} -> {b}, error {err} > bound for scale {scale}"
        );
    }
}

#[test]
fn zero_vector_has_scale_zero_and_zero_codes() {
    let (codes, scale, back) = round_trip(&[0.0; 16]);
    assert_eq!(scale, 0.0);
    assert!(codes.iter().all(|&c| c == 0));
    assert!(back.iter().all(|&v| v == 0.0));
    let (codes, scale, _) = round_trip(&[]);
    assert_eq!((codes.len(), scale), (0, 0.0));
}

#[test]
fn all_equal_components_map_to_the_extreme_code() {
    let (codes, scale, back) = round_trip(&[0.3; 10]);
    assert!(codes.iter().all(|&c| c == 127), "{codes:?}");
    assert_eq!(scale, 0.3 / 127.0);
    assert_within_component_bound(&[0.3; 10], scale, &back);
    let (codes, _, _) = round_trip(&[-2.0; 9]);
    assert!(codes.iter().all(|&c| c == -127), "{codes:?}");
}

#[test]
fn ties_round_to_even_and_codes_stay_within_plus_minus_127() {
    // max = 127 gives scale 1, so x / scale is x itself.
    let x = [127.0, 2.5, 3.5, -2.5, -126.5, 0.49, -127.0];
    let (codes, scale, _) = round_trip(&x);
    assert_eq!(scale, 1.0);
    assert_eq!(codes, vec![127, 2, 4, -2, -126, 0, -127]);
}

#[test]
fn extreme_magnitudes_stay_within_the_bound() {
    for x in [
        vec![f32::MAX, -f32::MAX, 1.0, 0.0],
        vec![1e30, -3e29, 7e25, 1e-30],
        vec![1e-30, -3e-31, 7e-35, 0.0],
        vec![1.0, 1e-20, -1e-20, f32::MIN_POSITIVE],
    ] {
        let (codes, scale, back) = round_trip(&x);
        assert!(scale > 0.0 && scale.is_finite(), "{x:?}: scale {scale}");
        assert!(codes.iter().all(|&c| c != i8::MIN));
        assert!(back.iter().all(|v| v.is_finite()), "{x:?} -> {back:?}");
        assert_within_component_bound(&x, scale, &back);
    }
}

#[test]
fn vectors_too_small_or_not_finite_quantize_to_zero_without_panicking() {
    for x in [
        vec![1e-37, -1e-38, 0.0],
        vec![f32::INFINITY, 1.0],
        vec![f32::NEG_INFINITY, 1.0],
    ] {
        let (codes, scale, _) = round_trip(&x);
        assert_eq!(scale, 0.0, "{x:?}");
        assert!(codes.iter().all(|&c| c == 0), "{x:?}: {codes:?}");
    }
    // NaN components are ignored by the scale and become code 0.
    let (codes, scale, _) = round_trip(&[f32::NAN, 1.0, -0.5]);
    assert_eq!((codes, scale), (vec![0, 127, -64], 1.0 / 127.0));
}

#[test]
fn length_mismatch_uses_the_shorter_length_and_zeroes_the_rest() {
    let mut dst = [5i8; 4];
    let scale = quantize_into(&[1.0, -0.5], &mut dst);
    assert_eq!((dst, scale), ([127, -64, 0, 0], 1.0 / 127.0));
    let mut dst = [5i8; 2];
    let scale = quantize_into(&[1.0, -0.5, 4.0], &mut dst);
    // The scale comes from the components that were quantized.
    assert_eq!((dst, scale), ([127, -64], 1.0 / 127.0));
    let mut out = [9.0f32; 3];
    dequantize_into(&[127, -127], 0.5, &mut out);
    assert_eq!(out, [63.5, -63.5, 0.0]);
    let mut out = [9.0f32; 1];
    dequantize_into(&[127, -127], 0.5, &mut out);
    assert_eq!(out, [63.5]);
}

#[test]
fn random_vectors_meet_the_component_and_cosine_bounds() {
    let mut rng = SmallRng::seed_from_u64(0x9a17);
    for n in [1usize, 2, 3, 7, 8, 9, 31, 384, 768, 1536] {
        for _ in 0..20 {
            let spread = [1e-3f32, 1.0, 1e3][rng.gen_range(0..3)];
            let x: Vec<f32> = (0..n)
                .map(|_| rng.gen_range(-1.0f32..1.0) * spread)
                .collect();
            let (codes, scale, back) = round_trip(&x);
            assert!(codes.iter().all(|&c| c != i8::MIN));
            assert_within_component_bound(&x, scale, &back);
            let norm: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            let r = (n as f64).sqrt() * scale as f64 * COMPONENT_BOUND / norm;
            if r < 1.0 {
                let cos = crate::simd::scalar::cos_f32_scalar(&x, &back) as f64;
                let bound = (1.0 - r * r).sqrt() - 1e-6;
                assert!(cos >= bound, "n {n}: cos {cos} < bound {bound}");
            }
        }
    }
}

#[test]
fn approx_dot_is_the_dot_of_the_dequantized_vectors_and_meets_its_bound() {
    let mut rng = SmallRng::seed_from_u64(0xd07);
    for n in [1usize, 17, 384, 768] {
        for _ in 0..20 {
            let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let y: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
            let q = QuantizedVector::new(&x);
            let (cy, sy, _) = round_trip(&y);
            let got = q.approx_dot(&cy, sy) as f64;

            let (xh, yh) = (
                q.dequantize(),
                crate::quant::QuantizedVector::new(&y).dequantize(),
            );
            let dot_hat: f64 = xh.iter().zip(&yh).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!(
                (got - dot_hat).abs() <= 1e-5 * dot_hat.abs().max(1e-3),
                "n {n}"
            );

            let dot: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
            let l1 = |v: &[f32]| v.iter().map(|&a| (a as f64).abs()).sum::<f64>();
            let (sx, sy) = (q.scale as f64, sy as f64);
            let bound = sy / 2.0 * l1(&x) + sx / 2.0 * l1(&y) + n as f64 * sx * sy / 4.0;
            assert!(
                (got - dot).abs() <= bound * 1.001 + 1e-6,
                "n {n}: {got} vs {dot}"
            );

            let cos_codes = q.cos(&cy) as f64;
            let cos_hat = crate::simd::scalar::cos_f32_scalar(&xh, &yh) as f64;
            assert!((cos_codes - cos_hat).abs() <= 1e-5, "n {n}");
        }
    }
}

#[test]
fn max_abs_ignores_nan_and_sees_every_lane_and_the_tail() {
    assert_eq!(max_abs(&[]), 0.0);
    for n in 1..=20 {
        for at in 0..n {
            let mut x = vec![0.5f32; n];
            x[at] = -3.0;
            assert_eq!(max_abs(&x), 3.0, "n {n} at {at}");
        }
    }
    assert_eq!(max_abs(&[f32::NAN, -2.0, 1.0]), 2.0);
    assert_eq!(max_abs(&[1.0, f32::NEG_INFINITY]), f32::INFINITY);
}

/// The 4-bit codec: codes in [-7, 7], padding at code 0, each component within a step of
/// its reconstruction unless clipped, and on random Gaussian 768-d vectors (what a unit
/// embedding's components look like) a reconstruction whose cosine with the original is
/// ≥ 0.99 and an inner-product estimate against an INT8 query within 0.4/√dim of the truth.
#[test]
fn four_bit_codes_reconstruct_gaussian_vectors_and_estimate_inner_products() {
    use super::q4;
    let mut rng = SmallRng::seed_from_u64(7);
    let gauss = |rng: &mut SmallRng| -> f32 {
        // Sum of 12 uniforms − 6: mean 0, variance 1.
        (0..12).map(|_| rng.gen::<f32>()).sum::<f32>() - 6.0
    };
    for dim in [1usize, 100, 128, 384, 700, 768] {
        let mut worst_err = 0f32;
        for _ in 0..50 {
            let x: Vec<f32> = (0..dim).map(|_| gauss(&mut rng)).collect();
            let y: Vec<f32> = (0..dim).map(|_| gauss(&mut rng)).collect();
            let nx = x.iter().map(|v| v * v).sum::<f32>().sqrt();
            let ny = y.iter().map(|v| v * v).sum::<f32>().sqrt();
            let x: Vec<f32> = x.iter().map(|v| v / nx).collect();
            let y: Vec<f32> = y.iter().map(|v| v / ny).collect();
            let mut row = vec![0u8; q4::row_bytes(dim)];
            let scale = q4::quantize_into(&x, &mut row);
            assert!(scale > 0.0);
            for i in 0..q4::padded_dims(dim) {
                let c = q4::code_at(&row, i);
                assert!((-7..=7).contains(&c), "code {c}");
                if i >= dim {
                    assert_eq!(c, 0, "padding must be code 0");
                }
            }
            let mut back = vec![0f32; dim];
            q4::dequantize_into(&row, scale, &mut back);
            for (a, b) in x.iter().zip(&back) {
                // Unclipped: within half a rounding step plus the least-squares scale's
                // departure from it (a few percent of 7 steps): within one step.
                if a.abs() < 6.5 * scale {
                    assert!((a - b).abs() <= scale * 1.0001 + 1e-7, "{a} vs {b}");
                }
            }
            if dim >= 100 {
                let cos: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum::<f32>()
                    / back.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!(cos >= 0.99, "dim {dim}: cos {cos}");
                // Inner product with an INT8 query, through the traversal kernel.
                let mut qc = vec![0i8; q4::padded_dims(dim)];
                let qs = quantize_into(&y, &mut qc);
                let sum: i32 = qc.iter().map(|&c| c as i32).sum();
                let est = q4::dot_query(&row, &qc, sum) as f32 * qs * scale;
                let truth: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
                worst_err = worst_err.max((est - truth).abs());
                // Two stored rows: the exact code sum times both scales.
                let mut row_y = vec![0u8; q4::row_bytes(dim)];
                let sy = q4::quantize_into(&y, &mut row_y);
                let codes_dot: i32 = (0..dim)
                    .map(|i| q4::code_at(&row, i) as i32 * q4::code_at(&row_y, i) as i32)
                    .sum();
                assert_eq!(q4::dot_rows(&row, &row_y), codes_dot);
                let _ = sy;
            }
        }
        // About ‖y‖·step/√12 per estimate, step ∝ 1/√dim: 0.4/√dim is ~5 standard deviations.
        if dim >= 100 {
            let tol = 0.4 / (dim as f32).sqrt();
            assert!(
                worst_err <= tol,
                "dim {dim}: inner-product error {worst_err} > {tol}"
            );
        }
    }
    // Zero and non-finite vectors: scale 0, every code 0, no panic.
    let mut row = vec![0u8; q4::row_bytes(5)];
    assert_eq!(q4::quantize_into(&[0.0; 5], &mut row), 0.0);
    assert!(row.iter().all(|&b| b == 0x88));
    assert_eq!(
        q4::quantize_into(&[1.0, f32::NAN, f32::INFINITY, 0.0, 2.0], &mut row),
        0.0
    );
}
