sutra_cache_fuzz::target_main!(wal_open);
