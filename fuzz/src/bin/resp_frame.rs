sutra_cache_fuzz::target_main!(resp_frame);
