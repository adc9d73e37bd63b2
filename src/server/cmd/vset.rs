//! Redis 8 vector-set commands, same syntax and replies: VADD, VSIM, VEMB, VREM, VCARD,
//! VDIM, VINFO, VSETATTR, VGETATTR, VRANDMEMBER, VISMEMBER, VLINKS, VRANGE.
//!
//! Mapping to the engine:
//! - Quantization flags: none → the server's `VECTOR_STORAGE` (default `exact`: f32 kept, a
//!   superset of Redis's default `q8` behaviour), `Q8` → `q8`, `NOQUANT` → `noquant`, `BIN`
//!   → `bin`. As in Redis, later VADDs must name the same quantization and M as the set was
//!   created with (M defaults to 16). `REDUCE dim` → `VectorSetOptions::reduce` (Redis's
//!   random projection, remembered by the set).
//! - Scores are Redis's `1 − distance/2` with cosine distance `1 − cos`, i.e. `(1 + cos)/2`
//!   in [0, 1]; EPSILON `e` keeps hits with `cos ≥ 1 − 2e`.
//! - `VSIM … FILTER expr [FILTER-EF n]` → `Engine::vsearch_filtered` with the compiled
//!   [`Filter`] (Redis's expression language over the JSON attributes).

use bytes::Bytes;

use super::{arg_str, is, parse_f64, CmdError, CmdResult, Ctx};
use crate::{
    AttrUpdate, ElementAdd, Error, Expiry, Filter, KeyKind, Metric, Query, RawEmbedding,
    SearchParams, SetParam, StorageMode, VectorSetOptions,
};

/// Largest dimension Redis accepts in a request.
pub const MAX_DIM: usize = 1 << 16;
/// Most elements one VSIM or VRANDMEMBER reply may carry (Redis has no cap; without one a
/// single request could make the server allocate without bound).
pub const MAX_REPLY_COUNT: usize = 1 << 20;
/// Redis's default M (the engine's).
pub const DEFAULT_M: usize = VectorSetOptions::DEFAULT_M;

fn invalid_vector() -> CmdError {
    CmdError::err("invalid vector specification")
}

/// Parses `FP32 blob` or `VALUES n v1 … vn` at `args[start..]`, after an optional
/// `REDUCE dim` where `allow_reduce` (VADD). Returns the vector, how many arguments it used
/// (`REDUCE` included) and the `REDUCE` dimension.
pub fn parse_vector(
    args: &[Bytes],
    start: usize,
    allow_reduce: bool,
) -> Result<(Vec<f32>, usize, Option<usize>), CmdError> {
    let mut reduce = None;
    let mut start = start;
    let mut skipped = 0;
    if allow_reduce && args.get(start).is_some_and(|a| is(a, "reduce")) && args.len() > start + 2 {
        // As Redis: a dimension that is not a positive integer is a bad vector specification.
        let r = super::super::frame::parse_i64(&args[start + 1])
            .filter(|&r| r >= 1 && r as usize <= MAX_DIM)
            .ok_or_else(invalid_vector)?;
        reduce = Some(r as usize);
        start += 2;
        skipped = 2;
    }
    let Some(kind) = args.get(start) else {
        return Err(invalid_vector());
    };
    let (v, used) = parse_plain_vector(args, start, kind)?;
    Ok((v, used + skipped, reduce))
}

fn parse_plain_vector(
    args: &[Bytes],
    start: usize,
    kind: &Bytes,
) -> Result<(Vec<f32>, usize), CmdError> {
    if is(kind, "fp32") {
        let blob = args.get(start + 1).ok_or_else(invalid_vector)?;
        if blob.len() % 4 != 0 || blob.is_empty() || blob.len() / 4 > MAX_DIM {
            return Err(invalid_vector());
        }
        let v = blob
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((v, 2))
    } else if is(kind, "values") {
        let dim = args
            .get(start + 1)
            .and_then(|a| super::super::frame::parse_i64(a))
            .filter(|&d| d >= 1 && d as usize <= MAX_DIM)
            .ok_or_else(invalid_vector)? as usize;
        let values = args
            .get(start + 2..start + 2 + dim)
            .ok_or_else(invalid_vector)?;
        let mut v = Vec::with_capacity(dim);
        for a in values {
            v.push(parse_f64(a).ok_or_else(invalid_vector)? as f32);
        }
        Ok((v, dim + 2))
    } else {
        Err(invalid_vector())
    }
}

