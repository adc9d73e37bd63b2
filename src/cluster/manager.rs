//! `sutra-cache cluster create|add-node|remove-node|rebalance|add-replica|promote|status|check`:
//! the manager.
//! It is the single writer of the topology: it reads the configuration in force from the
//! nodes, computes the next one (slot assignment, epoch + 1) and pushes it to every node
//! with `SUTRA.CLUSTER CONFIG`; moving slots, it copies their keys from the source to the
//! target itself (see [`super::migrate`]). Every command can be run again after a failure: a node
//! accepts the same configuration twice, and a copy skips keys already moved.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use super::migrate::migrate;
use super::resp::{Conn, Reply};
use super::{ranges_where, Migration, NodeAddr, Shard, SlotRange, Topology, SLOTS};

/// `sutra-cache cluster …`.
#[derive(clap::Args, Debug)]
pub struct ManagerArgs {
    #[command(subcommand)]
    command: ManagerCommand,
    /// Seconds to wait for a node's answer.
    #[arg(long, global = true, default_value_t = 30)]
    timeout: u64,
}

#[derive(clap::Subcommand, Debug)]
enum ManagerCommand {
    /// Makes a cluster of these nodes (`host:port` each, started with --cluster-mode yes):
    /// the 16,384 slots split evenly, epoch 1.
    Create {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Adds a node (with no slots: run `rebalance` next) to the cluster `seed` belongs to.
    AddNode { seed: String, node: String },
    /// Removes a node (`host:port` or id) after moving its slots and keys to the others.
    RemoveNode { seed: String, node: String },
    /// Evens out the slots over the nodes, moving only the slots needed, with their keys.
    Rebalance {
        seed: String,
        /// Slots moved per step (each step pauses writes to the existing keys of its slots
        /// while they are copied).
        #[arg(long, default_value_t = 256)]
        step_slots: usize,
    },
    /// Makes `node` (started with --cluster-mode yes, empty) a replica of `master` (its
    /// `host:port` or id): it copies the master, then streams its log, and serves reads of
    /// its slots to READONLY connections.
    AddReplica {
        seed: String,
        node: String,
        master: String,
    },
    /// Makes a replica (`host:port` or id) its shard's master (after a master is lost, or
    /// to move the role): it stops following, the configuration lists it as the master and
    /// drops the old one, and the shard's other replicas follow it.
    Promote { seed: String, replica: String },
    /// Prints the configuration in force: epoch, and per node its slots and keys.
    Status { seed: String },
    /// Checks that every node answers, holds the same configuration, and that every slot
    /// is served; exits 1 otherwise, listing the problems.
    Check { seed: String },
}

/// Runs the manager; prints what it did (or why it failed) and returns the exit code.
pub fn run(args: ManagerArgs) -> ExitCode {
    let m = Manager {
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let r = match args.command {
        ManagerCommand::Create { nodes } => m.create(&nodes),
        ManagerCommand::AddNode { seed, node } => m.add_node(&seed, &node),
        ManagerCommand::RemoveNode { seed, node } => m.remove_node(&seed, &node),
        ManagerCommand::Rebalance { seed, step_slots } => m.rebalance(&seed, None, step_slots),
        ManagerCommand::AddReplica { seed, node, master } => m.add_replica(&seed, &node, &master),
        ManagerCommand::Promote { seed, replica } => m.promote(&seed, &replica),
        ManagerCommand::Status { seed } => m.status(&seed),
        ManagerCommand::Check { seed } => m.check(&seed),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sutra-cache cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(super) struct Manager {
    timeout: Duration,
}

/// `host:port` split (IPv6 in brackets).
fn parse_endpoint(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected host:port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{s:?}: the port must be 1 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{s:?}: expected host:port"));
    }
    Ok((host.to_string(), port))
}

/// The even share of `SLOTS` for node `i` of `n`.
fn even_share(i: usize, n: usize) -> usize {
    SLOTS / n + usize::from(i < SLOTS % n)
}

/// Node `i` of `n`'s slots in a fresh cluster: contiguous, even.
fn fresh_range(i: usize, n: usize) -> SlotRange {
    let start: usize = (0..i).map(|j| even_share(j, n)).sum();
    SlotRange {
        start: start as u16,
        end: (start + even_share(i, n) - 1) as u16,
    }
}

/// Slot ranges of a set of slots.
fn to_ranges(slots: &std::collections::BTreeSet<u16>) -> Vec<SlotRange> {
    ranges_where(|s| slots.contains(&(s as u16)))
        .into_iter()
        .map(|(start, end)| SlotRange { start, end })
        .collect()
}

fn slots_of(shard: &Shard) -> std::collections::BTreeSet<u16> {
    shard
        .slot_ranges
        .iter()
        .flat_map(|r| r.start..=r.end)
        .collect()
}

/// The moves that even out `owned` (slots per node) over the nodes with `weight` true
/// (the others give all theirs away): only the surplus of each node moves, its highest
/// slots first. Returns (slot, from, to).
pub fn plan_moves(owned: &[Vec<u16>], keep: &[bool]) -> Vec<(u16, usize, usize)> {
    let members: Vec<usize> = (0..owned.len()).filter(|&i| keep[i]).collect();
    if members.is_empty() {
        return Vec::new();
    }
    let total: usize = owned.iter().map(Vec::len).sum();
    // Targets: the larger shares go to the members that own most now (fewer moves).
    let mut order = members.clone();
    order.sort_by_key(|&i| std::cmp::Reverse(owned[i].len()));
    let mut target = vec![0usize; owned.len()];
    for (rank, &i) in order.iter().enumerate() {
        target[i] = total / members.len() + usize::from(rank < total % members.len());
    }
    let mut surplus: Vec<(u16, usize)> = Vec::new();
    for (i, slots) in owned.iter().enumerate() {
        let mut s = slots.clone();
        s.sort_unstable();
        let give = s.len().saturating_sub(target[i]);
        for &slot in s.iter().rev().take(give) {
            surplus.push((slot, i));
        }
    }
    surplus.sort_unstable();
    let mut moves = Vec::new();
    let mut it = surplus.into_iter();
    for &i in &members {
        let need = target[i].saturating_sub(owned[i].len());
        for (slot, from) in it.by_ref().take(need) {
            moves.push((slot, from, i));
        }
    }
    moves
}

impl Manager {
    fn conn(&self, addr: &str) -> Result<Conn, String> {
        Conn::open(addr, self.timeout)
    }

    pub(super) fn conn_to(&self, n: &NodeAddr) -> Result<Conn, String> {
        self.conn(&n.endpoint())
    }

    /// A node's id and its configuration in force (None before any).
    fn node_state(&self, addr: &str) -> Result<(String, Option<Topology>), String> {
        let mut c = self.conn(addr)?;
        let id = c
            .cmd(&["CLUSTER", "MYID"])?
            .ok()
            .map_err(|e| format!("{addr}: CLUSTER MYID: {e}"))?
            .text()?;
        let cfg = c
            .cmd(&["SUTRA.CLUSTER", "GETCONFIG"])?
            .ok()
            .map_err(|e| format!("{addr}: {e} (is it started with --cluster-mode yes?)"))?;
        let topo = match cfg {
            Reply::Bulk(Some(json)) => {
                Some(Topology::parse(&json).map_err(|e| format!("{addr}: {e}"))?)
            }
            _ => None,
        };
        Ok((id, topo))
    }

    /// The newest configuration among `seed`'s and that of every node it lists (a push
    /// interrupted earlier leaves some nodes behind).
    fn current(&self, seed: &str) -> Result<Topology, String> {
        let (_, topo) = self.node_state(seed)?;
        let mut best = topo.ok_or_else(|| {
            format!("{seed} has no cluster configuration yet: run `sutra-cache cluster create`")
        })?;
        let listed: Vec<String> = best
            .shards
            .iter()
            .flat_map(|s| std::iter::once(&s.master).chain(&s.replicas))
            .map(NodeAddr::endpoint)
            .collect();
        for addr in listed {
            if let Ok((_, Some(t))) = self.node_state(&addr) {
                if t.epoch > best.epoch {
                    best = t;
                }
            }
        }
        Ok(best)
    }

    /// Pushes `topo` to every node it lists, `first` ids before the others. Fails (after
    /// trying every node) when a node refused it or could not be reached.
    fn push(&self, topo: &Topology, first: &[&str]) -> Result<(), String> {
        let json = topo.to_json();
        let mut nodes: Vec<&NodeAddr> = topo
            .shards
            .iter()
            .flat_map(|s| std::iter::once(&s.master).chain(&s.replicas))
            .collect();
        nodes.sort_by_key(|n| !first.contains(&n.id.as_str()));
        let mut failed = Vec::new();
        for n in nodes {
            let r = self.conn_to(n).and_then(|mut c| {
                c.call(&[b"SUTRA.CLUSTER", b"CONFIG", json.as_bytes()])?
                    .ok()
                    .map(|_| ())
            });
            if let Err(e) = r {
                failed.push(format!("{} ({}): {e}", n.endpoint(), n.id));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "epoch {} was not accepted by {}; run the command again once the node is \
                 back",
                topo.epoch,
                failed.join("; ")
            ))
        }
    }

    fn create(&self, nodes: &[String]) -> Result<(), String> {
        let mut addrs = Vec::new();
        let mut existing: Option<Topology> = None;
        for a in nodes {
            let (ip, port) = parse_endpoint(a)?;
            let (id, topo) = self.node_state(a)?;
            if addrs.iter().any(|n: &NodeAddr| n.id == id) {
                return Err(format!("{a}: node {id} is listed twice"));
            }
            addrs.push(NodeAddr { id, ip, port });
            if let Some(t) = topo {
                if existing.as_ref().is_some_and(|e| *e != t) {
                    return Err(format!(
                        "{a} already belongs to another cluster configuration (epoch {}): \
                         use add-node, or restart it with an empty data directory",
                        t.epoch
                    ));
                }
                existing = Some(t);
            }
        }
        let n = addrs.len();
        let topo = Topology {
            epoch: 1,
            shards: addrs
                .into_iter()
                .enumerate()
                .map(|(i, master)| Shard {
                    slot_ranges: vec![fresh_range(i, n)],
                    master,
                    replicas: vec![],
                    migrations: vec![],
                })
                .collect(),
        };
        if let Some(e) = existing {
            // A re-run after a push that reached some nodes: the same cluster again.
            if e != topo {
                return Err(format!(
                    "a node already has a configuration (epoch {}) other than this one: use \
                     add-node/rebalance, or restart it with an empty data directory",
                    e.epoch
                ));
            }
        }
        self.push(&topo, &[])?;
        println!("created a cluster of {n} nodes (epoch 1)");
        print_topology(&topo);
        Ok(())
    }

    fn add_node(&self, seed: &str, node: &str) -> Result<(), String> {
        let mut topo = self.current(seed)?;
        let (ip, port) = parse_endpoint(node)?;
        let (id, its) = self.node_state(node)?;
        if topo.shard_of(&id).is_some() {
            self.push(&topo, &[])?;
            println!("{node} ({id}) is already a member (epoch {})", topo.epoch);
            return Ok(());
        }
        if let Some(t) = its {
            return Err(format!(
                "{node} already has a configuration (epoch {}) of another cluster",
                t.epoch
            ));
        }
        topo.epoch += 1;
        topo.shards.push(Shard {
            slot_ranges: vec![],
            master: NodeAddr {
                id: id.clone(),
                ip,
                port,
            },
            replicas: vec![],
            migrations: vec![],
        });
        self.push(&topo, &[&id])?;
        println!(
            "added {node} ({id}) with no slots (epoch {}); run `sutra-cache cluster rebalance \
             {seed}` to give it its share",
            topo.epoch
        );
        Ok(())
    }

    fn add_replica(&self, seed: &str, node: &str, master: &str) -> Result<(), String> {
        let mut topo = self.current(seed)?;
        let i = topo
            .shards
            .iter()
            .position(|s| s.master.id == master || s.master.endpoint() == master)
            .ok_or_else(|| {
                format!(
                    "{master} is not the master of a shard (epoch {})",
                    topo.epoch
                )
            })?;
        let (ip, port) = parse_endpoint(node)?;
        let (id, its) = self.node_state(node)?;
        if topo.shards[i].replicas.iter().any(|r| r.id == id) {
            self.push(&topo, &[])?;
            println!(
                "{node} ({id}) is already a replica of {master} (epoch {})",
                topo.epoch
            );
            return Ok(());
        }
        if topo.shard_of(&id).is_some() || topo.replica_shard(&id).is_some() {
            return Err(format!(
                "{node} ({id}) is already a member: remove-node it first (a master) or promote"
            ));
        }
        if let Some(t) = its {
            return Err(format!(
                "{node} already has a configuration (epoch {}) of another cluster",
                t.epoch
            ));
        }
        topo.epoch += 1;
        topo.shards[i].replicas.push(NodeAddr {
            id: id.clone(),
            ip,
            port,
        });
        self.push(&topo, &[&id])?;
        println!(
            "{node} ({id}) is a replica of {} (epoch {}): it copies the master, then follows \
             its log",
            topo.shards[i].master.endpoint(),
            topo.epoch
        );
        Ok(())
    }

    fn promote(&self, seed: &str, replica: &str) -> Result<(), String> {
        let mut topo = self.current(seed)?;
        let found = topo.shards.iter().enumerate().find_map(|(i, s)| {
            s.replicas
                .iter()
                .position(|r| r.id == replica || r.endpoint() == replica)
                .map(|j| (i, j))
        });
        let Some((i, j)) = found else {
            if topo
                .shards
                .iter()
                .any(|s| s.master.id == replica || s.master.endpoint() == replica)
            {
                self.push(&topo, &[])?;
                println!(
                    "{replica} is its shard's master already (epoch {})",
                    topo.epoch
                );
                return Ok(());
            }
            return Err(format!(
                "{replica} is not a replica in epoch {}",
                topo.epoch
            ));
        };
        let new_master = topo.shards[i].replicas.remove(j);
        // It stops applying its old master's log before anything is routed to it.
        self.conn_to(&new_master)?
            .cmd(&["REPLICAOF", "NO", "ONE"])?
            .ok()
            .map_err(|e| format!("{}: REPLICAOF NO ONE: {e}", new_master.endpoint()))?;
        let old = std::mem::replace(&mut topo.shards[i].master, new_master.clone());
        topo.epoch += 1;
        self.push(&topo, &[&new_master.id])?;
        println!(
            "{} ({}) is the master of its shard (epoch {}); {} ({}) was dropped from the \
             configuration: add it back with add-replica once it is restarted empty",
            new_master.endpoint(),
            new_master.id,
            topo.epoch,
            old.endpoint(),
            old.id
        );
        Ok(())
    }

    fn remove_node(&self, seed: &str, node: &str) -> Result<(), String> {
        let topo = self.current(seed)?;
        let i = topo
            .shards
            .iter()
            .position(|s| s.master.id == node || s.master.endpoint() == node)
            .ok_or_else(|| format!("{node} is not a member (neither an id nor a host:port)"))?;
        if topo.shards.len() == 1 {
            return Err("the last node of a cluster cannot be removed".into());
        }
        let id = topo.shards[i].master.id.clone();
        self.rebalance(seed, Some(&id), 256)?;
        let mut topo = self.current(seed)?;
        let i = topo
            .shard_of(&id)
            .ok_or_else(|| format!("{id} left the configuration meanwhile"))?;
        if !topo.shards[i].slot_ranges.is_empty() {
            return Err(format!("{id} still owns slots; run remove-node again"));
        }
        topo.shards.remove(i);
        topo.epoch += 1;
        self.push(&topo, &[])?;
        println!("removed {node} ({id}); epoch {}", topo.epoch);
        Ok(())
    }

    /// Evens the slots out over the nodes (but `drain`, which gives all of its away).
    fn rebalance(&self, seed: &str, drain: Option<&str>, step: usize) -> Result<(), String> {
        let mut topo = self.current(seed)?;
        // A push interrupted earlier (the manager or a node killed) leaves some nodes
        // behind: every node gets the newest configuration again before anything moves
        // (a node holding it already accepts it unchanged), migration targets first.
        let targets: Vec<&str> = topo
            .shards
            .iter()
            .flat_map(|s| s.migrations.iter().map(|m| m.node_id.as_str()))
            .collect();
        self.push(&topo, &targets)?;
        // A step interrupted earlier: finish it first.
        if topo.shards.iter().any(|s| !s.migrations.is_empty()) {
            println!("finishing the migration of epoch {}", topo.epoch);
            topo = self.finish_step(topo)?;
        }
        let owned: Vec<Vec<u16>> = topo
            .shards
            .iter()
            .map(|s| slots_of(s).into_iter().collect())
            .collect();
        let keep: Vec<bool> = topo
            .shards
            .iter()
            .map(|s| Some(s.master.id.as_str()) != drain)
            .collect();
        let moves = plan_moves(&owned, &keep);
        if moves.is_empty() {
            println!("balanced: nothing to move (epoch {})", topo.epoch);
            return Ok(());
        }
        println!(
            "moving {} slots (the minimum to even out {} nodes)",
            moves.len(),
            keep.iter().filter(|&&k| k).count()
        );
        let mut keys = 0;
        for chunk in moves.chunks(step.max(1)) {
            let mut next = topo.clone();
            next.epoch += 1;
            for &(slot, from, to) in chunk {
                let target = next.shards[to].master.id.clone();
                let src = &mut next.shards[from];
                match src.migrations.iter_mut().find(|m| m.node_id == target) {
                    Some(m) => m.slot_ranges.push(SlotRange {
                        start: slot,
                        end: slot,
                    }),
                    None => src.migrations.push(Migration {
                        slot_ranges: vec![SlotRange {
                            start: slot,
                            end: slot,
                        }],
                        node_id: target,
                    }),
                }
            }
            for s in &mut next.shards {
                for m in &mut s.migrations {
                    let set = m.slot_ranges.iter().flat_map(|r| r.start..=r.end).collect();
                    m.slot_ranges = to_ranges(&set);
                }
            }
            let targets: Vec<String> = chunk
                .iter()
                .map(|&(_, _, to)| next.shards[to].master.id.clone())
                .collect();
            let first: Vec<&str> = targets.iter().map(String::as_str).collect();
            self.push(&next, &first)?;
            let (t, moved) = self.finish_step_counting(next)?;
            topo = t;
            keys += moved;
        }
        println!(
            "moved {} slots and {keys} keys; epoch {}",
            moves.len(),
            topo.epoch
        );
        print_topology(&topo);
        Ok(())
    }

    fn finish_step(&self, topo: Topology) -> Result<Topology, String> {
        self.finish_step_counting(topo).map(|(t, _)| t)
    }

    /// Copies the keys of every migrating slot of `topo` to its target, then pushes the
    /// next epoch, where the targets own those slots. Returns it and the keys copied.
    fn finish_step_counting(&self, topo: Topology) -> Result<(Topology, usize), String> {
        let mut moved = 0;
        for s in &topo.shards {
            for m in &s.migrations {
                let target = &topo.shards[topo
                    .shard_of(&m.node_id)
                    .ok_or_else(|| format!("migration target {} is not a member", m.node_id))?]
                .master;
                let slots: std::collections::BTreeSet<u16> =
                    m.slot_ranges.iter().flat_map(|r| r.start..=r.end).collect();
                moved += migrate(self, &s.master, target, &slots)?;
            }
        }
        let mut next = topo.clone();
        next.epoch += 1;
        let mut gained: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
        for s in &mut next.shards {
            let mut own = slots_of(s);
            for m in s.migrations.drain(..) {
                let to = topo.shard_of(&m.node_id).expect("checked above");
                for r in m.slot_ranges {
                    for slot in r.start..=r.end {
                        own.remove(&slot);
                        gained.entry(to).or_default().push(slot);
                    }
                }
            }
            s.slot_ranges = to_ranges(&own);
        }
        let mut first = Vec::new();
        for (to, slots) in gained {
            let s = &mut next.shards[to];
            let mut own = slots_of(s);
            own.extend(slots);
            s.slot_ranges = to_ranges(&own);
            first.push(s.master.id.clone());
        }
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        self.push(&next, &first)?;
        Ok((next, moved))
    }

    fn status(&self, seed: &str) -> Result<(), String> {
        let topo = self.current(seed)?;
        println!("epoch {}", topo.epoch);
        for s in &topo.shards {
            let keys = self
                .conn_to(&s.master)
                .and_then(|mut c| c.cmd(&["DBSIZE"])?.int())
                .map_or_else(|e| format!("unreachable: {e}"), |n| format!("{n} keys"));
            let n: usize = s
                .slot_ranges
                .iter()
                .map(|r| r.end as usize - r.start as usize + 1)
                .sum();
            println!(
                "{} {} slots={n} {keys} ranges={}",
                s.master.id,
                s.master.endpoint(),
                ranges_text(&s.slot_ranges)
            );
            for m in &s.migrations {
                println!(
                    "  migrating {} to {}",
                    ranges_text(&m.slot_ranges),
                    m.node_id
                );
            }
        }
        Ok(())
    }

    fn check(&self, seed: &str) -> Result<(), String> {
        let topo = self.current(seed)?;
        let mut problems = Vec::new();
        for s in &topo.shards {
            let n = &s.master;
            match self.node_state(&n.endpoint()) {
                Err(e) => problems.push(format!("{} unreachable: {e}", n.id)),
                Ok((id, _)) if id != n.id => problems.push(format!(
                    "{} answers as {id}, the configuration says {}",
                    n.endpoint(),
                    n.id
                )),
                Ok((_, None)) => problems.push(format!("{} has no configuration", n.id)),
                Ok((_, Some(t))) if t != topo => problems.push(format!(
                    "{} holds epoch {}, not the newest ({})",
                    n.id, t.epoch, topo.epoch
                )),
                Ok(_) => {}
            }
            if !s.migrations.is_empty() {
                problems.push(format!(
                    "{} has a migration in progress: run rebalance to finish it",
                    n.id
                ));
            }
        }
        let assigned: usize = topo.slot_counts().iter().sum();
        if assigned != SLOTS {
            problems.push(format!(
                "{} of {SLOTS} slots are not served",
                SLOTS - assigned
            ));
        }
        if problems.is_empty() {
            println!(
                "ok: {} nodes agree on epoch {}, all {SLOTS} slots served",
                topo.shards.len(),
                topo.epoch
            );
            Ok(())
        } else {
            Err(format!(
                "{} problem(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ))
        }
    }
}

fn ranges_text(r: &[SlotRange]) -> String {
    if r.is_empty() {
        return "-".into();
    }
    r.iter()
        .map(|r| {
            if r.start == r.end {
                r.start.to_string()
            } else {
                format!("{}-{}", r.start, r.end)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn print_topology(t: &Topology) {
    for s in &t.shards {
        println!(
            "  {} {} {}",
            s.master.id,
            s.master.endpoint(),
            ranges_text(&s.slot_ranges)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_cluster_splits_the_slots_evenly_and_contiguously() {
        assert_eq!(
            fresh_range(0, 3),
            SlotRange {
                start: 0,
                end: 5461
            }
        );
        assert_eq!(
            fresh_range(1, 3),
            SlotRange {
                start: 5462,
                end: 10922
            }
        );
        assert_eq!(
            fresh_range(2, 3),
            SlotRange {
                start: 10923,
                end: 16383
            }
        );
    }

    #[test]
    fn rebalancing_moves_only_the_surplus() {
        let owned: Vec<Vec<u16>> = (0..3)
            .map(|i| {
                let r = fresh_range(i, 3);
                (r.start..=r.end).collect()
            })
            .chain(std::iter::once(vec![]))
            .collect();
        let moves = plan_moves(&owned, &[true; 4]);
        assert_eq!(moves.len(), 4096);
        assert!(moves.iter().all(|&(_, _, to)| to == 3));
        let mut counts = [5462usize, 5461, 5461, 0];
        for &(_, from, to) in &moves {
            counts[from] -= 1;
            counts[to] += 1;
        }
        assert_eq!(counts, [4096; 4]);
        // Draining a node moves exactly its slots.
        let moves = plan_moves(&owned[..3], &[true, false, true]);
        assert_eq!(moves.len(), 5461);
        assert!(moves.iter().all(|&(_, from, to)| from == 1 && to != 1));
        // Balanced: nothing.
        assert!(plan_moves(&owned[..3], &[true; 3]).is_empty());
    }

    #[test]
    fn endpoints_are_checked() {
        assert_eq!(
            parse_endpoint("127.0.0.1:7000").unwrap(),
            ("127.0.0.1".into(), 7000)
        );
        assert_eq!(parse_endpoint("[::1]:7000").unwrap(), ("::1".into(), 7000));
        assert!(parse_endpoint("host").is_err());
        assert!(parse_endpoint("host:0").is_err());
        assert!(parse_endpoint(":80").is_err());
    }
}
