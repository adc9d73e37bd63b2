//! Batched search: many query vectors against one set, optionally on several threads
//! (rayon), the results packed into one [`BatchHits`] (n × k scores and names).

use std::sync::Arc;

use parking_lot::Mutex;
use rayon::prelude::*;

use super::search::search_set;
use crate::engine::api::Engine;
use crate::engine::types::*;
use crate::error::{Error, Result};
use crate::store::{with_search_bufs as with_bufs, LazyNow};

/// The most threads a batched search may ask for.
pub const MAX_SEARCH_THREADS: usize = 256;

/// Queries per unit of parallel work: small enough to balance two to a few dozen threads,
/// large enough that the merge is negligible.
const ROWS_PER_TASK: usize = 16;

impl Engine {
    /// Top-k of each of `n` query vectors against the vector set at `key`: `queries` holds
    /// `n` rows of `dim` floats, row-major. Row `i` of the result is what
    /// `vsearch(key, Query::Vector(row i), params)` returns (names and scores; attributes are
    /// not returned). A missing key gives `n` empty rows.
    ///
    /// `threads`: 1 runs every query on the calling thread; 0 uses rayon's global pool (one
    /// thread per core); `n > 1` a pool of `n` threads (made once per size and kept, at most
    /// [`MAX_SEARCH_THREADS`]). Each query reads the set under its shard's read lock on its
    /// own, so writers are not held off for the whole batch, and a write that lands during
    /// the batch is seen by the queries that run after it.
    pub fn vsearch_batch(
        &self,
        key: &[u8],
        queries: &[f32],
        dim: usize,
        params: &SearchParams,
        threads: usize,
    ) -> Result<BatchHits> {
        self.check_key(key)?;
        if dim == 0 {
            return Err(Error::invalid("dim", "at least 1"));
        }
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::invalid(
                "queries",
                format!(
                    "whole rows of dim = {dim} floats, got {} floats",
                    queries.len()
                ),
            ));
        }
        if threads > MAX_SEARCH_THREADS {
            return Err(Error::invalid(
                "threads",
                format!("0 (one per core) to {MAX_SEARCH_THREADS}, got {threads}"),
            ));
        }
        for (i, row) in queries.chunks_exact(dim).enumerate() {
            self.check_vector(row).map_err(|e| match e {
                Error::InvalidArgument { expected, .. } => Error::InvalidArgument {
                    arg: "queries",
                    expected: format!("{expected} in row {i}"),
                },
                e => e,
            })?;
        }
        let n = queries.len() / dim;
        let k = params.count;
        match self.with_set(key, |set, _| Ok(set.params.dim))? {
            None => return Ok(BatchHits::empty(k, n)),
            Some(expected) if expected != dim => {
                return Err(Error::DimensionMismatch { expected, got: dim })
            }
            Some(_) => {}
        }
        let started = std::time::Instant::now();
        let run = |rows: &[f32]| self.batch_rows(key, rows, dim, params);
        let out = if threads == 1 || n <= ROWS_PER_TASK {
            run(queries)?
        } else {
            let parts = in_pool(threads, || {
                queries
                    .par_chunks(ROWS_PER_TASK * dim)
                    .map(run)
                    .collect::<Result<Vec<BatchHits>>>()
            })??;
            let mut out = BatchHits {
                k,
                ..Default::default()
            };
            for p in parts {
                out.append(p);
            }
            out
        };
        self.analytics
            .batch_search_durations
            .record(started.elapsed());
        Ok(out)
    }

    /// The rows of one task, in order, each under its own read lock.
    fn batch_rows(
        &self,
        key: &[u8],
        rows: &[f32],
        dim: usize,
        params: &SearchParams,
    ) -> Result<BatchHits> {
        let k = params.count;
        let n = rows.len() / dim;
        let mut out = BatchHits::empty(k, n);
        out.names.reserve(n * k * 16);
        with_bufs(|b| {
            for (i, q) in rows.chunks_exact(dim).enumerate() {
                // Each row reads the clock (once) only if something it meets has a TTL.
                let now = LazyNow::new(&self.store);
                self.with_set_slot(key, &now, |set, _, _, _| {
                    // The set may have been replaced since the batch checked its dimension.
                    if set.params.dim != dim {
                        return Err(Error::DimensionMismatch {
                            expected: set.params.dim,
                            got: dim,
                        });
                    }
                    set.prepare_query_into(q, &mut b.query);
                    search_set(set, &b.query, params, None, &now, &mut b.cands, &mut b.hits)?;
                    let mut count = 0;
                    for &(score, s) in &b.hits {
                        let Some(e) = set.elem(s) else { continue };
                        let at = i * k + count;
                        out.spans[at] = (out.names.len(), e.name.len());
                        out.scores[at] = score;
                        out.names.extend_from_slice(&e.name);
                        count += 1;
                    }
                    out.counts[i] = count;
                    Ok(())
                })?;
            }
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }
}

/// Runs `f` on rayon's global pool (`threads` = 0) or on a kept pool of `threads` threads.
fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    if threads == 0 {
        return Ok(f());
    }
    let pool = {
        let mut pools = POOLS.lock();
        match pools.iter().find(|(n, _)| *n == threads) {
            Some((_, p)) => p.clone(),
            None => {
                let p = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("sutra-search-{i}"))
                    .build()
                    .map(Arc::new)
                    .map_err(|e| Error::Internal(format!("search thread pool: {e}")))?;
                pools.push((threads, p.clone()));
                p
            }
        }
    };
    Ok(pool.install(f))
}
