//! `deploy/compose.yml` is the seed's cache-shard service (embedding-service-scaling.md,
//! Step 1) building this repository's Dockerfile, and the binary runs with exactly its
//! environment (plus the image's): started, healthy by `sutra-cache health`, in the
//! cache_shard role, with the 24 h default TTL and VECTOR_DIMENSION=768 enforced.
//! Docker itself is not needed (nor available on the build machine).

use crate::server_support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_norway::Value;
use server_support::{cmd, f32le, Conn};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/compose.yml")).expect("compose.yml");
    serde_norway::from_str(&text).expect("deploy/compose.yml is YAML")
}

fn service(c: &Value) -> &Value {
    &c["services"]["storage-cache-shard"]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("a list: {v:?}"))
        .iter()
        .map(|x| x.as_str().expect("a string").to_string())
        .collect()
}

/// The service's `environment:` as (name, value) pairs, in order.
fn service_env(c: &Value) -> Vec<(String, String)> {
    strings(&service(c)["environment"])
        .into_iter()
        .map(|item| {
            let (k, v) = item.split_once('=').expect("NAME=value items");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The Dockerfile's `ENV a=b \` lines of the final stage.
fn dockerfile_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let mut out = Vec::new();
    let mut in_env = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("FROM ") {
            out.clear(); // only the final stage's environment reaches the server
        }
        let body = if let Some(rest) = t.strip_prefix("ENV ") {
            rest
        } else if in_env {
            t
        } else {
            continue;
        };
        in_env = body.ends_with('\\');
        for pair in body.trim_end_matches('\\').split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV name=value");
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// A compose memory size (`2G`, `512M`) in bytes.
fn compose_bytes(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().expect("a number before the unit");
    n << match unit {
        "G" | "g" => 30,
        "M" | "m" => 20,
        other => panic!("unit {other}"),
    }
}

#[test]
fn the_compose_file_is_the_seeds_cache_shard_service_building_this_dockerfile() {
    let c = compose();
    let s = service(&c);
    assert_eq!(
        s["container_name"].as_str(),
        Some("sutra-works-storage-cache")
    );
    assert_eq!(
        s["image"].as_str(),
        Some("sutra-works-storage-server:${SUTRA_VERSION:-latest}")
    );
    assert_eq!(strings(&s["expose"]), ["50051"]);
    assert!(s.get("ports").is_none(), "the seed only exposes the port");
    assert_eq!(strings(&s["volumes"]), ["storage-cache-data:/data"]);
    assert_eq!(strings(&s["networks"]), ["sutra-network"]);
    assert_eq!(s["restart"].as_str(), Some("unless-stopped"));
    let res = &s["deploy"]["resources"];
    assert_eq!(res["limits"]["memory"].as_str(), Some("2G"));
    assert_eq!(res["reservations"]["memory"].as_str(), Some("1G"));
    // The seed's environment, value for value and in its order.
    let seed: Vec<(String, String)> = [
        ("RUST_LOG", "info"),
        ("STORAGE_PATH", "/data"),
        ("STORAGE_PORT", "50051"),
        ("VECTOR_DIMENSION", "768"),
        ("SUTRA_ROLE", "cache_shard"),
        ("CACHE_MODE", "true"),
        ("MAX_CONCEPTS", "100000"),
        ("EVICTION_POLICY", "lru"),
        ("DEFAULT_TTL_SECONDS", "86400"),
        ("MMAP_ENABLED", "true"),
        ("WAL_SYNC_INTERVAL_MS", "5000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(service_env(&c), seed);
    // Every variable is one the server reads.
    let read = sutra_cache::server::ServerConfig::env_var_names();
    for (k, _) in &seed {
        assert!(read.contains(k), "{k} is not read by the server");
    }
    // The network and the volume are defined in the file.
    assert!(c["networks"].get("sutra-network").is_some());
    assert_eq!(
        c["volumes"]["storage-cache-data"]["driver"].as_str(),
        Some("local")
    );
    // It builds this repository's Dockerfile (paths relative to deploy/).
    let context = root()
        .join("deploy")
        .join(s["build"]["context"].as_str().expect("build.context"));
    let dockerfile = context.join(s["build"]["dockerfile"].as_str().expect("dockerfile"));
    assert_eq!(
        dockerfile.canonicalize().unwrap(),
        root().join("Dockerfile").canonicalize().unwrap()
    );
    // The health check is the binary's own.
    let test = strings(&s["healthcheck"]["test"]);
    assert_eq!(test[..3], ["CMD", "sutra-cache", "health"]);
    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        docker.contains("CMD [\"sutra-cache\", \"health\"]"),
        "Dockerfile HEALTHCHECK"
    );
    let image_env: BTreeMap<_, _> = dockerfile_env().into_iter().collect();
    assert_eq!(image_env["SUTRA_PROTECTED_MODE"], "no");
    assert_eq!(image_env["SUTRA_BIND"], "0.0.0.0");
    assert_eq!(image_env["STORAGE_PATH"], "/data");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The environment the container's processes get: the image's, then the service's, then
/// this test's overrides (data in a temp dir, loopback, a free port, a cgroup fixture).
fn container_env(overrides: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = dockerfile_env().into_iter().collect();
    env.extend(service_env(&compose()));
    for (k, v) in overrides {
        env.insert(k.to_string(), v.clone());
    }
    env.into_iter().collect()
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
    c.env_clear();
    c
}

/// `sutra-cache health` with `env` and `args`: exit success and its one line.
fn health(env: &[(String, String)], args: &[&str]) -> (bool, String) {
    let out = bin()
        .arg("health")
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .expect("health runs");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(line.lines().count(), 1, "one line: {line:?}");
    (out.status.success(), line)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stages of the Dockerfile: (`FROM` line, the instructions after it, continuation
/// lines joined).
fn dockerfile_stages() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        pending.push_str(t.trim_end_matches('\\'));
        pending.push(' ');
        if t.ends_with('\\') {
            continue;
        }
        let step = std::mem::take(&mut pending).trim().to_string();
        if step.starts_with("FROM ") {
            stages.push((step, Vec::new()));
        } else {
            stages.last_mut().expect("FROM first").1.push(step);
        }
    }
    stages
}

#[test]
fn the_image_builds_dependencies_in_their_own_layer_and_ships_a_stripped_binary() {
    let stages = dockerfile_stages();
    let stage = |name: &str| {
        stages
            .iter()
            .find(|(from, _)| from.ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("a stage named {name}"))
    };
    // The dependencies are cooked from the recipe before the sources are copied in, so a
    // source change reuses the dependency layer (cargo-chef).
    let (_, build) = stage("build");
    let at = |prefix: &str| {
        build
            .iter()
            .position(|s| s.starts_with(prefix))
            .unwrap_or_else(|| panic!("`{prefix}` in the build stage: {build:?}"))
    };
    assert!(at("COPY --from=plan /src/recipe.json") < at("RUN cargo chef cook --release"));
    assert!(at("RUN cargo chef cook --release") < at("COPY . ."));
    assert!(at("COPY . .") < at("RUN cargo build --release --locked --bin sutra-cache"));
    let (_, plan) = stage("plan");
    assert!(plan
        .iter()
        .any(|s| s.starts_with("RUN cargo chef prepare --recipe-path recipe.json")));
    // Built without debug info and stripped.
    let env = build
        .iter()
        .find(|s| s.starts_with("ENV "))
        .expect("ENV in build");
    assert!(env.contains("CARGO_PROFILE_RELEASE_STRIP=symbols"), "{env}");
    assert!(env.contains("CARGO_PROFILE_RELEASE_DEBUG=0"), "{env}");
    // The final stage takes only the binary, runs as a user, and checks its own health.
    let (from, last) = stages.last().unwrap();
    assert_eq!(from, "FROM debian:bookworm-slim");
    assert!(last.contains(
        &"COPY --from=build /src/target/release/sutra-cache /usr/local/bin/sutra-cache".into()
    ));
    assert!(last.iter().any(|s| s == "USER sutra"));
    assert!(last
        .iter()
        .any(|s| s.starts_with("HEALTHCHECK") && s.ends_with("CMD [\"sutra-cache\", \"health\"]")));
    // The build context leaves out what is not source.
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    for entry in ["target", ".git", ".venv", ".go"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            "{entry} in .dockerignore"
        );
    }
}

#[test]
fn the_binary_runs_with_exactly_the_services_environment() {
    let data = tempfile::tempdir().unwrap();
    let cgroup = tempfile::tempdir().unwrap();
    let limit = compose_bytes(
        compose()["services"]["storage-cache-shard"]["deploy"]["resources"]["limits"]["memory"]
            .as_str()
            .unwrap(),
    );
    std::fs::write(cgroup.path().join("memory.max"), format!("{limit}\n")).unwrap();
    let port = free_port();
    let env = container_env(&[
        ("STORAGE_PATH", data.path().display().to_string()),
        ("STORAGE_PORT", port.to_string()),
        ("SUTRA_BIND", "127.0.0.1".to_string()),
        ("SUTRA_CGROUP_ROOT", cgroup.path().display().to_string()),
    ]);
    // Before the server is up the check fails, saying why, in one line.
    let (ok, line) = health(&env, &["--timeout", "2"]);
    assert!(!ok && line.starts_with("unhealthy:"), "{line}");

    let child = bin()
        .arg("serve")
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut server = Server(child);
    // The image's HEALTHCHECK: `sutra-cache health` with the container's environment.
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let (ok, line) = health(&env, &[]);
        if ok {
            break line;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            let _ = server.0.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the server exited ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "never healthy: {line}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        line.starts_with("healthy: ok") && line.contains("role cache_shard"),
        "{line}"
    );
    let explicit = format!("{port}");
    let (ok, _) = health(&env, &["--host", "localhost", "--port", &explicit]);
    assert!(ok, "--host/--port name the same server");

    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c = Conn { s };
    let info = String::from_utf8(c.call(&[b"INFO"])).unwrap();
    for line in [
        "role:cache_shard\r\n",
        "cache_mode:1\r\n",
        "vector_dimension:768\r\n",
        "vector_storage:exact\r\n",
        "default_ttl_seconds:86400\r\n",
        "maxmemory_policy:lru\r\n",
        "max_entries:100000\r\n",
        "maxmemory_source:cgroup\r\n",
        "mmap_enabled:1\r\n",
        "in_memory:0\r\n",
        "wal_sync:interval:5000\r\n",
    ] {
        assert!(info.contains(line), "{line} missing from INFO:\n{info}");
    }
    assert!(
        info.contains(&format!("maxmemory:{}\r\n", limit / 10 * 3)),
        "30% of the 2G limit: {info}"
    );
    assert!(
        info.contains(&format!("cgroup_memory_limit:{limit}\r\n")),
        "{info}"
    );
    // The 24 h default TTL applies to blobs and elements written without one.
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("TTL k", ":86400\r\n");
    let v768: Vec<f32> = (0..768).map(|i| (i as f32 * 0.37).sin()).collect();
    let blob = f32le(&v768);
    c.check(
        &cmd(&[b"VADD", b"emb:default", b"FP32", &blob, b"hello"]),
        b":1\r\n",
    );
    c.check_words("VTTL emb:default hello", ":86400\r\n");
    c.check(&cmd(&[b"VGETF32", b"emb:default", b"hello"]), &{
        let mut r = format!("${}\r\n", blob.len()).into_bytes();
        r.extend_from_slice(&blob);
        r.extend_from_slice(b"\r\n");
        r
    });
    // VECTOR_DIMENSION=768 is enforced, naming both.
    let v384 = f32le(&v768[..384]);
    c.check(
        &cmd(&[b"VADD", b"emb:small", b"FP32", &v384, b"x"]),
        b"-ERR Vector dimension mismatch - got 384 but this server's vector dimension \
          (VECTOR_DIMENSION) is 768\r\n",
    );
    // /health over HTTP reports the role too.
    let mut h = TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    h.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    h.read_to_string(&mut answer).unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["role"], "cache_shard");
    assert_eq!(json["cache_mode"], true);
    assert_eq!(json["vector_dimension"], 768);
    // SIGTERM (docker stop) ends it cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = server.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    // And the check says so.
    let (ok, line) = health(&env, &["--timeout", "1"]);
    assert!(!ok && line.starts_with("unhealthy:"), "{line}");
}
