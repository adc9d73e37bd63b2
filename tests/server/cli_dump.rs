//! `sutra-cache export` / `import` through the binary: a server's strings and vector sets
//! (binary keys and values, attributes, key and element TTLs, storage modes) go to a dump,
//! into a data directory, out again and into another server unchanged.

use crate::server_support;

use std::process::Command;

use server_support::TestServer;

fn bin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn url(srv: &TestServer) -> String {
    format!("redis://{}", srv.addr)
}

fn lines_sorted(s: &str) -> Vec<serde_json::Value> {
    let mut v: Vec<serde_json::Value> = s
        .lines()
        .map(|l| {
            let mut j: serde_json::Value = serde_json::from_str(l).unwrap();
            // TTLs shrink between reads: keep only that one is there.
            if let Some(p) = j.get_mut("pttl") {
                *p = serde_json::Value::Bool(true);
            }
            j
        })
        .collect();
    v.sort_by_key(|j| j.to_string());
    v
}

#[test]
fn a_dump_goes_from_a_server_through_a_data_directory_to_another_server_unchanged() {
    let src = TestServer::start();
    let mut c = src.connect();
    assert_eq!(
        c.call(&[b"SET", b"plain", b"hello", b"PX", b"600000"]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.call(&[b"SET", b"\xff\x00bin", b"\x00\x01\xfe"]),
        b"+OK\r\n"
    );
    let blob: Vec<u8> = [0.25f32, -1.5, 3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(
        c.call(&[
            b"VADD",
            b"vs",
            b"FP32",
            &blob,
            b"e1",
            b"SETATTR",
            br#"{"a":1}"#
        ]),
        b":1\r\n"
    );
    assert_eq!(
        c.call(&[b"VADD", b"vs", b"VALUES", b"3", b"0.1", b"0.2", b"0.3", b"e2", b"PX", b"600000"]),
        b":1\r\n"
    );
    assert_eq!(
        c.call(&[b"VADD", b"vq", b"VALUES", b"2", b"1", b"0", b"z", b"Q8", b"M", b"8"]),
        b":1\r\n"
    );
    assert_eq!(c.call(&[b"PEXPIRE", b"vq", b"600000"]), b":1\r\n");

    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("d.jsonl");
    let dump_s = dump.to_str().unwrap();
    let (code, _, err) = bin(&["export", "--url", &url(&src), "-o", dump_s]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 7 entries"), "{err}");
    let first = std::fs::read_to_string(&dump).unwrap();
    let parsed = lines_sorted(&first);
    assert!(
        first.contains(r#""key":{"b64":"/wBiaW4="},"value":{"b64":"AAH+"}"#),
        "{first}"
    );
    assert!(
        first.contains(r#""vector":[0.25,-1.5,3.0],"attributes":"{\"a\":1}""#),
        "{first}"
    );
    assert!(
        first.contains(r#"{"type":"vectorset","key":"vq","quant":"int8","m":8,"dim":2,"pttl":"#),
        "{first}"
    );

    // Into a data directory, then out of it (after the tool closed it: it persisted).
    let dir = tmp.path().join("data");
    let dir_s = dir.to_str().unwrap();
    let (code, _, err) = bin(&["import", dump_s, "--data-dir", dir_s]);
    assert_eq!(code, 0, "{err}");
    let (code, again, err) = bin(&["export", "--data-dir", dir_s]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines_sorted(&again), parsed);

    // Into another server: same content, TTLs kept, the Q8 set still Q8 with M 8.
    let dst = TestServer::start();
    let (code, _, err) = bin(&["import", dump_s, "--url", &url(&dst)]);
    assert_eq!(code, 0, "{err}");
    let (_, third, _) = bin(&["export", "--url", &url(&dst)]);
    assert_eq!(lines_sorted(&third), parsed);
    let mut d = dst.connect();
    let ttl = String::from_utf8(d.call(&[b"PTTL", b"plain"])).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ms > 0 && ms <= 600_000, "{ttl}");
    assert_eq!(
        d.call(&[b"VGETF32", b"vs", b"e1"]),
        [b"$12\r\n".as_slice(), &blob, b"\r\n"].concat()
    );
}

#[test]
fn a_bad_dump_line_is_named_and_exits_1() {
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("bad.jsonl");
    std::fs::write(
        &dump,
        "{\"type\":\"string\",\"key\":\"k\",\"value\":\"v\"}\n{\"type\":\"string\",\"key\":1}\n",
    )
    .unwrap();
    let (code, _, err) = bin(&["import", dump.to_str().unwrap(), "--url", &url(&dst)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.jsonl line 2: not a dump entry"), "{err}");
    let (code, _, err) = bin(&["import", "/nonexistent.jsonl", "--url", &url(&dst)]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent.jsonl"), "{err}");
}

#[test]
fn every_database_is_exported_with_its_db_and_imported_into_it_or_into_the_one_db_names() {
    let src = TestServer::start();
    let mut c = src.connect();
    assert_eq!(c.call(&[b"SET", b"k", b"zero"]), b"+OK\r\n");
    assert_eq!(c.call(&[b"SELECT", b"3"]), b"+OK\r\n");
    assert_eq!(
        c.call(&[b"SET", b"k", b"three", b"PX", b"600000"]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.call(&[b"VADD", b"vs", b"VALUES", b"2", b"1", b"0", b"e", b"Q8", b"M", b"8"]),
        b":1\r\n"
    );
    assert_eq!(c.call(&[b"PEXPIRE", b"vs", b"600000"]), b":1\r\n");
    assert_eq!(c.call(&[b"SELECT", b"12"]), b"+OK\r\n");
    assert_eq!(c.call(&[b"SET", b"only12", b"x"]), b"+OK\r\n");

    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("d.jsonl");
    let dump_s = dump.to_str().unwrap();
    let (code, _, err) = bin(&["export", "--url", &url(&src), "-o", dump_s]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&dump).unwrap();
    let parsed = lines_sorted(&text);
    assert_eq!(parsed.len(), 5, "{text}");
    assert!(
        text.contains(r#"{"type":"string","key":"k","value":"zero"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#""key":"k","value":"three","pttl":"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"type":"string","key":"only12","value":"x","db":12}"#),
        "{text}"
    );
    let db_of = |j: &serde_json::Value| j.get("db").and_then(|d| d.as_u64()).unwrap_or(0);
    let mut dbs: Vec<u64> = parsed.iter().map(db_of).collect();
    dbs.sort();
    assert_eq!(dbs, [0, 3, 3, 3, 12]);

    // Through a data directory and into another server: each entry back in its database.
    let dir = tmp.path().join("data");
    let dir_s = dir.to_str().unwrap();
    let (code, _, err) = bin(&["import", dump_s, "--data-dir", dir_s]);
    assert_eq!(code, 0, "{err}");
    let (code, again, err) = bin(&["export", "--data-dir", dir_s]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines_sorted(&again), parsed);
    let dst = TestServer::start();
    let (code, _, err) = bin(&["import", dump_s, "--url", &url(&dst)]);
    assert_eq!(code, 0, "{err}");
    let mut d = dst.connect();
    assert_eq!(d.call(&[b"GET", b"k"]), b"$4\r\nzero\r\n");
    assert_eq!(d.call(&[b"SELECT", b"3"]), b"+OK\r\n");
    assert_eq!(d.call(&[b"GET", b"k"]), b"$5\r\nthree\r\n");
    assert_eq!(d.call(&[b"VCARD", b"vs"]), b":1\r\n");
    let ttl = String::from_utf8(d.call(&[b"PTTL", b"vs"])).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(
        ms > 0 && ms <= 600_000,
        "the set's TTL is set in its database: {ttl}"
    );

    // --db on export: that database only; on import: every entry into it.
    let (code, only3, err) = bin(&["export", "--url", &url(&src), "--db", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(only3.lines().count(), 3, "{only3}");
    assert!(only3.lines().all(|l| l.ends_with(r#","db":3}"#)), "{only3}");
    let (code, via_url, _) = bin(&["export", "--url", &format!("{}/3", url(&src))]);
    assert_eq!(code, 0);
    assert_eq!(lines_sorted(&via_url), lines_sorted(&only3));
    let other = TestServer::start();
    let (code, _, err) = bin(&["import", dump_s, "--url", &url(&other), "--db", "5"]);
    assert_eq!(code, 0, "{err}");
    let mut o = other.connect();
    assert_eq!(o.call(&[b"DBSIZE"]), b":0\r\n");
    assert_eq!(o.call(&[b"SELECT", b"5"]), b"+OK\r\n");
    assert_eq!(o.call(&[b"DBSIZE"]), b":3\r\n"); // k (written twice), vs, only12
                                                 // A database the server does not have is refused, naming it.
    let (code, _, err) = bin(&["export", "--url", &url(&src), "--db", "16"]);
    assert_eq!(code, 1);
    assert!(err.contains("database 16"), "{err}");
}

fn export_sorted(srv: &TestServer) -> Vec<serde_json::Value> {
    let (code, out, err) = bin(&["export", "--url", &url(srv)]);
    assert_eq!(code, 0, "{err}");
    lines_sorted(&out)
}

fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn hashes_go_through_a_dump_and_a_data_directory_with_their_fields_and_ttl() {
    let src = TestServer::start();
    let mut c = src.connect();
    assert_eq!(
        c.call(&[
            b"HSET",
            b"emb:h1",
            b"model",
            b"minilm",
            b"vec",
            b"\x00\xff\x01"
        ]),
        b":2\r\n"
    );
    assert_eq!(c.call(&[b"HSET", b"\xfeh2", b"f", b"v"]), b":1\r\n");
    assert_eq!(c.call(&[b"PEXPIRE", b"emb:h1", b"600000"]), b":1\r\n");
    let parsed = export_sorted(&src);
    assert_eq!(parsed.len(), 2, "{parsed:?}");
    let h1 = parsed
        .iter()
        .find(|j| j["key"] == "emb:h1")
        .expect("h1 exported");
    assert_eq!(h1["type"], "hash");
    assert_eq!(h1["pttl"], true);
    let fields = h1["fields"].as_array().unwrap();
    assert!(
        fields.contains(&serde_json::json!(["model", "minilm"])),
        "{h1}"
    );
    assert!(
        fields.contains(&serde_json::json!(["vec", {"b64": "AP8B"}])),
        "{h1}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("h.jsonl");
    let (code, _, err) = bin(&["export", "--url", &url(&src), "-o", dump.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let dir = tmp.path().join("data");
    let (code, _, err) = bin(&[
        "import",
        dump.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, again, err) = bin(&["export", "--data-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines_sorted(&again), parsed);

    // An import replaces the hash: a field the target had and the dump lacks is gone.
    let dst = TestServer::start();
    let mut d = dst.connect();
    assert_eq!(d.call(&[b"HSET", b"emb:h1", b"stale", b"x"]), b":1\r\n");
    let (code, _, err) = bin(&["import", dump.to_str().unwrap(), "--url", &url(&dst)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(export_sorted(&dst), parsed);
    assert_eq!(d.call(&[b"HEXISTS", b"emb:h1", b"stale"]), b":0\r\n");
    let ttl = String::from_utf8(d.call(&[b"PTTL", b"emb:h1"])).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ms > 0 && ms <= 600_000, "{ttl}");
}

#[test]
fn an_npy_dump_carries_every_set_as_a_matrix_with_its_names_and_loads_back_unchanged() {
    let src = TestServer::start();
    let mut c = src.connect();
    let e1 = f32_blob(&[0.25, -1.5, 3.0]);
    assert_eq!(
        c.call(&[
            b"VADD",
            b"vs",
            b"FP32",
            &e1,
            b"e1",
            b"SETATTR",
            br#"{"a":1}"#
        ]),
        b":1\r\n"
    );
    assert_eq!(
        c.call(&[
            b"VADD", b"vs", b"VALUES", b"3", b"0.1", b"0.2", b"0.3", b"\xffe2", b"PX", b"600000"
        ]),
        b":1\r\n"
    );
    assert_eq!(
        c.call(&[b"VADD", b"vq", b"VALUES", b"2", b"1", b"0", b"z", b"Q8", b"M", b"8"]),
        b":1\r\n"
    );
    assert_eq!(c.call(&[b"PEXPIRE", b"vq", b"600000"]), b":1\r\n");
    assert_eq!(c.call(&[b"SET", b"plain", b"hello"]), b"+OK\r\n");
    assert_eq!(c.call(&[b"HSET", b"h", b"f", b"v"]), b":1\r\n");
    let parsed = export_sorted(&src);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("npy");
    let dir_s = dir.to_str().unwrap();
    let (code, _, err) = bin(&[
        "export",
        "--url",
        &url(&src),
        "--format",
        "npy",
        "-o",
        dir_s,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 7 entries"), "{err}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let sets = manifest["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "{manifest}");
    let vs = sets.iter().find(|s| s["key"] == "vs").expect("vs listed");
    assert_eq!(
        (vs["dim"].as_u64(), vs["count"].as_u64()),
        (Some(3), Some(2))
    );
    // The matrix is a plain float32 .npy: VEMB's values, row for row with the names file.
    let m = sutra_cache::npy::read(&dir.join(vs["vectors"].as_str().unwrap()), 0).unwrap();
    assert_eq!((m.rows, m.dim), (2, 3));
    let names = std::fs::read_to_string(dir.join(vs["elements"].as_str().unwrap())).unwrap();
    let names: Vec<serde_json::Value> = names
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let i1 = names.iter().position(|n| n["element"] == "e1").unwrap();
    assert_eq!(m.row(i1), &[0.25, -1.5, 3.0]);
    assert_eq!(names[i1]["attributes"], r#"{"a":1}"#);
    assert_eq!(names[1 - i1]["element"], serde_json::json!({"b64": "/2Uy"}));
    assert!(names[1 - i1]["pttl"]
        .as_u64()
        .is_some_and(|ms| ms <= 600_000));

    // A second export into the same directory is refused: dumps never mix.
    let (code, _, err) = bin(&[
        "export",
        "--url",
        &url(&src),
        "--format",
        "npy",
        "-o",
        dir_s,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("not empty"), "{err}");

    // Into another server and into a data directory: what the JSON Lines export shows is
    // the same as the source's.
    let dst = TestServer::start();
    let (code, _, err) = bin(&["import", dir_s, "--url", &url(&dst)]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("imported 7 entries"), "{err}");
    assert_eq!(export_sorted(&dst), parsed);
    let data = tmp.path().join("data");
    let (code, _, err) = bin(&["import", dir_s, "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, again, err) = bin(&["export", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines_sorted(&again), parsed);

    // A dump whose matrix lost a row is refused, naming the file and both counts.
    let vectors = dir.join(vs["vectors"].as_str().unwrap());
    let bytes = std::fs::read(&vectors).unwrap();
    std::fs::write(&vectors, &bytes[..bytes.len() - 12]).unwrap();
    let (code, _, err) = bin(&["import", dir_s, "--url", &url(&TestServer::start())]);
    assert_eq!(code, 1);
    assert!(
        err.contains(vectors.to_str().unwrap()) && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn a_bare_npy_matrix_and_its_names_are_added_to_a_set_and_searchable() {
    let tmp = tempfile::tempdir().unwrap();
    let npy = tmp.path().join("emb.npy");
    let mut w = sutra_cache::npy::Writer::create(&npy, 4).unwrap();
    let rows = [
        [1.0f32, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    for r in &rows {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
    let names = tmp.path().join("names.txt");
    std::fs::write(&names, "the cat\nthe dog\na bird\n").unwrap();
    let dst = TestServer::start();
    let mut d = dst.connect();
    // Added to what the set holds.
    assert_eq!(
        d.call(&[
            b"VADD",
            b"emb:minilm",
            b"VALUES",
            b"4",
            b"0",
            b"0",
            b"0",
            b"1",
            b"kept"
        ]),
        b":1\r\n"
    );
    let (npy_s, names_s) = (npy.to_str().unwrap(), names.to_str().unwrap());
    let (code, _, err) = bin(&[
        "import",
        npy_s,
        "--names",
        names_s,
        "--set",
        "emb:minilm",
        "--url",
        &url(&dst),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("imported 3 entries"), "{err}");
    assert_eq!(d.call(&[b"VCARD", b"emb:minilm"]), b":4\r\n");
    assert_eq!(
        d.call(&[b"VGETF32", b"emb:minilm", b"the dog"]),
        [b"$16\r\n".as_slice(), &f32_blob(&rows[1]), b"\r\n"].concat()
    );
    let hit = d.call(&[
        b"VSIM",
        b"emb:minilm",
        b"VALUES",
        b"4",
        b"0",
        b"0",
        b"0.9",
        b"0.1",
        b"COUNT",
        b"1",
    ]);
    assert_eq!(hit, b"*1\r\n$6\r\na bird\r\n");

    // Names and rows must agree; a matrix without --names/--set is refused with what it needs.
    std::fs::write(&names, "only one\n").unwrap();
    let (code, _, err) = bin(&[
        "import",
        npy_s,
        "--names",
        names_s,
        "--set",
        "s2",
        "--url",
        &url(&dst),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("3 row(s)") && err.contains("only 1 name(s)"),
        "{err}"
    );
    let (code, _, err) = bin(&["import", npy_s, "--url", &url(&dst)]);
    assert_eq!(code, 1);
    assert!(err.contains("needs --names FILE"), "{err}");
}
