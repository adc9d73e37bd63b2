//! Vector-set search over the C ABI: search by vector, with a FILTER expression, by an
//! element's own vector, and semantic invalidation (a threshold search that removes).

use super::cache::{engine, sutra_cache};
use super::status::*;
use crate::{Error, Filter, Query, SearchParams};

/// Parameters of a search. Fill with `sutra_search_params_init`. Plain data: not shared.
#[repr(C)]
pub struct sutra_search_params {
    /// Top-k (default 10).
    pub count: usize,
    /// HNSW ef_search; 0 = the default.
    pub ef: usize,
    /// When true, only hits with `score >= min_score`.
    pub use_min_score: bool,
    /// Lowest score returned (metric units: cosine similarity, dot, −l2²).
    pub min_score: f32,
    /// Exact scan instead of the graph.
    pub exhaustive: bool,
}

/// One search result: the element's name is `names[name_offset .. name_offset + name_len]`
/// of the names buffer passed to the search.
#[repr(C)]
pub struct sutra_search_hit {
    /// Offset of the name in the names buffer.
    pub name_offset: usize,
    /// Length of the name in bytes.
    pub name_len: usize,
    /// Similarity, higher is nearer.
    pub score: f32,
}

/// Fills `params` with the defaults (count 10, default ef, no minimum score, graph search).
/// Does nothing when NULL.
///
/// # Safety
/// `params` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_search_params_init(params: *mut sutra_search_params) {
    if params.is_null() {
        return;
    }
    let d = SearchParams::default();
    let value = sutra_search_params {
        count: d.count,
        ef: d.ef,
        use_min_score: false,
        min_score: 0.0,
        exhaustive: d.exhaustive,
    };
    // SAFETY: non-NULL and writable per the contract.
    unsafe { params.write(value) };
}

/// Where a search writes its hits: into the caller's buffers while they have room, counting
/// what all of them need.
struct HitsOut<'a> {
    hits: &'a mut [sutra_search_hit],
    names: &'a mut [u8],
    count: usize,
    names_len: usize,
}

impl HitsOut<'_> {
    fn push(&mut self, name: &[u8], score: f32) {
        let (at, len) = (self.names_len, name.len());
        if let (Some(dst), Some(room)) = (
            self.hits.get_mut(self.count),
            self.names.get_mut(at..at + len),
        ) {
            room.copy_from_slice(name);
            *dst = sutra_search_hit {
                name_offset: at,
                name_len: len,
                score,
            };
        }
        self.count += 1;
        self.names_len += len;
    }

    /// Sets the caller's counts; too small a buffer is an error saying what is needed.
    fn finish(self, hit_count: &mut usize, names_len: &mut usize) -> FfiResult {
        *hit_count = self.count;
        *names_len = self.names_len;
        if self.count > self.hits.len() {
            return Err(Failure::too_small("hits", self.count, self.hits.len()));
        }
        if self.names_len > self.names.len() {
            return Err(Failure::too_small(
                "names",
                self.names_len,
                self.names.len(),
            ));
        }
        Ok(())
    }
}

/// # Safety
/// `p` is NULL or points to an initialised struct.
unsafe fn search_params(p: *const sutra_search_params) -> SearchParams {
    let mut params = SearchParams::default();
    // SAFETY: this function's `# Safety` section guarantees what the calls need: the pointer is
    // NULL or points to an initialised value that outlives the call, so `as_ref` gives `None` or a
    // valid shared reference. NULL and bad lengths come back as errors, never dereferenced.
    if let Some(p) = unsafe { p.as_ref() } {
        params.count = p.count;
        params.ef = p.ef;
        params.min_score = p.use_min_score.then_some(p.min_score);
        params.exhaustive = p.exhaustive;
    }
    params
}

/// Top-k elements most similar to `query` (`dim` floats), best first. Results go to the
/// caller's `hits[0..hits_capacity]`, names packed into `names[0..names_capacity]`;
/// `*hit_count` and `*names_len` say how many were written. When either buffer is too small
/// the call returns `SUTRA_BUFFER_TOO_SMALL` with both counts set to what is needed.
/// A missing key gives 0 hits. `params` may be NULL for the defaults.
///
/// # Safety
/// `cache` is a live handle; `key`, `query` readable; `hits` and `names` writable for their
/// capacities; `hit_count`, `names_len` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_search(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    query: *const f32,
    dim: usize,
    params: *const sutra_search_params,
    hits: *mut sutra_search_hit,
    hits_capacity: usize,
    names: *mut u8,
    names_capacity: usize,
    hit_count: *mut usize,
    names_len: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    // SAFETY: the same contract, with no filter.
    unsafe {
        vector_search(
            cache,
            key,
            key_len,
            QueryFrom::Vector(query, dim),
            None,
            params,
            hits,
            hits_capacity,
            names,
            names_capacity,
            hit_count,
            names_len,
            err,
        )
    }
}

