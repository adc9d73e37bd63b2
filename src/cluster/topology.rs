//! The cluster configuration a manager pushes (`SUTRA.CLUSTER CONFIG <json>`): an epoch and
//! one entry per shard (its slot ranges, its master, its replicas, the migrations leaving
//! it), and the slot → shard table a node routes with.

use serde::{Deserialize, Serialize};

use super::{valid_node_id, SLOTS};

/// A whole cluster configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Version: a node refuses a configuration with a lower epoch than its own (and one
    /// with the same epoch but other content).
    pub epoch: u64,
    /// The shards (each one master).
    pub shards: Vec<Shard>,
}

/// One shard: the slots it owns and the node that serves them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// Owned slots, inclusive ranges.
    pub slot_ranges: Vec<SlotRange>,
    /// The node serving them.
    pub master: NodeAddr,
    /// Nodes following the master (listed in the replies; none serve yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<NodeAddr>,
    /// Slots of this shard moving to another shard's master.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
}

/// An inclusive range of slots.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

/// A node: its id and where clients reach it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeAddr {
    pub id: String,
    pub ip: String,
    pub port: u16,
}

impl NodeAddr {
    /// `ip:port`, as `-MOVED` names it.
    pub fn endpoint(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

/// Slots of a shard moving to the master `node_id` of another shard.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    pub slot_ranges: Vec<SlotRange>,
    pub node_id: String,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    #[error("the configuration is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(String),
}

/// No shard owns the slot.
const NONE: u16 = u16::MAX;

/// A checked configuration with its slot table.
#[derive(Clone, Debug)]
pub struct Routes {
    pub topo: Topology,
    /// Shard index per slot (`NONE` when unassigned).
    owner: Box<[u16]>,
    /// Target shard index per slot being migrated (`NONE` when not).
    migrating_to: Box<[u16]>,
}

impl Topology {
    /// Parses and checks a configuration.
    pub fn parse(json: &[u8]) -> Result<Topology, TopologyError> {
        let t: Topology =
            serde_json::from_slice(json).map_err(|e| TopologyError::Json(e.to_string()))?;
        Routes::new(t.clone())?;
        Ok(t)
    }

    /// The configuration as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a topology serializes")
    }

    /// The shard whose master is `id`.
    pub fn shard_of(&self, id: &str) -> Option<usize> {
        self.shards.iter().position(|s| s.master.id == id)
    }

    /// The shard that lists `id` among its replicas.
    pub fn replica_shard(&self, id: &str) -> Option<usize> {
        self.shards
            .iter()
            .position(|s| s.replicas.iter().any(|r| r.id == id))
    }

    /// Number of slots each shard owns.
    pub fn slot_counts(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| {
                s.slot_ranges
                    .iter()
                    .map(|r| r.end as usize - r.start as usize + 1)
                    .sum()
            })
            .collect()
    }
}

impl Routes {
    /// Checks `topo` and builds its slot table.
    pub fn new(topo: Topology) -> Result<Routes, TopologyError> {
        let bad = |m: String| Err(TopologyError::Invalid(m));
        if topo.epoch == 0 {
            return bad("epoch must be at least 1".into());
        }
        if topo.shards.is_empty() {
            return bad("shards is empty: a cluster needs at least one shard".into());
        }
        let mut ids = std::collections::HashSet::new();
        for (i, s) in topo.shards.iter().enumerate() {
            for n in std::iter::once(&s.master).chain(&s.replicas) {
                if !valid_node_id(&n.id) {
                    return bad(format!(
                        "shards[{i}]: node id {:?} is not 1 to 64 letters, digits, '-' or '_'",
                        n.id
                    ));
                }
                if n.ip.is_empty() || n.port == 0 {
                    return bad(format!(
                        "shards[{i}]: node {} needs an ip and a port above 0",
                        n.id
                    ));
                }
                if !ids.insert(n.id.as_str()) {
                    return bad(format!("node id {} is listed twice", n.id));
                }
            }
        }
        let mut owner = vec![NONE; SLOTS].into_boxed_slice();
        let mut migrating_to = vec![NONE; SLOTS].into_boxed_slice();
        for (i, s) in topo.shards.iter().enumerate() {
            for r in &s.slot_ranges {
                check_range(i, r)?;
                for slot in r.start..=r.end {
                    let o = &mut owner[slot as usize];
                    if *o != NONE {
                        return bad(format!(
                            "slot {slot} is given to shards[{}] and shards[{i}]",
                            *o
                        ));
                    }
                    *o = i as u16;
                }
            }
        }
        for (i, s) in topo.shards.iter().enumerate() {
            for m in &s.migrations {
                let Some(target) = topo.shard_of(&m.node_id).filter(|&t| t != i) else {
                    return bad(format!(
                        "shards[{i}]: migration target {} is not the master of another shard",
                        m.node_id
                    ));
                };
                for r in &m.slot_ranges {
                    check_range(i, r)?;
                    for slot in r.start..=r.end {
                        if owner[slot as usize] != i as u16 {
                            return bad(format!(
                                "shards[{i}]: slot {slot} migrates but the shard does not own it"
                            ));
                        }
                        migrating_to[slot as usize] = target as u16;
                    }
                }
            }
        }
        Ok(Routes {
            topo,
            owner,
            migrating_to,
        })
    }

