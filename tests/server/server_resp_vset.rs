//! Byte-level tests of the vector-set commands (Redis 8's VADD, VSIM, … and the cache's
//! extensions) over TCP on port 0: raw RESP in, exact bytes out, in RESP2 and RESP3.

use crate::server_support;

use server_support::{cmd, f32le, words, TestServer};

#[test]
fn vadd_and_the_vector_set_reads_answer_as_redis_8() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VADD vs VALUES 3 1 0 0 a", ":1\r\n");
    c.check_words("VADD vs VALUES 3 1 0 0 a", ":0\r\n");
    c.check(
        &cmd(&[
            b"VADD",
            b"vs",
            b"FP32",
            &f32le(&[0.0, 1.0, 0.0]),
            b"b",
            b"SETATTR",
            br#"{"t":1}"#,
        ]),
        b":1\r\n",
    );
    c.check_words("VCARD vs", ":2\r\n");
    c.check_words("VCARD nope", ":0\r\n");
    c.check_words("VDIM vs", ":3\r\n");
    c.check_words("VDIM nope", "-ERR key does not exist\r\n");
    c.check_words("VISMEMBER vs a", ":1\r\n");
    c.check_words("VISMEMBER vs z", ":0\r\n");
    c.check_words("VISMEMBER nope z", ":0\r\n");
    c.check_words("VGETATTR vs b", "$7\r\n{\"t\":1}\r\n");
    c.check_words("VGETATTR vs a", "$-1\r\n");
    c.check_words("VGETATTR nope a", "$-1\r\n");
    c.check(
        &cmd(&[b"VSETATTR", b"vs", b"a", br#"{"x":"y"}"#]),
        b":1\r\n",
    );
    c.check_words("VSETATTR vs zz {}", ":0\r\n");
    c.check_words("VSETATTR nope zz {}", ":0\r\n");
    c.check(&cmd(&[b"VSETATTR", b"vs", b"a", b""]), b":1\r\n");
    c.check_words("VGETATTR vs a", "$-1\r\n");
    c.check_words("VEMB vs a", "*3\r\n$1\r\n1\r\n$1\r\n0\r\n$1\r\n0\r\n");
    c.check_words("VEMB vs zz", "$-1\r\n");
    c.check_words("VEMB nope zz", "$-1\r\n");
    c.check_words("VEMB vs a FOO", "-ERR invalid option\r\n");
    let mut raw = b"*3\r\n+f32\r\n$12\r\n".to_vec();
    raw.extend(f32le(&[1.0, 0.0, 0.0]));
    raw.extend(b"\r\n$1\r\n1\r\n");
    c.check(&words("VEMB vs a RAW"), &raw);
    let info = String::from_utf8(c.call(&[b"VINFO", b"vs"])).unwrap();
    assert!(
        info.starts_with("*18\r\n+quant-type\r\n+exact\r\n+hnsw-m\r\n:16\r\n+vector-dim\r\n:3\r\n+projection-input-dim\r\n:0\r\n+size\r\n:2\r\n+max-level\r\n:0\r\n+attributes-count\r\n:1\r\n+vset-uid\r\n:"),
        "{info}"
    );
    assert!(info.contains("\r\n+hnsw-max-node-uid\r\n:"), "{info}");
    c.check_words("VRANDMEMBER nope", "$-1\r\n");
    c.check_words("VRANDMEMBER nope 3", "*0\r\n");
    c.check_words("VRANDMEMBER vs 0", "*0\r\n");
    c.check_words("VRANDMEMBER vs x", "-ERR COUNT value is not an integer\r\n");
    let one = String::from_utf8(c.call(&[b"VRANDMEMBER", b"vs"])).unwrap();
    assert!(one == "$1\r\na\r\n" || one == "$1\r\nb\r\n", "{one}");
    let two = String::from_utf8(c.call(&[b"VRANDMEMBER", b"vs", b"5"])).unwrap();
    assert!(two.starts_with("*2\r\n"), "{two}");
    let dup = String::from_utf8(c.call(&[b"VRANDMEMBER", b"vs", b"-5"])).unwrap();
    assert!(dup.starts_with("*5\r\n"), "{dup}");
    c.check_words("VREM vs a", ":1\r\n");
    c.check_words("VREM vs a", ":0\r\n");
    c.check_words("VREM nope a", ":0\r\n");
    c.check_words("VREM vs b", ":1\r\n");
    c.check_words("EXISTS vs", ":0\r\n");
}

#[test]
fn vadd_refuses_what_redis_refuses() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VADD vs VALUES 2 1 0 a", ":1\r\n");
    c.check_words(
        "VADD vs VALUES 2 1 0",
        "-ERR wrong number of arguments for 'vadd' command\r\n",
    );
    c.check_words(
        "VADD vs VALUES 3 1 0 1 b",
        "-ERR Vector dimension mismatch - got 3 but set has 2\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 0 b Q8",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 0 b M 32",
        "-ERR asked M value mismatch with existing vector set\r\n",
    );
    c.check_words("VADD vs VALUES 2 1 0 b M 16 CAS EF 100", ":1\r\n");
    c.check_words("VADD vs VALUES 2 1 0 c EF 0", "-ERR invalid EF\r\n");
    c.check_words("VADD vs VALUES 2 1 0 c M 1", "-ERR invalid M\r\n");
    c.check_words(
        "VADD vs VALUES 2 1 0 c FOO",
        "-ERR invalid option after element\r\n",
    );
    c.check_words(
        "VADD vs VALUES x 1 0 c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 0 c d e",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 nan c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 abc c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 5 1 0 c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs BLOB 2 1 0 c",
        "-ERR invalid vector specification\r\n",
    );
    c.check(
        &cmd(&[b"VADD", b"vs", b"FP32", b"abc", b"c"]),
        b"-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs REDUCE 1 VALUES 2 1 0 c",
        "-ERR cannot add projection to existing set without projection\r\n",
    );
    c.check_words(
        "VADD vs REDUCE 1 VALUES 3 1 0 1 c",
        "-ERR Vector dimension mismatch - got 3 but set has 2\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 0 c BIN",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check_words("VADD q VALUES 2 1 0 a Q8", ":1\r\n");
    c.check_words("VADD q VALUES 2 0 1 b Q8", ":1\r\n");
    c.check_words(
        "VADD q VALUES 2 0 1 c",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check_words("VADD n VALUES 2 1 0 a NOQUANT M 8", ":1\r\n");
    let info = String::from_utf8(c.call(&[b"VINFO", b"n"])).unwrap();
    assert!(
        info.contains("+quant-type\r\n+f32\r\n+hnsw-m\r\n:8\r\n"),
        "{info}"
    );
    let info = String::from_utf8(c.call(&[b"VINFO", b"q"])).unwrap();
    assert!(info.contains("+quant-type\r\n+int8\r\n"), "{info}");
    // Redis's int8 raw form: codes of the unit vector, its L2 norm, the quantization range.
    c.check_words("VADD q VALUES 2 3 -4 r Q8", ":1\r\n");
    // The codes round-trip exactly (95 = round(0.6 / 0.8 × 127), -127); norm and range are
    // those of the stored (dequantized) vector, so codes × range / 127 × norm is what VEMB
    // answers: (2.992…, -4).
    let raw = c.call(&[b"VEMB", b"q", b"r", b"RAW"]);
    let head = b"*4\r\n+int8\r\n$2\r\n\x5f\x81\r\n";
    assert!(raw.starts_with(head), "{:?}", String::from_utf8_lossy(&raw));
    let doubles: Vec<f64> = String::from_utf8(raw[head.len()..].to_vec())
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.starts_with('$') && !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(doubles.len(), 2, "{doubles:?}");
    assert!((doubles[0] - 4.9953).abs() < 1e-3, "norm {doubles:?}");
    assert!((doubles[1] - 0.8008).abs() < 1e-3, "range {doubles:?}");
    let x0 = 95.0 * doubles[1] / 127.0 * doubles[0];
    assert!((x0 - 2.992126).abs() < 1e-4, "{x0}");
    // Attributes are stored as given, as Redis does (FILTER never matches a non-object).
    c.check(
        &cmd(&[
            b"VADD", b"vs", b"VALUES", b"2", b"1", b"0", b"c", b"SETATTR", b"{bad",
        ]),
        b":1\r\n",
    );
    c.check_words("VGETATTR vs c", "$4\r\n{bad\r\n");
}

#[test]
fn vsim_replies_in_redis_shapes_in_both_protocols() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VSIM nope VALUES 2 1 0", "*0\r\n");
    // A missing key answers an empty array whatever the arguments.
    c.check_words("VSIM nope VALUES 2 1 x", "*0\r\n");
    c.check_words("VSIM nope VALUES 2 1 0 BOGUS", "*0\r\n");
    c.check_words("VSIM nope VALUES 2 1 0 EPSILON 0.5 WITHSCORES", "*0\r\n");
    c.check(
        &cmd(&[
            b"VADD",
            b"vs",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"a",
            b"SETATTR",
            br#"{"k":1}"#,
        ]),
        b":1\r\n",
    );
    c.check_words("VADD vs VALUES 2 0 1 b", ":1\r\n");
    c.check_words("VADD vs VALUES 2 -1 0 c", ":1\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0",
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 COUNT 1", "*1\r\n$1\r\na\r\n");
    c.check_words(
        "VSIM vs ELE a COUNT 2 TRUTH NOTHREAD",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.check(
        &cmd(&[b"VSIM", b"vs", b"FP32", &f32le(&[1.0, 0.0]), b"WITHSCORES"]),
        b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n0.5\r\n$1\r\nc\r\n$1\r\n0\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 WITHSCORES WITHATTRIBS COUNT 2",
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$7\r\n{\"k\":1}\r\n$1\r\nb\r\n$3\r\n0.5\r\n$-1\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 EPSILON 0.5",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 EPSILON 0.1", "*1\r\n$1\r\na\r\n");
    c.check_words("VSIM vs ELE zz", "-ERR element not found in set\r\n");
    c.check_words(
        "VSIM vs VALUES 3 1 0 0",
        "-ERR Vector dimension mismatch - got 3 but set has 2\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 COUNT 0", "-ERR invalid COUNT\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0 EPSILON -1",
        "-ERR invalid EPSILON\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 EF 0", "-ERR invalid EF\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0 BOGUS",
        "-ERR syntax error in VSIM command\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 x",
        "-ERR invalid vector specification\r\n",
    );
    // FILTER: only `a` has attributes; elements without any never match.
    c.check_words("VSIM vs VALUES 2 1 0 FILTER .k==1", "*1\r\n$1\r\na\r\n");
    c.check_words(
        "VSIM vs VALUES 2 -1 0 FILTER .k==1 FILTER-EF 5 COUNT 1",
        "*1\r\n$1\r\na\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 FILTER .k>1", "*0\r\n");
    c.check_words("VSIM vs VALUES 2 1 0 FILTER not(.k) TRUTH", "*0\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0 FILTER .k==",
        "-ERR syntax error in FILTER expression near: .k==\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 FILTER .k@1",
        "-ERR syntax error in FILTER expression near: @1\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 FILTER .k==1 FILTER-EF 0",
        "-ERR invalid FILTER-EF\r\n",
    );
    c.check_words("HELLO 3", "");
    let _ = c.read_reply();
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 2",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 2 WITHSCORES",
        "%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 1 WITHATTRIBS",
        "%1\r\n$1\r\na\r\n$7\r\n{\"k\":1}\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 2 WITHSCORES WITHATTRIBS",
        "%2\r\n$1\r\na\r\n*2\r\n,1\r\n$7\r\n{\"k\":1}\r\n$1\r\nb\r\n*2\r\n,0.5\r\n_\r\n",
    );
    c.check_words("VEMB vs b", "*2\r\n,0\r\n,1\r\n");
}

#[test]
fn the_cache_extensions_work_end_to_end() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let va = f32le(&[0.1, 0.2, 0.3]);
    let vb = f32le(&[-0.5, 0.25, 1e-7]);
    c.check(
        &cmd(&[b"VADDM", b"m", b"FP32", b"a", &va, b"b", &vb]),
        b":2\r\n",
    );
    c.check(&cmd(&[b"VADDM", b"m", b"FP32", b"a", &va]), b":0\r\n");
    let mut exact = b"$12\r\n".to_vec();
    exact.extend(&va);
    exact.extend(b"\r\n");
    c.check(&words("VGETF32 m a"), &exact);
    c.check_words("VGETF32 m zz", "$-1\r\n");
    c.check_words("VGETF32 nope zz", "$-1\r\n");
    let mut many = b"*3\r\n$12\r\n".to_vec();
    many.extend(&vb);
    many.extend(b"\r\n$-1\r\n$12\r\n");
    many.extend(&va);
    many.extend(b"\r\n");
    c.check(&cmd(&[b"VMGETF32", b"m", b"b", b"zz", b"a"]), &many);
    c.check_words(
        "VADDM m FP32 a",
        "-ERR wrong number of arguments for 'vaddm' command\r\n",
    );
    c.check_words("VADDM m Q9 FP32 a b", "-ERR syntax error\r\n");
    c.check(
        &cmd(&[b"VADDM", b"m", b"FP32", b"c", b"abc"]),
        b"-ERR invalid vector specification\r\n",
    );
    c.check(
        &cmd(&[b"VADDM", b"m", b"Q8", b"FP32", b"c", &va]),
        b"-ERR asked quantization mismatch with existing vector set\r\n",
    );
    // Per-element TTL.
    c.check_words("VTTL m a", ":-1\r\n");
    c.check_words("VTTL m zz", ":-2\r\n");
    c.check_words("VEXPIRE m a 100", ":1\r\n");
    c.check_words("VTTL m a", ":100\r\n");
    c.check_words("VPEXPIRE m a 20000", ":1\r\n");
    c.check_words("VTTL m a", ":20\r\n");
    c.check_words("VEXPIRE m zz 100", ":0\r\n");
    c.check_words("VPERSIST m a", ":1\r\n");
    c.check_words("VPERSIST m a", ":0\r\n");
    c.check_words("VPTTL m a", ":-1\r\n");
    c.check_words("VADD t VALUES 2 1 0 a EX 50", ":1\r\n");
    c.check_words("VTTL t a", ":50\r\n");
    c.check_words("VADD t VALUES 2 1 0 b PX 7000", ":1\r\n");
    c.check_words("VTTL t b", ":7\r\n");
    c.check_words(
        "VADD t VALUES 2 1 0 c EX 0",
        "-ERR invalid expire time in 'vadd ex' command\r\n",
    );
    c.check_words("VEXPIRE t a 0", ":1\r\n");
    c.check_words("VISMEMBER t a", ":0\r\n");
    // Semantic invalidation.
    c.check_words("VADD inv VALUES 2 1 0 x", ":1\r\n");
    c.check_words("VADD inv VALUES 2 1 0.1 y", ":1\r\n");
    c.check_words("VADD inv VALUES 2 0 1 z", ":1\r\n");
    c.check_words("VINVALIDATE inv VALUES 2 1 0 THRESHOLD 0.99", ":2\r\n");
    c.check_words("VCARD inv", ":1\r\n");
    c.check_words(
        "VINVALIDATE inv ELE z THRESHOLD 0.9 WITHELEMENTS",
        "*2\r\n$1\r\nz\r\n$1\r\n1\r\n",
    );
    c.check_words("EXISTS inv", ":0\r\n");
    c.check_words("VINVALIDATE inv VALUES 2 1 0 THRESHOLD 0.5", ":0\r\n");
    c.check_words(
        "VINVALIDATE inv VALUES 2 1 0",
        "-ERR THRESHOLD is required\r\n",
    );
    c.check_words(
        "VINVALIDATE inv VALUES 2 1 0 THRESHOLD x",
        "-ERR invalid THRESHOLD\r\n",
    );
    c.check_words("VADD inv VALUES 2 1 0 x", ":1\r\n");
    c.check_words(
        "VINVALIDATE inv ELE nope THRESHOLD 0.5",
        "-ERR element not found in set\r\n",
    );
    // FILTER: only near elements whose attributes also pass (here: one source of two).
    c.check(
        &cmd(&[
            b"VADD",
            b"inv",
            b"VALUES",
            b"2",
            b"1",
            b"0.05",
            b"w",
            b"SETATTR",
            br#"{"src":"web"}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VADD",
            b"inv",
            b"VALUES",
            b"2",
            b"1",
            b"0.02",
            b"d",
            b"SETATTR",
            br#"{"src":"docs"}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VINVALIDATE",
            b"inv",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"THRESHOLD",
            b"0.99",
            b"FILTER",
            b".src == 'web'",
        ]),
        b":1\r\n",
    );
    c.check_words("VISMEMBER inv w", ":0\r\n");
    c.check_words("VISMEMBER inv d", ":1\r\n");
    c.check_words("VISMEMBER inv x", ":1\r\n"); // near, but no attributes
    c.check_words(
        "VINVALIDATE inv VALUES 2 1 0 THRESHOLD 0.9 FILTER .src==",
        "-ERR syntax error in FILTER expression near: .src==\r\n",
    );
}

#[test]
fn cachestats_counts_hits_and_misses_globally_and_per_set() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET nope", "$-1\r\n");
    c.check_words("VADD vs VALUES 2 1 0 a", ":1\r\n");
    c.check_words("VGETF32 vs zz", "$-1\r\n");
    let global = String::from_utf8(c.call(&[b"CACHESTATS"])).unwrap();
    assert!(global.starts_with("*22\r\n$4\r\nhits\r\n:2\r\n$6\r\nmisses\r\n:2\r\n$14\r\ntotal_requests\r\n:4\r\n$8\r\nhit_rate\r\n$3\r\n0.5\r\n"), "{global}");
    let per = String::from_utf8(c.call(&[b"CACHESTATS", b"vs"])).unwrap();
    assert!(
        per.starts_with("*24\r\n$4\r\nhits\r\n:0\r\n$6\r\nmisses\r\n:1\r\n"),
        "{per}"
    );
    assert!(
        per.ends_with(
            "$11\r\nindex_nodes\r\n:0\r\n$13\r\nindex_pending\r\n:0\r\n$14\r\nindex_restored\r\n:0\r\n"
        ),
        "{per}"
    );
    c.check_words("CACHESTATS nope", "*-1\r\n");
    c.check_words(
        "CACHESTATS a b",
        "-ERR wrong number of arguments for 'cachestats' command\r\n",
    );
}

/// Redis 8's vector-set behaviours that users rely on (issue #21's silent differences):
/// zero vectors, raw attributes, repeated `!`/`not`, and escapes in FILTER strings.
#[test]
fn zero_vectors_raw_attributes_and_filter_edge_cases_answer_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    // A zero vector is accepted; under cosine it scores 0.5 against anything.
    c.check_words("VADD r1 VALUES 2 0 0 c", ":1\r\n");
    c.check_words("VADD r1 VALUES 2 1 0 a", ":1\r\n");
    c.check_words(
        "VSIM r1 VALUES 2 1 0 WITHSCORES",
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$3\r\n0.5\r\n",
    );
    c.check_words("VEMB r1 c", "*2\r\n$1\r\n0\r\n$1\r\n0\r\n");
    // Attributes are any string, returned as given; FILTER does not match a non-object.
    for raw in ["invalid json", "[1,2]", "\"str\""] {
        c.check(&cmd(&[b"VSETATTR", b"r1", b"a", raw.as_bytes()]), b":1\r\n");
        let mut want = format!("${}\r\n", raw.len()).into_bytes();
        want.extend(raw.as_bytes());
        want.extend(b"\r\n");
        c.check(&cmd(&[b"VGETATTR", b"r1", b"a"]), &want);
        c.check(
            &cmd(&[b"VSIM", b"r1", b"VALUES", b"2", b"1", b"0", b"FILTER", b"1"]),
            b"*0\r\n",
        );
    }
    // Repeated prefix not.
    c.check(
        &cmd(&[
            b"VADD",
            b"f",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"i1",
            b"SETATTR",
            br#"{"active": true, "n": 5}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VADD",
            b"f",
            b"VALUES",
            b"2",
            b"0",
            b"1",
            b"i2",
            b"SETATTR",
            br#"{"active": false, "n": 0}"#,
        ]),
        b":1\r\n",
    );
    let filter = |c: &mut server_support::Conn, expr: &[u8], want: &[u8]| {
        c.check(
            &cmd(&[b"VSIM", b"f", b"VALUES", b"2", b"1", b"0", b"FILTER", expr]),
            want,
        );
    };
    let i1: &[u8] = b"*1\r\n$2\r\ni1\r\n";
    let i2: &[u8] = b"*1\r\n$2\r\ni2\r\n";
    filter(&mut c, b"!!.active", i1);
    filter(&mut c, b"not not .active", i1);
    filter(&mut c, b"!!!.active", i2);
    filter(&mut c, b"!!.n == 1", i1);
    filter(&mut c, b".n > 1 and not not .active", i1);
    filter(&mut c, b".n < 1 and not not .active", b"*0\r\n");
    filter(
        &mut c,
        b"!.active or !!.active",
        b"*2\r\n$2\r\ni1\r\n$2\r\ni2\r\n",
    );
    // Escapes inside FILTER strings, both quote styles.
    c.check(
        &cmd(&[
            b"VADD",
            b"e",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"x",
            b"SETATTR",
            br#"{"dq": "a\"b", "sq": "O'Brien", "bs": "x\\y", "nl": "l1\nl2"}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VADD",
            b"e",
            b"VALUES",
            b"2",
            b"0",
            b"1",
            b"y",
            b"SETATTR",
            br#"{"dq": "ab", "sq": "OBrien", "bs": "xy", "nl": "l1l2"}"#,
        ]),
        b":1\r\n",
    );
    for expr in [
        &br#".dq == "a\"b""#[..],
        br".sq == 'O\'Brien'",
        br#".bs == "x\\y""#,
        br#".nl == "l1\nl2""#,
        br#""\"b" in .dq"#,
        br#".dq in ["zzz", "a\"b"]"#,
        br#"'a"b' == .dq"#,
        br#".sq == "O'Brien""#,
    ] {
        c.check(
            &cmd(&[b"VSIM", b"e", b"VALUES", b"2", b"1", b"0", b"FILTER", expr]),
            b"*1\r\n$1\r\nx\r\n",
        );
    }
}
