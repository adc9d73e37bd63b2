//! Distance kernels per provider (scalar, our avx2 and AVX-512 VNNI, simsimd, and the dispatched choice)
//! for f32 and i8 at 384 and 768 dimensions, plus the INT8 codec.
//!
//! Run: `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 2`
//! Results and the choice they led to: `perf-reports/kernels.md`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::quant::{approx_dot, dequantize_into, quantize_into};
use sutra_cache::simd::{self, scalar, simsimd};

const DIMS: [usize; 2] = [384, 768];

type F32Fn = Box<dyn Fn(&[f32], &[f32]) -> f32>;
type I8Fn<R> = Box<dyn Fn(&[i8], &[i8]) -> R>;

/// (provider, kernel) for one f32 operation; the avx2 kernel only if the CPU has it.
fn f32_providers(op: &str) -> Vec<(&'static str, F32Fn)> {
    let mut v: Vec<(&'static str, F32Fn)> = match op {
        "dot" => vec![
            ("scalar", Box::new(scalar::dot_f32_scalar)),
            ("simsimd", Box::new(simsimd::dot_f32_simsimd)),
            ("dispatch", Box::new(simd::dot_f32)),
        ],
        "cos" => vec![
            ("scalar", Box::new(scalar::cos_f32_scalar)),
            ("simsimd", Box::new(simsimd::cos_f32_simsimd)),
            ("dispatch", Box::new(simd::cos_f32)),
        ],
        _ => vec![
            ("scalar", Box::new(scalar::l2sq_f32_scalar)),
            ("simsimd", Box::new(simsimd::l2sq_f32_simsimd)),
            ("dispatch", Box::new(simd::l2sq_f32)),
        ],
    };
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        use sutra_cache::simd::avx2;
        let k: F32Fn = match op {
            // SAFETY: AVX2 and FMA were detected just above.
            "dot" => Box::new(|a, b| unsafe { avx2::dot_f32_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above.
            "cos" => Box::new(|a, b| unsafe { avx2::cos_f32_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above.
            _ => Box::new(|a, b| unsafe { avx2::l2sq_f32_avx2(a, b) }),
        };
        v.insert(1, ("avx2", k));
    }
    v
}

/// Boxes one i8 kernel per provider, the avx2 one only if the CPU has it.
macro_rules! i8_providers {
    ($scalar:path, $simsimd:path, $dispatch:path, $avx2:ident) => {{
        let mut v: Vec<(&'static str, I8Fn<_>)> = vec![
            ("scalar", Box::new($scalar)),
            ("simsimd", Box::new($simsimd)),
            ("dispatch", Box::new($dispatch)),
        ];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.insert(
                1,
                (
                    "avx2",
                    // SAFETY: AVX2 and FMA were detected just above.
                    Box::new(|a, b| unsafe { sutra_cache::simd::avx2::$avx2(a, b) }),
                ),
            );
        }
        v
    }};
}

fn bench_f32(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(1);
    for op in ["dot", "cos", "l2sq"] {
        for dim in DIMS {
            let a: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut g = c.benchmark_group(format!("{op}_f32/{dim}"));
            for (name, k) in f32_providers(op) {
                g.bench_function(name, |bench| bench.iter(|| k(black_box(&a), black_box(&b))));
            }
            g.finish();
        }
    }
}

fn bench_i8_group<R>(c: &mut Criterion, op: &str, providers: Vec<(&'static str, I8Fn<R>)>) {
    let mut rng = SmallRng::seed_from_u64(2);
    for dim in DIMS {
        let a: Vec<i8> = (0..dim).map(|_| rng.gen()).collect();
        let b: Vec<i8> = (0..dim).map(|_| rng.gen()).collect();
        let mut g = c.benchmark_group(format!("{op}_i8/{dim}"));
        for (name, k) in &providers {
            g.bench_function(*name, |bench| {
                bench.iter(|| k(black_box(&a), black_box(&b)))
            });
        }
        g.finish();
    }
}

fn bench_i8(c: &mut Criterion) {
    #[allow(unused_mut)]
    let mut dot = i8_providers!(
        scalar::dot_i8_scalar,
        simsimd::dot_i8_simsimd,
        simd::dot_i8,
        dot_i8_avx2
    );
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
    {
        dot.insert(
            1,
            (
                "avx512vnni",
                // SAFETY: AVX-512F, AVX-512BW and AVX-512 VNNI were detected just above.
                Box::new(|a, b| unsafe { sutra_cache::simd::avx512::dot_i8_avx512(a, b) }),
            ),
        );
    }
    bench_i8_group(c, "dot", dot);
    let cos = i8_providers!(
        scalar::cos_i8_scalar,
        simsimd::cos_i8_simsimd,
        simd::cos_i8,
        cos_i8_avx2
    );
    bench_i8_group(c, "cos", cos);
    let l2sq = i8_providers!(
        scalar::l2sq_i8_scalar,
        simsimd::l2sq_i8_simsimd,
        simd::l2sq_i8,
        l2sq_i8_avx2
    );
    bench_i8_group(c, "l2sq", l2sq);
}

fn bench_quant(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(3);
    for dim in DIMS {
        let x: Vec<f32> = (0..dim).map(|_| rng.gen_range(-0.2..0.2)).collect();
        let y: Vec<f32> = (0..dim).map(|_| rng.gen_range(-0.2..0.2)).collect();
        let mut codes = vec![0i8; dim];
        let mut codes_y = vec![0i8; dim];
        let sy = quantize_into(&y, &mut codes_y);
        let mut back = vec![0f32; dim];
        let mut g = c.benchmark_group(format!("quant/{dim}"));
        g.bench_function("quantize", |b| {
            b.iter(|| quantize_into(black_box(&x), black_box(&mut codes)))
        });
        let sx = quantize_into(&x, &mut codes);
        g.bench_function("dequantize", |b| {
            b.iter(|| dequantize_into(black_box(&codes), black_box(sx), black_box(&mut back)))
        });
        g.bench_function("approx_dot", |b| {
            b.iter(|| approx_dot(black_box(&codes), sx, black_box(&codes_y), sy))
        });
        g.finish();
    }
}

fn report_choice(_: &mut Criterion) {
    eprintln!("isa: {}; simsimd: {}", simd::isa(), simsimd::simsimd_isa());
    for (op, kernel) in simd::kernel_names() {
        eprintln!("  {op:8} -> {kernel}");
    }
}

criterion_group!(benches, report_choice, bench_f32, bench_i8, bench_quant);
criterion_main!(benches);
