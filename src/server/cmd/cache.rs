//! The cache's own commands (documented in docs/commands.md): exact-bytes gets, batch
//! add, per-element TTL, semantic invalidation, statistics.

use bytes::Bytes;

use super::keyspace::{expiry_arg, ttl_reply};
use super::vset::{engine_threshold, parse_vector, redis_score, AddOptions, QueryArg};
use super::{is, parse_f64, slices, CmdError, CmdResult, Ctx};
use crate::{Counters, ElementAdd, Error};

fn f32_blob(v: &[f32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(v.len() * 4);
    for x in v {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b
}

/// `VGETF32 key element` → the vector as float32 little-endian bytes (in `exact` and
/// `noquant` sets exactly the bytes that were added), or nil.
pub fn vgetf32(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let v = ctx.engine.vget(&args[1], &args[2])?;
    ctx.out.bulk_or_null(v.as_deref().map(f32_blob).as_deref());
    Ok(())
}

/// `VMGETF32 key element [element …]` → one blob or nil per element.
pub fn vmgetf32(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let vs = ctx.engine.vget_many(&args[1], &slices(&args[2..]))?;
    ctx.out.array(vs.len());
    for v in &vs {
        ctx.out.bulk_or_null(v.as_deref().map(f32_blob).as_deref());
    }
    Ok(())
}

/// `VADDM key [Q8|NOQUANT] [M m] [EX s|PX ms] FP32 element blob [element blob …]` → how
/// many elements were new. All are validated before any is added.
pub fn vaddm(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut opts = AddOptions::default();
    let mut i = 2;
    while i < args.len() && !is(&args[i], "fp32") {
        match opts.parse_one(args, i)? {
            0 => return Err(CmdError::syntax()),
            n => i += n,
        }
    }
    let pairs = args.get(i + 1..).ok_or_else(CmdError::syntax)?;
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CmdError::err(
            "wrong number of arguments for 'vaddm' command",
        ));
    }
    let mut vectors = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks_exact(2) {
        let two = [Bytes::from_static(b"FP32"), p[1].clone()];
        vectors.push(parse_vector(&two, 0, false)?.0);
    }
    let adds: Vec<ElementAdd<'_>> = pairs
        .chunks_exact(2)
        .zip(&vectors)
        .map(|(p, v)| ElementAdd {
            expiry: opts.expiry,
            ..ElementAdd::new(&p[0], v)
        })
        .collect();
    let set_opts = opts.set_options(ctx);
    match ctx.w.vadd_many(&args[1], &set_opts, &adds) {
        Ok(n) => {
            ctx.out.int(n as i64);
            Ok(())
        }
        Err(e) => Err(super::vset::conflict_text(e)),
    }
}

fn vexpire_generic(ctx: &mut Ctx<'_>, args: &[Bytes], unit_ms: i64, cmd: &str) -> CmdResult {
    let expiry = expiry_arg(&args[3], unit_ms, false, ctx.engine.now_ms(), cmd)?;
    let done = ctx.w.vexpire(&args[1], &args[2], expiry)?;
    ctx.unchanged = !done;
    ctx.out.int(i64::from(done));
    Ok(())
}

/// `VEXPIRE key element seconds` → 1, or 0 when the element does not exist.
pub fn vexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    vexpire_generic(ctx, args, 1000, "vexpire")
}

/// `VPEXPIRE key element milliseconds`.
pub fn vpexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    vexpire_generic(ctx, args, 1, "vpexpire")
}

/// `VTTL key element` → seconds left, -1 without expiry, -2 missing.
pub fn vttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let t = ctx.engine.vttl(&args[1], &args[2])?;
    ctx.out.int(ttl_reply(t, false));
    Ok(())
}

/// `VPTTL key element` → milliseconds left.
pub fn vpttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let t = ctx.engine.vttl(&args[1], &args[2])?;
    ctx.out.int(ttl_reply(t, true));
    Ok(())
}