/// Where a search's query comes from: `dim` floats, or the vector of an element of the set
/// (`len` bytes of name).
enum QueryFrom {
    Vector(*const f32, usize),
    Element(*const u8, usize),
}

/// `sutra_vector_search`, `sutra_vector_search_filtered` and `sutra_vector_search_element`:
/// `filter` is the expression's bytes and FILTER-EF.
///
/// # Safety
/// As `sutra_vector_search_filtered` (with an element's name readable for its length when
/// the query is an element).
#[allow(clippy::too_many_arguments)]
unsafe fn vector_search(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    from: QueryFrom,
    filter: Option<(*const u8, usize, usize)>,
    params: *const sutra_search_params,
    hits: *mut sutra_search_hit,
    hits_capacity: usize,
    names: *mut u8,
    names_capacity: usize,
    hit_count: *mut usize,
    names_len: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each (pointer, length) pair is NULL or that
        // many readable, aligned f32 that stay valid for the call, as `floats` requires; each
        // output buffer is NULL or `capacity` writable, aligned elements no one else accesses
        // during the call, as `out_slice` requires (it checks NULL, size and alignment); each
        // output pointer is NULL or writable and unaliased for the call, as `out` requires. NULL
        // and bad lengths come back as errors, never dereferenced.
        let (engine, key, query, hits, names, hit_count, names_len) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                match from {
                    QueryFrom::Vector(q, dim) => Query::Vector(floats(q, dim, "query")?),
                    QueryFrom::Element(e, len) => Query::Element(bytes(e, len, "element")?),
                },
                out_slice(hits, hits_capacity, "hits")?,
                out_slice(names, names_capacity, "names")?,
                out(hit_count, "hit_count")?,
                out(names_len, "names_len")?,
            )
        };
        *hit_count = 0;
        *names_len = 0;
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `params` is
        // NULL or an initialised `sutra_search_params`, as `search_params` requires. NULL and bad
        // lengths come back as errors, never dereferenced.
        let params = unsafe { search_params(params) };
        let compiled = match filter {
            None => None,
            Some((f, f_len, filter_ef)) => {
                // SAFETY: this function's `# Safety` section guarantees what the calls need: each
                // (pointer, length) pair is NULL or that many readable bytes that stay valid and
                // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as
                // errors, never dereferenced.
                let filter = unsafe { bytes(f, f_len, "filter")? };
                Some((compile_filter(filter)?, filter_ef))
            }
        };
        // The hits go straight from the set to the caller's buffers (no vector of hits).
        let mut out = HitsOut {
            hits,
            names,
            count: 0,
            names_len: 0,
        };
        engine.vsearch_visit(
            key,
            query,
            &params,
            compiled.as_ref().map(|(f, ef)| (f, *ef)),
            |name, score, _| out.push(name, score),
        )?;
        out.finish(hit_count, names_len)
    })
}

/// A filter expression from C bytes, or an invalid-argument error saying where it breaks.
fn compile_filter(filter: &[u8]) -> crate::Result<Filter> {
    Filter::compile_arg(filter).map_err(|e| Error::invalid("filter", e))
}

/// Like `sutra_vector_search`, keeping only elements whose JSON attributes pass `filter`
/// (`filter_len` bytes of UTF-8): Redis's `VSIM … FILTER` expression language, e.g.
/// `.year > 1950 and .genre in ["a", "b"]`. Elements without attributes never pass. Through
/// the graph at most `filter_ef` candidates are examined (0: `count × 100`); an exhaustive
/// search examines every element. A malformed expression fails with
/// `SUTRA_INVALID_ARGUMENT` naming where it stops making sense.
///
/// # Safety
/// As `sutra_vector_search`, with `filter` readable for `filter_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_search_filtered(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    query: *const f32,
    dim: usize,
    filter: *const u8,
    filter_len: usize,
    filter_ef: usize,
    params: *const sutra_search_params,
    hits: *mut sutra_search_hit,
    hits_capacity: usize,
    names: *mut u8,
    names_capacity: usize,
    hit_count: *mut usize,
    names_len: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    // SAFETY: this function's `# Safety` section guarantees what the calls need: every pointer
    // argument meets `vector_search`'s `# Safety` (the same as this function's). NULL and bad
    // lengths come back as errors, never dereferenced.
    unsafe {
        vector_search(
            cache,
            key,
            key_len,
            QueryFrom::Vector(query, dim),
            Some((filter, filter_len, filter_ef)),
            params,
            hits,
            hits_capacity,
            names,
            names_capacity,
            hit_count,
            names_len,
            err,
        )
    }
}

