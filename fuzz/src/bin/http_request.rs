sutra_cache_fuzz::target_main!(http_request);
