//! The INT8 codec on real embeddings: every MiniLM (384-d) base vector — the 100,000 of the
//! full data set (`$SUTRA_DATA_DIR/minilm-wordnet`, default `../shared/data`) when present,
//! else the 5,000 of the committed fixture `tests/data/minilm-wordnet-5k` — survives
//! quantize → dequantize with cosine(original, dequantized) ≥ 0.999, and within the bounds
//! documented in `quant`.

use sutra_cache::quant::{dequantize_into, quantize_into};

/// The documented per-component bound, as a multiple of the scale.
const COMPONENT_BOUND: f64 = 0.5 + 1.0 / 32768.0;

use crate::npy;

#[test]
fn every_minilm_vector_keeps_cosine_above_0_999_after_int8_round_trip() {
    let npy::Matrix {
        rows,
        dim,
        values: base,
    } = npy::read_minilm_or_fixture("base.f16.npy", 0);
    assert!(
        (rows == 100_000 || rows == 5_000) && dim == 384,
        "{rows} x {dim}: expected the full set (100,000 x 384) or the fixture (5,000 x 384)"
    );

    let mut codes = vec![0i8; dim];
    let mut back = vec![0f32; dim];
    let (mut min_cos, mut min_row) = (f64::INFINITY, 0);
    let mut max_bound_ratio = 0f64;
    for (row, x) in base.chunks_exact(dim).enumerate() {
        let scale = quantize_into(x, &mut codes);
        dequantize_into(&codes, scale, &mut back);
        assert!(scale > 0.0, "row {row} quantized to zero");

        let (mut dot, mut xx, mut yy, mut ee) = (0f64, 0f64, 0f64, 0f64);
        for (i, (&a, &b)) in x.iter().zip(&back).enumerate() {
            let (a, b) = (a as f64, b as f64);
            let err = (a - b).abs();
            assert!(
                err <= scale as f64 * COMPONENT_BOUND,
                "row {row} component {i}: error {err} above scale/2 for scale {scale}"
            );
            dot += a * b;
            xx += a * a;
            yy += b * b;
            ee += err * err;
        }
        let cos = dot / (xx * yy).sqrt();
        // The documented bound: cos ≥ √(1 - r²), r = √n · s · (1/2 + 2^-15) / ‖x‖.
        let r = (dim as f64).sqrt() * scale as f64 * COMPONENT_BOUND / xx.sqrt();
        let bound = (1.0 - r * r).sqrt();
        assert!(
            cos >= bound - 1e-9,
            "row {row}: cos {cos} below the documented bound {bound}"
        );
        assert!(
            cos >= 0.999,
            "row {row}: cos(original, dequantized) = {cos} < 0.999"
        );
        max_bound_ratio = max_bound_ratio.max(ee.sqrt() / (r * xx.sqrt()));
        if cos < min_cos {
            (min_cos, min_row) = (cos, row);
        }
    }
    // The bound is a worst case; the actual error norm must stay below it.
    assert!(
        max_bound_ratio <= 1.0,
        "error norm exceeded its bound: {max_bound_ratio}"
    );
    println!(
        "{rows} rows: min cosine {min_cos:.6} at row {min_row}; max ‖e‖/bound {max_bound_ratio:.3}"
    );
}
