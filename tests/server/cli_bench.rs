//! `sutra-cache bench` through the binary against a server on port 0.

use crate::server_support;

use std::process::Command;

use server_support::TestServer;

#[test]
fn bench_runs_set_get_and_vsim_prints_percentiles_and_leaves_no_keys() {
    let srv = TestServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(["bench", "--url", &format!("redis://{}", srv.addr)])
        .args([
            "--clients",
            "2",
            "--requests",
            "300",
            "--dim",
            "8",
            "--set-size",
            "200",
        ])
        .output()
        .expect("binary runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("op     requests      ops/s    p50 us"),
        "{text}"
    );
    for op in ["set", "get", "vsim"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(op))
            .unwrap_or_else(|| panic!("{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "300", "{line}");
        let p50: u64 = cols[3].parse().unwrap();
        let max: u64 = cols[6].parse().unwrap();
        assert!(p50 <= max, "{line}");
    }
    assert_eq!(srv.engine.dbsize(), 0, "bench keys left behind");
}

#[test]
fn an_unknown_operation_is_named_and_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(["bench", "--url", "redis://127.0.0.1:1", "--ops", "set,hget"])
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown operation \"hget\""));
}
