//! Gives the shared library (cdylib) its SONAME on Linux, `libsutra_cache.so.0`, so a program
//! linked against an installed `libsutra_cache.so` (scripts/install.sh) records and loads the
//! ABI-versioned file. The 0 changes when the C ABI breaks compatibility.
//!
//! Also names the build for `/metrics`' `sutra_cache_build_info`: `SUTRA_CACHE_RUSTC` (the
//! compiler's version) and, when known, `SUTRA_CACHE_COMMIT`: the variable of that name when
//! set at build time, else, in a release build from a git work tree, `git rev-parse HEAD`
//! (12 digits; uncommitted
//! changes are not marked). Debug builds do not ask
//! git: a commit would rebuild the crate and every test binary at each `git commit`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsutra_cache.so.0");
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(v) = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
    {
        let v = v.split_whitespace().nth(1).unwrap_or("unknown").to_string();
        println!("cargo:rustc-env=SUTRA_CACHE_RUSTC={v}");
    }

    println!("cargo:rerun-if-env-changed=SUTRA_CACHE_COMMIT");
    let mut commit = std::env::var("SUTRA_CACHE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    if commit.is_none() && std::env::var("PROFILE").as_deref() == Ok("release") {
        if let Some(rev) = git(&["rev-parse", "--short=12", "HEAD"]) {
            // Rebuild when HEAD moves: the HEAD file, the branch ref it names, packed refs.
            for path in ["HEAD", "packed-refs"] {
                if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            commit = Some(rev);
        }
    }
    if let Some(c) = commit {
        println!("cargo:rustc-env=SUTRA_CACHE_COMMIT={c}");
    }
}
