//! The index's vocabulary: slots, metrics, modes, parameters, hits and figures.

/// A dense element id chosen by the caller (the engine's per-set slot).
///
/// Slots index contiguous arrays, so they should be dense: the index grows its arrays to
/// one past the highest slot it has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u32);

impl Slot {
    /// "No element": the sentinel in neighbour lists and the empty entry point.
    pub const INVALID: Slot = Slot(u32::MAX);

    /// The slot as an array index.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How two vectors compare (the crate's one [`crate::vocab::Metric`]). For `Cosine` the
/// caller normalises vectors (inserted and queried) to unit length, so the score is the
/// inner product; `L2` scores are negated squared distances.
pub use crate::vocab::Metric;

/// What the index stores per element and traverses with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Mode {
    /// INT8 codes for traversal, f32 kept for the rerank of the best `ef` candidates.
    #[default]
    Exact,
    /// INT8 codes only; scores are INT8 estimates.
    Q8,
    /// f32 only; traversal on f32.
    NoQuant,
    /// 4-bit codes only (`crate::quant::q4`, half of `Q8`'s bytes); scores are estimates
    /// for a caller that reranks from its own f32 (the engine's `exact` sets).
    Q4,
}

impl Mode {
    /// Whether codes (INT8 or 4-bit) are stored and traversed, with an INT8 query.
    #[inline]
    pub fn has_codes(self) -> bool {
        !matches!(self, Mode::NoQuant)
    }

    /// Whether INT8 codes are stored.
    #[inline]
    pub fn has_i8(self) -> bool {
        matches!(self, Mode::Exact | Mode::Q8)
    }

    /// Whether the original f32 vectors are stored.
    #[inline]
    pub fn has_f32(self) -> bool {
        matches!(self, Mode::Exact | Mode::NoQuant)
    }
}

/// Parameters fixed when an index is created (names from the HNSW paper).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Vector dimension.
    pub dim: usize,
    /// Similarity measure.
    pub metric: Metric,
    /// Storage and traversal mode.
    pub mode: Mode,
    /// `M`: neighbours chosen per insert, and the list width on levels ≥ 1 (`M_max`).
    pub m: usize,
    /// `M_max0`: list width on level 0 (the paper's advice, `2·M`, by default).
    pub m_max0: usize,
    /// `efConstruction`: candidate list size while inserting.
    pub ef_construction: usize,
    /// Default `ef` of searches that pass `ef = 0`.
    pub ef_search: usize,
    /// Seed of the level draws (levels are a function of the seed and the insert order).
    pub seed: u64,
}

impl Params {
    /// Default M (Redis's vector sets use the same).
    pub const DEFAULT_M: usize = 16;
    /// Default efConstruction.
    pub const DEFAULT_EF_CONSTRUCTION: usize = 200;
    /// Default ef of a search; recall@10 ≥ 0.95 on MiniLM-WordNet at M = 16 (tests/engine/index_recall.rs).
    pub const DEFAULT_EF_SEARCH: usize = 64;
    /// Largest accepted M (levels ≥ 1 hold M entries, level 0 `2·M`).
    pub const MAX_M: usize = 512;

    /// Defaults for a dimension: cosine, exact, M = 16, `M_max0` = 32, efConstruction = 200.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            metric: Metric::Cosine,
            mode: Mode::Exact,
            m: Self::DEFAULT_M,
            m_max0: 2 * Self::DEFAULT_M,
            ef_construction: Self::DEFAULT_EF_CONSTRUCTION,
            ef_search: Self::DEFAULT_EF_SEARCH,
            seed: 0x5eed_1dc0_ffee_u64,
        }
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets M and `M_max0 = 2·M`.
    pub fn m(mut self, m: usize) -> Self {
        self.m = m;
        self.m_max0 = 2 * m;
        self
    }

    /// Sets `M_max0` alone (after [`Params::m`], which resets it to `2·M`).
    pub fn m_max0(mut self, m_max0: usize) -> Self {
        self.m_max0 = m_max0;
        self
    }

    /// The memory-lean layout: `M_max0 = 1.5·M` instead of `2·M` (24 links at level 0 for
    /// M = 16). With INT8 codes at 384 dimensions this brings the whole index to ≈ 495 bytes
    /// per vector (from ≈ 527) for a small loss of recall at a given ef, made up by a slightly
    /// larger ef at about the same speed (perf-reports/ann.md). The engine uses it for `q8` sets.
    pub fn memory_lean(mut self) -> Self {
        self.m_max0 = self.m + self.m / 2;
        self
    }

    /// Sets efConstruction.
    pub fn ef_construction(mut self, ef: usize) -> Self {
        self.ef_construction = ef;
        self
    }

    /// Sets the default ef of searches.
    pub fn ef_search(mut self, ef: usize) -> Self {
        self.ef_search = ef;
        self
    }

    /// Sets the seed of the level draws.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The level multiplier `m_L = 1 / ln(M)`.
    pub fn level_multiplier(&self) -> f64 {
        1.0 / (self.m.max(2) as f64).ln()
    }
}

/// Per-call search parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchParams {
    /// How many hits (top-k). Ignored by threshold searches.
    pub k: usize,
    /// Candidate list size (`ef`); 0 = the index's `ef_search`. Raised to `k` when smaller.
    /// In a threshold search it is the floor of the expansion.
    pub ef: usize,
    /// Scan every element instead of walking the graph (exact in `exact`/`noquant` modes).
    pub exhaustive: bool,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            k: 10,
            ef: 0,
            exhaustive: false,
        }
    }
}

impl SearchParams {
    /// Top-`k` with the default ef.
    pub fn k(k: usize) -> Self {
        Self {
            k,
            ..Self::default()
        }
    }

    /// Sets ef.
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = ef;
        self
    }

    /// Asks for an exhaustive scan.
    pub fn exhaustive(mut self, exhaustive: bool) -> Self {
        self.exhaustive = exhaustive;
        self
    }
}

/// One result: an element and its score (higher is nearer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The element.
    pub slot: Slot,
    /// Cosine similarity, inner product, or −(squared L2 distance).
    pub score: f32,
}

/// Figures of an index (for the set's info).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Highest level of the graph (0 when empty or flat).
    pub max_level: usize,
    /// Elements in the graph.
    pub nodes: usize,
    /// Slots the arrays are sized for.
    pub capacity: usize,
    /// Bytes held by the index: vectors, codes, neighbour lists, per-node metadata.
    pub memory_bytes: usize,
}
