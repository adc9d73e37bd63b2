//! Where the tests, benches and examples find their embeddings (each includes this file with
//! `#[path = ".../tests/support/npy.rs"] mod npy;`): the full data sets or the committed
//! fixture. The reader itself is the crate's one, `sutra_cache::npy`.
#![allow(dead_code)] // each includer uses what it needs

use std::path::{Path, PathBuf};

#[allow(unused_imports)] // each includer uses what it needs
pub use sutra_cache::npy::{read, read_raw, Matrix, Raw};

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
