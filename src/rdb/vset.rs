//! Redis 8's vector set as its module type serializes it (`vset.c`'s `VectorSetRdbSave` /
//! `VectorSetRdbLoad`, and `hnsw.c`'s `hnsw_serialize_node` / `hnsw_insert_serialized` /
//! `hnsw_deserialize_index` for each node's graph), checked as Redis checks it before a
//! set is built: a payload Redis refuses is refused here.
//!
//! The module value is a sequence of tagged items (`2` an unsigned integer, `5` a string)
//! ended by `0`:
//! ```text
//! uint dim · uint count · uint (quant | M << 8) · uint flags (1 projection, 2 attributes)
//! [uint input_dim · string matrix (input_dim × dim f32)]          when flags & 1
//! count × ( string name · [string attributes ("" for none)]     when flags & 2
//!           string vector (f32 × dim | i8 × dim | ⌈dim/64⌉ × 8 bit bytes)
//!           uint n · n × uint params )
//! ```
//! Params: the node id; `version << 24 | level`; per level `num_links`, `max_links`, the
//! linked ids, and (version 1) `worst_distance_bits << 32 | worst_idx`; last
//! `range_bits << 32 | l2_bits`.

use super::{bad, put_len, put_string, Error, Reader};

/// Redis's quantization types (`hnsw.h`).
pub const QUANT_F32: u32 = 0;
/// INT8 codes of the unit vector with its range.
pub const QUANT_Q8: u32 = 1;
/// One sign bit per component.
pub const QUANT_BIN: u32 = 2;

const OPCODE_EOF: u64 = 0;
const OPCODE_UINT: u64 = 2;
const OPCODE_STRING: u64 = 5;
const FLAG_PROJECTION: u64 = 1;
const FLAG_ATTRIBUTES: u64 = 2;
/// `hnsw.c`'s `HNSW_MAX_LEVEL`: a node's level is below it.
pub const MAX_LEVEL: usize = 16;
const SERIALIZATION_VERSION: u64 = 1;

/// The module type id of Redis's `vectorset` type at encoding version 0 (Redis's
/// `moduleTypeEncodeId`: nine 6-bit characters, then 10 bits of version).
pub fn module_type_id() -> u64 {
    const CHARSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = 0u64;
    for c in b"vectorset" {
        let pos = CHARSET.iter().position(|x| x == c).unwrap_or(0) as u64;
        id = (id << 6) | pos;
    }
    id << 10
}

/// A vector set as the payload holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct VSet {
    /// Dimension of the stored vectors (after a projection).
    pub dim: u32,
    /// [`QUANT_F32`], [`QUANT_Q8`] or [`QUANT_BIN`].
    pub quant: u32,
    /// HNSW M.
    pub m: u32,
    /// Input dimension of the set's projection (Redis's REDUCE); 0 for none.
    pub projection_input: u32,
    /// The projection matrix (`dim × projection_input`, row-major), when there is one.
    pub matrix: Vec<f32>,
    /// The elements, in the payload's order.
    pub nodes: Vec<VSetNode>,
}

/// One element and its graph node.
#[derive(Clone, Debug, PartialEq)]
pub struct VSetNode {
    /// The element's name.
    pub name: Vec<u8>,
    /// Its attributes; `None` for none.
    pub attrs: Option<Vec<u8>>,
    /// The stored vector in Redis's form for the set's quantization (see [`VSet::quant`]).
    pub vector: Vec<u8>,
    /// L2 norm of the vector added.
    pub l2: f32,
    /// Q8's range (the unit vector's largest absolute component); 0 otherwise.
    pub range: f32,
    /// The node's id in the graph.
    pub id: u64,
    /// Linked node ids per level, level 0 first (so the node's level is `len − 1`).
    pub links: Vec<Vec<u64>>,
}

fn vector_bytes(quant: u32, dim: usize) -> usize {
    match quant {
        QUANT_Q8 => dim,
        QUANT_BIN => dim.div_ceil(64) * 8,
        _ => dim * 4,
    }
}

