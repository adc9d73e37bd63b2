//! A vector set's fixed parameters (below both the set and its index, which each read them).

use crate::vocab::{Metric, StorageMode};

/// Fixed parameters of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SetParams {
    pub dim: usize,
    pub metric: Metric,
    pub storage: StorageMode,
    pub m: usize,
    pub ef_construction: usize,
}
