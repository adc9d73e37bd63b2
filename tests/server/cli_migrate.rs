//! `sutra-cache migrate` from a real redis-server (scripts/setup.sh installs it): strings
//! with TTLs copied, other types skipped and counted; with --embeddings, pickled, JSON and
//! raw float32 values become cache entries; a run resumes from its saved cursor, also after
//! a SIGKILL part way through 100k keys.

use crate::server_support;

use std::process::{Child, Command, Stdio};

use server_support::TestServer;

struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redis-server on a free port; `None` (the test is skipped) when redis-server is missing
/// and tools are not required (`server_support::tools`).
fn redis_server() -> Option<Redis> {
    if server_support::tools::missing_redis_tool("redis-server") {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/setup.sh)");
    let r = Redis { child, port };
    for _ in 0..400 {
        if let Ok(mut c) = redis::Client::open(r.url()).unwrap().get_connection() {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return Some(r);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("redis-server did not start");
}

impl Redis {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn migrate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("migrate")
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn vector(i: usize) -> Vec<f32> {
    vec![i as f32 * 0.5, 1.0, -(i as f32)]
}

const N: usize = 600;

fn populate(r: &Redis) {
    let mut c = redis::Client::open(r.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut p = redis::pipe();
    for i in 0..N {
        let v = vector(i);
        let as64: Vec<f64> = v.iter().map(|x| *x as f64).collect();
        let pickled = serde_pickle::to_vec(&as64, Default::default()).unwrap();
        p.cmd("SET")
            .arg(format!("emb:pk:text {i}"))
            .arg(pickled)
            .arg("PX")
            .arg(600_000)
            .ignore();
        p.cmd("SET")
            .arg(format!("emb:js:text {i}"))
            .arg(serde_json::to_string(&v).unwrap())
            .ignore();
        let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        p.cmd("SET")
            .arg(format!("emb:pk:raw {i}"))
            .arg(raw)
            .ignore();
    }
    p.cmd("SET")
        .arg("plain")
        .arg("hello")
        .arg("PX")
        .arg(600_000)
        .ignore();
    p.cmd("HSET").arg("h").arg("f").arg("v").ignore();
    p.cmd("RPUSH").arg("l").arg("x").ignore();
    p.query::<()>(&mut c).unwrap();
}

fn target(srv: &TestServer) -> redis::Connection {
    redis::Client::open(format!("redis://{}", srv.addr))
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn every_string_and_hash_is_copied_with_its_ttl_and_a_list_is_skipped_and_counted() {
    let Some(r) = redis_server() else {
        return;
    };
    populate(&r);
    let dst = TestServer::start();
    let (code, out) = migrate(&["--from", &r.url(), "--to", &format!("redis://{}", dst.addr)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "migrated {} key(s); skipped 1 (1 of type list); failed 0",
            3 * N + 2
        )),
        "{out}"
    );
    let mut c = target(&dst);
    assert_eq!(
        redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap(),
        3 * N as u64 + 2
    );
    let f: String = redis::cmd("HGET").arg("h").arg("f").query(&mut c).unwrap();
    assert_eq!(f, "v");
    let ttl: i64 = redis::cmd("PTTL").arg("plain").query(&mut c).unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "{ttl}");
    let v: Vec<u8> = redis::cmd("GET").arg("emb:pk:raw 7").query(&mut c).unwrap();
    assert_eq!(
        v,
        vector(7)
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>()
    );
}

#[test]
fn embeddings_in_pickle_json_and_raw_become_entries_and_a_resumed_run_goes_on_from_its_cursor() {
    let Some(r) = redis_server() else {
        return;
    };
    populate(&r);
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let resume = tmp.path().join("cursor");
    // An interrupted run left its cursor after the first SCAN step: resume from there.
    let mut src = redis::Client::open(r.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let (cursor, first): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("emb:*")
        .arg("COUNT")
        .arg(200)
        .query(&mut src)
        .unwrap();
    assert_ne!(cursor, 0);
    std::fs::write(&resume, cursor.to_string()).unwrap();
    let to = format!("redis://{}", dst.addr);
    let rule = "^emb:(?P<model>[^:]+):(?P<text>.*)$";
    let args = [
        "--from",
        &r.url(),
        "--to",
        &to,
        "--pattern",
        "emb:*",
        "--embeddings",
        "--key-rule",
        rule,
        "--resume",
        resume.to_str().unwrap(),
    ];
    let (code, out) = migrate(&args);
    assert_eq!(code, 0, "{out}");
    let after = 3 * N - first.len();
    assert!(out.contains(&format!("migrated {after} key(s)")), "{out}");
    assert!(!resume.exists(), "a completed run removes its cursor file");
    // The whole run from the start: every entry, counts per model.
    let (code, out) = migrate(&args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "migrated {} key(s); skipped 0 (); failed 0",
            3 * N
        )),
        "{out}"
    );
    let mut c = target(&dst);
    assert_eq!(
        redis::cmd("VCARD")
            .arg("emb:pk")
            .query::<u64>(&mut c)
            .unwrap(),
        2 * N as u64
    );
    assert_eq!(
        redis::cmd("VCARD")
            .arg("emb:js")
            .query::<u64>(&mut c)
            .unwrap(),
        N as u64
    );
    for (set, name) in [
        ("emb:pk", "text 5"),
        ("emb:js", "text 5"),
        ("emb:pk", "raw 5"),
    ] {
        let got: Vec<u8> = redis::cmd("VGETF32")
            .arg(set)
            .arg(name)
            .query(&mut c)
            .unwrap();
        assert_eq!(
            got,
            vector(5)
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
            "{set} {name}"
        );
    }
    let attr: String = redis::cmd("VGETATTR")
        .arg("emb:pk")
        .arg("text 5")
        .query(&mut c)
        .unwrap();
    assert!(
        attr.starts_with(
            r#"{"concept_type":"embedding_cache","source":"migration","model":"pk","cached_at":"#
        ),
        "{attr}"
    );
    assert!(attr.ends_with(r#","ttl_seconds":600}"#), "{attr}");
    let ttl: i64 = redis::cmd("VPTTL")
        .arg("emb:pk")
        .arg("text 5")
        .query(&mut c)
        .unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "{ttl}");
}

#[test]
fn a_key_rule_without_the_named_groups_is_refused() {
    let (code, out) = migrate(&[
        "--from",
        "redis://127.0.0.1:1",
        "--embeddings",
        "--key-rule",
        "^(.*)$",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--key-rule needs named groups"), "{out}");
}

fn strings_in(c: &mut redis::Connection, db: u32) -> Vec<(String, String)> {
    redis::cmd("SELECT").arg(db).query::<()>(c).unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v: String = redis::cmd("GET").arg(&k).query(c).unwrap();
            (k, v)
        })
        .collect()
}

#[test]
fn a_redis_database_named_by_the_url_or_by_db_is_copied_into_the_same_or_the_to_db_database() {
    let Some(r) = redis_server() else {
        return;
    };
    let mut c = redis::Client::open(r.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for (db, key) in [(0u32, "in0"), (2, "in2"), (4, "in4")] {
        redis::cmd("SELECT").arg(db).query::<()>(&mut c).unwrap();
        redis::cmd("SET")
            .arg(key)
            .arg(format!("v{db}"))
            .query::<()>(&mut c)
            .unwrap();
    }
    let dst = TestServer::start();
    let to = format!("redis://{}", dst.addr);
    // --from redis://host:port/2: database 2 only, into database 2.
    let (code, out) = migrate(&["--from", &format!("{}/2", r.url()), "--to", &to]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("migrated 1 key(s)"), "{out}");
    let mut t = target(&dst);
    assert_eq!(strings_in(&mut t, 2), [("in2".into(), "v2".into())]);
    assert!(strings_in(&mut t, 0).is_empty());
    // --db 4 --to-db 7: database 4 into database 7.
    let (code, out) = migrate(&["--from", &r.url(), "--db", "4", "--to-db", "7", "--to", &to]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings_in(&mut t, 7), [("in4".into(), "v4".into())]);
    assert!(strings_in(&mut t, 4).is_empty());
    // A database the source does not have is refused, naming it.
    let (code, out) = migrate(&["--from", &r.url(), "--db", "99", "--to", &to]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("source database 99"), "{out}");
    let (code, out) = migrate(&["--from", &r.url(), "--to-db", "16", "--to", &to]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("target database 16"), "{out}");
}

/// The issue's scale: 100k keys in the seed's two formats (50k pickled lists with TTLs, 50k
/// JSON lists), a migration killed (SIGKILL) part way, then resumed from its cursor file: every
/// key arrives once, with its vector and TTL, and the summary's counts match.
#[test]
fn a_hundred_thousand_seed_keys_migrate_through_a_kill_and_a_resume_with_counts_and_ttls_intact() {
    const HALF: usize = 50_000;
    let Some(r) = redis_server() else {
        return;
    };
    let mut c = redis::Client::open(r.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let vec8 = |i: usize| -> Vec<f64> {
        (0..8)
            .map(|d| ((i * 8 + d) % 97) as f64 * 0.25 - 3.0)
            .collect()
    };
    for chunk in (0..HALF).collect::<Vec<_>>().chunks(5_000) {
        let mut p = redis::pipe();
        for &i in chunk {
            let v = vec8(i);
            p.cmd("SET")
                .arg(format!("emb:pk:text {i}"))
                .arg(serde_pickle::to_vec(&v, Default::default()).unwrap())
                .arg("PX")
                .arg(3_600_000)
                .ignore();
            p.cmd("SET")
                .arg(format!("emb:js:text {i}"))
                .arg(serde_json::to_string(&v).unwrap())
                .ignore();
        }
        p.query::<()>(&mut c).unwrap();
    }
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let resume = tmp.path().join("cursor");
    let to = format!("redis://{}", dst.addr);
    let args = [
        "migrate",
        "--from",
        &r.url(),
        "--to",
        &to,
        "--pattern",
        "emb:*",
        "--embeddings",
        "--key-rule",
        "^emb:(?P<model>[^:]+):(?P<text>.*)$",
        "--count",
        "1000",
        "--resume",
        resume.to_str().unwrap(),
    ];
    let mut t = target(&dst);
    let card = |t: &mut redis::Connection, set: &str| -> u64 {
        redis::cmd("VCARD").arg(set).query::<u64>(t).unwrap_or(0)
    };
    // The first run is killed once it has written some batches and saved its cursor.
    let mut run = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let done = card(&mut t, "emb:pk") + card(&mut t, "emb:js");
        if resume.exists() && done >= 5_000 {
            break;
        }
        if let Some(status) = run.try_wait().unwrap() {
            panic!("the first run ended ({status}) before it could be killed part way");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no progress: {done} entries"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let before = card(&mut t, "emb:pk") + card(&mut t, "emb:js");
    assert!(
        before < 2 * HALF as u64,
        "the kill came after the end ({before})"
    );
    let cursor = std::fs::read_to_string(&resume).unwrap();
    assert_ne!(cursor.trim(), "0", "a cursor part way");

    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("skipped 0 (); failed 0"), "{text}");
    assert!(!resume.exists(), "a completed run removes its cursor file");
    assert_eq!(card(&mut t, "emb:pk"), HALF as u64);
    assert_eq!(card(&mut t, "emb:js"), HALF as u64);
    for i in [0, 1, HALF / 2, HALF - 1] {
        for set in ["emb:pk", "emb:js"] {
            let got: Vec<u8> = redis::cmd("VGETF32")
                .arg(set)
                .arg(format!("text {i}"))
                .query(&mut t)
                .unwrap();
            let want: Vec<u8> = vec8(i)
                .iter()
                .flat_map(|x| (*x as f32).to_le_bytes())
                .collect();
            assert_eq!(got, want, "{set} text {i}");
        }
        let ttl: i64 = redis::cmd("VPTTL")
            .arg("emb:pk")
            .arg(format!("text {i}"))
            .query(&mut t)
            .unwrap();
        assert!(ttl > 0 && ttl <= 3_600_000, "pickled entry {i}: TTL {ttl}");
        let ttl: i64 = redis::cmd("VPTTL")
            .arg("emb:js")
            .arg(format!("text {i}"))
            .query(&mut t)
            .unwrap();
        assert_eq!(ttl, -1, "JSON entry {i} had no TTL");
    }
}
