//! Run-time dispatch: one table of kernels, chosen on first use for the CPU we run on.
//!
//! The choice per (element type, operation, ISA) is the one `benches/kernels.rs` measured
//! as faster; the figures and the reasoning are in `perf-reports/kernels.md`.

use std::sync::OnceLock;

use super::scalar;
use super::simsimd;

type F32Kernel = unsafe fn(&[f32], &[f32]) -> f32;
type DotI8Kernel = unsafe fn(&[i8], &[i8]) -> i32;
type CosI8Kernel = unsafe fn(&[i8], &[i8]) -> f32;
type L2sqI8Kernel = unsafe fn(&[i8], &[i8]) -> u32;
type DotU4I8Kernel = unsafe fn(&[u8], &[i8]) -> i32;
type DotU4U4Kernel = unsafe fn(&[u8], &[u8]) -> i32;

/// The kernels in use, each with its name (`<op>_<elem>_<provider>`).
///
/// Invariant: a kernel that needs a CPU feature is stored only after that feature was
/// detected at run time, so calling any entry is sound on this CPU.
struct Kernels {
    isa: &'static str,
    dot_f32: (F32Kernel, &'static str),
    cos_f32: (F32Kernel, &'static str),
    l2sq_f32: (F32Kernel, &'static str),
    dot_i8: (DotI8Kernel, &'static str),
    cos_i8: (CosI8Kernel, &'static str),
    l2sq_i8: (L2sqI8Kernel, &'static str),
    /// Packed 4-bit codes against an i8 query (the `q4` graph's traversal kernel).
    dot_u4_i8: (DotU4I8Kernel, &'static str),
    /// Two packed 4-bit rows (the `q4` graph's construction).
    dot_u4_u4: (DotU4U4Kernel, &'static str),
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

#[inline(always)]
fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(select)
}

/// Portable kernels only: the fallback on every target.
fn scalar_table() -> Kernels {
    Kernels {
        isa: "scalar",
        dot_f32: (scalar::dot_f32_scalar, "dot_f32_scalar"),
        cos_f32: (scalar::cos_f32_scalar, "cos_f32_scalar"),
        l2sq_f32: (scalar::l2sq_f32_scalar, "l2sq_f32_scalar"),
        dot_i8: (scalar::dot_i8_scalar, "dot_i8_scalar"),
        cos_i8: (scalar::cos_i8_scalar, "cos_i8_scalar"),
        l2sq_i8: (scalar::l2sq_i8_scalar, "l2sq_i8_scalar"),
        dot_u4_i8: (scalar::dot_u4_i8_scalar, "dot_u4_i8_scalar"),
        dot_u4_u4: (scalar::dot_u4_u4_scalar, "dot_u4_u4_scalar"),
    }
}

/// simsimd for every operation (its own dispatch picks the ISA): the default provider
/// where no measurement says otherwise.
fn simsimd_table(isa: &'static str) -> Kernels {
    Kernels {
        isa,
        dot_f32: (simsimd::dot_f32_simsimd, "dot_f32_simsimd"),
        cos_f32: (simsimd::cos_f32_simsimd, "cos_f32_simsimd"),
        l2sq_f32: (simsimd::l2sq_f32_simsimd, "l2sq_f32_simsimd"),
        dot_i8: (simsimd::dot_i8_simsimd, "dot_i8_simsimd"),
        cos_i8: (simsimd::cos_i8_simsimd, "cos_i8_simsimd"),
        l2sq_i8: (simsimd::l2sq_i8_simsimd, "l2sq_i8_simsimd"),
        dot_u4_i8: (scalar::dot_u4_i8_scalar, "dot_u4_i8_scalar"),
        dot_u4_u4: (scalar::dot_u4_u4_scalar, "dot_u4_u4_scalar"),
    }
}

fn select() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return select_x86_avx2(simsimd::simsimd_isa());
        }
    }
    match simsimd::simsimd_isa() {
        "serial" => scalar_table(),
        isa => simsimd_table(isa),
    }
}

/// AVX2 + FMA present. `simsimd_isa` says which simsimd kernels compete with ours.
#[cfg(target_arch = "x86_64")]
fn select_x86_avx2(simsimd_isa: &'static str) -> Kernels {
    match simsimd_isa {
        // simsimd has AVX-512 kernels (skylake; ice and later add VNNI for i8). Measured
        // on Zen 4 (genoa): our AVX2 kernels were faster for all six operations.
        "skylake" | "ice" | "genoa" | "sapphire" | "turin" => avx512_table(),
        // AVX2 without AVX-512 (Haswell .. Zen 3; also Sierra Forest, whose AVX-VNNI
        // kernels in simsimd are unmeasured): against simsimd's haswell kernels, measured
        // on Zen 4 with simsimd's AVX-512 back ends compiled out.
        _ => avx2_table(),
    }
}

/// AVX-512 present: our AVX2 kernels, except the INT8 inner product, which uses our AVX-512
/// VNNI kernel when the CPU has VNNI (a third of the AVX2 kernel's instructions; the graph's
/// build and search call nothing more often — see `perf-reports/ann.md`).
///
/// Only called after AVX2 and FMA were detected (the `Kernels` invariant).
#[cfg(target_arch = "x86_64")]
fn avx512_table() -> Kernels {
    let base = Kernels {
        isa: "avx512",
        ..avx2_table()
    };
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
    {
        Kernels {
            dot_i8: (super::avx512::dot_i8_avx512, "dot_i8_avx512"),
            dot_u4_i8: (super::avx512::dot_u4_i8_avx512, "dot_u4_i8_avx512"),
            ..base
        }
    } else {
        base
    }
}

/// Our AVX2 + FMA kernels for every operation.
///
/// Only called after AVX2 and FMA were detected (the `Kernels` invariant).
#[cfg(target_arch = "x86_64")]
fn avx2_table() -> Kernels {
    use super::avx2;
    Kernels {
        isa: "avx2",
        dot_f32: (avx2::dot_f32_avx2, "dot_f32_avx2"),
        cos_f32: (avx2::cos_f32_avx2, "cos_f32_avx2"),
        l2sq_f32: (avx2::l2sq_f32_avx2, "l2sq_f32_avx2"),
        dot_i8: (avx2::dot_i8_avx2, "dot_i8_avx2"),
        cos_i8: (avx2::cos_i8_avx2, "cos_i8_avx2"),
        l2sq_i8: (avx2::l2sq_i8_avx2, "l2sq_i8_avx2"),
        dot_u4_i8: (avx2::dot_u4_i8_avx2, "dot_u4_i8_avx2"),
        dot_u4_u4: (avx2::dot_u4_u4_avx2, "dot_u4_u4_avx2"),
    }
}

/// Inner product of two f32 vectors.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().dot_f32.0)(a, b) }
}

/// Cosine similarity of two f32 vectors, in `[-1, 1]`; 0 when either has zero norm.
#[inline]
pub fn cos_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().cos_f32.0)(a, b) }
}

/// Squared Euclidean distance of two f32 vectors.
#[inline]
pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().l2sq_f32.0)(a, b) }
}

