//! `GET /dashboard` (issue #15 point 7), loaded in headless Chromium against a server with
//! traffic made on an injected clock: the charts' points must carry the per-second figures
//! the traffic made, the memory table the /stats figures, the top-concepts bars the exact
//! lookup counts, and the topic box the /api/query answer. A screenshot is saved under
//! `target/tmp/dashboard/` (the test's temp dir, kept as an artifact).
//!
//! Chromium is Debian's `chromium` (scripts/setup.sh installs it). Without it the test
//! skips, saying so, unless tools are required (`SUTRA_REQUIRE_TOOLS=1`, as
//! scripts/test-all.sh sets, or `CI` set), where it fails.

use crate::server_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regex::Regex;
use server_support::{cmd, tools, Conn, TestServer};
use sutra_cache::server::ServerConfig;
use sutra_cache::ManualClock;

fn http(srv: &TestServer, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

fn get(srv: &TestServer, path: &str, auth: &str) -> (String, String) {
    http(
        srv,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"),
    )
}

/// The Chromium binary, or `None` (after the skip message) when it is missing.
fn chromium() -> Option<String> {
    let found = std::env::var("SUTRA_CHROMIUM")
        .ok()
        .into_iter()
        .chain(["chromium".to_string(), "chromium-browser".to_string()])
        .find(|c| tools::has_command(c));
    let required = tools::required() || std::env::var_os("CI").is_some();
    match found {
        Some(c) => Some(c),
        None if required => panic!(
            "chromium is not available and this run requires it (SUTRA_REQUIRE_TOOLS=1 or CI): \
             run scripts/setup.sh (Debian package chromium)"
        ),
        None => {
            eprintln!(
                "skipped: chromium is not available: run scripts/setup.sh (Debian package \
                 chromium), or set SUTRA_CHROMIUM to a Chromium binary"
            );
            None
        }
    }
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=…`) and returns
/// its stdout. The flags this machine needs: no sandbox (root), no GPU, no background
/// networking (the network is closed), a fresh profile.
fn run_chromium(bin: &str, url: &str, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,1500",
            "--virtual-time-budget=15000",
            &format!("--user-data-dir={}", profile.path().display()),
            mode,
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    // A generous deadline: Chromium on a loaded 2-core machine.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish within 180 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}) on {url}:\n{stderr}"
    );
    stdout
}

/// Every element of `tag` in `dom` with its attributes.
fn elements(dom: &str, tag: &str) -> Vec<HashMap<String, String>> {
    let el = Regex::new(&format!(r"<{tag}\b([^>]*)>")).unwrap();
    let attr = Regex::new(r#"([\w-]+)="([^"]*)""#).unwrap();
    el.captures_iter(dom)
        .map(|c| {
            attr.captures_iter(&c[1])
                .map(|a| (a[1].to_string(), a[2].replace("&amp;", "&")))
                .collect()
        })
        .collect()
}

fn num(m: &HashMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{k} is not a number in {m:?}"))
}

/// The `<svg class="chart">` of one set and metric, and its points.
fn chart(
    dom: &str,
    set: &str,
    metric: &str,
) -> (
    HashMap<String, String>,
    String,
    Vec<HashMap<String, String>>,
) {
    let open = Regex::new(r#"<svg\b[^>]*class="chart"[^>]*>"#).unwrap();
    for m in open.find_iter(dom) {
        let attrs = &elements(m.as_str(), "svg")[0];
        if attrs.get("data-set").map(String::as_str) == Some(set)
            && attrs.get("data-metric").map(String::as_str) == Some(metric)
        {
            let body = &dom[m.end()..];
            let body = &body[..body.find("</svg>").unwrap()];
            let path = elements(body, "path")
                .first()
                .and_then(|p| p.get("d").cloned())
                .unwrap_or_default();
            return (attrs.clone(), path, elements(body, "circle"));
        }
    }
    panic!("no chart for set {set} metric {metric} in the DOM:\n{dom}")
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Element `i` of `emb`: even ones are financial, odd ones news.
fn vadd_emb(c: &mut Conn, i: usize) {
    let topic = if i.is_multiple_of(2) {
        "financial"
    } else {
        "news"
    };
    let (x, y) = (1.0 + i as f32, 0.5);
    let attrs = format!("{{\"topic\":\"{topic}\"}}");
    let r = c.call(&[
        b"VADD",
        b"emb",
        b"VALUES",
        b"2",
        x.to_string().as_bytes(),
        y.to_string().as_bytes(),
        format!("e{i}").as_bytes(),
        b"SETATTR",
        attrs.as_bytes(),
    ]);
    assert_eq!(r, b":1\r\n");
}

fn lookup(c: &mut Conn, set: &str, elem: &str) -> bool {
    let r = c.call(&[b"VGETF32", set.as_bytes(), elem.as_bytes()]);
    !r.starts_with(b"$-1") && !r.starts_with(b"*-1") && !r.starts_with(b"_")
}

#[test]
fn the_dashboard_in_chromium_draws_the_servers_per_second_figures_top_concepts_and_the_topic_answer(
) {
    let Some(bin) = chromium() else { return };
    // An injected clock at a whole second of real time, so the page's "last 10 minutes"
    // (the browser's clock) holds the buckets, and each second's traffic is exact.
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t0 = now_s - 8;
    let clock = ManualClock::new(t0 * 1000);
    let mut engine = ServerConfig::default().engine_config();
    engine.clock = clock.clone();
    engine.active_expire_interval_ms = 0;
    let srv = TestServer::with_engine_config(ServerConfig::default(), engine);
    let mut c = srv.connect();
    for i in 0..20 {
        vadd_emb(&mut c, i);
    }
    for i in 0..5 {
        c.check(
            &cmd(&[
                b"VADD",
                b"other",
                b"VALUES",
                b"2",
                b"0",
                b"1",
                format!("o{i}").as_bytes(),
            ]),
            b":1\r\n",
        );
    }
    // A tick once the clock has passed a second closes that second's counts into its bucket.
    clock.advance(1000);
    srv.engine.analytics_tick().unwrap();

    // Six seconds of traffic: in second k, emb gets 3 + 2k hits (element j of that second is
    // e(j mod (k+2)), so e0 is the most looked up) and k misses; `other` is looked up only in
    // seconds 1 and 4 (a gap the lookups/s chart must draw down to 0).
    let mut per_second: Vec<(u64, u64, u64)> = Vec::new(); // (start, hits, misses) of emb
    let mut other_seconds: Vec<(u64, u64)> = Vec::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let (mut fin_hits, mut all_hits, mut all_misses) = (0u64, 0u64, 0u64);
    for k in 0..6u64 {
        let start = t0 + 1 + k;
        let (hits, misses) = (3 + 2 * k, k);
        for j in 0..hits {
            let e = j % (k + 2);
            assert!(lookup(&mut c, "emb", &format!("e{e}")));
            *counts.entry(format!("e{e}")).or_default() += 1;
            if e.is_multiple_of(2) {
                fin_hits += 1;
            }
        }
        for j in 0..misses {
            assert!(!lookup(&mut c, "emb", &format!("never-{k}-{j}")));
        }
        all_hits += hits;
        all_misses += misses;
        per_second.push((start, hits, misses));
        if k == 1 || k == 4 {
            for j in 0..4 {
                assert!(lookup(&mut c, "other", &format!("o{j}")));
            }
            other_seconds.push((start, 4));
        }
        clock.advance(1000);
        srv.engine.analytics_tick().unwrap();
    }

    let phrase = "Show cache hit rate for financial data in the last hour";
    let url = format!(
        "http://{}/dashboard?refresh=0&q={}",
        srv.addr,
        phrase.replace(' ', "%20")
    );
    let dom = run_chromium(&bin, &url, "--dump-dom");

    let body = &elements(&dom, "body")[0];
    assert!(
        num(body, "data-renders") >= 1.0,
        "the page never rendered:\n{dom}"
    );
    assert!(!dom.contains(r#"id="status" class="error""#), "{dom}");

    // Lookups/s and hit rate of emb: one point per second with traffic, carrying its figures.
    let (svg, path, points) = chart(&dom, "emb", "lookups");
    let got: Vec<(u64, u64, u64)> = points
        .iter()
        .filter(|p| num(p, "data-lookups") > 0.0)
        .map(|p| {
            (
                num(p, "data-start") as u64,
                num(p, "data-hits") as u64,
                num(p, "data-misses") as u64,
            )
        })
        .collect();
    assert_eq!(got, per_second, "emb's lookups/s points");
    for p in &points {
        assert_eq!(
            num(p, "data-value"),
            num(p, "data-lookups"),
            "1 s buckets: {p:?}"
        );
    }
    // The line goes through every point, and heights follow the values: the busiest second
    // (the last, 13 hits + 5 misses) is at the top of the plot, which is the chart's max.
    assert_eq!(path.matches(['M', 'L']).count(), points.len(), "{path}");
    assert_eq!(path.matches('M').count(), 1, "{path}");
    assert_eq!(num(&svg, "data-max"), 18.0);
    let top = points
        .iter()
        .min_by(|a, b| num(a, "cy").total_cmp(&num(b, "cy")))
        .unwrap();
    assert_eq!(num(top, "data-lookups"), 18.0);
    let ys: Vec<f64> = points.iter().map(|p| num(p, "cy")).collect();
    assert!(
        ys.windows(2).all(|w| w[1] < w[0]),
        "rising traffic draws rising: {ys:?}"
    );

    let (_, _, rate) = chart(&dom, "emb", "hit_rate");
    assert_eq!(rate.len(), per_second.len());
    for (p, (start, h, m)) in rate.iter().zip(&per_second) {
        assert_eq!(num(p, "data-start") as u64, *start);
        let want = *h as f64 / (h + m) as f64;
        assert!(
            (num(p, "data-value") - want).abs() < 1e-12,
            "{p:?} vs {want}"
        );
    }

    // `other`: two busy seconds with a gap the lookups/s line drops to 0 in between.
    let (_, _, other) = chart(&dom, "other", "lookups");
    let busy: Vec<(u64, u64)> = other
        .iter()
        .filter(|p| num(p, "data-lookups") > 0.0)
        .map(|p| (num(p, "data-start") as u64, num(p, "data-hits") as u64))
        .collect();
    assert_eq!(busy, other_seconds);
    assert!(
        other.iter().any(|p| num(p, "data-value") == 0.0
            && num(p, "data-start") as u64 > other_seconds[0].0
            && (num(p, "data-start") as u64) < other_seconds[1].0),
        "no drop to 0 between the busy seconds: {other:?}"
    );

    // The shard's chart is the sum of both sets.
    let (_, _, shard) = chart(&dom, "*", "lookups");
    let shard_lookups: f64 = shard.iter().map(|p| num(p, "data-lookups")).sum();
    assert_eq!(shard_lookups as u64, all_hits + all_misses + 8);

    // Memory and entries: the /stats figures (nothing changed since the page read them).
    let (_, stats) = get(&srv, "/stats", "");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let rows = elements(&dom, "tr");
    let row = |set: &str| {
        rows.iter()
            .find(|r| r.get("data-set").map(String::as_str) == Some(set))
            .unwrap_or_else(|| panic!("no memory row for {set}"))
            .clone()
    };
    assert_eq!(
        num(&row("*"), "data-bytes"),
        stats["bytes"].as_f64().unwrap()
    );
    assert_eq!(num(&row("*"), "data-entries"), 25.0);
    assert_eq!(num(&row("emb"), "data-entries"), 20.0);
    assert_eq!(
        num(&row("emb"), "data-bytes"),
        stats["sets"]["emb"]["bytes"].as_f64().unwrap()
    );
    assert_eq!(num(&row("other"), "data-entries"), 5.0);

    // Top concepts of emb: the exact counts (the summary has more counters than elements),
    // largest first.
    let bars: Vec<(String, u64)> = elements(&dom, "rect")
        .into_iter()
        .filter(|r| r.contains_key("data-element"))
        .map(|r| (r["data-element"].clone(), num(&r, "data-count") as u64))
        .collect();
    let emb_bars: Vec<_> = bars.iter().filter(|(e, _)| e.starts_with('e')).collect();
    assert_eq!(emb_bars[0], &("e0".to_string(), counts["e0"]), "{bars:?}");
    for (e, n) in &emb_bars {
        assert_eq!(counts[e.as_str()], *n, "{e}");
    }
    assert!(emb_bars.windows(2).all(|w| w[0].1 >= w[1].1), "{bars:?}");
    assert_eq!(emb_bars.len(), counts.len().min(10));

    // The topic box asked the phrase of ?q= through POST /api/query and shows its answer.
    let (_, answer) = http(&srv, &{
        let b = serde_json::json!({ "query": phrase }).to_string();
        format!(
            "POST /api/query HTTP/1.1\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )
    });
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["hits"].as_u64(), Some(fin_hits));
    let p = elements(&dom, "p")
        .into_iter()
        .find(|p| p.get("id").map(String::as_str) == Some("answer"))
        .unwrap();
    assert_eq!(num(&p, "data-hits") as u64, fin_hits);
    let text = answer["answer"].as_str().unwrap();
    assert!(text.starts_with("Cache hit rate for financial"), "{text}");
    assert!(
        dom.contains(text),
        "the answer {text:?} is not on the page:\n{dom}"
    );

    let png = screenshot_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    run_chromium(&bin, &url, &format!("--screenshot={}", png.display()));
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 10_000,
        "a blank screenshot? {} bytes",
        bytes.len()
    );
    eprintln!("dashboard screenshot: {}", png.display());
}

#[test]
fn with_a_password_the_page_is_open_and_its_data_needs_the_token_it_sends() {
    let Some(bin) = chromium() else { return };
    let config = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let (head, _) = get(&srv, "/dashboard", "");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let (head, _) = get(&srv, "/stats", "");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let mut c = srv.connect();
    c.check(&cmd(&[b"AUTH", b"s3cret"]), b"+OK\r\n");
    c.check(
        &cmd(&[b"VADD", b"emb", b"VALUES", b"2", b"1", b"0", b"a"]),
        b":1\r\n",
    );
    assert!(lookup(&mut c, "emb", "a"));

    let without = run_chromium(
        &bin,
        &format!("http://{}/dashboard?refresh=0", srv.addr),
        "--dump-dom",
    );
    assert!(
        without.contains(r#"id="status" class="error""#),
        "{without}"
    );
    assert!(without.contains("needs a token"), "{without}");
    assert!(
        !without.contains(r#"id="tokenbox" hidden"#),
        "the token field is shown"
    );

    let with = run_chromium(
        &bin,
        &format!("http://{}/dashboard?refresh=0#token=s3cret", srv.addr),
        "--dump-dom",
    );
    assert!(!with.contains(r#"class="error""#), "{with}");
    let rows = elements(&with, "tr");
    let emb = rows
        .iter()
        .find(|r| r.get("data-set").map(String::as_str) == Some("emb"))
        .expect("emb's memory row");
    assert_eq!(num(emb, "data-entries"), 1.0);
}

#[test]
fn the_dashboard_is_one_self_contained_page_that_loads_nothing_from_elsewhere() {
    let srv = TestServer::start();
    let (head, body) = get(&srv, "/dashboard", "");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    // The browser is told to fetch nothing but this server (and to run only inline script).
    assert!(head.contains("default-src 'none'"), "{head}");
    assert!(head.contains("connect-src 'self'"), "{head}");
    for needle in [
        "<script src",
        "<link",
        "@import",
        "url(",
        "https://",
        "//cdn",
    ] {
        assert!(!body.contains(needle), "the page refers to {needle:?}");
    }
    // Every request the script makes is to one of this server's JSON endpoints.
    let req = Regex::new(r#"(?:call|fetch)\(\s*[`"']([^`"']*)"#).unwrap();
    let targets: Vec<String> = req.captures_iter(&body).map(|c| c[1].to_string()).collect();
    assert!(!targets.is_empty());
    for t in &targets {
        assert!(
            ["/stats", "/analytics?", "/api/query"]
                .iter()
                .any(|p| t.starts_with(p)),
            "{t}"
        );
    }
    let (head, _) = http(
        &srv,
        "POST /dashboard HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    let (head, body) = http(&srv, "HEAD /dashboard HTTP/1.1\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200") && body.is_empty(),
        "{head}"
    );
}
