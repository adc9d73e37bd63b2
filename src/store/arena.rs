//! A growable array that is either on the heap or a private mapping of a snapshot section
//! (copy-on-write: restart maps vectors instead of reading them). Growing a mapped arena
//! moves it to the heap once.

use bytemuck::Pod;

use crate::snapshot::MappedArray;

pub(crate) enum Arena<T: Pod> {
    Heap(Vec<T>),
    Mapped { map: MappedArray, len: usize },
}

impl<T: Pod> Default for Arena<T> {
    fn default() -> Self {
        Arena::Heap(Vec::new())
    }
}

impl<T: Pod> std::fmt::Debug for Arena<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arena::Heap(v) => write!(f, "Arena::Heap({})", v.len()),
            Arena::Mapped { len, .. } => write!(f, "Arena::Mapped({len})"),
        }
    }
}

impl<T: Pod> Arena<T> {
    /// Wraps a mapped section of exactly `len` elements; copies it to the heap when the
    /// mapping is not aligned for `T` or is too short (never panics on a file's content).
    pub fn from_mapped(map: MappedArray, len: usize) -> Option<Self> {
        let need = len.checked_mul(std::mem::size_of::<T>())?;
        let bytes = map.bytes();
        if bytes.len() < need {
            return None;
        }
        if bytemuck::try_cast_slice::<u8, T>(&bytes[..need]).is_ok() {
            Some(Arena::Mapped { map, len })
        } else {
            let v = bytes[..need]
                .chunks_exact(std::mem::size_of::<T>())
                .map(bytemuck::pod_read_unaligned)
                .collect();
            Some(Arena::Heap(v))
        }
    }

    pub fn as_slice(&self) -> &[T] {
        match self {
            Arena::Heap(v) => v,
            Arena::Mapped { map, len } => {
                let need = len * std::mem::size_of::<T>();
                bytemuck::try_cast_slice(&map.bytes()[..need]).unwrap_or(&[])
            }
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Arena::Heap(v) => v,
            Arena::Mapped { map, len } => {
                let need = *len * std::mem::size_of::<T>();
                bytemuck::try_cast_slice_mut(&mut map.bytes_mut()[..need]).unwrap_or(&mut [])
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Arena::Heap(v) => v.len(),
            Arena::Mapped { len, .. } => *len,
        }
    }

    fn heap(&mut self) -> &mut Vec<T> {
        if let Arena::Mapped { .. } = self {
            let s = self.as_slice();
            let mut v = Vec::with_capacity(s.len() * 2);
            v.extend_from_slice(s);
            *self = Arena::Heap(v);
        }
        match self {
            Arena::Heap(v) => v,
            Arena::Mapped { .. } => unreachable!("converted above"),
        }
    }

    /// Appends `n` zeroed elements.
    pub fn extend_zeroed(&mut self, n: usize) {
        let v = self.heap();
        v.resize(v.len() + n, T::zeroed());
    }

    pub fn push(&mut self, x: T) {
        self.heap().push(x);
    }

    /// The elements as little-endian bytes (the snapshot's layout on little-endian hosts).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self.as_slice())
    }
}
