//! Deterministic test vectors and the reference cosine, shared by the engine's vector tests
//! (`#[path = "support/vectors.rs"] mod vectors;`).

/// `n` pseudo-random vectors of `dim` components in [-1, 1] (xorshift from `seed`): the same
/// seed gives the same vectors on every machine.
pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 20_001) as f32 / 10_000.0 - 1.0
                })
                .collect()
        })
        .collect()
}

/// Cosine similarity, computed plainly in f32 (the reference the engine's scores are checked
/// against).
pub fn cos(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
