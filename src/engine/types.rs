//! Arguments and results of the engine's calls.

pub use crate::vocab::{Counters, Metric, StorageMode, TtlState};

/// When an entry expires, as a write asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Expiry {
    /// The configured default TTL (none if it is 0).
    #[default]
    Default,
    /// Never expires.
    Never,
    /// Expires this many ms from now.
    InMs(u64),
    /// Expires at this absolute time (ms since the Unix epoch).
    AtMs(u64),
    /// Keeps the current expiry of an existing entry (Redis's KEEPTTL); like `Default` when new.
    Keep,
}

/// What [`crate::Engine::get_then`] does to a blob once it has read it, in the same step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetThen {
    /// Sets its expiry (Redis's GETEX EX/PX/EXAT/PXAT; `Expiry::Never` is GETEX PERSIST);
    /// an expiry in the past deletes it.
    Expire(Expiry),
    /// Deletes it (Redis's GETDEL).
    Delete,
}

/// Condition of a blob write (Redis's NX / XX).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Always write.
    #[default]
    Always,
    /// Write only if the key does not exist (NX).
    IfAbsent,
    /// Write only if the key exists (XX).
    IfPresent,
}

/// Options of [`crate::Engine::set`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SetOptions {
    /// Expiry of the written value.
    pub expiry: Expiry,
    /// NX / XX.
    pub condition: SetCondition,
    /// Return the previous value (Redis's SET … GET).
    pub return_old: bool,
}

/// What [`crate::Engine::set`] did.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SetOutcome {
    /// Whether the value was written (false when NX/XX did not hold).
    pub written: bool,
    /// The previous value, when `return_old` was asked and there was one.
    pub old: Option<Vec<u8>>,
}

/// When an expire applies, by the key's current expiry (Redis 7's EXPIRE NX / XX / GT / LT).
/// A key without an expiry counts as never expiring: GT never applies to it, LT always.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpireIf {
    /// Always (no option).
    #[default]
    Always,
    /// NX: only when the key has no expiry.
    NoExpiry,
    /// XX: only when it has one.
    HasExpiry,
    /// GT (or XX GT): only when the new time is later than the current one.
    Later,
    /// LT: only when the new time is earlier than the current one, or there is none.
    Earlier,
    /// XX LT: only when the key has an expiry and the new time is earlier.
    EarlierWithExpiry,
}

impl ExpireIf {
    /// Whether an expire to absolute time `at` applies to a key whose expiry is `current`
    /// (0 = none).
    pub fn holds(self, current: u64, at: u64) -> bool {
        match self {
            Self::Always => true,
            Self::NoExpiry => current == 0,
            Self::HasExpiry => current != 0,
            Self::Later => current != 0 && at > current,
            Self::Earlier => current == 0 || at < current,
            Self::EarlierWithExpiry => current != 0 && at < current,
        }
    }
}

/// What a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Plain bytes (Redis's `string`).
    Blob,
    /// A vector set (Redis's `vectorset`).
    VectorSet,
    /// Fields → values (Redis's `hash`).
    Hash,
}

impl KeyKind {
    /// The name Redis's TYPE answers.
    pub fn redis_name(self) -> &'static str {
        match self {
            KeyKind::Blob => "string",
            KeyKind::VectorSet => "vectorset",
            KeyKind::Hash => "hash",
        }
    }
}

/// What OBJECT and MEMORY USAGE report of a key ([`crate::Engine::key_info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Blob or vector set.
    pub kind: KeyKind,
    /// The bytes the key accounts for against the byte cap: a blob's key, value and
    /// overhead; a set's elements, its own overhead and its index.
    pub memory_bytes: u64,
    /// Under the `lfu` policy, the logarithmic access counter eviction compares (Redis's
    /// OBJECT FREQ): a blob's own, a set's highest among its live elements. `None` under
    /// other policies, which do not track it.
    pub lfu_frequency: Option<u32>,
    /// A vector set's storage mode.
    pub storage: Option<StorageMode>,
    /// A hash's Redis encoding (`listpack` while small, then `hashtable`).
    pub hash_encoding: Option<&'static str>,
}