/// Inner product of two i8 vectors (exact, in i32, for lengths up to 65,536).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().dot_i8.0)(a, b) }
}

/// Cosine similarity of two i8 vectors, in `[-1, 1]`; 0 when either is all zero.
#[inline]
pub fn cos_i8(a: &[i8], b: &[i8]) -> f32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().cos_i8.0)(a, b) }
}

/// Squared Euclidean distance of two i8 vectors (exact, in u32, for lengths up to 65,536).
#[inline]
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> u32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().l2sq_i8.0)(a, b) }
}

/// `Σ u_i · q_i` of packed unsigned 4-bit values (blocks of 128 dimensions in 64 bytes:
/// byte `j` holds dimension `j` low and `j + 64` high) and an i8 query of twice the bytes;
/// whole blocks only. Exact. The `q4` graph's kernel (`crate::quant::q4`).
#[inline]
pub fn dot_u4_i8(packed: &[u8], q: &[i8]) -> i32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().dot_u4_i8.0)(packed, q) }
}

/// `Σ (a_i − 8)·(b_i − 8)` of two packed 4-bit rows (the signed codes of
/// `crate::quant::q4`), whole blocks only. Exact.
#[inline]
pub fn dot_u4_u4(a: &[u8], b: &[u8]) -> i32 {
    // SAFETY: the table holds only kernels this CPU supports (see `Kernels`).
    unsafe { (kernels().dot_u4_u4.0)(a, b) }
}

