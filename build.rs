//! Gives the shared library (cdylib) its SONAME on Linux, `libsutra_cache.so.0`, so a program
//! linked against an installed `libsutra_cache.so` (scripts/install.sh) records and loads the
//! ABI-versioned file. The 0 changes when the C ABI breaks compatibility.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsutra_cache.so.0");
    }
}
