sutra_cache_fuzz::target_main!(filter_expr);
