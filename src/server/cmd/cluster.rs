//! Redis Cluster's commands (`CLUSTER …`, `ASKING`, `READONLY`, `READWRITE`), the manager's
//! `SUTRA.CLUSTER CONFIG|EPOCH`, and the slot check every keyed command passes in cluster
//! mode (`-CROSSSLOT`, `-MOVED`, `-ASK`, `-CLUSTERDOWN`). The state is
//! [`crate::server::cluster::ClusterState`].

use std::fmt::Write as _;

use bytes::Bytes;

use super::keyspace::help_lines;
use super::{arg_i64, arg_str, is, key_args, tx, Client, CmdError, CmdResult, Ctx, Shared, Spec};
use crate::cluster::{key_slot, ClusterMode, Routes, Topology, SLOTS};

/// Redis's refusal of a cluster command when cluster mode is off.
const DISABLED: &str = "ERR This instance has cluster support disabled";

/// Redis's `-CROSSSLOT`.
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// The cluster check of one command, before it runs or is queued (cluster mode on): its
/// keys must share one slot (with the other commands of its transaction), and that slot be
/// served here. EXEC checks the transaction's slot again and, when it moved, discards the
/// transaction (as Redis). Returns the error reply's text.
pub fn route(
    shared: &Shared,
    client: &mut Client,
    spec: &Spec,
    args: &[Bytes],
) -> Result<(), String> {
    let cluster = &shared.cluster;
    // ASKING holds for the next command (inside MULTI: until EXEC).
    let keep =
        matches!(spec.name, "asking" | "multi") || client.multi.is_some() && spec.name != "exec";
    let asking = if keep {
        client.asking
    } else {
        std::mem::take(&mut client.asking)
    };
    if spec.name == "exec" {
        let Some(slot) = client.multi.as_ref().and_then(|q| q.slot) else {
            return Ok(());
        };
        return cluster
            .route(slot, asking, false, false, || false)
            .map_err(|e| {
                client.multi = None;
                tx::unwatch_all(shared, client);
                e.message()
            });
    }
    let mut keys = key_args(spec, args);
    let Some(first) = keys.next() else {
        return Ok(());
    };
    let slot = key_slot(first);
    if keys.any(|k| key_slot(k) != slot) {
        return Err(CROSSSLOT.into());
    }
    let queued = client.multi.is_some() && !tx::runs_inside_multi(spec);
    if queued
        && client
            .multi
            .as_ref()
            .and_then(|q| q.slot)
            .is_some_and(|s| s != slot)
    {
        return Err(CROSSSLOT.into());
    }
    if cluster.mode == ClusterMode::Yes {
        let engine = &shared.engine;
        let missing = || key_args(spec, args).any(|k| engine.exists(&[k]) == 0);
        let write = spec.flags.contains(&"write") && !client.migrator;
        let replica_read = client.readonly && !spec.flags.contains(&"write");
        cluster
            .route(slot, asking, write, replica_read, missing)
            .map_err(|e| e.message())?;
    }
    if queued {
        if let Some(q) = client.multi.as_mut() {
            q.slot = Some(slot);
        }
    }
    Ok(())
}

fn enabled(ctx: &Ctx<'_>) -> CmdResult {
    if ctx.shared.cluster.mode == ClusterMode::Off {
        return Err(CmdError(DISABLED.into()));
    }
    Ok(())
}

/// `ASKING`: the next command may use a slot this node is importing.
pub fn asking(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    ctx.client.asking = true;
    ctx.out.ok();
    Ok(())
}

/// `READONLY` / `READWRITE`: this connection's reads of a slot may (may not) be served by a
/// replica of the slot's shard, as Redis Cluster's.
pub fn readonly(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    ctx.client.readonly = is(&args[0], "readonly");
    ctx.out.ok();
    Ok(())
}

/// A slot argument, or Redis's error.
fn slot_arg(a: &[u8], msg: &str) -> Result<u16, CmdError> {
    match super::super::frame::parse_i64(a) {
        Some(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(CmdError::err(msg)),
    }
}

/// The keys of `slot` held here, at most `limit`. A walk over the whole keyspace (the
/// store keeps no per-slot index): O(keys) per call.
fn keys_in_slot(shared: &Shared, slot: u16, limit: usize) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut cursor = 0;
    loop {
        let page = shared.engine.scan(cursor, None, 1024, None);
        for k in page.keys {
            if found.len() < limit && key_slot(&k) == slot {
                found.push(k);
            }
        }
        cursor = page.cursor;
        if cursor == 0 || found.len() >= limit {
            return found;
        }
    }
}