/// Storage mode, M and expiry options shared by VADD and VADDM.
#[derive(Default)]
pub struct AddOptions {
    /// Q8 / NOQUANT / BIN / none.
    pub storage: Option<StorageMode>,
    /// VADD's `REDUCE dim`.
    pub reduce: Option<usize>,
    /// M.
    pub m: Option<usize>,
    /// EX / PX (the cache's own options).
    pub expiry: Expiry,
}

impl AddOptions {
    /// Tries to read one option at `args[i]`; returns how many arguments it used (0 when
    /// `args[i]` is not one of these options).
    pub fn parse_one(&mut self, args: &[Bytes], i: usize) -> Result<usize, CmdError> {
        let a = &args[i];
        let next = args.get(i + 1);
        if is(a, "noquant") {
            self.storage = Some(StorageMode::NoQuant);
        } else if is(a, "q8") {
            self.storage = Some(StorageMode::Q8);
        } else if is(a, "bin") {
            self.storage = Some(StorageMode::Bin);
        } else if is(a, "m") && next.is_some() {
            let m = next
                .and_then(|n| super::super::frame::parse_i64(n))
                .filter(|&m| (2..=4096).contains(&m))
                .ok_or_else(|| CmdError::err("invalid M"))?;
            self.m = Some(m as usize);
            return Ok(2);
        } else if (is(a, "ex") || is(a, "px")) && next.is_some() {
            let unit = if is(a, "ex") { 1000 } else { 1 };
            let cmd = if is(a, "ex") { "vadd ex" } else { "vadd px" };
            self.expiry = super::string::positive_expiry(
                next.map(|b| &b[..]).unwrap_or_default(),
                unit,
                false,
                0, // a time that overflows the engine's clock is its error
                cmd,
            )?;
            return Ok(2);
        } else {
            return Ok(0);
        }
        Ok(1)
    }

    /// The set options to send: every VADD names its storage (without a flag, the engine's
    /// default storage mode) and M, so a mismatch with the set fails as in Redis.
    pub fn set_options(&self, ctx: &Ctx<'_>) -> VectorSetOptions {
        VectorSetOptions {
            metric: None,
            storage: Some(self.storage.unwrap_or(ctx.engine.default_storage_mode())),
            m: Some(self.m.unwrap_or(DEFAULT_M)),
            ef_construction: None,
            reduce: self.reduce,
        }
    }
}

/// Redis's exact text for an engine conflict on the storage mode or M (the error names the
/// parameter); any other error as it is.
pub fn conflict_text(e: Error) -> CmdError {
    match e {
        Error::Conflict {
            param: SetParam::Storage,
            ..
        } => CmdError::err("asked quantization mismatch with existing vector set"),
        Error::Conflict {
            param: SetParam::M, ..
        } => CmdError::err("asked M value mismatch with existing vector set"),
        Error::Conflict {
            param: SetParam::Reduce,
            ..
        } => CmdError::err("cannot add projection to existing set without projection"),
        Error::Conflict {
            param: SetParam::ProjectionInput,
            set,
            asked,
        } => CmdError::err(format!(
            "Input dimension mismatch for projection - got {asked} but projection expects {set}"
        )),
        e => e.into(),
    }
}