    /// The shard owning `slot`.
    pub fn owner(&self, slot: u16) -> Option<&Shard> {
        let o = self.owner[slot as usize];
        (o != NONE).then(|| &self.topo.shards[o as usize])
    }

    /// The shard `slot` is migrating to, if it is.
    pub fn migrating_to(&self, slot: u16) -> Option<&Shard> {
        let o = self.migrating_to[slot as usize];
        (o != NONE).then(|| &self.topo.shards[o as usize])
    }

    /// Slots assigned to a shard.
    pub fn assigned(&self) -> usize {
        self.owner.iter().filter(|&&o| o != NONE).count()
    }

    /// Shard `i`'s slots as sorted, merged inclusive ranges.
    pub fn ranges_of(&self, i: usize) -> Vec<(u16, u16)> {
        ranges_where(|slot| self.owner[slot] == i as u16)
    }

    /// Slots migrating from shard `from` to shard `to`, as ranges.
    pub fn migrating_ranges(&self, from: usize, to: usize) -> Vec<(u16, u16)> {
        ranges_where(|slot| self.owner[slot] == from as u16 && self.migrating_to[slot] == to as u16)
    }
}

fn check_range(i: usize, r: &SlotRange) -> Result<(), TopologyError> {
    if r.start > r.end || r.end as usize >= SLOTS {
        return Err(TopologyError::Invalid(format!(
            "shards[{i}]: slot range {}-{} is not within 0-{} with start <= end",
            r.start,
            r.end,
            SLOTS - 1
        )));
    }
    Ok(())
}

/// The slots where `f` holds, as sorted inclusive ranges.
pub fn ranges_where(f: impl Fn(usize) -> bool) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut start = None;
    for slot in 0..=SLOTS {
        let on = slot < SLOTS && f(slot);
        match (on, start) {
            (true, None) => start = Some(slot),
            (false, Some(s)) => {
                out.push((s as u16, (slot - 1) as u16));
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, port: u16) -> NodeAddr {
        NodeAddr {
            id: id.into(),
            ip: "127.0.0.1".into(),
            port,
        }
    }

    fn two_shards() -> Topology {
        Topology {
            epoch: 1,
            shards: vec![
                Shard {
                    slot_ranges: vec![SlotRange {
                        start: 0,
                        end: 8191,
                    }],
                    master: node("a", 7001),
                    replicas: vec![],
                    migrations: vec![],
                },
                Shard {
                    slot_ranges: vec![SlotRange {
                        start: 8192,
                        end: 16383,
                    }],
                    master: node("b", 7002),
                    replicas: vec![],
                    migrations: vec![],
                },
            ],
        }
    }

    #[test]
    fn a_configuration_round_trips_through_json() {
        let t = two_shards();
        assert_eq!(Topology::parse(t.to_json().as_bytes()).unwrap(), t);
        let r = Routes::new(t).unwrap();
        assert_eq!(r.owner(100).unwrap().master.id, "a");
        assert_eq!(r.owner(9000).unwrap().master.id, "b");
        assert_eq!(r.assigned(), SLOTS);
        assert_eq!(r.ranges_of(1), vec![(8192, 16383)]);
    }

    #[test]
    fn bad_configurations_are_refused_saying_why() {
        let mut t = two_shards();
        t.shards[1].slot_ranges[0].start = 8000;
        let e = Routes::new(t).unwrap_err().to_string();
        assert!(
            e.contains("slot 8000 is given to shards[0] and shards[1]"),
            "{e}"
        );
        let mut t = two_shards();
        t.shards[0].slot_ranges[0].end = 16384;
        assert!(Routes::new(t).is_err());
        let mut t = two_shards();
        t.shards[1].master.id = "a".into();
        assert!(Routes::new(t).unwrap_err().to_string().contains("twice"));
        let mut t = two_shards();
        t.epoch = 0;
        assert!(Routes::new(t).is_err());
        let mut t = two_shards();
        t.shards[0].migrations.push(Migration {
            slot_ranges: vec![SlotRange {
                start: 9000,
                end: 9000,
            }],
            node_id: "b".into(),
        });
        assert!(Routes::new(t)
            .unwrap_err()
            .to_string()
            .contains("does not own"));
        let e = Topology::parse(br#"{"epoch":1,"shards":[],"x":1}"#).unwrap_err();
        assert!(matches!(e, TopologyError::Json(_)), "{e}");
    }

    #[test]
    fn migrations_mark_their_slots() {
        let mut t = two_shards();
        t.shards[0].migrations.push(Migration {
            slot_ranges: vec![SlotRange { start: 10, end: 12 }],
            node_id: "b".into(),
        });
        let r = Routes::new(t).unwrap();
        assert_eq!(r.migrating_to(11).unwrap().master.id, "b");
        assert!(r.migrating_to(13).is_none());
        assert_eq!(r.migrating_ranges(0, 1), vec![(10, 12)]);
    }
}
