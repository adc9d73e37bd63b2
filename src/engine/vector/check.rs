//! Input checks shared by the vector-set calls, and locating one element.

use crate::engine::api::Engine;
use crate::error::{Error, Result};
use crate::store::{EntryRef, ShardData, Value};

impl Engine {
    pub(super) fn check_element(&self, element: &[u8]) -> Result<()> {
        let limit = self.cfg.limits.max_element_bytes;
        if element.len() > limit {
            return Err(Error::TooLarge {
                arg: "element",
                len: element.len(),
                limit,
            });
        }
        Ok(())
    }

    pub(super) fn check_vector(&self, v: &[f32]) -> Result<()> {
        if v.is_empty() {
            return Err(Error::invalid("vector", "at least one component"));
        }
        let max = self.cfg.limits.max_dim;
        if v.len() > max {
            return Err(Error::invalid(
                "vector",
                format!("a dimension of at most {max}, got {}", v.len()),
            ));
        }
        // Branch-free first (vectorizes: an exponent of all ones is NaN or ±Inf), then find
        // the culprit only on the error path.
        let non_finite = v.iter().fold(false, |bad, x| {
            bad | (x.to_bits() & 0x7f80_0000 == 0x7f80_0000)
        });
        if !non_finite {
            return Ok(());
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "vector",
                format!("finite values, got {} at index {i}", v[i]),
            ));
        }
        Ok(())
    }

    pub(super) fn check_attrs(&self, json: &str) -> Result<()> {
        let limit = self.cfg.limits.max_attributes_bytes;
        if json.len() > limit {
            return Err(Error::TooLarge {
                arg: "attributes",
                len: json.len(),
                limit,
            });
        }
        // Any string is stored as given, as Redis does; FILTER reads it as JSON and an
        // element whose attributes are not a JSON object matches no expression.
        Ok(())
    }
}

pub(super) fn find_elem(
    store: &crate::store::Store,
    data: &ShardData,
    h: u64,
    key: &[u8],
    element: &[u8],
) -> Option<EntryRef> {
    let slot = data.find(h, key)?;
    let Value::VSet(set) = &data.entry(slot)?.value else {
        return None;
    };
    let s = set.find(store.hash(element), element)?;
    Some(EntryRef { key: slot, elem: s })
}
