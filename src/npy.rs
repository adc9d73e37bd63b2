//! NumPy `.npy` matrices: the one reader (format 1.x–3.x, little-endian, C order, `<f2`,
//! `<f4` or `<f8`, two dimensions, widened to f32) and a streaming `<f4` writer. Used by
//! `sutra-cache export --format npy` / `import`, and by the tests, benches and examples
//! (through `tests/support/npy.rs`) to load the embedding data sets.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// A `rows × dim` matrix, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns (the vector dimension).
    pub dim: usize,
    /// `rows * dim` values, row after row.
    pub values: Vec<f32>,
}

impl Matrix {
    /// Every row scaled to unit length (a zero row stays zero).
    pub fn normalised(mut self) -> Self {
        for row in self.values.chunks_exact_mut(self.dim.max(1)) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        self
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// A `.npy` file's dtype (`descr`, e.g. `<f2`), shape and data bytes, as stored.
#[derive(Clone, Debug)]
pub struct Raw {
    /// The dtype as NumPy writes it (`<f4`, `<f2`, …).
    pub descr: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The data bytes after the header.
    pub data: Vec<u8>,
}

/// Parses a `.npy` image (the whole file's bytes) without interpreting its data. `name`
/// prefixes every error (the file's path).
pub fn parse_raw(bytes: &[u8], name: &str) -> Result<Raw, String> {
    let at = |what: &str| format!("{name}: {what}");
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(at("not a .npy file (no \\x93NUMPY magic)"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(at(&format!("unsupported .npy format version {v}"))),
    };
    let header = start
        .checked_add(header_len)
        .and_then(|end| bytes.get(start..end))
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| at("short or non-text header"))?;
    if !header.contains("'fortran_order': False") {
        return Err(at(&format!(
            "not C order (save with np.ascontiguousarray): {}",
            header.trim_end()
        )));
    }
    let field = |name: &str| {
        header
            .split(name)
            .nth(1)
            .ok_or_else(|| at(&format!("no {name} in header")))
    };
    let descr = field("'descr': '")?
        .split('\'')
        .next()
        .unwrap_or("")
        .to_string();
    let shape = field("'shape': (")?
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|e| at(&format!("shape {s:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = bytes[start + header_len..].to_vec();
    Ok(Raw { descr, shape, data })
}

/// Reads a C-order `.npy` file without interpreting its data.
pub fn read_raw(path: &Path) -> Result<Raw, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("{}: dataset missing: {e}", path.display()))?;
    parse_raw(&bytes, &path.display().to_string())
}

/// A float matrix's layout from its header: bytes per value, rows, dim, data bytes.
struct Layout {
    width: usize,
    rows: usize,
    dim: usize,
    bytes: usize,
}

impl Layout {
    fn of(raw_descr: &str, shape: &[usize], name: &str) -> Result<Layout, String> {
        let at = |what: &str| format!("{name}: {what}");
        let width = match raw_descr {
            "<f2" => 2,
            "<f4" => 4,
            "<f8" => 8,
            other => {
                return Err(at(&format!(
                    "dtype {other}: expected little-endian float (<f2, <f4 or <f8)"
                )))
            }
        };
        let [rows, dim] = shape[..] else {
            return Err(at(&format!(
                "expected 2 dimensions (rows, dim), got {shape:?}"
            )));
        };
        let bytes = rows
            .checked_mul(dim)
            .and_then(|n| n.checked_mul(width))
            .ok_or_else(|| at(&format!("shape ({rows}, {dim}) is too large")))?;
        Ok(Layout {
            width,
            rows,
            dim,
            bytes,
        })
    }

    /// The error for `have` data bytes where the header promises `self.bytes`.
    fn size_error(&self, have: u64, descr: &str, name: &str) -> String {
        format!(
            "{name}: {have} data bytes for {} × {} of {descr}: truncated or padded",
            self.rows, self.dim
        )
    }

    /// Appends `data`'s values (whole values of this layout's width), widened to f32.
    fn widen(&self, data: &[u8], out: &mut Vec<f32>) {
        match self.width {
            2 => out.extend(
                data.chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
            4 => out.extend(
                data.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            _ => out.extend(
                data.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32),
            ),
        }
    }
}

/// The first `limit` rows (every row when 0) of the two-dimensional `<f2`, `<f4` or `<f8`
/// matrix in `raw`, as f32; the data must hold all the rows its header names.
pub fn matrix(raw: &Raw, limit: usize, name: &str) -> Result<Matrix, String> {
    let l = Layout::of(&raw.descr, &raw.shape, name)?;
    if raw.data.len() != l.bytes {
        return Err(l.size_error(raw.data.len() as u64, &raw.descr, name));
    }
    let rows = if limit == 0 {
        l.rows
    } else {
        limit.min(l.rows)
    };
    let mut values = Vec::with_capacity(rows * l.dim);
    l.widen(&raw.data[..rows * l.dim * l.width], &mut values);
    Ok(Matrix {
        rows,
        dim: l.dim,
        values,
    })
}

/// The first `limit` rows (every row when 0) of the matrix in `path`; see [`matrix`].
pub fn read(path: &Path, limit: usize) -> Result<Matrix, String> {
    matrix(&read_raw(path)?, limit, &path.display().to_string())
}

/// Reads a matrix in `path` row by row (for files too large to hold at once): `<f2`, `<f4`
/// or `<f8`, two dimensions, C order; the file's length must match its header.
pub struct RowReader {
    input: std::io::BufReader<File>,
    layout: Layout,
    /// Rows in the file.
    pub rows: usize,
    /// Values per row.
    pub dim: usize,
    read: usize,
    buf: Vec<u8>,
    name: String,
}

impl RowReader {
    /// Opens `path` and checks its header against its length.
    pub fn open(path: &Path) -> Result<RowReader, String> {
        use std::io::Read;
        let name = path.display().to_string();
        let at = |what: &str| format!("{name}: {what}");
        let mut f = File::open(path).map_err(|e| at(&e.to_string()))?;
        let len = f.metadata().map_err(|e| at(&e.to_string()))?.len();
        let mut head = [0u8; 12];
        let n = f.read(&mut head).map_err(|e| at(&e.to_string()))?;
        let (header_len, start) = match (n, head.get(6)) {
            (10.., Some(1)) => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
            (12.., Some(2 | 3)) => (
                u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
                12,
            ),
            _ => (0, 0),
        };
        let mut image = vec![0u8; (start + header_len).min(1 << 20)];
        f.seek(SeekFrom::Start(0)).map_err(|e| at(&e.to_string()))?;
        f.read_exact(&mut image)
            .map_err(|_| at("not a .npy file (short header)"))?;
        let raw = parse_raw(&image, &name)?;
        let layout = Layout::of(&raw.descr, &raw.shape, &name)?;
        let head = (start + header_len) as u64;
        if len != head + layout.bytes as u64 {
            return Err(layout.size_error(len.saturating_sub(head), &raw.descr, &name));
        }
        Ok(RowReader {
            input: std::io::BufReader::with_capacity(1 << 20, f),
            rows: layout.rows,
            dim: layout.dim,
            buf: vec![0; layout.dim * layout.width],
            layout,
            read: 0,
            name,
        })
    }

    /// The next row into `out` (replacing its contents); `false` after the last one.
    pub fn next_row(&mut self, out: &mut Vec<f32>) -> Result<bool, String> {
        use std::io::Read;
        if self.read == self.rows {
            return Ok(false);
        }
        self.input
            .read_exact(&mut self.buf)
            .map_err(|e| format!("{}: row {}: {e}", self.name, self.read))?;
        out.clear();
        self.layout.widen(&self.buf, out);
        self.read += 1;
        Ok(true)
    }
}

/// Room for the header (magic, version, length, dict, padding): any `(rows, dim)` pair of
/// u64s fits, so [`Writer::finish`] rewrites it in place.
const HEADER_BYTES: usize = 128;

/// Writes a `<f4` `rows × dim` matrix row by row without knowing `rows` in advance: the
/// header is written with room to spare and rewritten with the final count by
/// [`finish`](Writer::finish). A writer dropped without `finish` leaves a file whose header
/// says 0 rows.
pub struct Writer {
    out: BufWriter<File>,
    dim: usize,
    rows: u64,
}

fn header(rows: u64, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    let len = HEADER_BYTES - 10;
    h.extend_from_slice(&(len as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(HEADER_BYTES - 1, b' ');
    h.push(b'\n');
    h
}

impl Writer {
    /// Creates (or truncates) `path` for a matrix of `dim` columns.
    pub fn create(path: &Path, dim: usize) -> Result<Writer, String> {
        let f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = BufWriter::new(f);
        out.write_all(&header(0, dim))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Writer { out, dim, rows: 0 })
    }

    /// Appends one row; it must have `dim` values.
    pub fn push(&mut self, row: &[f32]) -> std::io::Result<()> {
        if row.len() != self.dim {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "row of {} values in a matrix of dim {}",
                    row.len(),
                    self.dim
                ),
            ));
        }
        for x in row {
            self.out.write_all(&x.to_le_bytes())?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the header with the final row count and flushes.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.out.flush()?;
        let mut f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header(self.rows, self.dim))?;
        f.sync_data().ok();
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_matrix_reads_back_bit_for_bit_and_its_header_is_numpys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npy");
        let mut w = Writer::create(&p, 3).unwrap();
        w.push(&[1.0, -2.5, f32::MIN_POSITIVE]).unwrap();
        w.push(&[0.0, 3.25, 1e30]).unwrap();
        assert!(w.push(&[1.0]).is_err(), "a short row is refused");
        assert_eq!(w.finish().unwrap(), 2);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), HEADER_BYTES + 2 * 3 * 4);
        assert_eq!(bytes[HEADER_BYTES - 1], b'\n');
        let m = read(&p, 0).unwrap();
        assert_eq!((m.rows, m.dim), (2, 3));
        assert_eq!(
            m.values,
            vec![1.0, -2.5, f32::MIN_POSITIVE, 0.0, 3.25, 1e30]
        );
        assert_eq!(
            read(&p, 1).unwrap().values,
            vec![1.0, -2.5, f32::MIN_POSITIVE]
        );
        let mut r = RowReader::open(&p).unwrap();
        assert_eq!((r.rows, r.dim), (2, 3));
        let mut row = Vec::new();
        assert!(r.next_row(&mut row).unwrap());
        assert_eq!(row, vec![1.0, -2.5, f32::MIN_POSITIVE]);
        assert!(r.next_row(&mut row).unwrap());
        assert_eq!(row, vec![0.0, 3.25, 1e30]);
        assert!(!r.next_row(&mut row).unwrap());
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        let e = RowReader::open(&p).err().unwrap();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn damaged_or_foreign_files_are_refused_with_the_reason() {
        let raw = |descr: &str, shape: &str, data: &[u8]| {
            let dict =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            b.extend_from_slice(dict.as_bytes());
            b.extend_from_slice(data);
            b
        };
        let e = |b: &[u8]| match parse_raw(b, "x.npy").and_then(|r| matrix(&r, 0, "x.npy")) {
            Ok(_) => String::new(),
            Err(e) => e,
        };
        assert!(e(b"hello").contains("not a .npy file"));
        assert!(e(&raw("<i4", "(1, 1)", &[0; 4])).contains("dtype <i4"));
        assert!(e(&raw("<f4", "(3,)", &[0; 12])).contains("expected 2 dimensions"));
        assert!(e(&raw("<f4", "(2, 2)", &[0; 12])).contains("truncated"));
        assert!(e(&raw("<f4", "(4611686018427387904, 8)", &[])).contains("too large"));
        let f8 = raw(
            "<f8",
            "(1, 2)",
            &[0.5f64.to_le_bytes(), 2f64.to_le_bytes()].concat(),
        );
        assert_eq!(e(&f8), "");
        let mut fortran = raw("<f4", "(1, 1)", &[0; 4]);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(e(&fortran).contains("not C order"));
    }
}