/// Parameters of a vector set. On the first add they create the set (`None` = default);
/// on later adds every `Some` must equal the set's value, or the add fails with
/// [`crate::Error::Conflict`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VectorSetOptions {
    /// Default cosine.
    pub metric: Option<Metric>,
    /// Default: the engine's [`crate::EngineConfig::default_storage_mode`] (exact unless
    /// configured otherwise).
    pub storage: Option<StorageMode>,
    /// HNSW M (default 16).
    pub m: Option<usize>,
    /// HNSW ef_construction (default 200).
    pub ef_construction: Option<usize>,
    /// Redis's `REDUCE dim`: a new set projects the vectors it is given to `dim` dimensions
    /// (Redis's random projection) and remembers the projection; an existing set must have
    /// been made with the same. `None`: a new set has no projection; a set with one still
    /// projects vectors of its input dimension (and takes vectors of its own dimension as
    /// already projected).
    pub reduce: Option<usize>,
}

impl VectorSetOptions {
    /// HNSW M when a new set's options give none (Redis's, the index's).
    pub const DEFAULT_M: usize = crate::index::Params::DEFAULT_M;
    /// HNSW ef_construction when a new set's options give none (Redis's build EF).
    pub const DEFAULT_EF_CONSTRUCTION: usize = crate::index::Params::DEFAULT_EF_CONSTRUCTION;
}

/// An element's vector in Redis's VEMB RAW form ([`crate::Engine::vemb_raw`]): what the
/// set's storage mode keeps, as the unit-length vector and its L2 norm.
#[derive(Clone, Debug, PartialEq)]
pub enum RawEmbedding {
    /// A `q8` set's: codes `q = round(u / range × 127)` of the unit vector `u`, with
    /// `range = max |u|` (so `u ≈ q × range / 127`): exactly the stored codes.
    Int8 {
        /// One code per dimension.
        codes: Vec<i8>,
        /// L2 norm of the vector.
        norm: f64,
        /// Largest absolute component of the unit vector.
        range: f64,
    },
    /// An `exact` or `noquant` set's: the unit vector (the vector itself when its norm is 0).
    F32 {
        /// The vector divided by its norm.
        unit: Vec<f32>,
        /// L2 norm of the vector.
        norm: f64,
    },
    /// A `bin` set's: the sign bits as Redis stores them (64-bit little-endian words, bit
    /// `j` set when component `j` was positive: byte `j/8`, bit `j%8`; `⌈dim/64⌉ × 8`
    /// bytes).
    Bin {
        /// The bits.
        bits: Vec<u8>,
        /// L2 norm of the vector added.
        norm: f64,
    },
}

/// Attribute change carried by an add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AttrUpdate<'a> {
    /// Leave the element's attributes as they are (none for a new element).
    #[default]
    Keep,
    /// Remove them.
    Clear,
    /// Set them to this text (stored as given; FILTER reads it as a JSON object).
    Set(&'a str),
}

/// One element of an add.
#[derive(Clone, Copy, Debug)]
pub struct ElementAdd<'a> {
    /// The element's name (the cache key).
    pub element: &'a [u8],
    /// Its vector: finite values, the set's dimension.
    pub vector: &'a [f32],
    /// Attribute change.
    pub attributes: AttrUpdate<'a>,
    /// Expiry of the element.
    pub expiry: Expiry,
}

impl<'a> ElementAdd<'a> {
    /// An element with no attribute change and the default expiry.
    pub fn new(element: &'a [u8], vector: &'a [f32]) -> Self {
        Self {
            element,
            vector,
            attributes: AttrUpdate::Keep,
            expiry: Expiry::Default,
        }
    }
}

/// What a search is near.
#[derive(Clone, Copy, Debug)]
pub enum Query<'a> {
    /// A vector of the set's dimension.
    Vector(&'a [f32]),
    /// An element of the set.
    Element(&'a [u8]),
}

/// Per-call search parameters.
#[derive(Clone, Copy, Debug)]
pub struct SearchParams {
    /// Top-k (default 10).
    pub count: usize,
    /// HNSW ef_search; 0 = the default.
    pub ef: usize,
    /// Only hits with `score >= min_score` (metric units: cosine similarity, dot, −l2²).
    pub min_score: Option<f32>,
    /// Exact scan instead of the graph.
    pub exhaustive: bool,
    /// Fill `SearchHit::attributes`.
    pub with_attributes: bool,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            count: 10,
            ef: 0,
            min_score: None,
            exhaustive: false,
            with_attributes: false,
        }
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    /// The element's name.
    pub element: Vec<u8>,
    /// Similarity, higher is nearer: cosine similarity, inner product, or −(squared L2 distance).
    pub score: f32,
    /// Attributes JSON, when asked for and present.
    pub attributes: Option<String>,
}

