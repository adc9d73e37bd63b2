//! A growable array made of an optional head — a private (copy-on-write) mapping of a
//! snapshot section, so restart maps vectors instead of reading them — and a heap tail that
//! takes everything appended after the restart. Rows never straddle the two parts (the head
//! holds whole rows), so a row is always one contiguous slice. Writing into the head changes
//! only the pages written; growing never copies the head.

use bytemuck::Pod;

use crate::snapshot::MappedArray;

/// The page size [`Arena::page_in`] steps by (a smaller real page only means fewer touched).
const PAGE_BYTES: usize = 4096;

pub(crate) struct Arena<T: Pod> {
    head: Option<(MappedArray, usize)>,
    tail: Vec<T>,
}

impl<T: Pod> Default for Arena<T> {
    fn default() -> Self {
        Self {
            head: None,
            tail: Vec::new(),
        }
    }
}

impl<T: Pod> std::fmt::Debug for Arena<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Arena(head {}, tail {})",
            self.head_len(),
            self.tail.len()
        )
    }
}

impl<T: Pod> Arena<T> {
    /// Wraps a mapped section of exactly `len` elements; copies it to the heap when the
    /// mapping is not aligned for `T`. `None` when the section is too short (never panics
    /// on a file's content).
    pub fn from_mapped(map: MappedArray, len: usize) -> Option<Self> {
        let need = len.checked_mul(std::mem::size_of::<T>())?;
        let bytes = map.bytes();
        if bytes.len() < need {
            return None;
        }
        if bytemuck::try_cast_slice::<u8, T>(&bytes[..need]).is_ok() {
            Some(Self {
                head: Some((map, len)),
                tail: Vec::new(),
            })
        } else {
            let tail = bytes[..need]
                .chunks_exact(std::mem::size_of::<T>())
                .map(bytemuck::pod_read_unaligned)
                .collect();
            Some(Self { head: None, tail })
        }
    }

    fn head_len(&self) -> usize {
        self.head.as_ref().map_or(0, |h| h.1)
    }

    fn head(&self) -> &[T] {
        match &self.head {
            Some((map, len)) => {
                let need = len * std::mem::size_of::<T>();
                bytemuck::try_cast_slice(&map.bytes()[..need]).unwrap_or(&[])
            }
            None => &[],
        }
    }

    fn head_mut(&mut self) -> &mut [T] {
        match &mut self.head {
            Some((map, len)) => {
                let need = *len * std::mem::size_of::<T>();
                bytemuck::try_cast_slice_mut(&mut map.bytes_mut()[..need]).unwrap_or(&mut [])
            }
            None => &mut [],
        }
    }

    /// Pages in elements `start..start + n` where they lie in the mapped head: asks the
    /// kernel to read them ahead, then reads one byte of every page, so later reads find the
    /// pages mapped (the heap tail is resident already). Returns the head bytes covered.
    pub fn page_in(&self, start: usize, n: usize) -> usize {
        let h = self.head_len();
        let end = start.saturating_add(n).min(h);
        let Some((map, _)) = &self.head else { return 0 };
        if start >= end {
            return 0;
        }
        let size = std::mem::size_of::<T>();
        let (a, b) = (start * size, end * size);
        map.will_need(a, b - a);
        let bytes = map.bytes();
        let mut sum = 0u8;
        let mut i = a - a % PAGE_BYTES;
        while i < b {
            sum ^= bytes[i];
            i += PAGE_BYTES;
        }
        std::hint::black_box(sum);
        b - a
    }

    /// Elements in the mapped head.
    pub fn mapped_len(&self) -> usize {
        self.head_len()
    }

    /// Elements `start..start + n` (a row; rows never straddle head and tail).
    pub fn row(&self, start: usize, n: usize) -> &[T] {
        let h = self.head_len();
        if start + n <= h {
            &self.head()[start..start + n]
        } else if start >= h {
            self.tail.get(start - h..start - h + n).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// Mutable row.
    pub fn row_mut(&mut self, start: usize, n: usize) -> &mut [T] {
        let h = self.head_len();
        if start + n <= h {
            &mut self.head_mut()[start..start + n]
        } else if start >= h {
            self.tail
                .get_mut(start - h..start - h + n)
                .unwrap_or(&mut [])
        } else {
            &mut []
        }
    }

    /// One element (zero when out of range).
    pub fn get(&self, i: usize) -> T {
        self.row(i, 1).first().copied().unwrap_or_else(T::zeroed)
    }

    /// Sets one element (ignored when out of range).
    pub fn set(&mut self, i: usize, x: T) {
        if let Some(e) = self.row_mut(i, 1).first_mut() {
            *e = x;
        }
    }

    pub fn len(&self) -> usize {
        self.head_len() + self.tail.len()
    }

    /// Room for `n` more elements in the heap tail, where memory allows (nothing is
    /// touched: the pages are faulted in as rows are written).
    pub fn reserve(&mut self, n: usize) {
        let _ = self.tail.try_reserve(n);
    }

    /// Appends `n` zeroed elements.
    pub fn extend_zeroed(&mut self, n: usize) {
        self.tail.resize(self.tail.len() + n, T::zeroed());
    }

    pub fn push(&mut self, x: T) {
        self.tail.push(x);
    }

    /// Keeps the first `len` elements (never fewer than the mapped head holds), giving the
    /// heap tail's memory back once it uses less than half of it.
    pub fn truncate(&mut self, len: usize) {
        let h = self.head_len();
        self.tail.truncate(len.saturating_sub(h));
        super::vset::shrink_half_empty(&mut self.tail);
    }

    /// The elements as little-endian bytes (the snapshot's layout on little-endian hosts),
    /// head then tail.
    pub fn byte_parts(&self) -> [&[u8]; 2] {
        [
            bytemuck::cast_slice(self.head()),
            bytemuck::cast_slice(&self.tail),
        ]
    }
}
