//! Cache analytics through the server (issue #15 points 2-4): topic hit rates by FILTER
//! and by semantic neighbourhood with cache-aside miss attribution, hot concepts, the
//! `ANALYTICS` command, `GET /analytics`, `POST /api/query` and `GET /cache/stats`.

use crate::server_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use server_support::{cmd, Conn, TestServer};
use sutra_cache::server::ServerConfig;

/// A RESP reply, parsed.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Int(i64),
    Str(String),
    Err(String),
    Arr(Vec<V>),
    Nil,
}

fn parse(b: &[u8], i: &mut usize) -> V {
    let end = b[*i..].windows(2).position(|w| w == b"\r\n").unwrap() + *i;
    let line = std::str::from_utf8(&b[*i + 1..end]).unwrap().to_string();
    let kind = b[*i];
    *i = end + 2;
    match kind {
        b':' => V::Int(line.parse().unwrap()),
        b'+' => V::Str(line),
        b',' => V::Str(line),
        b'-' => V::Err(line),
        b'$' => {
            let n: i64 = line.parse().unwrap();
            if n < 0 {
                return V::Nil;
            }
            let s = String::from_utf8_lossy(&b[*i..*i + n as usize]).into_owned();
            *i += n as usize + 2;
            V::Str(s)
        }
        b'*' | b'%' => {
            let n: i64 = line.parse().unwrap();
            let n = if kind == b'%' { 2 * n } else { n };
            V::Arr((0..n.max(0)).map(|_| parse(b, i)).collect())
        }
        _ => V::Nil,
    }
}

fn call(c: &mut Conn, args: &[&str]) -> V {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    let r = c.call(&a);
    parse(&r, &mut 0)
}

/// A flat key/value reply as a map of its integer fields.
fn fields(v: &V) -> HashMap<String, V> {
    let V::Arr(items) = v else {
        panic!("not a map: {v:?}")
    };
    items
        .chunks(2)
        .map(|kv| match &kv[0] {
            V::Str(k) => (k.clone(), kv[1].clone()),
            other => panic!("key {other:?}"),
        })
        .collect()
}

fn int(m: &HashMap<String, V>, k: &str) -> i64 {
    match m.get(k) {
        Some(V::Int(n)) => *n,
        other => panic!("{k}: {other:?}"),
    }
}

