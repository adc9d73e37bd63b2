//! The NPY+names form of a dump (`export --format npy -o DIR`, `import DIR`), for people who
//! load embeddings with NumPy: each vector set's vectors as one float32 `.npy` matrix, its
//! element names (with attributes and TTLs) as JSON Lines in the same order, the other keys
//! (strings, hashes) in the JSON Lines dump format, and a manifest tying them together:
//!
//! ```text
//! DIR/manifest.json      {"format":"sutra-cache-npy","version":1,"keys":"keys.jsonl",
//!                         "sets":[{"key":K,"quant":Q,"m":M,"dim":D,"pttl":ms?,"db":n?,
//!                                  "vectors":"set-0.npy","elements":"set-0.jsonl","count":N}]}
//! DIR/keys.jsonl         strings and hashes, as in the JSON Lines dump
//! DIR/set-0.npy          N × D float32, row i = element i
//! DIR/set-0.jsonl        N lines {"element":E,"attributes":S?,"pttl":ms?}
//! ```
//!
//! Also a bare matrix with its names (`import vectors.npy --names names.txt --set KEY`): the
//! names one per line (plain text) or, for a `.jsonl` file, the element lines above.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sutra_cache::npy;

use super::dump::{is_zero, Entry, Text};

/// The manifest's `format`.
const FORMAT: &str = "sutra-cache-npy";

/// One vector set in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFiles {
    key: Text,
    quant: String,
    m: u32,
    dim: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pttl: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    db: u32,
    vectors: String,
    elements: String,
    count: u64,
}

/// `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    version: u32,
    keys: String,
    sets: Vec<SetFiles>,
}

/// One line of a set's element file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementLine {
    element: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attributes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pttl: Option<u64>,
}

/// The set being written: its manifest entry and its two files.
struct Open {
    files: SetFiles,
    vectors: npy::Writer,
    elements: BufWriter<File>,
}

/// Writes a dump's entries (as `scan_step` yields them: a set's header, then its elements)
/// into `DIR` in the NPY+names form.
pub struct DirWriter {
    dir: PathBuf,
    keys: BufWriter<File>,
    sets: Vec<SetFiles>,
    open: Option<Open>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

impl DirWriter {
    /// Creates `dir` (or uses it when empty); refuses a directory that holds files, so two
    /// dumps never mix.
    pub fn create(dir: &Path) -> Result<DirWriter, String> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
            return Err(format!(
                "--output {}: the directory is not empty (an NPY dump needs a new or empty one)",
                dir.display()
            ));
        }
        let path = dir.join("keys.jsonl");
        let keys = BufWriter::new(File::create(&path).map_err(io(&path))?);
        Ok(DirWriter {
            dir: dir.to_path_buf(),
            keys,
            sets: Vec::new(),
            open: None,
        })
    }

    /// Writes one entry.
    pub fn push(&mut self, e: &Entry) -> Result<(), String> {
        match e {
            Entry::String { .. } | Entry::Hash { .. } => {
                let line = serde_json::to_string(e).map_err(|e| e.to_string())?;
                let path = self.dir.join("keys.jsonl");
                writeln!(self.keys, "{line}").map_err(io(&path))
            }
            Entry::Vectorset {
                key,
                quant,
                m,
                dim,
                pttl,
                db,
            } => {
                self.close_set()?;
                let i = self.sets.len();
                let files = SetFiles {
                    key: key.clone(),
                    quant: quant.clone(),
                    m: *m,
                    dim: *dim,
                    pttl: *pttl,
                    db: *db,
                    vectors: format!("set-{i}.npy"),
                    elements: format!("set-{i}.jsonl"),
                    count: 0,
                };
                let vectors = npy::Writer::create(&self.dir.join(&files.vectors), *dim)?;
                let path = self.dir.join(&files.elements);
                let elements = BufWriter::new(File::create(&path).map_err(io(&path))?);
                self.open = Some(Open {
                    files,
                    vectors,
                    elements,
                });
                Ok(())
            }
            Entry::Element {
                key,
                element,
                vector,
                attributes,
                pttl,
                db,
            } => {
                let Some(open) = self
                    .open
                    .as_mut()
                    .filter(|o| o.files.key == *key && o.files.db == *db)
                else {
                    return Err(format!(
                        "element {:?} of set {:?} comes without its set's header",
                        element.lossy(),
                        key.lossy()
                    ));
                };
                let path = self.dir.join(&open.files.vectors);
                open.vectors.push(vector).map_err(io(&path))?;
                let line = serde_json::to_string(&ElementLine {
                    element: element.clone(),
                    attributes: attributes.clone(),
                    pttl: *pttl,
                })
                .map_err(|e| e.to_string())?;
                let path = self.dir.join(&open.files.elements);
                writeln!(open.elements, "{line}").map_err(io(&path))?;
                open.files.count += 1;
                Ok(())
            }
        }
    }

    fn close_set(&mut self) -> Result<(), String> {
        if let Some(mut open) = self.open.take() {
            let path = self.dir.join(&open.files.vectors);
            open.vectors.finish().map_err(io(&path))?;
            let path = self.dir.join(&open.files.elements);
            open.elements.flush().map_err(io(&path))?;
            self.sets.push(open.files);
        }
        Ok(())
    }

    /// Closes the last set and writes the manifest (last, so a dump cut short has none and
    /// an import refuses it).
    pub fn finish(mut self) -> Result<(), String> {
        self.close_set()?;
        let path = self.dir.join("keys.jsonl");
        self.keys.flush().map_err(io(&path))?;
        let manifest = Manifest {
            format: FORMAT.into(),
            version: 1,
            keys: "keys.jsonl".into(),
            sets: self.sets,
        };
        let path = self.dir.join("manifest.json");
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n").map_err(io(&path))
    }
}

