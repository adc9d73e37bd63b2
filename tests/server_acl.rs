//! ACL users over RESP as Redis 7.0 has them: ACL SETUSER/GETUSER/DELUSER/LIST/USERS/
//! WHOAMI/LOG/DRYRUN/SAVE/LOAD, AUTH user pass, HELLO AUTH, the `default` user from
//! --requirepass, the permission check (command, category, key patterns) with Redis's
//! NOPERM texts, AUTH failures logged, the HTTP side (Basic user:password), and a differential
//! run of a scripted sequence against a live redis-server 7.0.15.

mod server_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server_support::{redis_server, show, Conn, TestServer};
use sutra_cache::server::ServerConfig;

fn call(c: &mut Conn, line: &str) -> String {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    String::from_utf8_lossy(&c.call(&args)).into_owned()
}

fn with_password() -> TestServer {
    TestServer::with_config(ServerConfig {
        requirepass: Some("adminpw".into()),
        ..ServerConfig::default()
    })
}

#[test]
fn a_read_only_dashboard_user_reads_its_keys_and_cannot_write() {
    let srv = with_password();
    let mut admin = srv.connect();
    assert_eq!(call(&mut admin, "AUTH adminpw"), "+OK\r\n");
    assert_eq!(call(&mut admin, "SET cache:a 1"), "+OK\r\n");
    assert_eq!(call(&mut admin, "SET other 2"), "+OK\r\n");
    assert_eq!(
        call(
            &mut admin,
            "ACL SETUSER dash on >dashpw ~cache:* +@read +@transaction"
        ),
        "+OK\r\n"
    );
    let mut dash = srv.connect();
    assert!(call(&mut dash, "GET cache:a").starts_with("-NOAUTH"));
    assert_eq!(call(&mut dash, "AUTH dash dashpw"), "+OK\r\n");
    assert_eq!(
        call(&mut dash, "ACL WHOAMI"),
        "-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
    );
    assert_eq!(call(&mut dash, "GET cache:a"), "$1\r\n1\r\n");
    assert_eq!(
        call(&mut dash, "SET cache:a 2"),
        "-NOPERM this user has no permissions to run the 'set' command\r\n"
    );
    assert_eq!(
        call(&mut dash, "GET other"),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(
        call(&mut dash, "MGET cache:a other"),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(
        call(&mut dash, "FLUSHALL"),
        "-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    // Inside MULTI the refusal dooms the transaction.
    assert_eq!(call(&mut dash, "MULTI"), "+OK\r\n");
    assert!(call(&mut dash, "DEL cache:a").starts_with("-NOPERM"));
    assert!(call(&mut dash, "EXEC").starts_with("-EXECABORT"));
    assert_eq!(call(&mut admin, "GET cache:a"), "$1\r\n1\r\n");
    // The rules change live: the connection takes them at its next command.
    assert_eq!(call(&mut admin, "ACL SETUSER dash +set"), "+OK\r\n");
    assert_eq!(call(&mut dash, "SET cache:b 3"), "+OK\r\n");
    assert!(call(&mut dash, "SET other 3").starts_with("-NOPERM"));
    // CLIENT LIST names the user; ACL LOG has the refusals, newest first.
    let list = call(&mut admin, "CLIENT LIST");
    assert!(list.contains("user=dash"), "{list}");
    let log = call(&mut admin, "ACL LOG 1");
    assert!(log.contains("$6\r\nreason\r\n$3\r\nkey\r\n"), "{log}");
    assert!(
        log.contains("$5\r\nother\r\n") && log.contains("$4\r\ndash\r\n"),
        "{log}"
    );
    // DELUSER closes its connections.
    assert_eq!(call(&mut admin, "ACL DELUSER dash"), ":1\r\n");
    assert!(dash.is_closed());
    assert_eq!(
        call(&mut admin, "ACL DELUSER default"),
        "-ERR The 'default' user cannot be removed\r\n"
    );
}

#[test]
fn auth_and_hello_take_a_user_and_failures_are_logged_and_slowed() {
    let srv = with_password();
    let mut admin = srv.connect();
    assert_eq!(call(&mut admin, "AUTH default adminpw"), "+OK\r\n");
    assert_eq!(
        call(&mut admin, "ACL SETUSER app on >apppw ~* +@all -@admin"),
        "+OK\r\n"
    );
    assert_eq!(
        call(&mut admin, "ACL SETUSER off_user off >x +@all ~*"),
        "+OK\r\n"
    );
    let mut c = srv.connect();
    let wrong = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    // Five failures in a row: each answered (the ones past the third after a pause).
    for line in [
        "AUTH app nope",
        "AUTH nosuch x",
        "AUTH off_user x",
        "AUTH adminpw2",
        "HELLO 3 AUTH app nope",
    ] {
        assert_eq!(call(&mut c, line), wrong, "{line}");
    }
    let log = call(&mut admin, "ACL LOG");
    for user in ["app", "nosuch", "off_user", "default"] {
        assert!(
            log.contains(&format!("$8\r\nusername\r\n${}\r\n{user}\r\n", user.len())),
            "{user}: {log}"
        );
    }
    // The right password still works after failures, and resets the count.
    let hello = call(&mut c, "HELLO 3 AUTH app apppw");
    assert!(hello.starts_with("%7\r\n"), "{}", show(hello.as_bytes()));
    assert!(call(&mut c, "ACL WHOAMI").starts_with("-NOPERM"));
    assert_eq!(call(&mut c, "SET k v"), "+OK\r\n");
    assert!(call(&mut c, "CONFIG GET maxmemory").starts_with("-NOPERM"));
    // ACL WHOAMI for users that may run ACL.
    assert_eq!(call(&mut admin, "ACL WHOAMI"), "$7\r\ndefault\r\n");
    // RESET goes back to the default user, unauthenticated.
    assert_eq!(call(&mut c, "RESET"), "+RESET\r\n");
    assert!(call(&mut c, "GET k").starts_with("-NOAUTH"));
}

#[test]
fn http_endpoints_take_the_default_password_or_an_acl_user_allowed_the_command() {
    let srv = with_password();
    let mut admin = srv.connect();
    call(&mut admin, "AUTH adminpw");
    call(&mut admin, "ACL SETUSER viewer on >vpw +info");
    call(&mut admin, "ACL SETUSER reader on >rpw ~* +@read");
    let get = |path: &str, auth: Option<String>| {
        let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let header = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{header}\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split(' ').nth(1).unwrap_or("").to_string()
    };
    use base64::Engine as _;
    let basic = |up: &str| {
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(up)
        ))
    };
    assert_eq!(get("/health", None), "200");
    assert_eq!(get("/stats", None), "401");
    assert_eq!(get("/stats", Some("Bearer adminpw".into())), "200");
    assert_eq!(get("/stats", basic("viewer:vpw")), "200");
    assert_eq!(get("/metrics", basic("viewer:vpw")), "200");
    assert_eq!(get("/stats", basic("viewer:bad")), "401");
    // A user without INFO (or ANALYTICS for /analytics) does not read them over HTTP.
    assert_eq!(get("/stats", basic("reader:rpw")), "401");
    assert_eq!(get("/analytics", basic("viewer:vpw")), "401");
}

#[test]
fn acl_save_writes_the_aclfile_that_load_and_a_restart_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.acl");
    std::fs::write(&file, "user boot on >bootpw ~b:* +get\n").unwrap();
    let config = || ServerConfig {
        requirepass: Some("adminpw".into()),
        aclfile: Some(file.clone()),
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config());
    let mut admin = srv.connect();
    call(&mut admin, "AUTH adminpw");
    assert_eq!(
        call(&mut admin, "ACL USERS"),
        "*2\r\n$4\r\nboot\r\n$7\r\ndefault\r\n"
    );
    assert_eq!(
        call(&mut admin, "ACL SETUSER later on >lpw ~* +@read"),
        "+OK\r\n"
    );
    assert_eq!(call(&mut admin, "ACL SAVE"), "+OK\r\n");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("user later on #"), "{text}");
    // LOAD replaces the users with the file's (a user made since is gone).
    call(&mut admin, "ACL SETUSER unsaved on nopass");
    assert_eq!(call(&mut admin, "ACL LOAD"), "+OK\r\n");
    assert!(!call(&mut admin, "ACL USERS").contains("unsaved"));
    drop(admin);
    drop(srv);
    let srv = TestServer::with_config(config());
    let mut c = srv.connect();
    assert_eq!(call(&mut c, "AUTH later lpw"), "+OK\r\n");
    // A file that does not parse: ACL LOAD refuses it, naming the line, and keeps the users.
    std::fs::write(&file, "user ok on nopass\nuser bad +nosuchcommand\n").unwrap();
    let mut admin = srv.connect();
    call(&mut admin, "AUTH adminpw");
    let err = call(&mut admin, "ACL LOAD");
    assert!(err.starts_with("-ERR") && err.contains("line 2"), "{err}");
    assert!(call(&mut admin, "ACL USERS").contains("later"));
    // Without --aclfile, SAVE says so as Redis does.
    let plain = TestServer::start();
    let err = call(&mut plain.connect(), "ACL SAVE");
    assert!(err.contains("not configured to use an ACL file"), "{err}");
}