fn http(srv: &TestServer, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn get(srv: &TestServer, path: &str) -> (u16, String) {
    http(srv, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

fn post_query(srv: &TestServer, phrase: &str) -> (u16, String) {
    let body = serde_json::json!({ "query": phrase }).to_string();
    http(
        srv,
        &format!(
            "POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Element `i` of the test set: even ones are financial and lie near (1, 0), odd ones are
/// news near (0, 1).
fn vadd(i: usize) -> Vec<String> {
    let (topic, x, y) = if i.is_multiple_of(2) {
        ("financial", 1.0, 0.01 * (i % 7) as f32)
    } else {
        ("news", 0.01 * (i % 5) as f32, 1.0)
    };
    vec![
        "VADD".into(),
        "emb".into(),
        "VALUES".into(),
        "2".into(),
        x.to_string(),
        y.to_string(),
        format!("e{i}"),
        "SETATTR".into(),
        format!("{{\"topic\":\"{topic}\"}}"),
    ]
}

fn run(c: &mut Conn, args: &[String]) -> V {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    call(c, &a)
}

#[test]
fn topic_hit_rates_by_filter_and_by_neighbourhood_equal_a_brute_force_count_of_the_same_lookups() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let mut cached = [false; 60];
    for (i, cached) in cached.iter_mut().enumerate().take(40) {
        assert_eq!(run(&mut c, &vadd(i)), V::Int(1));
        *cached = true;
    }
    // The trace: lookups of 60 elements (20 not cached at first); a miss is followed by the
    // application's set half the time (cache-aside), sometimes after other lookups; e55..e59
    // are never set, so their misses stay unattributed.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(15);
    let mut events: Vec<(usize, bool)> = Vec::new(); // (element, hit) lookups in order
    let mut writes_after: Vec<Vec<usize>> = vec![Vec::new(); 60]; // positions of writes
    let mut pending: Vec<usize> = Vec::new();
    for _ in 0..1500 {
        let e = rng.gen_range(0..60);
        let r = call(&mut c, &["VGETF32", "emb", &format!("e{e}")]);
        let hit = r != V::Nil;
        assert_eq!(hit, cached[e], "e{e}");
        events.push((e, hit));
        if !hit && e < 55 && rng.gen_bool(0.5) {
            pending.push(e);
        }
        if !pending.is_empty() && rng.gen_bool(0.3) {
            let w = pending.remove(0);
            run(&mut c, &vadd(w));
            cached[w] = true;
            writes_after[w].push(events.len());
        }
    }
    // Brute force: a hit counts for its element's topic; a miss when its element was written
    // after it (all within the 300 s attribution time: the test takes seconds).
    let financial = |e: usize| e.is_multiple_of(2) && cached[e];
    let (mut hits, mut misses, mut unattributed) = (0i64, 0i64, 0i64);
    for (pos, &(e, hit)) in events.iter().enumerate() {
        let written_after = writes_after[e].iter().any(|&w| w > pos);
        match (hit, written_after) {
            (true, _) if financial(e) => hits += 1,
            (false, true) if financial(e) => misses += 1,
            (false, false) => unattributed += 1,
            _ => {}
        }
    }
    assert!(
        hits > 100 && misses > 5 && unattributed > 5,
        "{hits} {misses} {unattributed}"
    );
    let by_filter = fields(&call(
        &mut c,
        &[
            "ANALYTICS",
            "TOPIC",
            "emb",
            "FILTER",
            ".topic == \"financial\"",
            "WINDOW",
            "3600",
        ],
    ));
    assert_eq!(int(&by_filter, "hits"), hits, "{by_filter:?}");
    assert_eq!(int(&by_filter, "misses"), misses, "{by_filter:?}");
    assert_eq!(int(&by_filter, "unattributed_misses"), unattributed);
    assert_eq!(int(&by_filter, "set_lookups"), events.len() as i64);
    assert_eq!(int(&by_filter, "complete"), 1);
    // The neighbourhood of (1, 0) at score 0.9 holds exactly the financial elements.
    let near = fields(&call(
        &mut c,
        &[
            "ANALYTICS",
            "TOPIC",
            "emb",
            "NEAR",
            "VALUES",
            "2",
            "1",
            "0",
            "THRESHOLD",
            "0.9",
        ],
    ));
    assert_eq!((int(&near, "hits"), int(&near, "misses")), (hits, misses));
    let near_ele = fields(&call(
        &mut c,
        &[
            "ANALYTICS",
            "TOPIC",
            "emb",
            "NEAR",
            "ELE",
            "e0",
            "THRESHOLD",
            "0.9",
        ],
    ));
    assert_eq!(
        (int(&near_ele, "hits"), int(&near_ele, "misses")),
        (hits, misses)
    );
    // The same figures over HTTP.
    let (status, body) = get(
        &srv,
        "/analytics?view=topic&set=emb&filter=.topic%20%3D%3D%20%22financial%22&window=3600",
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["hits"], hits);
    assert_eq!(v["misses"], misses);
    let rate = hits as f64 / (hits + misses) as f64;
    assert!((v["hit_rate"].as_f64().unwrap() - rate).abs() < 1e-9);
    // The seed's phrase, the topic resolved to the attribute value.
    let (status, body) = post_query(
        &srv,
        "Show cache hit rate for financial data in the last hour",
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["resolved_as"], "attribute value");
    assert_eq!(
        (v["hits"].as_i64(), v["misses"].as_i64()),
        (Some(hits), Some(misses))
    );
    let expected = format!(
        "Cache hit rate for financial concepts: {:.1}% ({} hits, {} misses)",
        rate * 100.0,
        hits,
        misses
    );
    assert!(
        v["answer"].as_str().unwrap().starts_with(&expected),
        "{body}"
    );
}

#[test]
fn hot_concepts_on_a_zipf_trace_are_within_their_stated_error() {
    let mut cfg = ServerConfig::default().engine_config();
    cfg.active_expire_interval_ms = 0;
    cfg.analytics.hot_counters = 50;
    let srv = TestServer::with_engine_config(ServerConfig::default(), cfg);
    let mut c = srv.connect();
    for i in 0..200 {
        run(&mut c, &vadd(i));
    }
    // Zipf(1.1) over 200 elements, pipelined.
    let w: Vec<f64> = (1..=200).map(|r| 1.0 / (r as f64).powf(1.1)).collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    let cdf: Vec<f64> = w
        .iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let mut truth = vec![0i64; 200];
    let n = 20_000;
    for _ in 0..n / 1000 {
        let mut batch = Vec::new();
        for _ in 0..1000 {
            // Rank r is element (r * 37) % 200, so popularity is not the insertion order.
            let r = cdf.partition_point(|&c| c < rng.gen::<f64>()).min(199);
            let e = (r * 37) % 200;
            truth[e] += 1;
            batch.extend(cmd(&[b"VGETF32", b"emb", format!("e{e}").as_bytes()]));
        }
        c.send(&batch);
        for _ in 0..1000 {
            c.read_reply();
        }
    }
    let hot = fields(&call(
        &mut c,
        &["ANALYTICS", "HOT", "emb", "COUNT", "10", "WINDOW", "3600"],
    ));
    assert_eq!(int(&hot, "lookups"), n);
    assert_eq!(int(&hot, "counters"), 50);
    let bound = int(&hot, "error_bound");
    assert_eq!(bound, n / 50);
    let V::Arr(concepts) = &hot["concepts"] else {
        panic!()
    };
    assert_eq!(concepts.len(), 10);
    let mut order: Vec<usize> = (0..200).collect();
    order.sort_by_key(|&e| -truth[e]);
    for (rank, c) in concepts.iter().enumerate() {
        let V::Arr(t) = c else { panic!() };
        let (V::Str(name), V::Int(count), V::Int(error)) = (&t[0], &t[1], &t[2]) else {
            panic!("{t:?}")
        };
        let e: usize = name[1..].parse().unwrap();
        let true_count = truth[e];
        assert!(
            *count >= true_count && count - true_count <= *error && *error <= bound,
            "{name}: {count} ± {error}, true {true_count}, bound {bound}"
        );
        // The top two are further apart than the bound, so they come out in order.
        if rank < 2 {
            assert_eq!(e, order[rank], "rank {rank}");
        }
    }
    // Every element truly looked up more often than the tenth reported count is reported:
    // unmonitored, its true count would be at most the smallest counter.
    let tenth = match &concepts[9] {
        V::Arr(t) => match t[1] {
            V::Int(n) => n,
            _ => panic!(),
        },
        _ => panic!(),
    };
    let reported: Vec<String> = concepts
        .iter()
        .map(|c| match c {
            V::Arr(t) => match &t[0] {
                V::Str(s) => s.clone(),
                _ => panic!(),
            },
            _ => panic!(),
        })
        .collect();
    for (e, &t) in truth.iter().enumerate() {
        if t > tenth {
            assert!(reported.contains(&format!("e{e}")), "e{e} ({t}) missing");
        }
    }
    // By topic: only financial (even) elements.
    let fin = fields(&call(
        &mut c,
        &[
            "ANALYTICS",
            "HOT",
            "emb",
            "FILTER",
            ".topic == \"financial\"",
            "COUNT",
            "5",
        ],
    ));
    let V::Arr(concepts) = &fin["concepts"] else {
        panic!()
    };
    assert_eq!(concepts.len(), 5);
    let even: i64 = (0..200).step_by(2).map(|e| truth[e]).sum();
    assert_eq!(int(&fin, "lookups"), even);
    for c in concepts {
        let V::Arr(t) = c else { panic!() };
        let V::Str(name) = &t[0] else { panic!() };
        assert_eq!(name[1..].parse::<usize>().unwrap() % 2, 0, "{name}");
    }
    // The seed's warm-up phrase answers with the same concepts.
    let (status, body) = post_query(&srv, "Which financial concepts are queried most often?");
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["ask"], "hot");
    let names: Vec<&str> = v["concepts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["element"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10);
    assert!(
        names
            .iter()
            .all(|n| n[1..].parse::<usize>().unwrap() % 2 == 0),
        "{names:?}"
    );
    assert!(v["answer"]
        .as_str()
        .unwrap()
        .starts_with("Most queried financial concepts in the last hour: "));
    let (status, body) = get(&srv, "/analytics?view=hot&set=emb&count=3");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["concepts"].as_array().unwrap().len(), 3);
}

#[test]
fn every_seed_phrase_is_answered_and_unreadable_ones_get_400_with_the_grammar() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    for i in 0..4 {
        run(&mut c, &vadd(i));
    }
    assert_eq!(
        call(
            &mut c,
            &["VADD", "model:finance", "VALUES", "2", "1", "0", "x"]
        ),
        V::Int(1)
    );
    for e in ["e0", "e1", "e2", "nope"] {
        call(&mut c, &["VGETF32", "emb", e]);
    }
    call(&mut c, &["VGETF32", "model:finance", "x"]);
    call(&mut c, &["VGETF32", "model:finance", "y"]);
    // Performance covers the whole shard (from the series).
    let (status, body) = post_query(&srv, "Show embedding cache performance");
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["ask"], "performance");
    assert_eq!(
        (v["hits"].as_i64(), v["misses"].as_i64()),
        (Some(4), Some(2))
    );
    assert!(v["answer"]
        .as_str()
        .unwrap()
        .starts_with("Embedding cache performance over the last hour: 6 lookups, hit rate 66.7% (4 hits, 2 misses)"), "{body}");
    // A topic naming a set resolves to that set's series.
    let (status, body) = post_query(
        &srv,
        "cache hit rate for finance embeddings over the last 10 minutes",
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["resolved_as"], "vector set");
    assert_eq!(v["resolved_to"][0], "model:finance");
    assert_eq!(
        v["answer"],
        "Cache hit rate for finance concepts: 50.0% (1 hits, 1 misses)"
    );
    // A topic naming a cached element resolves to its neighbourhood.
    let (status, body) = post_query(&srv, "hit rate for e0");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["resolved_as"], "cached embedding");
    // The plain-text body and the RESP command answer the same sentence.
    let (status, body) = http(
        &srv,
        "POST /api/query HTTP/1.1\r\nContent-Length: 17\r\n\r\ncache hit rate???",
    );
    assert_eq!(status, 200, "{body}");
    let sentence = json(&body)["answer"].as_str().unwrap().to_string();
    assert_eq!(sentence, "Cache hit rate: 66.7% (4 hits, 2 misses)");
    assert_eq!(
        call(&mut c, &["ANALYTICS", "QUERY", "cache hit rate"]),
        V::Str(sentence)
    );
    // Refused: outside the grammar (400 with the grammar), an unknown topic (400 naming it).
    for bad in [
        "delete everything",
        "hit rate for",
        "which concepts are queried least often",
    ] {
        let (status, body) = post_query(&srv, bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("hit-rate    :="), "{body}");
    }
    let (status, body) = post_query(&srv, "hit rate for astrology data");
    assert_eq!(status, 400);
    assert!(body.contains("unknown topic 'astrology'"), "{body}");
    let (status, body) = http(
        &srv,
        "POST /api/query HTTP/1.1\r\nContent-Length: 9\r\n\r\n{\"q\": 1}x",
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&srv, "/api/query");
    assert_eq!(status, 405);
    match call(&mut c, &["ANALYTICS", "QUERY", "make me a sandwich"]) {
        V::Err(e) => assert!(e.contains("grammar"), "{e}"),
        other => panic!("{other:?}"),
    }
    // GET /cache/stats answers as /stats does (the seed's monitoring step).
    let (status, body) = get(&srv, "/cache/stats");
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(
        (v["hits"].as_i64(), v["misses"].as_i64()),
        (Some(4), Some(2))
    );
    assert_eq!(v["backend"], "sutra-cache");
}

#[test]
fn series_hit_rate_and_sets_answer_over_resp_and_http() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    run(&mut c, &vadd(0));
    call(&mut c, &["VGETF32", "emb", "e0"]);
    call(&mut c, &["VGETF32", "emb", "e9"]);
    let h = fields(&call(
        &mut c,
        &["ANALYTICS", "HITRATE", "emb", "WINDOW", "60"],
    ));
    assert_eq!(
        (int(&h, "hits"), int(&h, "misses"), int(&h, "lookups")),
        (1, 1, 2)
    );
    assert_eq!(int(&h, "resolution_seconds"), 1);
    let V::Arr(sets) = call(&mut c, &["ANALYTICS", "SETS"]) else {
        panic!()
    };
    assert!(sets.contains(&V::Str("emb".into())), "{sets:?}");
    let V::Arr(buckets) = call(&mut c, &["ANALYTICS", "SERIES", "emb", "RESOLUTION", "1"]) else {
        panic!()
    };
    let sum = |k: usize| -> i64 {
        buckets
            .iter()
            .map(|b| match b {
                V::Arr(x) => match x[k] {
                    V::Int(n) => n,
                    _ => 0,
                },
                _ => 0,
            })
            .sum()
    };
    assert_eq!((sum(1), sum(2), sum(3)), (1, 1, 1));
    let (status, body) = get(&srv, "/analytics?view=series&set=emb&resolution=1");
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    let hits: u64 = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["hits"].as_u64().unwrap())
        .sum();
    assert_eq!(hits, 1);
    let (status, body) = get(&srv, "/analytics?set=emb&window=60");
    assert_eq!(status, 200);
    assert_eq!(json(&body)["lookups"], 2);
    let log = fields(&call(&mut c, &["ANALYTICS", "LOG"]));
    assert_eq!(int(&log, "entries"), 1 << 22);
    assert_eq!(int(&log, "bytes"), 16 << 22);
    assert_eq!(int(&log, "recorded"), 3);
}

