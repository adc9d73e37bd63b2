//! The one child-crash harness of the crash tests (dev-only; included with
//! `#[path = "support/crash.rs"] mod crash;`): the test binary re-runs one of its own tests
//! as a child that reports each acknowledged write on a stdout line; the parent SIGKILLs it
//! a chosen time after its first acknowledgement and keeps every acknowledgement it read.
#![allow(dead_code)] // each includer uses what it needs

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child run: which test, the environment variable that makes it the child, its value.
pub struct Child<'a> {
    /// The `#[test]` function the child runs (`--exact`).
    pub test_name: &'a str,
    /// The variable the child reads its job from (the parent runs the test without it).
    pub env_var: &'a str,
    /// The job, as the child parses it.
    pub spec: String,
}

/// Runs `child`, SIGKILLs it `kill_after` past its first acknowledgement (a line `parse`
/// accepts), and returns every acknowledgement it printed before dying (at least one).
/// Panics if none arrives within `first_ack_within`.
pub fn run_and_kill<A: Send + 'static>(
    child: &Child<'_>,
    parse: fn(&[u8]) -> Option<A>,
    first_ack_within: Duration,
    kill_after: Duration,
) -> Vec<A> {
    run_and_kill_when(
        child,
        parse,
        move |line| parse(line).is_some(),
        first_ack_within,
        kill_after,
    )
}

/// As [`run_and_kill`], but the kill waits for the first line `ready` accepts (a line the
/// child prints once it reached a state the test needs, e.g. a finished checkpoint) instead
/// of the first acknowledgement. Panics if no such line arrives within `ready_within`.
pub fn run_and_kill_when<A: Send + 'static>(
    child: &Child<'_>,
    parse: fn(&[u8]) -> Option<A>,
    ready: impl Fn(&[u8]) -> bool + Send + 'static,
    ready_within: Duration,
    kill_after: Duration,
) -> Vec<A> {
    let exe = std::env::current_exe().unwrap();
    let mut proc = Command::new(&exe)
        .args([
            "--exact",
            child.test_name,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(child.env_var, &child.spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut got = Vec::new();
        let mut line = Vec::new();
        let mut told = false;
        while r.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if !told && ready(&line) {
                let _ = tx.send(());
                told = true;
            }
            if let Some(ack) = parse(&line) {
                got.push(ack);
            }
            line.clear();
        }
        got
    });
    // Kill at the chosen moment once the child is writing.
    if rx.recv_timeout(ready_within).is_err() {
        let _ = proc.kill();
        let _ = proc.wait();
        panic!("the child reported nothing ready within {ready_within:?}");
    }
    std::thread::sleep(kill_after);
    // `Child::kill` is SIGKILL on Unix; the child is not reaped yet, so its pid is ours.
    proc.kill().expect("SIGKILL the child");
    proc.wait().unwrap();
    let got = reader.join().unwrap();
    assert!(!got.is_empty());
    got
}