pub fn vadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (vector, used, reduce) = parse_vector(args, 2, true)?;
    let Some(element) = args.get(2 + used) else {
        return Err(CmdError::err(
            "wrong number of arguments for 'vadd' command",
        ));
    };
    let mut opts = AddOptions {
        reduce,
        ..AddOptions::default()
    };
    let mut attributes = AttrUpdate::Keep;
    let mut i = 3 + used;
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        if is(a, "cas") {
            // Redis runs the neighbour search of a CAS add in a thread; an add never
            // blocks other clients here, so the option changes nothing.
            i += 1;
        } else if is(a, "ef") && has_next {
            super::super::frame::parse_i64(&args[i + 1])
                .filter(|&ef| (1..=1_000_000).contains(&ef))
                .ok_or_else(|| CmdError::err("invalid EF"))?;
            // Per-add exploration factor: the set's ef_construction is fixed at creation.
            i += 2;
        } else if is(a, "setattr") && has_next {
            let json = arg_str(&args[i + 1], "SETATTR")?;
            attributes = if json.is_empty() {
                AttrUpdate::Clear
            } else {
                AttrUpdate::Set(json)
            };
            i += 2;
        } else {
            match opts.parse_one(args, i)? {
                0 => return Err(CmdError::err("invalid option after element")),
                n => i += n,
            }
        }
    }
    let set_opts = opts.set_options(ctx);
    let add = ElementAdd {
        element,
        vector: &vector,
        attributes,
        expiry: opts.expiry,
    };
    match ctx.w.vadd(&args[1], &set_opts, add) {
        Ok(added) => {
            ctx.out.boolean(added);
            Ok(())
        }
        Err(e) => Err(conflict_text(e)),
    }
}

/// A query: `ELE name`, `FP32 blob` or `VALUES n …`, as VSIM reads it.
pub enum QueryArg {
    /// An element of the set.
    Element(Bytes),
    /// A vector.
    Vector(Vec<f32>),
}

impl QueryArg {
    /// Parses the query at `args[start..]`; returns it and how many arguments it used.
    pub fn parse(args: &[Bytes], start: usize) -> Result<(Self, usize), CmdError> {
        if args.get(start).is_some_and(|a| is(a, "ele")) {
            let e = args.get(start + 1).ok_or_else(invalid_vector)?;
            return Ok((QueryArg::Element(e.clone()), 2));
        }
        let (v, used, _) = parse_vector(args, start, false)?;
        Ok((QueryArg::Vector(v), used))
    }

    /// The engine's view.
    pub fn query(&self) -> Query<'_> {
        match self {
            QueryArg::Element(e) => Query::Element(e),
            QueryArg::Vector(v) => Query::Vector(v),
        }
    }
}

/// Redis's similarity score from an engine score: `(1 + cos)/2` for cosine sets; other
/// metrics (sets made through other front ends) report the engine's score unchanged.
pub fn redis_score(metric: Metric, score: f32) -> f64 {
    match metric {
        Metric::Cosine => (1.0 + f64::from(score)) / 2.0,
        _ => f64::from(score),
    }
}

/// The engine score a Redis score threshold means.
pub fn engine_threshold(metric: Metric, redis: f64) -> f32 {
    match metric {
        Metric::Cosine => (2.0 * redis - 1.0) as f32,
        _ => redis as f32,
    }
}

fn element_missing(e: Error) -> CmdError {
    match e {
        Error::NotFound { .. } => CmdError::err("element not found in set"),
        other => conflict_text(other),
    }
}

/// A FILTER expression, or Redis's error pointing at where it stops making sense.
pub fn compile_filter(expr: &[u8]) -> Result<Filter, CmdError> {
    Filter::compile_arg(expr).map_err(|e| CmdError::err(e.to_string()))
}

/// VSIM's arguments after the key.
struct VsimArgs {
    query: QueryArg,
    params: SearchParams,
    withscores: bool,
    /// EPSILON: hits with Redis's distance/2 ≤ epsilon (score ≥ 1 − epsilon).
    epsilon: Option<f64>,
    filter: Option<Filter>,
    filter_ef: usize,
}