/// Like `sutra_vector_search`, near an element of the set instead of a vector.
///
/// # Safety
/// As `sutra_vector_search`, with `element` readable for `element_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_search_element(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    element: *const u8,
    element_len: usize,
    params: *const sutra_search_params,
    hits: *mut sutra_search_hit,
    hits_capacity: usize,
    names: *mut u8,
    names_capacity: usize,
    hit_count: *mut usize,
    names_len: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    // SAFETY: this function's `# Safety` section guarantees what the calls need: every pointer
    // argument meets `vector_search`'s `# Safety` (the same as this function's). NULL and bad
    // lengths come back as errors, never dereferenced.
    unsafe {
        vector_search(
            cache,
            key,
            key_len,
            QueryFrom::Element(element, element_len),
            None,
            params,
            hits,
            hits_capacity,
            names,
            names_capacity,
            hit_count,
            names_len,
            err,
        )
    }
}

/// Removes, atomically with respect to other writes to the set, every element whose score
/// against `query` (`dim` floats) is `>= threshold` (metric units). `*removed` is how many.
///
/// # Safety
/// `cache` is a live handle; `key`, `query` readable; `removed` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_invalidate(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    query: *const f32,
    dim: usize,
    threshold: f32,
    removed: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each (pointer, length) pair is NULL or that
        // many readable, aligned f32 that stay valid for the call, as `floats` requires; each
        // output pointer is NULL or writable and unaliased for the call, as `out` requires. NULL
        // and bad lengths come back as errors, never dereferenced.
        let (engine, key, query, removed) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                floats(query, dim, "query")?,
                out(removed, "removed")?,
            )
        };
        *removed = 0;
        if !threshold.is_finite() {
            return Err(Failure::new(
                SUTRA_INVALID_ARGUMENT,
                "invalid argument 'threshold': not finite",
            ));
        }
        *removed = engine
            .invalidate_similar(key, Query::Vector(query), threshold, false)?
            .count;
        Ok(())
    })
}

/// Top-k of each of `n` query vectors (`queries`: `n × dim` floats, row-major) against the
/// vector set at `key`, on `threads` threads (1: the calling thread; 0: one per core; at most
/// 256). Row `i`'s hits are `hits[i × count .. i × count + hit_counts[i]]`, best first
/// (`count` from `params`, default 10), their names packed into `names`; the rest of a row
/// has `name_len` 0 and a NaN score. `hits` must hold `n × count` entries (else
/// `SUTRA_BUFFER_TOO_SMALL` before any search, `*names_len` 0); when `names` is too small
/// the call returns `SUTRA_BUFFER_TOO_SMALL` with `*names_len` set to what is needed (the
/// batch must be run again). A missing key gives `n` empty rows. Row `i` holds what
/// `sutra_vector_search` returns for query `i`.
///
/// # Safety
/// `cache` is a live handle; `key` readable; `queries` readable for `n × dim` floats; `hits`
/// and `names` writable for their capacities; `hit_counts` writable for `n` entries;
/// `names_len` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_search_batch(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    queries: *const f32,
    n: usize,
    dim: usize,
    params: *const sutra_search_params,
    threads: usize,
    hits: *mut sutra_search_hit,
    hits_capacity: usize,
    names: *mut u8,
    names_capacity: usize,
    hit_counts: *mut usize,
    names_len: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        let total = n.checked_mul(dim).ok_or_else(|| {
            Failure::new(
                SUTRA_INVALID_ARGUMENT,
                "invalid argument 'n': n × dim overflows",
            )
        })?;
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // `key` is NULL or `key_len` readable bytes, as `bytes` requires; `queries` is NULL or
        // `n × dim` readable, aligned f32 that stay valid for the call, as `floats` requires;
        // each output buffer is NULL or `capacity` writable, aligned elements no one else
        // accesses during the call, as `out_slice` requires (it checks NULL, size and
        // alignment); `names_len` is NULL or writable and unaliased, as `out` requires. NULL and
        // bad lengths come back as errors, never dereferenced.
        let (engine, key, queries, hits, names, hit_counts, names_len) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                floats(queries, total, "queries")?,
                out_slice(hits, hits_capacity, "hits")?,
                out_slice(names, names_capacity, "names")?,
                out_slice(hit_counts, n, "hit_counts")?,
                out(names_len, "names_len")?,
            )
        };
        *names_len = 0;
        hit_counts.fill(0);
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `params` is
        // NULL or an initialised `sutra_search_params`, as `search_params` requires. NULL and bad
        // lengths come back as errors, never dereferenced.
        let params = unsafe { search_params(params) };
        let needed = n.saturating_mul(params.count);
        if hits.len() < needed {
            return Err(Failure::too_small("hits", needed, hits.len()));
        }
        let found = engine.vsearch_batch(key, queries, dim, &params, threads)?;
        *names_len = found.names.len();
        if found.names.len() > names.len() {
            return Err(Failure::too_small("names", found.names.len(), names.len()));
        }
        names[..found.names.len()].copy_from_slice(&found.names);
        hit_counts.copy_from_slice(&found.counts);
        for ((dst, &(name_offset, name_len)), &score) in
            hits.iter_mut().zip(&found.spans).zip(&found.scores)
        {
            *dst = sutra_search_hit {
                name_offset,
                name_len,
                score,
            };
        }
        Ok(())
    })
}
