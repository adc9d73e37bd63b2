//! ARCHITECTURE.md's invariants that the compiler does not check, checked over the sources:
//! the import direction between layers, where `unsafe` may appear, and that each `SAFETY:`
//! comment of the C ABI says why its call is sound. Unit-test modules (`#[cfg(test)]` to
//! the end of a file) are left out: a layer's tests may drive the engine end to end.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p
                    .strip_prefix(src())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The file without its comments, test modules included (a lower layer's tests must not
/// reach upward either).
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of the files under `under` (relative to `src/`) that name a forbidden path.
fn imports_of(under: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, text) in rust_files(&src()) {
        if !under
            .iter()
            .any(|u| rel == *u || rel.starts_with(&format!("{u}/")))
        {
            continue;
        }
        for (i, line) in code(&text).lines().enumerate() {
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_lower_layers_import_nothing_from_the_engine_or_the_front_ends() {
    let lower = [
        "store",
        "index",
        "quant",
        "simd",
        "wal",
        "snapshot",
        "analytics",
        "rdb",
        "vocab.rs",
        "glob.rs",
        "npy.rs",
        "error.rs",
    ];
    // `crate::Engine…` would reach the engine through the crate root's re-exports.
    let upward = [
        "crate::engine",
        "crate::server",
        "crate::ffi",
        "crate::Engine",
        "super::super::engine",
    ];
    let found = imports_of(&lower, &upward);
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

#[test]
fn the_front_ends_do_not_know_each_other() {
    let found = imports_of(&["ffi"], &["crate::server"]);
    assert!(
        found.is_empty(),
        "ffi imports server:\n{}",
        found.join("\n")
    );
    let found = imports_of(&["server"], &["crate::ffi"]);
    assert!(
        found.is_empty(),
        "server imports ffi:\n{}",
        found.join("\n")
    );
}

/// The modules ARCHITECTURE.md lists as the only ones with `unsafe`.
const UNSAFE_MODULES: [&str; 6] = [
    "simd",
    "snapshot",
    "wal",
    "ffi",
    "index/huge.rs",
    "server/uring.rs",
];

fn in_unsafe_module(rel: &str) -> bool {
    UNSAFE_MODULES
        .iter()
        .any(|m| rel == *m || rel.starts_with(&format!("{m}/")))
}

#[test]
fn unsafe_code_is_denied_except_in_the_listed_modules() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "src/lib.rs must deny unsafe_code"
    );
    let mut wrong = Vec::new();
    for (rel, text) in rust_files(&src()) {
        let allows = text.contains("allow(unsafe_code)");
        let uses = text.lines().any(|l| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("unsafe {") || code.contains("unsafe fn") || code.contains("unsafe impl")
        });
        if allows && !in_unsafe_module(&rel) {
            wrong.push(format!("src/{rel} allows unsafe_code but is not listed"));
        }
        if uses && !in_unsafe_module(&rel) {
            wrong.push(format!("src/{rel} uses unsafe but is not listed"));
        }
    }
    for m in [
        "simd/mod.rs",
        "snapshot/mod.rs",
        "wal/mod.rs",
        "ffi/mod.rs",
        "index/huge.rs",
        "server/uring.rs",
    ] {
        let text = std::fs::read_to_string(src().join(m)).unwrap();
        if !text.contains("#![allow(unsafe_code)]") {
            wrong.push(format!(
                "src/{m} is listed but does not allow unsafe_code for itself"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let cargo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("undocumented_unsafe_blocks = \"deny\""),
        "clippy::undocumented_unsafe_blocks must be on"
    );
}

#[test]
fn every_safety_comment_says_why_the_call_is_sound() {
    // The whole crate: the C ABI, and the SIMD, WAL, snapshot and index modules.
    let mut vague = Vec::new();
    for (rel, text) in rust_files(&src()) {
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            let Some(why) = t.strip_prefix("// SAFETY:") else {
                continue;
            };
            let why = why.trim().trim_end_matches('.');
            if why.is_empty()
                || why == "per the contract"
                || why == "per this function's contract"
                || why.len() < 20
            {
                vague.push(format!("src/{rel}:{}: {}", i + 1, t));
            }
        }
    }
    assert!(
        vague.is_empty(),
        "SAFETY comments that do not say why:\n{}",
        vague.join("\n")
    );
}

#[test]
fn a_write_is_acknowledged_through_an_explicit_value_and_only_the_engine_waits() {
    // The store appends (through the caller's `store::Appends`) and never waits for the log;
    // no per-thread state carries what a write logged: the engine's `Writer` and
    // `Durability` do, explicitly.
    let in_store = imports_of(
        &["store"],
        &[
            "WaitFor",
            "wait_for",
            "LogSink",
            "PENDING_LSN",
            "DEFER_WAITS",
        ],
    );
    assert!(
        in_store.is_empty(),
        "the store waits or keeps write state per thread:\n{}",
        in_store.join("\n")
    );
    let in_engine = imports_of(
        &["engine"],
        &["thread_local!", "LogSink", "PENDING_LSN", "DEFER_WAITS"],
    );
    assert!(
        in_engine.is_empty(),
        "the engine keeps write state per thread:\n{}",
        in_engine.join("\n")
    );
}
