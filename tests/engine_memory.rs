//! Byte accounting is honest: the engine's accounted bytes are within 10% of the process's
//! RSS growth while filling 100k × 768-d elements. (Alone in its test binary: RSS is per process.)

use sutra_cache::*;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn accounted_bytes_track_rss_growth_when_filling_100k_768d_elements() {
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    let dim = 768;
    let batch = 1_000;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut vectors = vec![0f32; batch * dim];
    let names: Vec<String> = (0..100_000).map(|i| format!("minilm:{i:08x}")).collect();
    let before = rss_bytes();
    for chunk in 0..100 {
        for x in vectors.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *x = (seed % 2_000) as f32 / 1_000.0 - 1.0;
        }
        let adds: Vec<ElementAdd> = (0..batch)
            .map(|i| {
                ElementAdd::new(
                    names[chunk * batch + i].as_bytes(),
                    &vectors[i * dim..(i + 1) * dim],
                )
            })
            .collect();
        e.vadd_many(b"model", &VectorSetOptions::default(), &adds)
            .unwrap();
    }
    let grew = rss_bytes() - before;
    let accounted = e.stats().total.bytes;
    let ratio = accounted as f64 / grew as f64;
    println!("rss growth {grew} B, accounted {accounted} B, ratio {ratio:.3}");
    assert_eq!(e.stats().total.entries, 100_000);
    assert!(
        (0.9..=1.1).contains(&ratio),
        "accounted {accounted} vs RSS growth {grew}: ratio {ratio:.3}"
    );
}
