sutra_cache_fuzz::target_main!(commands);
