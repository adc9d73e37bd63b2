//! A set's fixed parameters (below both the set and its index, which each read them).

use std::ops::RangeInclusive;

use crate::error::{Error, Result};
use crate::vocab::{Metric, StorageMode};

/// The HNSW `M` a set may have.
pub(crate) const M_RANGE: RangeInclusive<usize> = 2..=512;
/// The `ef_construction` a set may have.
pub(crate) const EF_CONSTRUCTION_RANGE: RangeInclusive<usize> = 1..=100_000;
/// The `REDUCE` dimension a set may have.
pub(crate) const REDUCE_RANGE: RangeInclusive<usize> = 1..=65_536;

/// Fixed parameters of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SetParams {
    pub dim: usize,
    pub metric: Metric,
    pub storage: StorageMode,
    pub m: usize,
    pub ef_construction: usize,
    /// Redis's `REDUCE`: the dimension of the vectors the set takes in, projected to `dim`
    /// by [`project`]; 0 when the set has no projection.
    pub projection: usize,
}

impl SetParams {
    /// Whether a set may have these parameters: `m` and `ef_construction` in their ranges,
    /// a dimension, and `bin` storage only under cosine. The error names the argument.
    pub fn check(&self) -> Result<()> {
        check_m(self.m)?;
        check_ef_construction(self.ef_construction)?;
        if self.dim == 0 {
            return Err(Error::invalid("vector", "at least one component"));
        }
        if self.storage == StorageMode::Bin && self.metric != Metric::Cosine {
            return Err(Error::invalid(
                "storage",
                format!(
                    "bin quantization scores by direction: the cosine metric, got {}",
                    self.metric
                ),
            ));
        }
        Ok(())
    }
}

/// Checks an HNSW `M` against [`M_RANGE`].
pub(crate) fn check_m(m: usize) -> Result<()> {
    if M_RANGE.contains(&m) {
        return Ok(());
    }
    Err(Error::invalid(
        "m",
        format!("{}..={}, got {m}", M_RANGE.start(), M_RANGE.end()),
    ))
}

/// Checks an `ef_construction` against [`EF_CONSTRUCTION_RANGE`].
pub(crate) fn check_ef_construction(ef: usize) -> Result<()> {
    if EF_CONSTRUCTION_RANGE.contains(&ef) {
        return Ok(());
    }
    Err(Error::invalid(
        "ef_construction",
        format!(
            "{}..={}, got {ef}",
            EF_CONSTRUCTION_RANGE.start(),
            EF_CONSTRUCTION_RANGE.end()
        ),
    ))
}

/// Checks a `REDUCE` dimension against [`REDUCE_RANGE`].
pub(crate) fn check_reduce(r: usize) -> Result<()> {
    if REDUCE_RANGE.contains(&r) {
        return Ok(());
    }
    Err(Error::invalid(
        "reduce",
        format!("{}..={}, got {r}", REDUCE_RANGE.start(), REDUCE_RANGE.end()),
    ))
}

/// Redis's random projection of a vector of dimension `input.len()` to `out_dim`: the
/// `out_dim × in` matrix whose entry `(i, j)` is `±1/√in`, `+` when `i & j` has an even
/// number of one bits (a Hadamard sign pattern), so `out[i] = Σ_j m(i, j) · input[j]`. The
/// matrix is a function of the two dimensions alone, which is why a set remembers its
/// projection by its input dimension ([`SetParams::projection`]) and rebuilds the same matrix
/// after a restart.
pub(crate) fn project(input: &[f32], out_dim: usize) -> Vec<f32> {
    let scale = 1.0 / (input.len() as f32).sqrt();
    (0..out_dim)
        .map(|i| {
            let sum: f32 = input
                .iter()
                .enumerate()
                .map(|(j, &x)| if (i & j).count_ones() % 2 == 0 { x } else { -x })
                .sum();
            sum * scale
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::project;

    #[test]
    fn the_projection_is_the_hadamard_sign_matrix_scaled_by_the_input_dimension() {
        // Rows i = 0, 1, 2 over j = 0..4: (+ + + +), (+ − + −), (+ + − −), all over √4.
        let out = project(&[1.0, 2.0, 3.0, 4.0], 3);
        assert_eq!(out, vec![5.0, -1.0, -2.0]);
    }

    #[test]
    fn projecting_keeps_distinct_inputs_apart_and_is_deterministic() {
        let a: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..100).map(|i| (i as f32 * 0.91).cos()).collect();
        assert_eq!(project(&a, 80), project(&a, 80));
        assert_ne!(project(&a, 80), project(&b, 80));
    }
}