/// The unit vector a node's stored bytes stand for (what distances are computed on).
pub fn unit_vector(quant: u32, dim: usize, node: &VSetNode) -> Vec<f32> {
    match quant {
        QUANT_Q8 => node
            .vector
            .iter()
            .map(|&q| f32::from(q as i8) * node.range / 127.0)
            .collect(),
        QUANT_BIN => {
            let s = 1.0 / (dim as f32).sqrt();
            (0..dim)
                .map(|j| {
                    if node.vector[j / 8] >> (j % 8) & 1 == 1 {
                        s
                    } else {
                        -s
                    }
                })
                .collect()
        }
        _ => node
            .vector
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    (1.0 - dot).clamp(0.0, 2.0)
}

fn tag_uint(w: &mut Vec<u8>, v: u64) {
    put_len(w, OPCODE_UINT);
    put_len(w, v);
}

fn tag_string(w: &mut Vec<u8>, s: &[u8]) {
    put_len(w, OPCODE_STRING);
    put_string(w, s);
}

/// Writes the module value (after the type byte). The graph written is reciprocal, as
/// Redis's loader demands: each node's links are kept in their order while both ends have
/// room (`2·M` links at level 0, `M` above, Redis's own caps), and a link is written in
/// both directions; levels above Redis's [`MAX_LEVEL`] are left out.
pub(super) fn write(w: &mut Vec<u8>, set: &VSet) {
    put_len(w, module_type_id());
    tag_uint(w, u64::from(set.dim));
    tag_uint(w, set.nodes.len() as u64);
    tag_uint(
        w,
        u64::from(set.quant & 0xff) | (u64::from(set.m & 0xffff) << 8),
    );
    let has_attrs = set.nodes.iter().any(|n| n.attrs.is_some());
    let mut flags = 0;
    if set.projection_input > 0 {
        flags |= FLAG_PROJECTION;
    }
    if has_attrs {
        flags |= FLAG_ATTRIBUTES;
    }
    tag_uint(w, flags);
    if set.projection_input > 0 {
        tag_uint(w, u64::from(set.projection_input));
        let bytes: Vec<u8> = set.matrix.iter().flat_map(|x| x.to_le_bytes()).collect();
        tag_string(w, &bytes);
    }
    let dim = set.dim as usize;
    let index: hashbrown::HashMap<u64, usize> = set
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id, i))
        .collect();
    let levels: Vec<usize> = set
        .nodes
        .iter()
        .map(|n| n.links.len().clamp(1, MAX_LEVEL))
        .collect();
    // Reciprocal links per node per level, in the order they were offered.
    let mut kept: Vec<Vec<Vec<usize>>> = levels.iter().map(|&l| vec![Vec::new(); l]).collect();
    let m = set.m.max(1) as usize;
    for (a, node) in set.nodes.iter().enumerate() {
        for (l, list) in node.links.iter().enumerate().take(levels[a]) {
            let cap = if l == 0 { 2 * m } else { m };
            for id in list {
                let Some(&b) = index.get(id) else { continue };
                if b == a || levels[b] <= l || kept[a][l].contains(&b) {
                    continue;
                }
                if kept[a][l].len() < cap && kept[b][l].len() < cap {
                    kept[a][l].push(b);
                    kept[b][l].push(a);
                }
            }
        }
    }
    let units: Vec<Vec<f32>> = set
        .nodes
        .iter()
        .map(|n| unit_vector(set.quant, dim, n))
        .collect();
    for (a, node) in set.nodes.iter().enumerate() {
        tag_string(w, &node.name);
        if has_attrs {
            tag_string(w, node.attrs.as_deref().unwrap_or(b""));
        }
        tag_string(w, &node.vector);
        let mut params = vec![
            node.id,
            (SERIALIZATION_VERSION << 24) | (levels[a] as u64 - 1),
        ];
        for (l, list) in kept[a].iter().enumerate() {
            let cap = if l == 0 { 2 * m } else { m };
            params.push(list.len() as u64);
            params.push(cap as u64);
            params.extend(list.iter().map(|&b| set.nodes[b].id));
            let (mut worst_idx, mut worst) = (0u64, 0f32);
            for (i, &b) in list.iter().enumerate() {
                let d = distance(&units[a], &units[b]);
                if d > worst {
                    (worst_idx, worst) = (i as u64, d);
                }
            }
            params.push(u64::from(worst.to_bits()) << 32 | worst_idx);
        }
        params.push(u64::from(node.range.to_bits()) << 32 | u64::from(node.l2.to_bits()));
        tag_uint(w, params.len() as u64);
        for p in params {
            tag_uint(w, p);
        }
    }
    put_len(w, OPCODE_EOF);
}

fn uint(r: &mut Reader<'_>) -> Result<u64, Error> {
    if r.len()? != OPCODE_UINT {
        return Err(bad("expected an unsigned integer in the module value"));
    }
    r.len()
}

fn string(r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
    if r.len()? != OPCODE_STRING {
        return Err(bad("expected a string in the module value"));
    }
    r.string()
}

fn u32_of(v: u64, what: &str) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| bad(format!("{what} out of range")))
}

