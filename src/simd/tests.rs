//! Every provider available on this CPU, called directly, plus the dispatched kernels,
//! against an f64 reference: all lengths 0..=67 (i8: and some up to 768), slices starting 0..=3 elements into
//! their buffers (so loads are unaligned), and the edge cases of the contract.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{scalar, simsimd};

type F32Fn = Box<dyn Fn(&[f32], &[f32]) -> f32>;
type DotI8Fn = Box<dyn Fn(&[i8], &[i8]) -> i32>;
type CosI8Fn = Box<dyn Fn(&[i8], &[i8]) -> f32>;
type L2sqI8Fn = Box<dyn Fn(&[i8], &[i8]) -> u32>;

/// One provider's six kernels, callable safely (hardware kernels only when supported).
struct Provider {
    name: &'static str,
    dot_f32: F32Fn,
    cos_f32: F32Fn,
    l2sq_f32: F32Fn,
    dot_i8: DotI8Fn,
    cos_i8: CosI8Fn,
    l2sq_i8: L2sqI8Fn,
}

fn providers() -> Vec<Provider> {
    let mut v = vec![
        Provider {
            name: "scalar",
            dot_f32: Box::new(scalar::dot_f32_scalar),
            cos_f32: Box::new(scalar::cos_f32_scalar),
            l2sq_f32: Box::new(scalar::l2sq_f32_scalar),
            dot_i8: Box::new(scalar::dot_i8_scalar),
            cos_i8: Box::new(scalar::cos_i8_scalar),
            l2sq_i8: Box::new(scalar::l2sq_i8_scalar),
        },
        Provider {
            name: "simsimd",
            dot_f32: Box::new(simsimd::dot_f32_simsimd),
            cos_f32: Box::new(simsimd::cos_f32_simsimd),
            l2sq_f32: Box::new(simsimd::l2sq_f32_simsimd),
            dot_i8: Box::new(simsimd::dot_i8_simsimd),
            cos_i8: Box::new(simsimd::cos_i8_simsimd),
            l2sq_i8: Box::new(simsimd::l2sq_i8_simsimd),
        },
        Provider {
            name: "dispatched",
            dot_f32: Box::new(super::dot_f32),
            cos_f32: Box::new(super::cos_f32),
            l2sq_f32: Box::new(super::l2sq_f32),
            dot_i8: Box::new(super::dot_i8),
            cos_i8: Box::new(super::cos_i8),
            l2sq_i8: Box::new(super::l2sq_i8),
        },
    ];
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        use super::avx2;
        v.push(Provider {
            name: "avx2",
            // SAFETY: AVX2 and FMA were detected just above (`is_x86_feature_detected!`).
            dot_f32: Box::new(|a, b| unsafe { avx2::dot_f32_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above (`is_x86_feature_detected!`).
            cos_f32: Box::new(|a, b| unsafe { avx2::cos_f32_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above (`is_x86_feature_detected!`).
            l2sq_f32: Box::new(|a, b| unsafe { avx2::l2sq_f32_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above (`is_x86_feature_detected!`).
            dot_i8: Box::new(|a, b| unsafe { avx2::dot_i8_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above (`is_x86_feature_detected!`).
            cos_i8: Box::new(|a, b| unsafe { avx2::cos_i8_avx2(a, b) }),
            // SAFETY: AVX2 and FMA were detected just above (`is_x86_feature_detected!`).
            l2sq_i8: Box::new(|a, b| unsafe { avx2::l2sq_i8_avx2(a, b) }),
        });
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
    {
        use super::{avx2, avx512};
        // Only the INT8 dot product has an AVX-512 kernel; the rest are AVX2's.
        v.push(Provider {
            name: "avx512",
            // SAFETY: AVX2, FMA and the AVX-512 features were detected just above.
            dot_f32: Box::new(|a, b| unsafe { avx2::dot_f32_avx2(a, b) }),
            // SAFETY: AVX2, FMA and the AVX-512 features were detected just above.
            cos_f32: Box::new(|a, b| unsafe { avx2::cos_f32_avx2(a, b) }),
            // SAFETY: AVX2, FMA and the AVX-512 features were detected just above.
            l2sq_f32: Box::new(|a, b| unsafe { avx2::l2sq_f32_avx2(a, b) }),
            // SAFETY: AVX2, FMA and the AVX-512 features were detected just above.
            dot_i8: Box::new(|a, b| unsafe { avx512::dot_i8_avx512(a, b) }),
            // SAFETY: AVX2, FMA and the AVX-512 features were detected just above.
            cos_i8: Box::new(|a, b| unsafe { avx2::cos_i8_avx2(a, b) }),
            // SAFETY: AVX2, FMA and the AVX-512 features were detected just above.
            l2sq_i8: Box::new(|a, b| unsafe { avx2::l2sq_i8_avx2(a, b) }),
        });
    }
    v
}

/// f64 sums over the common length: (Σab, Σ|ab|, Σa², Σb², Σ(a-b)²).
fn ref_sums(a: &[f64], b: &[f64]) -> (f64, f64, f64, f64, f64) {
    let mut s = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        s.0 += x * y;
        s.1 += (x * y).abs();
        s.2 += x * x;
        s.3 += y * y;
        s.4 += (x - y) * (x - y);
    }
    s
}

fn ref_cos(ab: f64, aa: f64, bb: f64) -> f64 {
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// Relative f32 tolerance, applied to the sum of absolute terms.
const F32_REL: f64 = 1e-5;

fn random_f32(rng: &mut SmallRng, n: usize) -> Vec<f32> {
    // Mixed magnitudes, both signs.
    (0..n)
        .map(|_| rng.gen_range(-1.0f32..1.0) * [0.01f32, 1.0, 30.0][rng.gen_range(0..3)])
        .collect()
}

fn random_i8(rng: &mut SmallRng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.gen::<i8>()).collect()
}

#[test]
fn f32_kernels_match_the_f64_reference_for_every_length_and_offset() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_00f3);
    for p in providers() {
        for len in 0..=67usize {
            let (ba, bb) = (random_f32(&mut rng, len + 3), random_f32(&mut rng, len + 3));
            for (oa, ob) in [(0, 0), (1, 2), (3, 1), (2, 3)] {
                let (a, b) = (&ba[oa..oa + len], &bb[ob..ob + len]);
                let a64: Vec<f64> = a.iter().map(|&x| x as f64).collect();
                let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
                let (ab, abs_ab, aa, bbs, d2) = ref_sums(&a64, &b64);
                let ctx = format!("provider {} len {len} offsets ({oa},{ob})", p.name);

                let got = (p.dot_f32)(a, b) as f64;
                assert!(
                    (got - ab).abs() <= F32_REL * abs_ab,
                    "dot {ctx}: {got} vs {ab}"
                );

                let got = (p.l2sq_f32)(a, b) as f64;
                assert!(
                    (got - d2).abs() <= F32_REL * d2,
                    "l2sq {ctx}: {got} vs {d2}"
                );

                let want = ref_cos(ab, aa, bbs);
                let scale = if aa == 0.0 || bbs == 0.0 {
                    0.0
                } else {
                    abs_ab / (aa * bbs).sqrt()
                };
                let got = (p.cos_f32)(a, b) as f64;
                assert!(
                    (got - want).abs() <= F32_REL * scale + 1e-6,
                    "cos {ctx}: {got} vs {want}"
                );
                assert!((-1.0..=1.0).contains(&got), "cos {ctx} out of range: {got}");
            }
        }
    }
}

#[test]
fn i8_kernels_are_exact_for_every_length_and_offset() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0018);
    for p in providers() {
        // Past 67: the 64- and 128-byte steps of the AVX-512 kernel, with and without tails.
        for len in (0..=67usize).chain([127, 128, 129, 200, 383, 384, 385, 768]) {
            let (ba, bb) = (random_i8(&mut rng, len + 3), random_i8(&mut rng, len + 3));
            for (oa, ob) in [(0, 0), (1, 2), (3, 1), (2, 3)] {
                let (a, b) = (&ba[oa..oa + len], &bb[ob..ob + len]);
                let ctx = format!("provider {} len {len} offsets ({oa},{ob})", p.name);
                let ab: i64 = a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum();
                let aa: i64 = a.iter().map(|&x| x as i64 * x as i64).sum();
                let bbs: i64 = b.iter().map(|&y| y as i64 * y as i64).sum();
                let d2: i64 = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| (x as i64 - y as i64).pow(2))
                    .sum();

                assert_eq!((p.dot_i8)(a, b) as i64, ab, "dot {ctx}");
                assert_eq!((p.l2sq_i8)(a, b) as i64, d2, "l2sq {ctx}");
                let want = ref_cos(ab as f64, aa as f64, bbs as f64);
                let got = (p.cos_i8)(a, b) as f64;
                assert!((got - want).abs() <= 2e-6, "cos {ctx}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn i8_kernels_stay_exact_at_65536_extreme_components() {
    const N: usize = 65_536;
    let lo = vec![i8::MIN; N];
    let hi = vec![i8::MAX; N];
    for p in providers() {
        assert_eq!((p.dot_i8)(&lo, &lo), 1 << 30, "{}", p.name);
        assert_eq!((p.dot_i8)(&lo, &hi), -(128 * 127 * N as i32), "{}", p.name);
        assert_eq!((p.l2sq_i8)(&lo, &hi), 255 * 255 * N as u32, "{}", p.name);
        assert!(((p.cos_i8)(&lo, &lo) - 1.0).abs() <= 2e-6, "{}", p.name);
        assert!(((p.cos_i8)(&lo, &hi) + 1.0).abs() <= 2e-6, "{}", p.name);
    }
}

#[test]
fn mismatched_lengths_use_the_shorter_length() {
    let mut rng = SmallRng::seed_from_u64(7);
    let (a, b) = (random_f32(&mut rng, 45), random_f32(&mut rng, 37));
    let (c, d) = (random_i8(&mut rng, 45), random_i8(&mut rng, 37));
    for p in providers() {
        let n = 37;
        assert_eq!((p.dot_f32)(&a, &b), (p.dot_f32)(&a[..n], &b), "{}", p.name);
        assert_eq!((p.dot_f32)(&b, &a), (p.dot_f32)(&b, &a[..n]), "{}", p.name);
        assert_eq!((p.cos_f32)(&a, &b), (p.cos_f32)(&a[..n], &b), "{}", p.name);
        assert_eq!(
            (p.l2sq_f32)(&a, &b),
            (p.l2sq_f32)(&a[..n], &b),
            "{}",
            p.name
        );
        assert_eq!((p.dot_i8)(&c, &d), (p.dot_i8)(&c[..n], &d), "{}", p.name);
        assert_eq!((p.cos_i8)(&d, &c), (p.cos_i8)(&d, &c[..n]), "{}", p.name);
        assert_eq!((p.l2sq_i8)(&c, &d), (p.l2sq_i8)(&c[..n], &d), "{}", p.name);
        assert_eq!((p.dot_f32)(&a, &[]), 0.0, "{}", p.name);
        assert_eq!((p.dot_i8)(&[], &d), 0, "{}", p.name);
    }
}

#[test]
fn cosine_with_a_zero_vector_is_zero_and_with_itself_is_one() {
    let mut rng = SmallRng::seed_from_u64(11);
    let x = random_f32(&mut rng, 50);
    let z = vec![0f32; 50];
    let xi = random_i8(&mut rng, 50);
    let zi = vec![0i8; 50];
    for p in providers() {
        assert_eq!((p.cos_f32)(&z, &z), 0.0, "{}", p.name);
        assert_eq!((p.cos_f32)(&x, &z), 0.0, "{}", p.name);
        assert_eq!((p.cos_f32)(&z, &x), 0.0, "{}", p.name);
        assert!(((p.cos_f32)(&x, &x) - 1.0).abs() <= 1e-6, "{}", p.name);
        assert_eq!((p.cos_i8)(&zi, &zi), 0.0, "{}", p.name);
        assert_eq!((p.cos_i8)(&xi, &zi), 0.0, "{}", p.name);
        assert_eq!((p.cos_i8)(&zi, &xi), 0.0, "{}", p.name);
        assert!(((p.cos_i8)(&xi, &xi) - 1.0).abs() <= 2e-6, "{}", p.name);
        assert_eq!((p.cos_f32)(&[], &[]), 0.0, "{}", p.name);
    }
}

#[test]
fn norm_is_the_square_root_of_the_self_dot_product() {
    assert_eq!(super::norm_f32(&[3.0, 4.0]), 5.0);
    assert_eq!(super::norm_f32(&[]), 0.0);
}

#[test]
fn dispatch_uses_hardware_kernels_only_when_the_cpu_supports_them() {
    let names = super::kernel_names();
    let isa = super::isa();
    for (op, kernel) in names {
        assert!(kernel.starts_with(op), "{op} served by {kernel}");
        #[cfg(target_arch = "x86_64")]
        if kernel.ends_with("_avx2") {
            assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
        }
        #[cfg(target_arch = "x86_64")]
        if kernel.ends_with("_avx512") {
            assert!(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw"));
            assert!(is_x86_feature_detected!("avx512vnni"));
        }
        if kernel.ends_with("_simsimd") {
            assert_ne!(
                simsimd::simsimd_isa(),
                "serial",
                "{kernel} without simsimd SIMD"
            );
        }
        if isa == "scalar" {
            assert!(kernel.ends_with("_scalar"), "isa scalar but {kernel}");
        }
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        assert!(isa == "avx2" || isa == "avx512", "isa {isa} on an AVX2 CPU");
    }
}

#[test]
fn prefetch_accepts_any_slice() {
    let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    for len in [0, 1, 15, 16, 17, 999] {
        super::prefetch(&v[1..1 + len]);
    }
    super::prefetch::<i8>(&[]);
    assert_eq!(v[999], 999.0); // a hint: the data is unchanged
}

/// Every 4-bit kernel available here (scalar, AVX2, AVX-512 VNNI, dispatched) gives the
/// reference's exact sums for whole blocks, with a query and rows at unaligned offsets.
#[test]
fn packed_four_bit_kernels_equal_the_reference_sums() {
    type U4I8 = Box<dyn Fn(&[u8], &[i8]) -> i32>;
    type U4U4 = Box<dyn Fn(&[u8], &[u8]) -> i32>;
    let mut u4i8: Vec<(&str, U4I8)> = vec![
        ("scalar", Box::new(scalar::dot_u4_i8_scalar)),
        ("dispatched", Box::new(super::dot_u4_i8)),
    ];
    let mut u4u4: Vec<(&str, U4U4)> = vec![
        ("scalar", Box::new(scalar::dot_u4_u4_scalar)),
        ("dispatched", Box::new(super::dot_u4_u4)),
    ];
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA were detected just above.
        u4i8.push((
            "avx2",
            Box::new(|p, q| unsafe { super::avx2::dot_u4_i8_avx2(p, q) }),
        ));
        // SAFETY: AVX2 and FMA were detected just above, as for the kernel before.
        u4u4.push((
            "avx2",
            Box::new(|a, b| unsafe { super::avx2::dot_u4_u4_avx2(a, b) }),
        ));
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
    {
        // SAFETY: the three features were detected just above.
        u4i8.push((
            "avx512",
            Box::new(|p, q| unsafe { super::avx512::dot_u4_i8_avx512(p, q) }),
        ));
    }
    let mut rng = SmallRng::seed_from_u64(44);
    for blocks in 0..=7usize {
        for off in 0..3usize {
            let pa: Vec<u8> = (0..64 * blocks + off).map(|_| rng.gen()).collect();
            let pb: Vec<u8> = (0..64 * blocks + off).map(|_| rng.gen()).collect();
            let q: Vec<i8> = (0..128 * blocks + off)
                .map(|_| rng.gen_range(-127..=127))
                .collect();
            let (pa, pb, q) = (&pa[off..], &pb[off..], &q[off..]);
            let nib = |p: &[u8], i: usize| -> i32 {
                let (b, j) = (i / 128, i % 128);
                let byte = p[b * 64 + j % 64];
                (if j >= 64 { byte >> 4 } else { byte & 15 }) as i32
            };
            let want_q: i32 = (0..128 * blocks).map(|i| nib(pa, i) * q[i] as i32).sum();
            let want_rows: i32 = (0..128 * blocks)
                .map(|i| (nib(pa, i) - 8) * (nib(pb, i) - 8))
                .sum();
            for (name, f) in &u4i8 {
                assert_eq!(f(pa, q), want_q, "{name} u4·i8, {blocks} blocks");
            }
            for (name, f) in &u4u4 {
                assert_eq!(f(pa, pb), want_rows, "{name} u4·u4, {blocks} blocks");
            }
        }
    }
    // Extreme values: all nibbles 15 against -127 and 127 (no i16 saturation in AVX2).
    let p = vec![0xffu8; 64 * 6];
    for v in [-127i8, 127] {
        let q = vec![v; 128 * 6];
        for (name, f) in &u4i8 {
            assert_eq!(f(&p, &q), 15 * v as i32 * 768, "{name} extreme {v}");
        }
    }
    let zero = vec![0u8; 64 * 6];
    for (name, f) in &u4u4 {
        assert_eq!(f(&p, &p), 49 * 768, "{name} 7·7");
        assert_eq!(f(&zero, &zero), 64 * 768, "{name} (-8)·(-8)");
        assert_eq!(f(&p, &zero), -56 * 768, "{name} 7·(-8)");
    }
}