/// The results of a batched search ([`crate::Engine::vsearch_batch`]): `n` rows of at most
/// `k` hits each, best first, packed row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchHits {
    /// Hits asked for per query: the width of a row.
    pub k: usize,
    /// How many hits each row holds (`<= k`); `n` entries.
    pub counts: Vec<usize>,
    /// `n × k` scores; NaN past a row's count.
    pub scores: Vec<f32>,
    /// `n × k` `(offset, length)` of each hit's name in `names`; `(0, 0)` past a row's count.
    pub spans: Vec<(usize, usize)>,
    /// The hits' names, packed.
    pub names: Vec<u8>,
}

impl BatchHits {
    /// `n` rows of `k` with no hits.
    pub fn empty(k: usize, n: usize) -> Self {
        Self {
            k,
            counts: vec![0; n],
            scores: vec![f32::NAN; n * k],
            spans: vec![(0, 0); n * k],
            names: Vec::new(),
        }
    }

    /// The number of rows (queries).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Row `i`'s hits as `(name, score)`, best first.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (&[u8], f32)> + '_ {
        let at = i * self.k;
        (at..at + self.counts[i]).map(move |j| {
            let (o, l) = self.spans[j];
            (&self.names[o..o + l], self.scores[j])
        })
    }

    /// Appends `other`'s rows (of the same `k`) after these.
    pub fn append(&mut self, other: BatchHits) {
        let base = self.names.len();
        self.counts.extend(other.counts);
        self.scores.extend(other.scores);
        self.spans.extend(
            other
                .spans
                .into_iter()
                .map(|(o, l)| if l == 0 { (0, 0) } else { (o + base, l) }),
        );
        self.names.extend(other.names);
    }
}

/// What a semantic invalidation removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Invalidated {
    /// How many elements were removed.
    pub count: usize,
    /// Their names with scores (empty unless asked for).
    pub removed: Vec<SearchHit>,
}

/// Description of a vector set (VINFO and more).
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSetInfo {
    /// Dimension.
    pub dim: usize,
    /// Metric.
    pub metric: Metric,
    /// Storage mode.
    pub storage: StorageMode,
    /// HNSW M.
    pub m: usize,
    /// HNSW ef_construction.
    pub ef_construction: usize,
    /// The dimension of the vectors the set projects to `dim` (Redis's `REDUCE`, VINFO
    /// `projection-input-dim`); 0 without a projection.
    pub projection_input_dim: usize,
    /// Live elements.
    pub size: usize,
    /// Elements carrying attributes.
    pub attributes_count: usize,
    /// Unique id of the set (changes when the set is deleted and re-created).
    pub uid: u64,
    /// One past the highest slot ever used.
    pub max_slot: u64,
    /// Highest HNSW level (0 until the index lands).
    pub max_level: usize,
    /// Elements in the graph.
    pub index_nodes: usize,
    /// Adds, updates and removals the background indexer has not applied to the graph yet
    /// (searches scan those elements exactly); 0 when the set has no index.
    pub index_pending: usize,
    /// Graph nodes restored from the snapshot at the last open instead of being built (0 when
    /// the graph was built, or is still waiting to be restored).
    pub index_restored: usize,
    /// Accounted bytes of the set.
    pub memory_bytes: u64,
}

impl Counters {
    /// hits / (hits + misses), 0 when there was no lookup.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// Engine-wide statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Totals over blobs and all vector sets.
    pub total: Counters,
    /// Number of keys (blobs plus vector sets).
    pub keys: u64,
    /// Number of vector sets.
    pub vector_sets: u64,
}

/// Keys with an expiry ([`crate::Engine::key_expiries`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyExpiries {
    /// Keys (blobs or vector sets) with an expiry.
    pub keys: u64,
    /// Their mean time to live in ms (0 without any).
    pub avg_ttl_ms: u64,
}

/// One database's line of Redis's INFO keyspace ([`crate::Engine::keyspace`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbKeyspace {
    /// The database number.
    pub db: u32,
    /// Its keys (as [`crate::Engine::dbsize`]).
    pub keys: u64,
    /// Its keys with an expiry and their mean time to live.
    pub expiries: KeyExpiries,
}

/// One page of a SCAN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// Cursor for the next call; 0 when the scan is complete.
    pub cursor: u64,
    /// Keys of this page.
    pub keys: Vec<Vec<u8>>,
}