/// `CLUSTER SLOTS|SHARDS|NODES|INFO|MYID|KEYSLOT|COUNTKEYSINSLOT|GETKEYSINSLOT|HELP`.
/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn cluster(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "help") {
        help_lines(
            ctx,
            &[
                "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "COUNTKEYSINSLOT <slot>",
                "    Return the number of keys in <slot> (a walk over every key).",
                "GETKEYSINSLOT <slot> <count>",
                "    Return key names stored by current node in a slot.",
                "INFO",
                "    Return information about the cluster.",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "MYID",
                "    Return the node id.",
                "NODES",
                "    Return cluster configuration seen by node. Output format:",
                "    <id> <ip:port@cport> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
                "SHARDS",
                "    Return information about slot range mappings and the nodes of each shard.",
                "SLOTS",
                "    Return information about slots range mappings. Each range is made of:",
                "    start, end, master and replicas IP addresses, ports and ids",
                "HELP",
                "    Print this help.",
            ],
        );
        return Ok(());
    }
    if is(sub, "keyslot") {
        ctx.out.int(i64::from(key_slot(&args[2])));
        return Ok(());
    }
    enabled(ctx)?;
    let cluster = &ctx.shared.cluster;
    let view = cluster.view(&ctx.client.info.laddr);
    if is(sub, "myid") {
        ctx.out.bulk(cluster.my_id.as_bytes());
    } else if is(sub, "countkeysinslot") {
        let slot = slot_arg(&args[2], "Invalid slot")?;
        ctx.out
            .int(keys_in_slot(ctx.shared, slot, usize::MAX).len() as i64);
    } else if is(sub, "getkeysinslot") {
        let slot = slot_arg(&args[2], "Invalid slot or number of keys")?;
        let n = arg_i64(&args[3])?;
        if n < 0 {
            return Err(CmdError::err("Invalid slot or number of keys"));
        }
        let keys = keys_in_slot(ctx.shared, slot, usize::try_from(n).unwrap_or(usize::MAX));
        ctx.out.array(keys.len());
        for k in &keys {
            ctx.out.bulk(k);
        }
    } else if is(sub, "info") {
        ctx.out
            .verbatim(&info_text(view.as_deref(), &cluster.my_id));
    } else if is(sub, "slots") {
        slots(ctx, view.as_deref());
    } else if is(sub, "shards") {
        shards(ctx, view.as_deref());
    } else if is(sub, "nodes") {
        ctx.out.verbatim(&nodes_text(view.as_deref(), ctx));
    }
    Ok(())
}

/// CLUSTER INFO's text.
fn info_text(view: Option<&Routes>, my_id: &str) -> String {
    let (assigned, nodes, size, epoch) = match view {
        Some(r) => {
            let size = r.topo.slot_counts().iter().filter(|&&n| n > 0).count();
            (r.assigned(), r.topo.shards.len(), size, r.topo.epoch)
        }
        None => (0, 1, 0, 0),
    };
    let my_epoch = view
        .filter(|r| r.topo.shard_of(my_id).is_some())
        .map_or(0, |r| r.topo.epoch);
    let state = if assigned == SLOTS { "ok" } else { "fail" };
    let mut t = String::new();
    let _ = write!(
        t,
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n\
         cluster_known_nodes:{nodes}\r\ncluster_size:{size}\r\ncluster_current_epoch:{epoch}\r\n\
         cluster_my_epoch:{my_epoch}\r\ncluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
    );
    t
}

/// CLUSTER SLOTS: per range `start, end, [ip, port, id, {}]`, by start slot.
fn slots(ctx: &mut Ctx<'_>, view: Option<&Routes>) {
    let Some(r) = view else {
        ctx.out.array(0);
        return;
    };
    let mut ranges: Vec<(u16, u16, usize)> = (0..r.topo.shards.len())
        .flat_map(|i| r.ranges_of(i).into_iter().map(move |(s, e)| (s, e, i)))
        .collect();
    ranges.sort();
    let out = &mut *ctx.out;
    out.array(ranges.len());
    for (start, end, i) in ranges {
        let shard = &r.topo.shards[i];
        out.array(3 + shard.replicas.len());
        out.int(i64::from(start));
        out.int(i64::from(end));
        for m in std::iter::once(&shard.master).chain(&shard.replicas) {
            out.array(4);
            out.bulk(m.ip.as_bytes());
            out.int(i64::from(m.port));
            out.bulk(m.id.as_bytes());
            out.map(0);
        }
    }
}

/// CLUSTER SHARDS: per shard a map of `slots` (flat start/end pairs) and `nodes`.
fn shards(ctx: &mut Ctx<'_>, view: Option<&Routes>) {
    let Some(r) = view else {
        ctx.out.array(0);
        return;
    };
    let out = &mut *ctx.out;
    out.array(r.topo.shards.len());
    for (i, s) in r.topo.shards.iter().enumerate() {
        out.map(2);
        out.bulk(b"slots");
        let ranges = r.ranges_of(i);
        out.array(ranges.len() * 2);
        for (a, b) in ranges {
            out.int(i64::from(a));
            out.int(i64::from(b));
        }
        out.bulk(b"nodes");
        out.array(1 + s.replicas.len());
        for (j, m) in std::iter::once(&s.master).chain(&s.replicas).enumerate() {
            out.map(7);
            out.bulk(b"id");
            out.bulk(m.id.as_bytes());
            out.bulk(b"port");
            out.int(i64::from(m.port));
            out.bulk(b"ip");
            out.bulk(m.ip.as_bytes());
            out.bulk(b"endpoint");
            out.bulk(m.ip.as_bytes());
            out.bulk(b"role");
            out.bulk(if j == 0 {
                b"master".as_slice()
            } else {
                b"replica"
            });
            out.bulk(b"replication-offset");
            out.int(0);
            out.bulk(b"health");
            out.bulk(b"online");
        }
    }
}

