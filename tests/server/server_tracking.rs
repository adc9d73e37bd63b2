//! Client-side caching over TCP on port 0, byte for byte: CLIENT TRACKING in default and
//! BCAST mode, OPTIN/OPTOUT, NOLOOP, REDIRECT to a RESP2 subscriber, invalidations of
//! vector-set elements (`key\0element`), expiry, eviction, flush, the table's bound,
//! disconnects, errors, and the publish/subscribe commands underneath.

use crate::server_support;

use std::time::{Duration, Instant};

use server_support::{show, Conn, TestServer};
use sutra_cache::server::ServerConfig;
use sutra_cache::{EngineConfig, ManualClock};

/// A RESP3 invalidation push of these names.
fn inv(names: &[&[u8]]) -> Vec<u8> {
    let mut v = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", names.len()).into_bytes();
    for n in names {
        v.extend_from_slice(format!("${}\r\n", n.len()).as_bytes());
        v.extend_from_slice(n);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// The RESP2 form on `__redis__:invalidate` (redirected).
fn message(names: &[&[u8]]) -> Vec<u8> {
    let mut v = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec();
    v.extend_from_slice(format!("*{}\r\n", names.len()).as_bytes());
    for n in names {
        v.extend_from_slice(format!("${}\r\n", n.len()).as_bytes());
        v.extend_from_slice(n);
        v.extend_from_slice(b"\r\n");
    }
    v
}

trait Expect {
    fn expect(&mut self, bytes: &[u8]);
    fn nothing_pending(&mut self);
    fn resp3(&mut self);
    fn id(&mut self) -> u64;
}

impl Expect for Conn {
    /// The next bytes from the server are exactly `bytes`.
    #[track_caller]
    fn expect(&mut self, bytes: &[u8]) {
        let got = self.read_n(bytes.len());
        assert_eq!(show(&got), show(bytes));
    }

    /// Nothing was queued for this connection: two PINGs answer exactly PONG each (a
    /// queued push would come before or between them).
    #[track_caller]
    fn nothing_pending(&mut self) {
        for _ in 0..2 {
            self.check_words("PING", "+PONG\r\n");
        }
    }

    fn resp3(&mut self) {
        let hello = self.call(&[b"HELLO", b"3"]);
        assert!(hello.starts_with(b"%"), "{}", show(&hello));
    }

    fn id(&mut self) -> u64 {
        let r = self.call(&[b"CLIENT", b"ID"]);
        std::str::from_utf8(&r[1..r.len() - 2])
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// A field of `INFO stats`.
fn info_field(c: &mut Conn, name: &str) -> u64 {
    let info = String::from_utf8(c.call(&[b"INFO", b"stats"])).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} missing in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// Polls `INFO stats` until `name` reads `want` (a disconnect is noticed asynchronously).
fn wait_info(c: &mut Conn, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = info_field(c, name);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stays {got}, want {want}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_tracked_read_is_invalidated_once_when_another_client_writes_until_read_again() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    // A missing key is tracked too.
    a.check_words("GET k", "_\r\n");
    b.check_words("SET k v1", "+OK\r\n");
    a.expect(&inv(&[b"k"]));
    // Not read again: a second write sends nothing.
    b.check_words("SET k v2", "+OK\r\n");
    a.nothing_pending();
    a.check_words("GET k", "$2\r\nv2\r\n");
    b.check_words("DEL k", ":1\r\n");
    a.expect(&inv(&[b"k"]));
    // Every key of MGET is tracked; an untracked key's write sends nothing.
    a.check_words("MGET x y", "*2\r\n_\r\n_\r\n");
    b.check_words("SET other 1", "+OK\r\n");
    b.check_words("MSET y 1 x 2", "+OK\r\n");
    let mut got = [a.read_reply(), a.read_reply()];
    got.sort();
    assert_eq!(got, [inv(&[b"x"]), inv(&[b"y"])]);
    // The client's own write invalidates too (no NOLOOP), after its reply.
    a.check_words("GET own", "_\r\n");
    a.check_words("SET own 1", "+OK\r\n");
    a.expect(&inv(&[b"own"]));
    // Off: nothing more.
    a.check_words("GET k", "_\r\n");
    a.check_words("CLIENT TRACKING OFF", "+OK\r\n");
    b.check_words("SET k v3", "+OK\r\n");
    a.nothing_pending();
}

#[test]
fn bcast_sends_every_change_under_its_prefixes_and_elements_as_key_nul_element() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    a.check_words(
        "CLIENT TRACKING ON BCAST PREFIX user: PREFIX emb:",
        "+OK\r\n",
    );
    b.check_words("SET user:1 x", "+OK\r\n");
    a.expect(&inv(&[b"user:1"]));
    b.check_words("SET other 1", "+OK\r\n");
    a.nothing_pending();
    b.check_words("VADD emb:m VALUES 2 1 0 hello", ":1\r\n");
    a.expect(&inv(&[b"emb:m\0hello"]));
    b.check_words("VSETATTR emb:m hello {\"a\":1}", ":1\r\n");
    a.expect(&inv(&[b"emb:m\0hello"]));
    // The whole key goes: the key's name.
    b.check_words("DEL emb:m", ":1\r\n");
    a.expect(&inv(&[b"emb:m"]));
    a.check_words(
        "CLIENT TRACKINGINFO",
        "%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n\
         $8\r\nprefixes\r\n*2\r\n$5\r\nuser:\r\n$4\r\nemb:\r\n",
    );
    // BCAST without PREFIX: every key.
    let mut c = srv.connect();
    c.resp3();
    c.check_words("CLIENT TRACKING ON BCAST", "+OK\r\n");
    b.check_words("SET anything 1", "+OK\r\n");
    c.expect(&inv(&[b"anything"]));
}

#[test]
fn optin_tracks_only_after_caching_yes_and_optout_skips_after_caching_no() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    a.check_words("CLIENT TRACKING ON OPTIN", "+OK\r\n");
    a.check_words("GET plain", "_\r\n");
    a.check_words("CLIENT CACHING yes", "+OK\r\n");
    a.check_words(
        "CLIENT TRACKINGINFO",
        "%3\r\n$5\r\nflags\r\n~3\r\n$2\r\non\r\n$5\r\noptin\r\n$11\r\ncaching-yes\r\n\
         $8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*0\r\n",
    );
    // TRACKINGINFO was the next command: CACHING yes is spent.
    a.check_words("GET plain", "_\r\n");
    a.check_words("CLIENT CACHING yes", "+OK\r\n");
    a.check_words("GET cached", "_\r\n");
    b.check_words("SET plain 1", "+OK\r\n");
    b.check_words("SET cached 1", "+OK\r\n");
    a.expect(&inv(&[b"cached"]));
    a.nothing_pending();
    a.check_words("CLIENT TRACKING OFF", "+OK\r\n");
    a.check_words("CLIENT TRACKING ON OPTOUT", "+OK\r\n");
    a.check_words("CLIENT CACHING no", "+OK\r\n");
    a.check_words("GET skipped", "_\r\n");
    a.check_words("GET tracked", "_\r\n");
    b.check_words("SET skipped 1", "+OK\r\n");
    b.check_words("SET tracked 1", "+OK\r\n");
    a.expect(&inv(&[b"tracked"]));
    a.nothing_pending();
}

#[test]
fn noloop_spares_the_client_its_own_writes_but_not_others() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    a.check_words("CLIENT TRACKING ON NOLOOP", "+OK\r\n");
    a.check_words("GET k", "_\r\n");
    a.check_words("SET k mine", "+OK\r\n");
    a.nothing_pending();
    a.check_words("GET k", "$4\r\nmine\r\n");
    b.check_words("SET k theirs", "+OK\r\n");
    a.expect(&inv(&[b"k"]));
    // In BCAST mode too.
    a.check_words("CLIENT TRACKING OFF", "+OK\r\n");
    a.check_words("CLIENT TRACKING ON BCAST NOLOOP", "+OK\r\n");
    a.check_words("SET k again", "+OK\r\n");
    a.nothing_pending();
    b.check_words("SET k theirs", "+OK\r\n");
    a.expect(&inv(&[b"k"]));
}

#[test]
fn redirect_sends_invalidations_to_a_resp2_subscriber_of_the_invalidate_channel() {
    let srv = TestServer::start();
    let mut sub = srv.connect();
    let mut a = srv.connect();
    let mut b = srv.connect();
    let sub_id = sub.id();
    sub.check_words(
        "SUBSCRIBE __redis__:invalidate",
        "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    );
    a.check_words("CLIENT GETREDIR", ":-1\r\n");
    a.check_words(&format!("CLIENT TRACKING ON REDIRECT {sub_id}"), "+OK\r\n");
    a.check_words("CLIENT GETREDIR", &format!(":{sub_id}\r\n"));
    a.check_words(
        "CLIENT TRACKINGINFO",
        &format!(
            "*6\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$8\r\nredirect\r\n:{sub_id}\r\n\
             $8\r\nprefixes\r\n*0\r\n"
        ),
    );
    a.check_words("GET k", "$-1\r\n");
    b.check_words("SET k 1", "+OK\r\n");
    sub.expect(&message(&[b"k"]));
    // A flush: a null array.
    b.check_words("FLUSHALL", "+OK\r\n");
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n");
    // The RESP2 tracking client itself gets nothing.
    a.nothing_pending();
    // The subscriber leaves: the redirect is broken (reported to RESP3 clients only).
    a.check_words("GET k", "$-1\r\n");
    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        b.check_words("SET k 2", "+OK\r\n");
        let info = String::from_utf8(a.call(&[b"CLIENT", b"TRACKINGINFO"])).unwrap();
        if info.contains("broken_redirect") {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        a.check_words("GET k", "$1\r\n2\r\n");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_resp3_client_learns_its_redirect_target_is_gone() {
    let srv = TestServer::start();
    let mut target = srv.connect();
    let mut a = srv.connect();
    let mut b = srv.connect();
    let id = target.id();
    a.resp3();
    a.check_words(&format!("CLIENT TRACKING ON REDIRECT {id}"), "+OK\r\n");
    a.check_words("GET k", "_\r\n");
    target.check_words("QUIT", "+OK\r\n");
    assert!(target.is_closed());
    // The target's registry entry goes when its task ends: retry until a write finds it
    // gone. The push is queued before the write is acknowledged, so it comes before the
    // second of two PINGs' replies (before or after the first).
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{id}\r\n");
    loop {
        b.check_words("SET k 1", "+OK\r\n");
        let mut pushes = Vec::new();
        for _ in 0..2 {
            a.send(&server_support::words("PING"));
            loop {
                let r = a.read_reply();
                if r.starts_with(b">") {
                    pushes.push(r);
                } else {
                    assert_eq!(show(&r), "+PONG\\r\\n");
                    break;
                }
            }
        }
        if !pushes.is_empty() {
            assert_eq!(pushes, [want.as_bytes().to_vec()]);
            break;
        }
        assert!(Instant::now() < deadline, "no tracking-redir-broken push");
        a.check_words("GET k", "$1\r\n1\r\n");
    }
    // Reported once.
    a.check_words("GET k", "$1\r\n1\r\n");
    b.check_words("SET k 2", "+OK\r\n");
    a.nothing_pending();
}

#[test]
fn element_reads_register_the_element_and_set_reads_the_key() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    b.check_words("VADD s VALUES 2 1 0 e1", ":1\r\n");
    b.check_words("VADD s VALUES 2 0 1 e2", ":1\r\n");
    b.check_words("VADD s VALUES 2 -1 0 e3", ":1\r\n");
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    let e1 = a.call(&[b"VGETF32", b"s", b"e1"]);
    assert!(e1.starts_with(b"$8\r\n"), "{}", show(&e1));
    a.check_words("VISMEMBER s e2", "#t\r\n");
    // A write to another element sends nothing to element readers.
    b.check_words("VADD s VALUES 2 1 1 e4", ":1\r\n");
    a.nothing_pending();
    b.check_words("VREM s e1", ":1\r\n");
    a.expect(&inv(&[b"s\0e1"]));
    // VINVALIDATE removes e2 (e4's score, 0.85, is under the threshold): e2's reader is told.
    b.check_words("VINVALIDATE s VALUES 2 0 1 THRESHOLD 0.9", ":1\r\n");
    a.expect(&inv(&[b"s\0e2"]));
    a.nothing_pending();
    // A whole-set read registers the key: any element's change sends the key.
    a.check_words("VCARD s", ":2\r\n");
    b.check_words("VSETATTR s e3 {\"x\":1}", ":1\r\n");
    a.expect(&inv(&[b"s"]));
    // An element reader is told when the whole set goes.
    a.check_words("VGETATTR s e3", "$7\r\n{\"x\":1}\r\n");
    b.check_words("DEL s", ":1\r\n");
    a.expect(&inv(&[b"s\0e3"]));
    // VMGETF32 registers each element it names.
    b.check_words("VADD t VALUES 2 1 0 x", ":1\r\n");
    let r = a.call(&[b"VMGETF32", b"t", b"x", b"y"]);
    assert!(r.starts_with(b"*2\r\n"), "{}", show(&r));
    b.check_words("VADD t VALUES 2 0 1 y", ":1\r\n");
    a.expect(&inv(&[b"t\0y"]));
}

#[test]
fn expiry_and_eviction_of_tracked_keys_and_elements_are_pushed() {
    let clock = ManualClock::new(1_700_000_000_000);
    let config = ServerConfig {
        max_concepts: 3,
        ..ServerConfig::default()
    };
    let srv = TestServer::with_engine_config(
        config.clone(),
        EngineConfig {
            active_expire_interval_ms: 0,
            clock: clock.clone(),
            ..config.engine_config()
        },
    );
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    b.check_words("SET lazy 1 PX 1000", "+OK\r\n");
    b.check_words("VADD s VALUES 2 1 0 e", ":1\r\n");
    b.check_words("VPEXPIRE s e 1000", ":1\r\n");
    a.check_words("GET lazy", "$1\r\n1\r\n");
    let e = a.call(&[b"VGETF32", b"s", b"e"]);
    assert!(e.starts_with(b"$8\r\n"), "{}", show(&e));
    clock.advance(2_000);
    // A read that meets the expired key reclaims it: its tracker is told.
    b.check_words("GET lazy", "$-1\r\n");
    a.expect(&inv(&[b"lazy"]));
    // The active-expire cycle reclaims the element.
    srv.engine.active_expire_cycle(100);
    a.expect(&inv(&[b"s\0e"]));
    // Eviction at the entry cap (3): the least recently used tracked key goes.
    b.check_words("SET old 1", "+OK\r\n");
    a.check_words("GET old", "$1\r\n1\r\n");
    b.check_words("SET n1 1", "+OK\r\n");
    b.check_words("SET n2 1", "+OK\r\n");
    b.check_words("SET n3 1", "+OK\r\n");
    a.expect(&inv(&[b"old"]));
    b.check_words("EXISTS old", ":0\r\n");
}

#[test]
fn flushall_and_flushdb_push_a_null_to_every_tracking_client() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut c = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    c.resp3();
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    c.check_words("CLIENT TRACKING ON BCAST PREFIX z", "+OK\r\n");
    a.check_words("GET k", "_\r\n");
    b.check_words("FLUSHALL", "+OK\r\n");
    a.expect(b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    c.expect(b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    b.check_words("FLUSHDB", "+OK\r\n");
    a.expect(b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    c.expect(b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    // The flush emptied the table: a write to k now sends nothing.
    b.check_words("SET k 1", "+OK\r\n");
    a.nothing_pending();
}

#[test]
fn the_table_is_bounded_by_invalidating_names_past_its_limit() {
    let config = ServerConfig {
        tracking_table_max_keys: 2,
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.resp3();
    a.check_words(
        "CONFIG GET tracking-table-max-keys",
        "%1\r\n$23\r\ntracking-table-max-keys\r\n$1\r\n2\r\n",
    );
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    a.check_words("GET a", "_\r\n");
    a.check_words("GET b", "_\r\n");
    assert_eq!(info_field(&mut b, "tracking_total_items"), 2);
    // A third name: one of the others is dropped and invalidated first.
    a.send(&server_support::words("GET c"));
    let first = a.read_reply();
    let (push, reply) = if first.starts_with(b">") {
        (first, a.read_reply())
    } else {
        let push = a.read_reply();
        (push, first)
    };
    assert_eq!(show(&reply), "_\\r\\n");
    assert!(
        push == inv(&[b"a"]) || push == inv(&[b"b"]),
        "{}",
        show(&push)
    );
    assert_eq!(info_field(&mut b, "tracking_total_items"), 2);
    // c is still tracked.
    b.check_words("SET c 1", "+OK\r\n");
    a.expect(&inv(&[b"c"]));
}

#[test]
fn a_client_that_disconnects_leaves_nothing_in_the_table() {
    let srv = TestServer::start();
    let mut b = srv.connect();
    {
        let mut a = srv.connect();
        a.resp3();
        a.check_words("CLIENT TRACKING ON", "+OK\r\n");
        a.check_words("MGET k1 k2 k3", "*3\r\n_\r\n_\r\n_\r\n");
        b.check_words("VADD s VALUES 2 1 0 e", ":1\r\n");
        a.check_words("VEMB s e", "*2\r\n,1\r\n,0\r\n");
        let mut p = srv.connect();
        p.check_words("CLIENT TRACKING ON BCAST PREFIX p", "+OK\r\n");
        assert_eq!(info_field(&mut b, "tracking_clients"), 2);
        assert_eq!(info_field(&mut b, "tracking_total_items"), 4);
        assert_eq!(info_field(&mut b, "tracking_total_prefixes"), 1);
    }
    wait_info(&mut b, "tracking_clients", 0);
    assert_eq!(info_field(&mut b, "tracking_total_items"), 0);
    assert_eq!(info_field(&mut b, "tracking_total_keys"), 0);
    assert_eq!(info_field(&mut b, "tracking_total_prefixes"), 0);
    b.check_words("SET k1 1", "+OK\r\n");
}

#[test]
fn tracking_options_are_refused_with_redis_errors() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let cases = [
        ("CLIENT TRACKING maybe", "-ERR syntax error\r\n"),
        ("CLIENT TRACKING ON FOO", "-ERR syntax error\r\n"),
        (
            "CLIENT TRACKING ON PREFIX a",
            "-ERR PREFIX option requires BCAST mode to be enabled\r\n",
        ),
        (
            "CLIENT TRACKING ON OPTIN OPTOUT",
            "-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n",
        ),
        (
            "CLIENT TRACKING ON BCAST OPTIN",
            "-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
        ),
        (
            "CLIENT TRACKING ON REDIRECT 9999",
            "-ERR The client ID you want redirect to does not exist\r\n",
        ),
        (
            "CLIENT TRACKING ON REDIRECT x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "CLIENT TRACKING ON BCAST PREFIX ab PREFIX a",
            "-ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single \
             client must not overlap.\r\n",
        ),
        (
            "CLIENT CACHING yes",
            "-ERR CLIENT CACHING can be called only when the client is in tracking mode with \
             OPTIN or OPTOUT mode enabled\r\n",
        ),
        (
            "CLIENT TRACKING",
            "-ERR wrong number of arguments for 'client|tracking' command\r\n",
        ),
    ];
    for (cmd, want) in cases {
        a.check_words(cmd, want);
    }
    a.check_words(
        "CLIENT TRACKINGINFO",
        "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n",
    );
    a.check_words("CLIENT TRACKING ON OPTOUT", "+OK\r\n");
    a.check_words(
        "CLIENT CACHING yes",
        "-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.\r\n",
    );
    a.check_words("CLIENT CACHING maybe", "-ERR syntax error\r\n");
    a.check_words(
        "CLIENT TRACKING ON OPTIN",
        "-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, \
         and then re-enabling it with a different mode.\r\n",
    );
    a.check_words(
        "CLIENT TRACKING ON BCAST",
        "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, \
         and then re-enabling it with a different mode.\r\n",
    );
    a.check_words("CLIENT TRACKING OFF", "+OK\r\n");
    a.check_words("CLIENT TRACKING ON OPTIN", "+OK\r\n");
    a.check_words(
        "CLIENT CACHING no",
        "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n",
    );
    a.check_words("CLIENT TRACKING OFF", "+OK\r\n");
    a.check_words("CLIENT TRACKING ON BCAST PREFIX abc", "+OK\r\n");
    a.check_words(
        "CLIENT TRACKING ON BCAST PREFIX ab",
        "-ERR Prefix 'ab' overlaps with an existing prefix 'abc'. Prefixes for a single client \
         must not overlap.\r\n",
    );
}

#[test]
fn subscribe_publish_and_unsubscribe_answer_as_redis() {
    let srv = TestServer::start();
    let mut s = srv.connect();
    let mut p = srv.connect();
    s.check_words(
        "SUBSCRIBE news sport",
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n",
    );
    // Subscribed RESP2 connections only (un)subscribe, ping and leave.
    s.check_words(
        "GET k",
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context\r\n",
    );
    s.check_words("PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    // CLIENT LIST: the subscriber is of type pubsub with flag P; a tracking client has t.
    let s_id = {
        let line = String::from_utf8(p.call(&[b"CLIENT", b"LIST", b"TYPE", b"pubsub"])).unwrap();
        assert_eq!(line.matches("id=").count(), 1, "{line}");
        assert!(line.contains(" flags=P "), "{line}");
        let start = line.find("id=").unwrap() + 3;
        line[start..start + line[start..].find(' ').unwrap()].to_string()
    };
    p.check_words("CLIENT TRACKING ON", "+OK\r\n");
    let me = String::from_utf8(p.call(&[b"CLIENT", b"INFO"])).unwrap();
    assert!(me.contains(" flags=t "), "{me}");
    let normal = String::from_utf8(p.call(&[b"CLIENT", b"LIST", b"TYPE", b"normal"])).unwrap();
    assert!(!normal.contains(&format!("id={s_id} ")), "{normal}");
    p.check_words("CLIENT TRACKING OFF", "+OK\r\n");
    p.check_words("PUBLISH news hello", ":1\r\n");
    p.check_words("PUBLISH nobody hello", ":0\r\n");
    s.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    s.check_words(
        "UNSUBSCRIBE news",
        "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    p.check_words("PUBLISH news again", ":0\r\n");
    s.check_words(
        "UNSUBSCRIBE",
        "*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:0\r\n",
    );
    s.check_words("UNSUBSCRIBE", "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    s.check_words("GET k", "$-1\r\n");
    // RESP3: a push, and every command still runs.
    s.resp3();
    s.check_words(
        "SUBSCRIBE news",
        ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    s.check_words("GET k", "_\r\n");
    p.check_words("PUBLISH news x", ":1\r\n");
    s.expect(b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nx\r\n");
    assert_eq!(info_field(&mut p, "pubsub_channels"), 1);
    s.check_words("RESET", "+RESET\r\n");
    assert_eq!(info_field(&mut p, "pubsub_channels"), 0);
    s.check_words(
        "SUBSCRIBE again",
        "*3\r\n$9\r\nsubscribe\r\n$5\r\nagain\r\n:1\r\n",
    );
    p.check_words("CLIENT KILL TYPE pubsub", ":1\r\n");
    assert!(s.is_closed());
    wait_info(&mut p, "pubsub_channels", 0);
    let mut s = srv.connect();
    s.check_words(
        "PSUBSCRIBE n*",
        "-ERR 'psubscribe' is not supported by sutra-cache: there are no pattern subscriptions \
         (SUBSCRIBE to channels by name)\r\n",
    );
}

/// An L1 kept by a tracking client (as redis-py's cache or the seed's MultiTier does) while
/// another client writes concurrently: once the writer's last write is acknowledged and the
/// tracking connection has caught up (two PINGs), the L1 holds nothing or the final value,
/// never an older one. `read`/`write` are the commands for the name (a blob or an element).
fn l1_never_stale(read: &[&[u8]], write: impl Fn(u32) -> Vec<u8> + Send + 'static, last: u32) {
    let srv = TestServer::start();
    let mut w = srv.connect();
    w.send(&write(0));
    w.read_reply();
    let mut a = srv.connect();
    a.resp3();
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = done.clone();
    let writer = std::thread::spawn(move || {
        for i in 1..=last {
            w.send(&write(i));
            let r = w.read_reply();
            assert!(!r.starts_with(b"-"), "{}", show(&r));
        }
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let mut l1: Option<Vec<u8>> = None;
    // Sends a command and reads to its reply, dropping the L1 entry on every push.
    let call = |a: &mut Conn, l1: &mut Option<Vec<u8>>, args: &[&[u8]]| -> Vec<u8> {
        a.send(&server_support::cmd(args));
        loop {
            let r = a.read_reply();
            if r.starts_with(b">") {
                *l1 = None;
            } else {
                return r;
            }
        }
    };
    let mut reads = 0;
    loop {
        let over = done.load(std::sync::atomic::Ordering::SeqCst);
        if l1.is_none() {
            let v = call(&mut a, &mut l1, read);
            l1 = Some(v);
            reads += 1;
        } else {
            call(&mut a, &mut l1, &[b"PING"]);
        }
        if over {
            break;
        }
    }
    writer.join().unwrap();
    for _ in 0..2 {
        call(&mut a, &mut l1, &[b"PING"]);
    }
    let fresh = call(&mut a, &mut None, read);
    assert!(
        l1.as_ref().is_none_or(|v| *v == fresh),
        "stale L1 after {reads} reads: {} (server has {})",
        show(l1.as_ref().unwrap()),
        show(&fresh)
    );
}

#[test]
fn a_tracked_l1_is_never_left_stale_by_concurrent_writes_to_a_key() {
    l1_never_stale(
        &[b"GET", b"k"],
        |i| server_support::words(&format!("SET k {i}")),
        2_000,
    );
}

#[test]
fn a_tracked_l1_is_never_left_stale_by_concurrent_writes_to_an_element() {
    l1_never_stale(
        &[b"VGETF32", b"s", b"e"],
        |i| server_support::words(&format!("VADD s VALUES 2 1 {i} e")),
        2_000,
    );
}

#[test]
fn readers_that_come_and_go_leave_the_one_that_stays_invalidated_for_each_key_and_element() {
    let srv = TestServer::start();
    let mut w = srv.connect();
    w.check_words("VADD s VALUES 2 1 0 e", ":1\r\n");
    let mut a = srv.connect();
    a.resp3();
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    a.check_words("GET k", "_\r\n");
    a.check_words("VEMB s e", "*2\r\n,1\r\n,0\r\n");
    {
        // tracking_total_items counts (name, client) pairs, as Redis's does.
        let mut b = srv.connect();
        b.resp3();
        b.check_words("CLIENT TRACKING ON", "+OK\r\n");
        b.check_words("GET k", "_\r\n");
        b.check_words("VEMB s e", "*2\r\n,1\r\n,0\r\n");
        assert_eq!(info_field(&mut w, "tracking_total_items"), 4);
        assert_eq!(info_field(&mut w, "tracking_total_keys"), 2);
    }
    // Readers of the same key and element connect and leave, many more than ever track at
    // once: the ids they leave behind are pruned, not delivered to anyone.
    for _ in 0..40 {
        let mut r = srv.connect();
        r.resp3();
        r.check_words("CLIENT TRACKING ON", "+OK\r\n");
        r.check_words("GET k", "_\r\n");
        r.check_words("VEMB s e", "*2\r\n,1\r\n,0\r\n");
    }
    wait_info(&mut w, "tracking_clients", 1);
    // A newcomer that tracks but read nothing gets no invalidation for k or e.
    let mut n = srv.connect();
    n.resp3();
    n.check_words("CLIENT TRACKING ON", "+OK\r\n");
    w.check_words("SET k 1", "+OK\r\n");
    a.expect(&inv(&[b"k"]));
    w.check_words("VSETATTR s e {\"x\":1}", ":1\r\n");
    a.expect(&inv(&[b"s\0e"]));
    // Still registered for nothing: its next reply is its own PING's, with no push before it.
    n.check_words("PING", "+PONG\r\n");
    assert_eq!(info_field(&mut w, "tracking_clients"), 2);
}