#[test]
fn bad_analytics_arguments_get_errors_naming_the_argument() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    run(&mut c, &vadd(0));
    let err = |c: &mut Conn, args: &[&str], needle: &str| match call(c, args) {
        V::Err(e) => assert!(e.contains(needle), "{args:?}: {e}"),
        other => panic!("{args:?}: {other:?}"),
    };
    err(
        &mut c,
        &["ANALYTICS", "BOGUS"],
        "unknown ANALYTICS subcommand 'BOGUS'",
    );
    err(
        &mut c,
        &["ANALYTICS", "HITRATE", "nosuch"],
        "unknown set 'nosuch'",
    );
    err(
        &mut c,
        &["ANALYTICS", "HITRATE", "emb", "WINDOW", "0"],
        "WINDOW",
    );
    err(
        &mut c,
        &["ANALYTICS", "HITRATE", "emb", "WINDOW", "soon"],
        "WINDOW",
    );
    err(
        &mut c,
        &["ANALYTICS", "HITRATE", "emb", "WINDOW"],
        "WINDOW needs a value",
    );
    err(
        &mut c,
        &["ANALYTICS", "SERIES", "emb", "RESOLUTION", "7"],
        "resolution",
    );
    err(&mut c, &["ANALYTICS", "SERIES", "emb"], "RESOLUTION");
    err(&mut c, &["ANALYTICS", "TOPIC", "emb"], "FILTER or NEAR");
    err(
        &mut c,
        &["ANALYTICS", "TOPIC", "nosuch", "FILTER", ".a == 1"],
        "nosuch",
    );
    err(
        &mut c,
        &["ANALYTICS", "TOPIC", "emb", "FILTER", ".topic =="],
        "",
    );
    err(
        &mut c,
        &["ANALYTICS", "TOPIC", "emb", "NEAR", "ELE", "e0"],
        "THRESHOLD",
    );
    err(
        &mut c,
        &[
            "ANALYTICS",
            "TOPIC",
            "emb",
            "NEAR",
            "ELE",
            "zz",
            "THRESHOLD",
            "0.5",
        ],
        "element not found",
    );
    err(&mut c, &["ANALYTICS", "HOT", "emb", "COUNT", "0"], "COUNT");
    err(
        &mut c,
        &["ANALYTICS", "HOT", "emb", "SIDEWAYS", "1"],
        "unknown option 'SIDEWAYS'",
    );
    for (path, needle) in [
        ("/analytics?view=topic&set=emb&filter=%22", "'filter'"),
        ("/analytics?view=topic&set=emb", "'filter' or 'near'"),
        ("/analytics?window=soon", "'window'"),
        ("/analytics?view=sideways", "'view'"),
        ("/analytics?bogus=1", "'bogus'"),
        ("/analytics?view=hot", "'set'"),
        ("/analytics?view=hot&set=nosuch", "nosuch"),
        ("/analytics?filter=%zz", "'filter'"),
    ] {
        let (status, body) = get(&srv, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(needle), "{path}: {body}");
    }
}

#[test]
fn metrics_carry_build_info_and_label_at_most_100_sets_by_name() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    for i in 0..105 {
        let set = format!("s{i:03}");
        call(&mut c, &["VADD", &set, "VALUES", "2", "1", "0", "x"]);
        // s000 is looked up most, s104 least: the five least looked-up are summed.
        for _ in 0..(105 - i) {
            call(&mut c, &["VGETF32", &set, "x"]);
        }
    }
    let (status, body) = get(&srv, "/metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!(
            "sutra_cache_build_info{{version=\"{}\",",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    let hit_lines: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("sutra_cache_set_hits_total{"))
        .collect();
    assert_eq!(hit_lines.len(), 101, "{hit_lines:?}");
    assert!(hit_lines.contains(&"sutra_cache_set_hits_total{set=\"s000\"} 105"));
    assert!(!body.contains("set=\"s100\""));
    // s100..s104 were looked up 5, 4, 3, 2 and 1 times.
    assert!(hit_lines.contains(&"sutra_cache_set_hits_total{set=\"_other\"} 15"));
    assert!(body.contains("sutra_cache_set_entries{set=\"_other\"} 5"));
}
