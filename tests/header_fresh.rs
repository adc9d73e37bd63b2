//! `include/sutra_cache.h` is what cbindgen makes from `src/ffi/` now.
//! `UPDATE_HEADER=1 cargo test --test header_fresh` rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_the_one_cbindgen_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen parses src/ffi");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("UTF-8 header");
    let path = root.join("include/sutra_cache.h");
    if std::env::var_os("UPDATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write the header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/sutra_cache.h is stale: run `UPDATE_HEADER=1 cargo test --test header_fresh` \
         and commit it (first differing line: {:?})",
        committed
            .lines()
            .zip(fresh.lines())
            .find(|(a, b)| a != b)
            .or_else(|| (committed.lines().count() != fresh.lines().count())
                .then_some(("<length>", "<length>")))
    );
}
