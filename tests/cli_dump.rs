//! `sutra-cache export` / `import` through the binary: a server's strings and vector sets
//! (binary keys and values, attributes, key and element TTLs, storage modes) go to a dump,
//! into a data directory, out again and into another server unchanged.

mod server_support;

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
