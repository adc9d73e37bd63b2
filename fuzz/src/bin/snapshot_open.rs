sutra_cache_fuzz::target_main!(snapshot_open);