/// Reads and checks the module value (after the type byte).
pub(super) fn read(r: &mut Reader<'_>) -> Result<VSet, Error> {
    let id = r.len()?;
    if id >> 10 != module_type_id() >> 10 {
        return Err(bad("a module value of another module type than vectorset"));
    }
    if id & 1023 != 0 {
        return Err(bad("vectorset encoding version is not 0"));
    }
    let dim = u32_of(uint(r)?, "dimension")?;
    let count = uint(r)?;
    let config = uint(r)?;
    let quant = (config & 0xff) as u32;
    let mut m = ((config >> 8) & 0xffff) as u32;
    if !matches!(quant, QUANT_F32 | QUANT_Q8 | QUANT_BIN) {
        return Err(bad("unknown quantization type"));
    }
    if m == 0 {
        m = 16;
    }
    if dim == 0 {
        return Err(bad("vector set of dimension 0"));
    }
    if count == 0 {
        return Err(bad("empty vector set"));
    }
    let flags = uint(r)?;
    let (mut projection_input, mut matrix) = (0u32, Vec::new());
    if flags & FLAG_PROJECTION != 0 {
        projection_input = u32_of(uint(r)?, "projection input dimension")?;
        let blob = string(r)?;
        let want = (projection_input as usize)
            .checked_mul(dim as usize)
            .and_then(|n| n.checked_mul(4));
        if projection_input == 0 || want != Some(blob.len()) {
            return Err(bad("projection matrix of the wrong size"));
        }
        matrix = blob
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
    }
    let has_attrs = flags & FLAG_ATTRIBUTES != 0;
    let vbytes = vector_bytes(quant, dim as usize);
    let mut nodes = Vec::new();
    let mut names = hashbrown::HashSet::new();
    for _ in 0..count {
        let name = string(r)?;
        let attrs = if has_attrs {
            Some(string(r)?).filter(|a| !a.is_empty())
        } else {
            None
        };
        let vector = string(r)?;
        if vector.len() != vbytes {
            return Err(bad("mismatching vector dimension"));
        }
        let n = uint(r)?;
        let mut params = Vec::new();
        for _ in 0..n {
            params.push(uint(r)?);
        }
        let node = node_from_params(name, attrs, vector, &params, m)?;
        if !names.insert(node.name.clone()) {
            return Err(bad("duplicate element name"));
        }
        nodes.push(node);
    }
    if r.len()? != OPCODE_EOF {
        return Err(bad("module value not ended by its EOF opcode"));
    }
    check_graph(&nodes)?;
    Ok(VSet {
        dim,
        quant,
        m,
        projection_input,
        matrix,
        nodes,
    })
}

/// `hnsw_insert_serialized`'s checks of one node's params.
fn node_from_params(
    name: Vec<u8>,
    attrs: Option<Vec<u8>>,
    vector: Vec<u8>,
    params: &[u64],
    m: u32,
) -> Result<VSetNode, Error> {
    if params.len() < 2 {
        return Err(bad("node index loading error"));
    }
    let id = params[0];
    let level = (params[1] & 0xff) as usize;
    let version = (params[1] & 0xff00_0000) >> 24;
    if version > SERIALIZATION_VERSION || level >= MAX_LEVEL {
        return Err(bad("node index loading error"));
    }
    let worst_info = usize::from(version > 0);
    let mut links = Vec::with_capacity(level + 1);
    let mut p = 2;
    for l in 0..=level {
        if p + 2 + worst_info > params.len() {
            return Err(bad("node index loading error"));
        }
        let num = params[p];
        let max = params[p + 1];
        p += 2;
        let cap = u64::from(m) * if l == 0 { 3 } else { 2 };
        if num > max || max > cap {
            return Err(bad("node index loading error"));
        }
        let num = num as usize;
        if p + num + worst_info > params.len() {
            return Err(bad("node index loading error"));
        }
        links.push(params[p..p + num].to_vec());
        p += num;
        if worst_info == 1 {
            let worst_idx = params[p] & 0xffff_ffff;
            p += 1;
            if num > 0 && worst_idx >= num as u64 {
                return Err(bad("node index loading error"));
            }
        }
    }
    let Some(&l2_range) = params.get(p) else {
        return Err(bad("node index loading error"));
    };
    let l2 = f32::from_bits(l2_range as u32);
    let range = f32::from_bits((l2_range >> 32) as u32);
    if !l2.is_finite() || l2 < 0.0 || !range.is_finite() {
        return Err(bad("node norm or range is not a finite number"));
    }
    Ok(VSetNode {
        name,
        attrs,
        vector,
        l2,
        range,
        id,
        links,
    })
}