/// The scripted sequence both servers answer byte for byte alike. Each line is one
/// command on one connection (the `#` lines switch to a second connection and back).
const SCRIPT: &[&str] = &[
    "ACL SETUSER ro on >pw ~cache:* +@read",
    "ACL SETUSER ro2 on nopass ~* &* +@all -set",
    "ACL SETUSER w on >a >b ~a ~b &ch +@read",
    "ACL SETUSER blank",
    "ACL LIST",
    "ACL USERS",
    "ACL GETUSER ro",
    "ACL GETUSER ro2",
    "ACL GETUSER w",
    "ACL GETUSER blank",
    "ACL GETUSER nosuch",
    "ACL SETUSER x +@nosuch",
    "ACL SETUSER x bogus",
    "ACL SETUSER x +nosuchcmd",
    "ACL SETUSER x <nopass",
    "ACL SETUSER x #abc",
    "ACL SETUSER x -get|x",
    "ACL SETUSER all allkeys ~x",
    "ACL SETUSER ch &* &x",
    "ACL SETUSER y +config|get",
    "ACL GETUSER y",
    "ACL SETUSER z %R~foo %W~bar ~baz",
    "ACL GETUSER z",
    "ACL SETUSER w reset",
    "ACL GETUSER w",
    "ACL SETUSER w on >pw2 <pw2 resetpass nopass",
    "ACL GETUSER w",
    "ACL SETUSER w allcommands -@write",
    "ACL GETUSER w",
    // One single command only: Redis lists several in its hash table's order, which its
    // random hash seed changes from run to run.
    "ACL SETUSER w nocommands +get",
    "ACL GETUSER w",
    "ACL DELUSER default",
    "ACL DELUSER w y nosuch",
    "ACL USERS",
    "ACL WHOAMI",
    "ACL DRYRUN ro set cache:a 1",
    "ACL DRYRUN ro get cache:a",
    "ACL DRYRUN ro get other",
    "ACL DRYRUN nosuch get a",
    "ACL DRYRUN ro nosuchcmd",
    "ACL DRYRUN ro get",
    "ACL LOG x",
    "ACL LOG -1",
    "ACL SAVE",
    "ACL LOAD",
    "AUTH x",
    "SET cache:a 1",
    "SET other 2",
    "#",
    "AUTH nosuch x",
    "AUTH ro bad",
    "HELLO 2 AUTH ro bad",
    "AUTH ro pw",
    "GET cache:a",
    "SET cache:a 1",
    "GET other",
    "MGET cache:a other",
    "ACL WHOAMI",
    "AUTH default anything",
    "ACL WHOAMI",
    "#",
    "ACL LOG RESET",
    "ACL LOG",
];

#[test]
fn acl_commands_answer_as_redis_7_0_15_does_for_a_scripted_sequence() {
    let Some((_redis, mut r_main)) = redis_server() else {
        return;
    };
    let r_addr = r_main.s.peer_addr().unwrap();
    let srv = TestServer::start();
    let mut s_main = srv.connect();
    let mut r_other = Conn::to(r_addr);
    let mut s_other = srv.connect();
    let mut other = false;
    let mut differences = Vec::new();
    for line in SCRIPT {
        if *line == "#" {
            other = !other;
            continue;
        }
        let (r, s) = if other {
            (&mut r_other, &mut s_other)
        } else {
            (&mut r_main, &mut s_main)
        };
        let want = call(r, line);
        let got = call(s, line);
        if want != got {
            differences.push(format!(
                "{line}\n  redis: {}\n  sutra: {}",
                show(want.as_bytes()),
                show(got.as_bytes())
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn an_aclfile_that_does_not_parse_stops_the_binary_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.acl");
    std::fs::write(&file, "user a on\nnot a user line\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(["serve", "--in-memory", "true", "--port", "0", "--aclfile"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with a bad aclfile");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(err.contains("bad.acl") && err.contains("line 2"), "{err}");
}