/// The kernel serving [`dot_u4_i8`] (e.g. `dot_u4_i8_avx512`).
pub fn dot_u4_i8_kernel() -> &'static str {
    kernels().dot_u4_i8.1
}

/// Euclidean norm of an f32 vector.
#[inline]
pub fn norm_f32(a: &[f32]) -> f32 {
    dot_f32(a, a).sqrt()
}

/// The instruction set the kernels in use were chosen for: `"avx512"`, `"avx2"` (x86_64),
/// `"neon"`, `"sve"` (aarch64, via simsimd), or `"scalar"`.
pub fn isa() -> &'static str {
    kernels().isa
}

/// Which kernel serves each operation, as `(operation, kernel)` pairs, e.g.
/// `("dot_f32", "dot_f32_avx2")`: the suffix names the provider (`avx2` = ours,
/// `simsimd`, `scalar`).
pub fn kernel_names() -> [(&'static str, &'static str); 6] {
    let k = kernels();
    [
        ("dot_f32", k.dot_f32.1),
        ("cos_f32", k.cos_f32.1),
        ("l2sq_f32", k.l2sq_f32.1),
        ("dot_i8", k.dot_i8.1),
        ("cos_i8", k.cos_i8.1),
        ("l2sq_i8", k.l2sq_i8.1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table this CPU can run (the ones other CPUs would pick included) has
    /// kernels named after their operation that agree with the scalar reference.
    #[test]
    fn every_table_this_cpu_can_run_agrees_with_the_scalar_kernels() {
        let mut tables = vec![scalar_table(), simsimd_table("test")];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            tables.push(avx2_table());
            tables.push(avx512_table());
        }
        let a: Vec<f32> = (0..100)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let b: Vec<f32> = (0..100)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0)
            .collect();
        let c: Vec<i8> = (0..100).map(|i| (i * 41 % 256) as u8 as i8).collect();
        let d: Vec<i8> = (0..100).map(|i| (i * 67 % 256) as u8 as i8).collect();
        for t in tables {
            for (op, name) in [
                ("dot_f32", t.dot_f32.1),
                ("cos_f32", t.cos_f32.1),
                ("l2sq_f32", t.l2sq_f32.1),
                ("dot_i8", t.dot_i8.1),
                ("cos_i8", t.cos_i8.1),
                ("l2sq_i8", t.l2sq_i8.1),
            ] {
                assert!(name.starts_with(op), "{name} serves {op}");
            }
            // SAFETY: only tables whose CPU features were detected are in `tables`.
            unsafe {
                let close = |x: f32, y: f32| (x - y).abs() <= 1e-4 * (1.0 + y.abs());
                assert!(close((t.dot_f32.0)(&a, &b), scalar::dot_f32_scalar(&a, &b)));
                assert!(close((t.cos_f32.0)(&a, &b), scalar::cos_f32_scalar(&a, &b)));
                assert!(close(
                    (t.l2sq_f32.0)(&a, &b),
                    scalar::l2sq_f32_scalar(&a, &b)
                ));
                assert_eq!((t.dot_i8.0)(&c, &d), scalar::dot_i8_scalar(&c, &d));
                assert!(close((t.cos_i8.0)(&c, &d), scalar::cos_i8_scalar(&c, &d)));
                assert_eq!((t.l2sq_i8.0)(&c, &d), scalar::l2sq_i8_scalar(&c, &d));
            }
        }
    }
}