/// `hnsw_deserialize_index`'s checks: unique ids; links to existing nodes of a high
/// enough level, never to the node itself, never twice; every link reciprocated.
fn check_graph(nodes: &[VSetNode]) -> Result<(), Error> {
    let mut by_id = hashbrown::HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if by_id.insert(n.id, i).is_some() {
            return Err(bad("duplicate HNSW node id"));
        }
    }
    let mut edges = hashbrown::HashSet::new();
    for n in nodes {
        for (l, list) in n.links.iter().enumerate() {
            for &to in list {
                if to == n.id {
                    return Err(bad("a node linked to itself"));
                }
                let Some(&t) = by_id.get(&to) else {
                    return Err(bad("a link to a missing node"));
                };
                if nodes[t].links.len() <= l {
                    return Err(bad("a link to a node below its level"));
                }
                if !edges.insert((n.id, to, l)) {
                    return Err(bad("a duplicated link"));
                }
            }
        }
    }
    for &(a, b, l) in &edges {
        if !edges.contains(&(b, a, l)) {
            return Err(bad("a link that is not reciprocal"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{decode, encode, Value};
    use super::*;

    fn f32_node(name: &str, id: u64, v: [f32; 2], links: Vec<Vec<u64>>) -> VSetNode {
        VSetNode {
            name: name.into(),
            attrs: None,
            vector: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            l2: 1.0,
            range: 0.0,
            id,
            links,
        }
    }

    #[test]
    fn the_module_type_id_is_redis_vectorset_at_version_0() {
        assert_eq!(module_type_id(), 0xbde7_2da2_bb1e_b400);
    }

    #[test]
    fn a_set_round_trips_with_a_reciprocal_graph() {
        let set = VSet {
            dim: 2,
            quant: QUANT_F32,
            m: 16,
            projection_input: 0,
            matrix: Vec::new(),
            nodes: vec![
                f32_node("a", 1, [1.0, 0.0], vec![vec![2, 3]]),
                // Node 2 offers no link back: the writer adds it.
                f32_node("b", 2, [0.0, 1.0], vec![vec![]]),
                f32_node("c", 3, [0.6, 0.8], vec![vec![1], vec![]]),
            ],
        };
        let Value::VSet(back) = decode(&encode(&Value::VSet(set.clone()))).unwrap() else {
            panic!("not a set")
        };
        assert_eq!(back.nodes.len(), 3);
        assert_eq!(back.nodes[0].links, vec![vec![2, 3]]);
        assert_eq!(back.nodes[1].links, vec![vec![1]]);
        // c's level 1 has no partner at that level.
        assert_eq!(back.nodes[2].links, vec![vec![1], vec![]]);
    }

    #[test]
    fn duplicate_ids_one_way_links_and_empty_sets_are_refused() {
        let mut set = VSet {
            dim: 2,
            quant: QUANT_F32,
            m: 16,
            projection_input: 0,
            matrix: Vec::new(),
            nodes: vec![f32_node("a", 1, [1.0, 0.0], vec![vec![]])],
        };
        let good = encode(&Value::VSet(set.clone()));
        assert!(decode(&good).is_ok());
        set.nodes.push(f32_node("b", 1, [0.0, 1.0], vec![vec![]]));
        assert!(matches!(
            decode(&encode(&Value::VSet(set.clone()))),
            Err(Error::BadFormat(_))
        ));
        set.nodes.clear();
        assert!(matches!(
            decode(&encode(&Value::VSet(set))),
            Err(Error::BadFormat(_))
        ));
        let mut nodes = [
            f32_node("a", 1, [1.0, 0.0], vec![vec![2]]),
            f32_node("b", 2, [0.0, 1.0], vec![vec![]]),
        ];
        assert!(check_graph(&nodes).is_err());
        nodes[1].links = vec![vec![1]];
        assert!(check_graph(&nodes).is_ok());
        nodes[1].links = vec![vec![1, 1]];
        assert!(check_graph(&nodes).is_err());
    }

    #[test]
    fn oversized_max_links_and_levels_are_refused() {
        let vec0 = [0u8; 8];
        let node = |params: &[u64]| node_from_params(b"x".to_vec(), None, vec0.to_vec(), params, 4);
        let l2 = u64::from(1f32.to_bits());
        assert!(node(&[1, 1 << 24, 0, 12, 0, l2]).is_ok());
        assert!(node(&[1, 1 << 24, 0, 13, 0, l2]).is_err());
        assert!(node(&[1, 1 << 24 | 1, 0, 8, 0, 0, 8, 0, l2]).is_ok());
        assert!(node(&[1, 1 << 24 | 1, 0, 8, 0, 0, 9, 0, l2]).is_err());
        assert!(node(&[1, 1 << 24 | 16, 0, 8, 0, l2]).is_err());
        assert!(node(&[1, 2 << 24, 0, 8, 0, l2]).is_err());
        assert!(node(&[1, 1 << 24, 1, 8, 7, 5, l2]).is_err());
        assert!(node(&[1, 1 << 24, 0, 8, 0]).is_err());
    }
}
