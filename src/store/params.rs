//! A set's fixed parameters (below both the set and its index, which each read them).

use std::ops::RangeInclusive;

use crate::error::{Error, Result};
use crate::index;
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

/// Smallest dimension whose `exact` sets get 4-bit traversal codes ([`GraphLayout::new_set`]):
/// one whole 128-dimension block of `quant::q4`. Below it the padded nibble row saves little
/// over INT8, and coarse codes on few dimensions leave elements unreachable by their own
/// vector (a 16-d set lost 14 of 20 after a crash with them).
pub(crate) const Q4_MIN_DIM: usize = crate::quant::q4::BLOCK_DIMS;

/// How a set's graph is laid out: the codes its walk scores with (`index::Mode`) and the
/// width of its level-0 lists (`M_max0`). Fixed when the set is made
/// ([`GraphLayout::new_set`]) and kept in snapshots (section kind 12, `store::persist`), so a
/// saved graph is restored with the layout it was built with; a set loaded from a snapshot
/// without that section (written before the section existed, or by a set with the
/// [`GraphLayout::legacy`] layout) has the legacy layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GraphLayout {
    /// What the graph stores and traverses: `Q8`, `Q4` or `NoQuant`.
    pub mode: index::Mode,
    /// Level-0 list width.
    pub m_max0: usize,
}

impl GraphLayout {
    /// The layout every set had before layouts were per set: INT8 codes (f32 for `noquant`),
    /// `M_max0 = 2·M` (`1.5·M` for `q8`, the memory-lean storage mode).
    pub fn legacy(p: &SetParams) -> Self {
        let mode = match p.storage {
            StorageMode::Exact | StorageMode::Q8 | StorageMode::Bin => index::Mode::Q8,
            StorageMode::NoQuant => index::Mode::NoQuant,
        };
        let m_max0 = match p.storage {
            StorageMode::Q8 => p.m + p.m / 2,
            _ => 2 * p.m,
        };
        Self { mode, m_max0 }
    }

    /// The layout of a set made now: an `exact` set of at least [`Q4_MIN_DIM`] dimensions
    /// traverses 4-bit codes (`index::Mode::Q4`, half of INT8's bytes; the set reranks the
    /// graph's candidates from its f32) with `M_max0 = M` level-0 links (16 for M = 16; was
    /// 1.25·M before session 17: 16 bytes an element more for +0.004 recall@10 at ef 24 on
    /// synthetic-768 100k), so a 768-d element costs ≤ 1.2× its f32 bytes all in (#20 point
    /// 4, perf-reports/exact-memory-2026-12-07.md); every other set has the
    /// [`GraphLayout::legacy`] layout. Sets made before keep the layout their snapshot names.
    pub fn new_set(p: &SetParams) -> Self {
        if p.storage == StorageMode::Exact && p.dim >= Q4_MIN_DIM {
            Self {
                mode: index::Mode::Q4,
                m_max0: p.m,
            }
        } else {
            Self::legacy(p)
        }
    }

    /// The layout's bytes in a snapshot (section kind 12): format 1 u8, mode u8 (1 `Q8`,
    /// 2 `NoQuant`, 3 `Q4`), `M_max0` u32.
    pub fn encode(&self) -> Vec<u8> {
        let mode = match self.mode {
            index::Mode::Q8 => 1u8,
            index::Mode::NoQuant => 2,
            index::Mode::Q4 => 3,
            // Never a set's layout (the index's own f32 + INT8 mode).
            index::Mode::Exact => 0,
        };
        let mut b = vec![1u8, mode];
        b.extend_from_slice(&(self.m_max0 as u32).to_le_bytes());
        b
    }

    /// Reads a layout written by [`GraphLayout::encode`] for a set with parameters `p`;
    /// the error says what does not fit.
    pub fn decode(bytes: &[u8], p: &SetParams) -> std::result::Result<Self, String> {
        let [1, mode, a, b, c, d] = bytes else {
            return Err(format!(
                "graph layout: {} bytes of an unknown format",
                bytes.len()
            ));
        };
        let mode = match (mode, p.storage) {
            (1, StorageMode::Exact | StorageMode::Q8 | StorageMode::Bin) => index::Mode::Q8,
            (2, StorageMode::NoQuant) => index::Mode::NoQuant,
            (3, StorageMode::Exact) => index::Mode::Q4,
            _ => {
                return Err(format!(
                    "graph layout: traversal mode {mode} for a {} set",
                    p.storage
                ))
            }
        };
        let m_max0 = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
        if !(p.m..=2 * index::Params::MAX_M).contains(&m_max0) {
            return Err(format!("graph layout: M_max0 {m_max0} with M = {}", p.m));
        }
        Ok(Self { mode, m_max0 })
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
