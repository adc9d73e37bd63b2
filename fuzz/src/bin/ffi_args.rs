fn main() {
    afl::fuzz!(|data: &[u8]| sutra_cache_fuzz::ffi_args(data));
}