/// CLUSTER NODES's text: one line per node, this node's migrations in brackets.
fn nodes_text(view: Option<&Routes>, ctx: &Ctx<'_>) -> String {
    let my_id = &ctx.shared.cluster.my_id;
    let mut t = String::new();
    let Some(r) = view else {
        let (ip, port) = super::super::cluster::split_endpoint(&ctx.client.info.laddr);
        let _ = writeln!(
            t,
            "{my_id} {ip}:{port}@{port} myself,master - 0 0 0 connected"
        );
        return t;
    };
    let epoch = r.topo.epoch;
    for (i, s) in r.topo.shards.iter().enumerate() {
        let m = &s.master;
        let me = m.id == *my_id;
        let flags = if me { "myself,master" } else { "master" };
        let _ = write!(
            t,
            "{} {}@{} {flags} - 0 0 {epoch} connected",
            m.id,
            m.endpoint(),
            m.port
        );
        for (a, b) in r.ranges_of(i) {
            if a == b {
                let _ = write!(t, " {a}");
            } else {
                let _ = write!(t, " {a}-{b}");
            }
        }
        if me {
            for (j, other) in r.topo.shards.iter().enumerate() {
                for (a, b) in r.migrating_ranges(i, j) {
                    for slot in a..=b {
                        let _ = write!(t, " [{slot}->-{}]", other.master.id);
                    }
                }
                for (a, b) in r.migrating_ranges(j, i) {
                    for slot in a..=b {
                        let _ = write!(t, " [{slot}-<-{}]", other.master.id);
                    }
                }
            }
        }
        t.push('\n');
        for rep in &s.replicas {
            let flags = if rep.id == *my_id {
                "myself,slave"
            } else {
                "slave"
            };
            let _ = writeln!(
                t,
                "{} {}@{} {flags} {} 0 0 {epoch} connected",
                rep.id,
                rep.endpoint(),
                rep.port,
                m.id
            );
        }
    }
    t
}

/// `SUTRA.CLUSTER CONFIG <json>`: accepts a configuration from the manager (`OK`, also when
/// it is the one in force); `EPOCH`: the epoch in force (0 before any); `GETCONFIG`: the
/// configuration in force; `MIGRATOR`: this connection copies keys of migrating slots;
/// `HELP`.
pub fn sutra_cluster(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "help") {
        help_lines(
            ctx,
            &[
                "SUTRA.CLUSTER <subcommand> [<arg> ...]. Subcommands are:",
                "CONFIG <json>",
                "    Accept a cluster configuration (a higher epoch than the node's, or the same one).",
                "EPOCH",
                "    Return the epoch of the configuration in force (0 before any).",
                "GETCONFIG",
                "    Return the configuration in force as JSON (nil before any).",
                "MIGRATOR",
                "    Mark this connection as the manager's: its writes to keys of a migrating",
                "    slot are served (other clients' get TRYAGAIN until the key is copied).",
                "HELP",
                "    Print this help.",
            ],
        );
        return Ok(());
    }
    let cluster = &ctx.shared.cluster;
    if cluster.mode != ClusterMode::Yes {
        return Err(CmdError::err(
            "Cluster configuration needs --cluster-mode yes on this node",
        ));
    }
    if is(sub, "epoch") {
        ctx.out.int(cluster.epoch() as i64);
        return Ok(());
    }
    if is(sub, "getconfig") {
        ctx.out
            .bulk_or_null(cluster.config_json().as_deref().map(str::as_bytes));
        return Ok(());
    }
    if is(sub, "migrator") {
        ctx.client.migrator = true;
        ctx.out.ok();
        return Ok(());
    }
    let json = arg_str(&args[2], "the configuration")?;
    let topo = Topology::parse(json.as_bytes()).map_err(CmdError::err)?;
    let epoch = topo.epoch;
    let changed = cluster.apply(topo).map_err(CmdError::err)?;
    if changed {
        tracing::info!(epoch, "cluster configuration accepted");
    }
    // A replica in it follows its shard's master; a master follows no one.
    if let Some(routes) = cluster.routes() {
        ctx.shared
            .repl
            .reconcile_cluster(&ctx.shared.engine, &routes.topo, &cluster.my_id);
    }
    ctx.out.ok();
    Ok(())
}