/// `VPERSIST key element` → 1 when an expiry was removed.
pub fn vpersist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let had = ctx.w.vpersist(&args[1], &args[2])?;
    ctx.unchanged = !had;
    ctx.out.int(i64::from(had));
    Ok(())
}

/// `VINVALIDATE key (ELE e | FP32 blob | VALUES n …) THRESHOLD t [WITHELEMENTS]`:
/// atomically removes every element whose VSIM score against the query is ≥ t. Replies
/// the count, or with WITHELEMENTS the removed elements with their scores (as VSIM
/// WITHSCORES).
pub fn vinvalidate(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (query, used) = QueryArg::parse(args, 2)?;
    let mut threshold: Option<f64> = None;
    let mut with_elements = false;
    let mut filter = None;
    let mut i = 2 + used;
    while i < args.len() {
        if is(&args[i], "threshold") && i + 1 < args.len() {
            threshold = Some(
                parse_f64(&args[i + 1])
                    .filter(|t| t.is_finite())
                    .ok_or_else(|| CmdError::err("invalid THRESHOLD"))?,
            );
            i += 2;
        } else if is(&args[i], "withelements") {
            with_elements = true;
            i += 1;
        } else if is(&args[i], "filter") && i + 1 < args.len() {
            filter = Some(super::vset::compile_filter(&args[i + 1])?);
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let threshold = threshold.ok_or_else(|| CmdError::err("THRESHOLD is required"))?;
    let engine = &ctx.engine;
    let Some(info) = engine.vinfo(&args[1])? else {
        if with_elements {
            ctx.out.array(0);
        } else {
            ctx.out.int(0);
        }
        return Ok(());
    };
    let t = engine_threshold(info.metric, threshold);
    let removed = engine
        .invalidate_similar_where(&args[1], query.query(), t, with_elements, filter.as_ref())
        .map_err(|e| match e {
            Error::NotFound { .. } => CmdError::err("element not found in set"),
            other => other.into(),
        })?;
    ctx.unchanged = removed.count == 0;
    if with_elements {
        ctx.out.map(removed.removed.len());
        for h in &removed.removed {
            ctx.out.bulk(&h.element);
            ctx.out.double(redis_score(info.metric, h.score));
        }
    } else {
        ctx.out.int(removed.count as i64);
    }
    Ok(())
}

fn counters_reply(ctx: &mut Ctx<'_>, c: &Counters, extra: &[(&str, u64)]) {
    let out = &mut *ctx.out;
    out.map(9 + extra.len());
    for (name, v) in [
        ("hits", c.hits),
        ("misses", c.misses),
        ("total_requests", c.hits.saturating_add(c.misses)),
    ] {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    }
    out.bulk(b"hit_rate");
    out.double(c.hit_rate());
    for (name, v) in [
        ("sets", c.sets),
        ("evictions", c.evictions),
        ("expirations", c.expirations),
        ("entries", c.entries),
        ("bytes", c.bytes),
    ]
    .iter()
    .chain(extra)
    {
        out.bulk(name.as_bytes());
        out.int(*v as i64);
    }
}

/// `CACHESTATS [key]` → counters of the whole cache, or of one vector set (nil when the
/// key is not a vector set that exists).
pub fn cachestats(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {
            let s = ctx.engine.stats();
            counters_reply(
                ctx,
                &s.total,
                &[("keys", s.keys), ("vector_sets", s.vector_sets)],
            );
        }
        2 => match (ctx.engine.vstats(&args[1])?, ctx.engine.vinfo(&args[1])?) {
            (Some(c), Some(info)) => counters_reply(
                ctx,
                &c,
                &[
                    ("index_nodes", info.index_nodes as u64),
                    ("index_pending", info.index_pending as u64),
                    ("index_restored", info.index_restored as u64),
                ],
            ),
            _ => ctx.out.null_array(),
        },
        _ => {
            return Err(CmdError::err(
                "wrong number of arguments for 'cachestats' command",
            ))
        }
    }
    Ok(())
}
