//! The one `.npy` reader of the tests, benches and examples (dev-only; each includes it with
//! `#[path = ".../tests/support/npy.rs"] mod npy;`): format 1.x or 2.x, little-endian,
//! C order, `<f2` or `<f4`, two dimensions, widened to f32.
#![allow(dead_code)] // each includer uses what it needs

use std::path::{Path, PathBuf};

/// A `rows × dim` matrix, row-major.
pub struct Matrix {
    pub rows: usize,
    pub dim: usize,
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
}

/// The directory of the full data sets: `$SUTRA_DATA_DIR` when set (CI points it at an empty
/// directory to prove the tests pass without them), else `../shared/data` next to the
/// repository.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("SUTRA_DATA_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
}

/// The path of `name` in the full minilm-wordnet data set (`<data_dir>/minilm-wordnet`).
pub fn minilm(name: &str) -> PathBuf {
    data_dir().join("minilm-wordnet").join(name)
}

/// The path of `name` in the committed fixture `tests/data/minilm-wordnet-5k` (rows 0..5000 of
/// `base.f16.npy` and 0..200 of `queries.f16.npy`, bit for bit; see its README.md).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/minilm-wordnet-5k")
        .join(name)
}

/// Rows `0..rows` (every row when 0) of `name` from the committed fixture. Panics (with the
/// path and what is wrong) if the fixture is missing or damaged, or holds fewer rows.
pub fn read_fixture(name: &str, rows: usize) -> Matrix {
    let path = fixture(name);
    let m = read(&path, rows).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rows == 0 || m.rows == rows,
        "{}: {} rows, the test needs {rows}",
        path.display(),
        m.rows
    );
    m
}

/// Rows `0..rows` (every row when 0) of `name` from the full minilm-wordnet data set when it
/// is present, else from the committed fixture (whose rows are the set's first rows), which
/// may hold fewer: the caller sizes its test by `Matrix::rows`. Says on stderr which it read.
/// Panics if the file it reads is damaged.
pub fn read_minilm_or_fixture(name: &str, rows: usize) -> Matrix {
    let full = minilm(name);
    let path = if full.exists() {
        full
    } else {
        eprintln!(
            "{} absent: using the committed fixture {} (set SUTRA_DATA_DIR to the data sets' \
             directory for the full set)",
            full.display(),
            fixture(name).display()
        );
        fixture(name)
    };
    read(&path, rows).unwrap_or_else(|e| panic!("{e}"))
}

/// A `.npy` file's dtype (`descr`, e.g. `<f2`), shape and data bytes, as stored.
pub struct Raw {
    pub descr: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads a C-order `.npy` file (format 1.x or 2.x) without interpreting its data.
pub fn read_raw(path: &Path) -> Result<Raw, String> {
    let at = |what: &str| format!("{}: {what}", path.display());
    let bytes = std::fs::read(path).map_err(|e| at(&format!("dataset missing: {e}")))?;
    if bytes.len() < 12 || &bytes[..6] != b"\x93NUMPY" {
        return Err(at("not a .npy file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| at("short or non-ASCII header"))?;
    if !header.contains("'fortran_order': False") {
        return Err(at(&format!("not C order: {header}")));
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
        .map(|s| s.parse::<usize>().map_err(|e| at(&format!("shape: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let data = bytes[start + header_len..].to_vec();
    Ok(Raw { descr, shape, data })
}

/// The first `limit` rows (every row when 0) of the `<f2` or `<f4` matrix in `path`, as f32;
/// the file must hold all the rows its header names.
pub fn read(path: &Path, limit: usize) -> Result<Matrix, String> {
    let at = |what: &str| format!("{}: {what}", path.display());
    let raw = read_raw(path)?;
    let width = match raw.descr.as_str() {
        "<f2" => 2,
        "<f4" => 4,
        other => return Err(at(&format!("dtype {other}: expected <f2 or <f4"))),
    };
    let [total, dim] = raw.shape[..] else {
        return Err(at(&format!("expected 2 dimensions, got {:?}", raw.shape)));
    };
    if raw.data.len() != total * dim * width {
        return Err(at(&format!(
            "truncated: {} data bytes for {total} × {dim}",
            raw.data.len()
        )));
    }
    let rows = if limit == 0 { total } else { limit.min(total) };
    let data = &raw.data[..rows * dim * width];
    let values = if width == 2 {
        data.chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()
    } else {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    Ok(Matrix { rows, dim, values })
}
