fn main() {
    afl::fuzz!(|data: &[u8]| sutra_cache_fuzz::http_request(data));
}
