sutra_cache_fuzz::target_main!(ffi_args);