impl VsimArgs {
    fn parse(args: &[Bytes]) -> Result<Self, CmdError> {
        let (query, used) = QueryArg::parse(args, 2)?;
        let mut params = SearchParams::default();
        let mut withscores = false;
        let mut epsilon: Option<f64> = None;
        let mut filter: Option<Filter> = None;
        let mut filter_ef = 0usize;
        let mut i = 2 + used;
        while i < args.len() {
            let a = &args[i];
            let next = args.get(i + 1);
            let int_arg = |err: &str, max: i64| {
                next.and_then(|n| super::super::frame::parse_i64(n))
                    .filter(|&v| v > 0 && v <= max)
                    .ok_or_else(|| CmdError::err(err))
            };
            if is(a, "withscores") {
                withscores = true;
            } else if is(a, "withattribs") {
                params.with_attributes = true;
            } else if is(a, "truth") {
                params.exhaustive = true;
            } else if is(a, "nothread") {
                // Searches never block other clients here; nothing to change.
            } else if is(a, "count") && next.is_some() {
                // A search never returns more than the set holds; the cap keeps a hostile
                // COUNT from sizing the engine's result heap.
                params.count = (int_arg("invalid COUNT", i64::MAX)? as usize).min(MAX_REPLY_COUNT);
                i += 1;
            } else if is(a, "epsilon") && next.is_some() {
                let e = next
                    .and_then(|n| parse_f64(n))
                    .filter(|&e| e > 0.0)
                    .ok_or_else(|| CmdError::err("invalid EPSILON"))?;
                epsilon = Some(e);
                i += 1;
            } else if is(a, "ef") && next.is_some() {
                params.ef = int_arg("invalid EF", 1_000_000)? as usize;
                i += 1;
            } else if is(a, "filter-ef") && next.is_some() {
                filter_ef =
                    usize::try_from(int_arg("invalid FILTER-EF", i64::MAX)?).unwrap_or(usize::MAX);
                i += 1;
            } else if let (true, Some(expr)) = (is(a, "filter"), next) {
                filter = Some(compile_filter(expr)?);
                i += 1;
            } else {
                return Err(CmdError::err("syntax error in VSIM command"));
            }
            i += 1;
        }
        Ok(VsimArgs {
            query,
            params,
            withscores,
            epsilon,
            filter,
            filter_ef,
        })
    }
}

pub fn vsim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let engine = &ctx.engine;
    // The arguments first, then one lookup of the key that searches and says the set's
    // metric. A missing key answers an empty array and a key of another type WRONGTYPE
    // whatever the arguments (Redis looks the key up first): only a malformed command looks
    // the key up on its own.
    let a = match VsimArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            return match engine.key_type(&args[1]) {
                None => {
                    ctx.out.array(0);
                    Ok(())
                }
                Some(KeyKind::Blob | KeyKind::Hash) => Err(Error::WrongType.into()),
                Some(KeyKind::VectorSet) => Err(e),
            };
        }
    };
    let found = engine
        .vsearch_with_metric(
            &args[1],
            a.query.query(),
            &a.params,
            a.filter.as_ref().map(|f| (f, a.filter_ef)),
        )
        .map_err(element_missing)?;
    let Some((mut hits, metric)) = found else {
        ctx.out.array(0);
        return Ok(());
    };
    if let Some(e) = a.epsilon {
        // Redis keeps hits with distance/2 ≤ epsilon, i.e. score ≥ 1 − epsilon. The threshold
        // is in the set's metric, known once the set is found; cutting the best-first top k
        // keeps what a search with that minimum score keeps.
        let min = engine_threshold(metric, 1.0 - e);
        hits.retain(|h| h.score >= min);
    }
    let (withscores, withattribs) = (a.withscores, a.params.with_attributes);
    let out = &mut *ctx.out;
    let resp3 = out.resp3;
    if resp3 && (withscores || withattribs) {
        out.map(hits.len());
    } else {
        out.array(hits.len() * (1 + usize::from(withscores) + usize::from(withattribs)));
    }
    for h in &hits {
        out.bulk(&h.element);
        if resp3 && withscores && withattribs {
            out.array(2);
        }
        if withscores {
            out.double(redis_score(metric, h.score));
        }
        if withattribs {
            out.bulk_or_null(h.attributes.as_deref().map(str::as_bytes));
        }
    }
    Ok(())
}

