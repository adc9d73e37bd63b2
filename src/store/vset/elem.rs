//! One element's record in a vector set ([`Elem`]: its name, attributes, expiry and access
//! metadata) and the name table's hash of it.

use super::AccessMeta;

/// One live element: 48 bytes (`Option<Elem>` too), the part of an element's memory besides
/// its rows in the arrays and its name's bytes.
#[derive(Debug)]
pub(crate) struct Elem {
    pub name: Box<[u8]>,
    pub attrs: Attrs,
    /// Absolute expiry in ms; 0 = never.
    pub expires_at: u64,
    /// LRU tick and LFU counter; its tag is the low half of the name's hash
    /// ([`Elem::hash32`]), which is all the name table needs.
    pub meta: AccessMeta,
}

impl Elem {
    /// The low 32 bits of the element's name hash (`Store::hash`).
    pub fn hash32(&self) -> u32 {
        self.meta.tag()
    }
}

/// An element's JSON attributes in one word (most elements have none, and a `Box<str>` is
/// two): absent, or a non-empty string.
#[derive(Debug, Default)]
pub(crate) struct Attrs(Option<Box<Box<str>>>);

impl Attrs {
    /// `None` and the empty string are both "no attributes".
    pub fn new(a: Option<&str>) -> Self {
        Self(a.filter(|s| !s.is_empty()).map(|s| Box::new(s.into())))
    }

    /// [`Attrs::new`] of a string already on the heap (not copied).
    pub fn from_boxed(a: Option<Box<str>>) -> Self {
        Self(a.filter(|s| !s.is_empty()).map(Box::new))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref().map(|b| &**b)
    }

    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// Bytes of the string (0 when absent).
    pub fn len(&self) -> usize {
        self.as_deref().map_or(0, str::len)
    }
}

/// The name table's hash of an element, from the low half of its name hash (all an element
/// keeps), spread by an odd multiplier so the table's control bits (the top ones) vary too.
pub(crate) fn table_hash(hash: u64) -> u64 {
    u64::from(hash as u32).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