/// Feeds a set's rows and element lines to `push` as dump entries: the header, then one
/// element per row; the two files must hold the same number of rows.
fn feed_set(
    header: Entry,
    push_header: bool,
    vectors: &Path,
    names: &Path,
    expected: Option<u64>,
    push: &mut dyn FnMut(&Entry) -> Result<(), String>,
) -> Result<u64, String> {
    let Entry::Vectorset { key, dim, db, .. } = &header else {
        unreachable!("a set header")
    };
    let (key, dim, db) = (key.clone(), *dim, *db);
    let mut rows = npy::RowReader::open(vectors)?;
    if rows.dim != dim {
        return Err(format!(
            "{}: rows of {} values, the set has dimension {dim}",
            vectors.display(),
            rows.dim
        ));
    }
    if let Some(n) = expected.filter(|&n| n != rows.rows as u64) {
        return Err(format!(
            "{}: {} rows, the manifest says {n}",
            vectors.display(),
            rows.rows
        ));
    }
    let jsonl = names.extension().is_some_and(|e| e == "jsonl");
    let file = File::open(names).map_err(io(names))?;
    let mut lines = BufReader::new(file).lines();
    if push_header {
        push(&header)?;
    }
    let mut vector = Vec::with_capacity(dim);
    let mut n = 0u64;
    while rows.next_row(&mut vector)? {
        let at = |what: &str| format!("{} line {}: {what}", names.display(), n + 1);
        let line = match lines.next() {
            Some(l) => l.map_err(|e| at(&e.to_string()))?,
            None => {
                return Err(format!(
                    "{} has {} row(s) but {} only {n} name(s)",
                    vectors.display(),
                    rows.rows,
                    names.display()
                ))
            }
        };
        let el = if jsonl {
            match serde_json::from_str::<ElementLine>(&line) {
                Ok(el) => el,
                Err(e) => match serde_json::from_str::<String>(&line) {
                    Ok(name) => ElementLine {
                        element: Text::Utf8(name),
                        attributes: None,
                        pttl: None,
                    },
                    Err(_) => return Err(at(&format!("not an element line: {e}"))),
                },
            }
        } else {
            ElementLine {
                element: Text::Utf8(line),
                attributes: None,
                pttl: None,
            }
        };
        push(&Entry::Element {
            key: key.clone(),
            element: el.element,
            vector: std::mem::take(&mut vector),
            attributes: el.attributes,
            pttl: el.pttl,
            db,
        })
        .map_err(|e| at(&e))?;
        n += 1;
    }
    if let Some(extra) = lines.next() {
        extra.map_err(|e| format!("{}: {e}", names.display()))?;
        return Err(format!(
            "{} has more names than the {} row(s) of {}",
            names.display(),
            rows.rows,
            vectors.display()
        ));
    }
    Ok(n)
}

/// Reads an NPY+names dump directory, giving `push` every entry in order (other keys first,
/// then each set's header and elements). Refuses a directory without a manifest.
pub fn read_dir(
    dir: &Path,
    push: &mut dyn FnMut(&Entry) -> Result<(), String>,
) -> Result<(), String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (an NPY dump directory has the manifest.json `export --format npy` writes)",
            path.display()
        )
    })?;
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if m.format != FORMAT || m.version != 1 {
        return Err(format!(
            "{}: format {:?} version {}, expected {FORMAT:?} version 1",
            path.display(),
            m.format,
            m.version
        ));
    }
    let keys = dir.join(&m.keys);
    let file = File::open(&keys).map_err(io(&keys))?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let at = |what: &str| format!("{} line {}: {what}", keys.display(), i + 1);
        let line = line.map_err(|e| at(&e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let e: Entry =
            serde_json::from_str(&line).map_err(|e| at(&format!("not a dump entry: {e}")))?;
        push(&e).map_err(|e| at(&e))?;
    }
    for s in m.sets {
        let header = Entry::Vectorset {
            key: s.key,
            quant: s.quant,
            m: s.m,
            dim: s.dim,
            pttl: s.pttl,
            db: s.db,
        };
        let (vectors, names) = (dir.join(&s.vectors), dir.join(&s.elements));
        feed_set(header, true, &vectors, &names, Some(s.count), push)?;
    }
    Ok(())
}

/// Reads a bare matrix and its names as elements of set `key` in database `db` (added to
/// the set; no header is given to `push`, the caller declares the set's storage).
pub fn read_matrix(
    vectors: &Path,
    names: &Path,
    key: &str,
    db: u32,
    push: &mut dyn FnMut(&Entry) -> Result<(), String>,
) -> Result<u64, String> {
    let dim = npy::RowReader::open(vectors)?.dim;
    let header = Entry::Vectorset {
        key: Text::Utf8(key.to_string()),
        quant: String::new(),
        m: 0,
        dim,
        pttl: None,
        db,
    };
    feed_set(header, false, vectors, names, None, push)
}
