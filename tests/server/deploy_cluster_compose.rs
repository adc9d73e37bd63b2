//! `deploy/cluster-compose.yml`: three shards and the manager's create step. Docker is not
//! available here, so the test reads the file and runs what it describes with the binary:
//! each shard with exactly its environment (the port and data path moved to the test's),
//! then the create service's command with each `shard-N:50051` pointed at that process;
//! the cluster must then pass `sutra-cache cluster check`.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_norway::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("a list: {v:?}"))
        .iter()
        .map(|x| x.as_str().expect("a string").to_string())
        .collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_cluster_compose_file_runs_three_shards_and_creates_the_cluster() {
    let text = std::fs::read_to_string(root().join("deploy/cluster-compose.yml")).unwrap();
    let c: Value = serde_norway::from_str(&text).expect("YAML");
    let services = c["services"].as_mapping().expect("services");
    let shards: Vec<&str> = services
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| k.starts_with("shard-"))
        .collect();
    assert_eq!(shards, ["shard-0", "shard-1", "shard-2"]);
    let read = sutra_cache::server::ServerConfig::env_var_names();
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for (i, name) in shards.iter().enumerate() {
        let s = &c["services"][*name];
        // It builds this repository's Dockerfile, keeps /data in its own volume, and is
        // checked by the binary's health command.
        assert_eq!(s["build"]["dockerfile"].as_str(), Some("Dockerfile"));
        assert_eq!(strings(&s["volumes"]), [format!("{name}-data:/data")]);
        assert!(c["volumes"].get(format!("{name}-data")).is_some());
        assert_eq!(
            strings(&s["healthcheck"]["test"])[..3],
            ["CMD", "sutra-cache", "health"]
        );
        assert_eq!(strings(&s["networks"]), ["sutra-network"]);
        let env: Vec<(String, String)> = strings(&s["environment"])
            .into_iter()
            .map(|e| {
                let (k, v) = e.split_once('=').expect("NAME=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        for (k, _) in &env {
            assert!(read.contains(k), "{name}: {k} is not read by the server");
        }
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SUTRA_CLUSTER_MODE"), Some("yes"), "{name}");
        assert_eq!(get("SUTRA_CLUSTER_NODE_ID"), Some(*name));
        assert_eq!(get("STORAGE_PORT"), Some("50051"));
        let port = free_port();
        let data = dir.path().join(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.env("STORAGE_PORT", port.to_string())
            .env("STORAGE_PATH", &data)
            .env("RUST_LOG", "warn");
        procs.push(Killed(cmd.spawn().expect("binary starts")));
        ports.push(port);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{name} did not start"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = i;
    }
    let create = &c["services"]["cluster-create"];
    let deps = create["depends_on"].as_mapping().expect("depends_on");
    for name in &shards {
        assert_eq!(
            deps.get(*name).and_then(|d| d["condition"].as_str()),
            Some("service_healthy"),
            "{name}"
        );
    }
    // The image's entrypoint is the binary: the command is its arguments.
    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(docker.contains("ENTRYPOINT [\"/usr/local/bin/sutra-cache\"]"));
    let args: Vec<String> = strings(&create["command"])
        .into_iter()
        .map(
            |a| match shards.iter().position(|s| a == format!("{s}:50051")) {
                Some(i) => format!("127.0.0.1:{}", ports[i]),
                None => a,
            },
        )
        .collect();
    assert_eq!(args[..2], ["cluster", "create"]);
    assert_eq!(args.len(), 5);
    let run = |args: &[String]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    run(&args);
    // Running it again is harmless.
    run(&args);
    let check = run(&[
        "cluster".into(),
        "check".into(),
        format!("127.0.0.1:{}", ports[0]),
    ]);
    assert!(check.contains("ok: 3 nodes agree on epoch 1"), "{check}");
    let status = run(&[
        "cluster".into(),
        "status".into(),
        format!("127.0.0.1:{}", ports[1]),
    ]);
    for name in &shards {
        assert!(status.contains(&format!("{name} 127.0.0.1:")), "{status}");
    }
}
