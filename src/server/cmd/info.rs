//! INFO: the sections' text.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{
    config::yes_no, conn::REDIS_COMPAT_VERSION, is, server::last_save_unix, CmdResult, Ctx,
};

/// The text of INFO for the asked sections (all by default).
pub fn info_text(ctx: &Ctx<'_>, sections: &[Bytes]) -> String {
    // As Redis 7: no argument means `default`, which leaves out the per-command sections.
    let default = sections.is_empty() || sections.iter().any(|s| is(s, "default"));
    let all = sections.iter().any(|s| is(s, "all") || is(s, "everything"));
    let want = |name: &str| {
        all || (default && !matches!(name, "commandstats" | "latencystats"))
            || sections.iter().any(|s| is(s, name))
    };
    let sh = ctx.shared;
    let c = &sh.config;
    let st = &sh.stats;
    let engine = sh.engine.stats();
    let mut t = String::new();
    let section = |t: &mut String, title: &str| {
        if !t.is_empty() {
            t.push_str("\r\n");
        }
        let _ = write!(t, "# {title}\r\n");
    };
    if want("server") {
        section(&mut t, "Server");
        let _ = write!(
            t,
            "redis_version:{REDIS_COMPAT_VERSION}\r\nsutra_cache_version:{}\r\nredis_mode:{}\r\n\
             os:{}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\
             uptime_in_days:{}\r\nsimd_isa:{}\r\nrole:{}\r\ncache_mode:{}\r\nvector_dimension:{}\r\n\
             vector_storage:{}\r\nprotected_mode:{}\r\ndefault_ttl_seconds:{}\r\n\
             io_uring_sockets:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            if sh.cluster.mode == crate::cluster::ClusterMode::Off {
                "standalone"
            } else {
                "cluster"
            },
            std::env::consts::OS,
            usize::BITS,
            std::process::id(),
            c.port,
            sh.uptime_seconds(),
            sh.uptime_seconds() / 86_400,
            sh.engine.simd_isa(),
            c.role,
            u8::from(c.cache_role()),
            c.vector_dimension.map_or_else(|| "none".to_string(), |d| d.to_string()),
            c.vector_storage.name(),
            yes_no(c.protected_mode),
            sh.engine.default_ttl_ms() / 1000,
            yes_no(st.io_uring_sockets.load(std::sync::atomic::Ordering::Relaxed)),
        );
    }
    if want("clients") {
        section(&mut t, "Clients");
        let _ = write!(
            t,
            "connected_clients:{}\r\nmaxclients:{}\r\n",
            st.connected_clients.load(Relaxed),
            sh.live.maxclients.load(Relaxed)
        );
    }
    if want("memory") {
        section(&mut t, "Memory");
        // The analytics lookup log: outside `used_memory` (the cap), like client buffers;
        // its pages are committed as it fills (16 bytes an entry).
        let (log_max, log_cap, log_recorded) = sh.engine.analytics_log();
        let log_used = log_max.min(
            usize::try_from(log_recorded)
                .unwrap_or(usize::MAX)
                .min(log_cap)
                .saturating_mul(16),
        );
        let _ = write!(
            t,
            "used_memory:{}\r\nused_memory_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\n\
             maxmemory_source:{}\r\ncgroup_memory_limit:{}\r\n\
             maxmemory_policy:{}\r\nmax_entries:{}\r\nentries:{}\r\n\
             analytics_lookup_log_bytes:{}\r\nanalytics_lookup_log_max_bytes:{}\r\n",
            engine.total.bytes,
            human_bytes(engine.total.bytes),
            sh.engine.max_bytes(),
            human_bytes(sh.engine.max_bytes()),
            if sh.live.maxmemory_set.load(Relaxed) {
                "config"
            } else {
                c.maxmemory_source()
            },
            c.cgroup_memory_limit.unwrap_or(0),
            sh.engine.eviction_policy(),
            sh.engine.max_entries(),
            engine.total.entries,
            log_used,
            log_max,
        );
    }
    if want("persistence") {
        section(&mut t, "Persistence");
        let (wal_io, policy) = sh
            .engine
            .wal_mode()
            .map_or(("none", "none".to_string()), |(io, p)| (io, p.to_string()));
        let _ = write!(
            t,
            "loading:0\r\nrdb_last_save_time:{}\r\nrdb_bgsave_in_progress:{}\r\n\
             rdb_last_bgsave_status:{}\r\naof_enabled:0\r\nstorage_path:{}\r\n\
             in_memory:{}\r\nwal_mode:{}\r\nwal_sync:{policy}\r\nwal_io:{wal_io}\r\n\
             wal_sync_interval_ms:{}\r\nlast_lsn:{}\r\nmmap_enabled:{}\r\n",
            last_save_unix(sh),
            u8::from(sh.bgsave_in_progress.load(Relaxed)),
            if sh.bgsave_failed.load(Relaxed) {
                "err"
            } else {
                "ok"
            },
            c.storage_path.display(),
            u8::from(c.in_memory),
            c.wal_mode(),
            c.wal_sync_interval_ms,
            sh.engine.last_lsn(),
            u8::from(c.mmap_enabled),
        );
        if let Some((batches, syncs)) = sh.engine.wal_io_counts() {
            let _ = write!(t, "wal_batches:{batches}\r\nwal_fsyncs:{syncs}\r\n");
        }
        if let Some(r) = sh.engine.recovery_report() {
            let _ = write!(
                t,
                "recovery_snapshot_loaded:{}\r\nrecovery_snapshot_lsn:{}\r\n\
                 recovery_snapshots_skipped:{}\r\nrecovery_records_replayed:{}\r\n\
                 recovery_records_superseded:{}\r\nrecovery_wal_bytes_truncated:{}\r\n\
                 recovery_ms:{}\r\n",
                u8::from(r.snapshot.is_some()),
                r.snapshot_lsn,
                r.snapshots_skipped.len(),
                r.records_replayed,
                r.records_superseded,
                r.wal_bytes_truncated,
                r.open_ms,
            );
        }
    }
    if want("stats") {
        section(&mut t, "Stats");
        let _ = write!(
            t,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             rejected_connections:{}\r\ntotal_error_replies:{}\r\ntotal_net_input_bytes:{}\r\n\
             total_net_output_bytes:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
             keyspace_hits:{}\r\nkeyspace_misses:{}\r\nhit_rate:{:.6}\r\nhttp_requests:{}\r\n\
             client_query_buffer_limit_disconnections:{}\r\n\
             client_output_buffer_limit_disconnections:{}\r\n",
            ServerStatsGet(&st.total_connections),
            ServerStatsGet(&st.total_commands),
            ServerStatsGet(&st.rejected_connections),
            ServerStatsGet(&st.error_replies),
            ServerStatsGet(&st.net_input_bytes),
            ServerStatsGet(&st.net_output_bytes),
            engine.total.expirations,
            engine.total.evictions,
            engine.total.hits,
            engine.total.misses,
            engine.total.hit_rate(),
            ServerStatsGet(&st.http_requests),
            ServerStatsGet(&st.query_buffer_limit_disconnections),
            ServerStatsGet(&st.output_buffer_limit_disconnections),
        );
        let _ = write!(
            t,
            "sync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n",
            ServerStatsGet(&sh.repl.full_syncs),
            ServerStatsGet(&sh.repl.partial_syncs_ok),
            ServerStatsGet(&sh.repl.partial_syncs_err),
        );
        let tr = sh.tracking.stats();
        let _ = write!(
            t,
            "pubsub_channels:{}\r\ntracking_clients:{}\r\ntracking_total_keys:{}\r\n\
             tracking_total_items:{}\r\ntracking_total_prefixes:{}\r\n",
            sh.pubsub.channels(),
            tr.clients,
            tr.keys,
            tr.items,
            tr.prefixes,
        );
    }
    if want("replication") {
        section(&mut t, "Replication");
        t.push_str(&sh.repl.info(&sh.engine, sh.since_start_ms()));
    }
    if want("commandstats") || want("errorstats") || want("latencystats") {
        let table = sh.cmdstats.snapshot();
        let names = super::stat_names();
        if want("commandstats") {
            section(&mut t, "Commandstats");
            t.push_str(&crate::server::cmdstats::commandstats_lines(&table, names));
        }
        if want("errorstats") {
            section(&mut t, "Errorstats");
            t.push_str(&sh.stats.errors.lines());
        }
        if want("latencystats") {
            section(&mut t, "Latencystats");
            let percentiles = sh.cmdstats.percentiles.read().clone();
            t.push_str(&crate::server::cmdstats::latencystats_lines(
                &table,
                names,
                &percentiles,
            ));
        }
    }
    if want("cluster") {
        section(&mut t, "Cluster");
        let cl = &sh.cluster;
        let _ = write!(
            t,
            "cluster_enabled:{}\r\ncluster_mode:{}\r\ncluster_epoch:{}\r\n",
            u8::from(cl.mode != crate::cluster::ClusterMode::Off),
            cl.mode.name(),
            cl.epoch(),
        );
    }
    if want("keyspace") {
        section(&mut t, "Keyspace");
        for db in sh.engine.keyspace() {
            let _ = write!(
                t,
                "db{}:keys={},expires={},avg_ttl={}\r\n",
                db.db, db.keys, db.expiries.keys, db.expiries.avg_ttl_ms
            );
        }
    }
    t
}

struct ServerStatsGet<'a>(&'a std::sync::atomic::AtomicU64);

impl std::fmt::Display for ServerStatsGet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.load(Relaxed))
    }
}

pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[i])
    }
}

pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let text = info_text(ctx, &args[1..]);
    ctx.out.verbatim(&text);
    Ok(())
}
