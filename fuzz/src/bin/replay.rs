//! Runs every file under `corpus/<target>/` (the committed seeds and the inputs of past
//! crashes, `corpus/<target>/regressions/`) through its target, without AFL++: a plain
//! `cargo run --bin replay [TARGET...] [-- DIR]` needs no instrumentation.
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut total = 0;
    for (name, run) in sutra_cache_fuzz::TARGETS {
        if !args.is_empty() && !args.iter().any(|a| a == name) {
            continue;
        }
        let mut files = Vec::new();
        for sub in ["", "regressions"] {
            if let Ok(rd) = std::fs::read_dir(root.join(name).join(sub)) {
                files.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
            }
        }
        files.sort();
        for f in &files {
            let data = std::fs::read(f).unwrap();
            eprintln!("replay {name} {}", f.display());
            run(&data);
        }
        println!("replay: {name}: {} inputs passed", files.len());
        total += files.len();
    }
    println!("replay: {total} inputs passed");
}