pub fn vemb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut raw = false;
    for a in &args[3..] {
        if is(a, "raw") {
            raw = true;
        } else {
            return Err(CmdError::err("invalid option"));
        }
    }
    let engine = &ctx.engine;
    let Some(v) = engine.vget(&args[1], &args[2])? else {
        ctx.out.null();
        return Ok(());
    };
    if !raw {
        ctx.out.array(v.len());
        for x in &v {
            ctx.out.double(f64::from(*x));
        }
        return Ok(());
    }
    let Some(raw) = engine.vemb_raw(&args[1], &args[2])? else {
        ctx.out.null();
        return Ok(());
    };
    match raw {
        RawEmbedding::Int8 { codes, norm, range } => {
            ctx.out.array(4);
            ctx.out.simple("int8");
            ctx.out
                .bulk(&codes.iter().map(|&q| q as u8).collect::<Vec<u8>>());
            ctx.out.double(norm);
            ctx.out.double(range);
        }
        RawEmbedding::Bin { bits, norm } => {
            ctx.out.array(3);
            ctx.out.simple("bin");
            ctx.out.bulk(&bits);
            ctx.out.double(norm);
        }
        RawEmbedding::F32 { unit, norm } => {
            let blob: Vec<u8> = unit.iter().flat_map(|x| x.to_le_bytes()).collect();
            ctx.out.array(3);
            ctx.out.simple("f32");
            ctx.out.bulk(&blob);
            ctx.out.double(norm);
        }
    }
    Ok(())
}

pub fn vrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let removed = ctx.w.vrem(&args[1], &args[2])?;
    ctx.unchanged = !removed;
    ctx.out.boolean(removed);
    Ok(())
}

pub fn vcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx.engine.vcard(&args[1])?;
    ctx.out.int(n as i64);
    Ok(())
}

pub fn vdim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match ctx.engine.vdim(&args[1])? {
        Some(d) => ctx.out.int(d as i64),
        None => return Err(CmdError::err("key does not exist")),
    }
    Ok(())
}

pub fn vinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(info) = ctx.engine.vinfo_current(&args[1])? else {
        ctx.out.null_array();
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.map(9);
    out.simple("quant-type");
    out.simple(info.storage.redis_name());
    let ints: [(&str, u64); 8] = [
        ("hnsw-m", info.m as u64),
        ("vector-dim", info.dim as u64),
        ("projection-input-dim", info.projection_input_dim as u64),
        ("size", info.size as u64),
        ("max-level", info.max_level as u64),
        ("attributes-count", info.attributes_count as u64),
        ("vset-uid", info.uid),
        ("hnsw-max-node-uid", info.max_slot),
    ];
    for (name, v) in ints {
        out.simple(name);
        out.int(i64::try_from(v).unwrap_or(i64::MAX));
    }
    Ok(())
}

pub fn vsetattr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let json = arg_str(&args[3], "attributes")?;
    let done = ctx.w.vset_attr(&args[1], &args[2], Some(json))?;
    ctx.unchanged = !done;
    ctx.out.boolean(done);
    Ok(())
}

pub fn vgetattr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let attr = ctx.engine.vget_attr(&args[1], &args[2])?;
    ctx.out.bulk_or_null(attr.as_deref().map(str::as_bytes));
    Ok(())
}

pub fn vrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::err(
            "wrong number of arguments for 'vrandmember' command",
        ));
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => Some(
            super::super::frame::parse_i64(a)
                .ok_or_else(|| CmdError::err("COUNT value is not an integer"))?,
        ),
    };
    if count == Some(0) {
        ctx.out.array(0);
        return Ok(());
    }
    if count.is_some_and(|c| c < 0 && c.unsigned_abs() > MAX_REPLY_COUNT as u64) {
        return Err(CmdError::err(format!(
            "COUNT is over the limit of {MAX_REPLY_COUNT} elements per call"
        )));
    }
    let members = ctx.engine.vrandmember(&args[1], count.unwrap_or(1))?;
    match count {
        None => ctx.out.bulk_or_null(members.first().map(Vec::as_slice)),
        Some(_) => {
            ctx.out.array(members.len());
            for m in &members {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

pub fn vismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let is_member = ctx.engine.vismember(&args[1], &args[2])?;
    ctx.out.boolean(is_member);
    Ok(())
}

/// `VLINKS key element [WITHSCORES]`: the element's neighbours per graph level, top level
/// first (as Redis); with WITHSCORES each level is a map neighbour → score (RESP2: a flat
/// array), scores as VSIM's. Null for a missing key or element; an element the graph does
/// not hold (a set below the indexing threshold, or an element not linked yet) has one
/// empty level.
pub fn vlinks(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let withscores = match args.get(3) {
        None => false,
        Some(a) if args.len() == 4 && is(a, "withscores") => true,
        Some(_) => {
            return Err(CmdError::err(
                "wrong number of arguments for 'vlinks' command",
            ))
        }
    };
    let engine = &ctx.engine;
    let Some(levels) = engine.vlinks(&args[1], &args[2])? else {
        ctx.out.null();
        return Ok(());
    };
    let metric = if withscores {
        engine.vinfo(&args[1])?.map_or(Metric::Cosine, |i| i.metric)
    } else {
        Metric::Cosine
    };
    let out = &mut *ctx.out;
    out.array(levels.len());
    for level in levels.iter().rev() {
        if withscores {
            if out.resp3 {
                out.map(level.len());
            } else {
                out.array(level.len() * 2);
            }
        } else {
            out.array(level.len());
        }
        for (name, score) in level {
            out.bulk(name);
            if withscores {
                out.double(redis_score(metric, *score));
            }
        }
    }
    Ok(())
}

/// One end of a VRANGE: `[name` (inclusive), `(name` (exclusive), `-` or `+` (unbounded).
enum RangeEnd<'a> {
    Min,
    Max,
    Name(std::ops::Bound<&'a [u8]>),
}

impl<'a> RangeEnd<'a> {
    fn bound(self) -> std::ops::Bound<&'a [u8]> {
        match self {
            RangeEnd::Name(b) => b,
            RangeEnd::Min | RangeEnd::Max => std::ops::Bound::Unbounded,
        }
    }
}

fn range_end(a: &[u8]) -> Option<RangeEnd<'_>> {
    match a {
        b"-" => Some(RangeEnd::Min),
        b"+" => Some(RangeEnd::Max),
        [b'[', name @ ..] if !name.is_empty() => {
            Some(RangeEnd::Name(std::ops::Bound::Included(name)))
        }
        [b'(', name @ ..] if !name.is_empty() => {
            Some(RangeEnd::Name(std::ops::Bound::Excluded(name)))
        }
        _ => None,
    }
}

/// `VRANGE key start end [count]`: element names in byte order between `start` and `end`
/// (`[a` inclusive, `(a` exclusive, `-` the smallest, `+` the largest), at most `count`
/// (negative: all). An empty array for a missing key.
pub fn vrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 5 {
        return Err(CmdError::err(
            "wrong number of arguments for 'vrange' command",
        ));
    }
    let count = match args.get(4) {
        None => None,
        Some(a) => {
            let c = super::super::frame::parse_i64(a)
                .ok_or_else(|| CmdError::err("invalid COUNT value"))?;
            usize::try_from(c).ok()
        }
    };
    let start = range_end(&args[2]).ok_or_else(|| CmdError::err("invalid start range format"))?;
    let end = range_end(&args[3]).ok_or_else(|| CmdError::err("invalid end range format"))?;
    let (start, end) = match (start, end) {
        (RangeEnd::Max, _) | (_, RangeEnd::Min) => {
            return Err(CmdError::err(
                "'-' can only be used as first argument, '+' only as second",
            ))
        }
        (s, e) => (s, e),
    };
    let names = ctx
        .engine
        .vrange(&args[1], start.bound(), end.bound(), count)?;
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}
