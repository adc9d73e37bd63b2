//! Tests of `config.rs` (the server's flags, environment and defaults).

use super::*;

#[test]
fn byte_counts_accept_redis_units() {
    assert_eq!(parse_bytes("0"), Ok(0));
    assert_eq!(parse_bytes("64kb"), Ok(64 << 10));
    assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
    assert!(parse_bytes("12xb").is_err());
    assert!(parse_bytes("").is_err());
}

#[test]
fn defaults_are_loopback_on_the_seed_port() {
    let c = ServerConfig::default();
    assert_eq!(c.port, 50051);
    assert!(c.bind.is_loopback());
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.storage_path, PathBuf::from("./data"));
}

fn parse(args: &[&str]) -> ServerConfig {
    let mut v = vec!["x"];
    v.extend_from_slice(args);
    ServerConfig::try_parse_from(v).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn protected_mode_refuses_only_non_loopback_clients_of_a_server_without_password() {
    let lan: IpAddr = "192.0.2.7".parse().unwrap();
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let mapped_loopback: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    let c = parse(&["--bind", "0.0.0.0"]);
    assert!(c.protected_mode, "on by default");
    assert_eq!(
        c.validate(),
        Ok(()),
        "a public bind starts in protected mode"
    );
    assert!(c.protected_refuses(lan));
    assert!(c.protected_refuses(v6));
    for local in ["127.0.0.1", "127.3.2.1", "::1"] {
        assert!(!c.protected_refuses(local.parse().unwrap()), "{local}");
    }
    assert!(!c.protected_refuses(mapped_loopback));
    // A password, or protected mode off, serves everyone.
    assert!(!parse(&["--requirepass", "s"]).protected_refuses(lan));
    assert!(!parse(&["--protected-mode", "no"]).protected_refuses(lan));
    assert!(
        parse(&["--requirepass", ""]).protected_refuses(lan),
        "empty = none"
    );
    assert!(ServerConfig::try_parse_from(["x", "--protected-mode", "maybe"]).is_err());
}

#[test]
fn cache_mode_is_a_boolean_and_a_storage_mode_there_points_at_vector_storage() {
    assert!(!parse(&[]).cache_mode);
    assert!(parse(&["--cache-mode", "true"]).cache_mode);
    assert!(!parse(&["--cache-mode", "false"]).cache_mode);
    for old in ["exact", "q8", "noquant"] {
        let err = ServerConfig::try_parse_from(["x", "--cache-mode", old])
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&format!("VECTOR_STORAGE={old}")),
            "{old}: {err}"
        );
    }
    assert!(ServerConfig::try_parse_from(["x", "--cache-mode", "sometimes"]).is_err());
    let c = parse(&["--vector-storage", "q8"]);
    assert_eq!(c.vector_storage, StorageMode::Q8);
    assert_eq!(c.engine_config().default_storage_mode, StorageMode::Q8);
    assert_eq!(
        parse(&[]).engine_config().default_storage_mode,
        StorageMode::Exact
    );
    assert_eq!(
        parse(&["--vector-storage", "bin"]).vector_storage,
        StorageMode::Bin
    );
    assert!(ServerConfig::try_parse_from(["x", "--vector-storage", "bits"]).is_err());
}

#[test]
fn the_cache_role_defaults_the_ttl_to_a_day_unless_one_is_given() {
    let ttl = |args: &[&str]| parse(args).engine_config().default_ttl_ms;
    assert_eq!(ttl(&[]), 0);
    assert_eq!(ttl(&["--role", "storage"]), 0);
    assert_eq!(ttl(&["--cache-mode", "true"]), 86_400_000);
    assert_eq!(ttl(&["--role", "cache_shard"]), 86_400_000);
    assert_eq!(
        ttl(&["--role", "cache_shard", "--default-ttl-seconds", "0"]),
        0
    );
    assert_eq!(
        ttl(&["--cache-mode", "true", "--default-ttl-seconds", "60"]),
        60_000
    );
    assert_eq!(ttl(&["--default-ttl-seconds", "5"]), 5_000);
    assert!(parse(&["--role", "cache_shard"]).cache_role());
    assert!(!parse(&["--role", "storage"]).cache_role());
}

#[test]
fn the_vector_dimension_reaches_the_engine_and_must_be_in_range() {
    assert_eq!(
        parse(&["--vector-dimension", "768"])
            .engine_config()
            .vector_dimension,
        Some(768)
    );
    assert_eq!(parse(&[]).engine_config().vector_dimension, None);
    assert!(ServerConfig::try_parse_from(["x", "--vector-dimension", "0"]).is_err());
    assert!(ServerConfig::try_parse_from(["x", "--vector-dimension", "70000"]).is_err());
}

#[test]
fn mmap_disabled_is_refused_at_start_saying_why() {
    let err = parse(&["--mmap-enabled", "false"]).validate().unwrap_err();
    assert!(err.contains("MMAP_ENABLED=false is not supported"), "{err}");
    assert_eq!(parse(&["--mmap-enabled", "true"]).validate(), Ok(()));
}

fn cgroup_fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn the_cgroup_memory_limit_is_read_from_v2_or_v1_files() {
    let lim =
        |dir: &tempfile::TempDir, self_cgroup: &str| cgroup_memory_limit(dir.path(), self_cgroup);
    let two_g = (2u64 << 30).to_string() + "\n";
    // A container's own view: the files at the top of the mount.
    let v2 = cgroup_fixture(&[("memory.max", &two_g)]);
    assert_eq!(lim(&v2, "0::/\n"), Some(2 << 30));
    let v2_unlimited = cgroup_fixture(&[("memory.max", "max\n")]);
    assert_eq!(lim(&v2_unlimited, "0::/\n"), None);
    let v1 = cgroup_fixture(&[("memory/memory.limit_in_bytes", "1073741824\n")]);
    assert_eq!(lim(&v1, "4:memory:/\n"), Some(1 << 30));
    let v1_unlimited = cgroup_fixture(&[("memory/memory.limit_in_bytes", "9223372036854771712\n")]);
    assert_eq!(lim(&v1_unlimited, ""), None);
    let v1_controller = cgroup_fixture(&[("memory.limit_in_bytes", "536870912")]);
    assert_eq!(lim(&v1_controller, ""), Some(512 << 20));
    let garbage = cgroup_fixture(&[("memory.max", "lots")]);
    assert_eq!(lim(&garbage, ""), None);
    let empty = cgroup_fixture(&[]);
    assert_eq!(lim(&empty, "0::/system.slice/x.service\n"), None);
    // A service in a cgroup of the host's tree (systemd MemoryMax=): the process's own
    // cgroup and its ancestors, the smallest limit winning.
    let v2_nested = cgroup_fixture(&[
        ("system.slice/memory.max", "4294967296"),
        ("system.slice/sutra.service/memory.max", "max"),
    ]);
    assert_eq!(
        lim(&v2_nested, "0::/system.slice/sutra.service\n"),
        Some(4 << 30)
    );
    let v1_nested = cgroup_fixture(&[
        ("memory/memory.limit_in_bytes", "9223372036854771712"),
        ("memory/app/memory.limit_in_bytes", "3221225472"),
        ("memory/app/job/memory.limit_in_bytes", "2147483648"),
    ]);
    let self_cgroup = "12:cpu,cpuacct:/app/job\n4:memory:/app/job\n0::/\n";
    assert_eq!(lim(&v1_nested, self_cgroup), Some(2 << 30));
    // A path in /proc/self/cgroup cannot lead outside the mount.
    let outside = cgroup_fixture(&[("memory.max", "max")]);
    assert_eq!(lim(&outside, "0::/../../etc\n"), None);
}

#[test]
fn without_maxmemory_the_cap_is_thirty_percent_of_the_cgroup_limit() {
    let two_g = (2u64 << 30).to_string();
    let root = cgroup_fixture(&[("memory.max", &two_g)]);
    let root_arg = root.path().to_str().unwrap();
    let mut c = parse(&["--cgroup-root", root_arg]);
    c.detect_memory_limit();
    assert_eq!(c.cgroup_memory_limit, Some(2 << 30));
    assert_eq!(c.effective_maxmemory(), 644_245_092, "30% of 2 GiB");
    assert_eq!(c.engine_config().max_bytes, 644_245_092);
    assert_eq!(c.maxmemory_source(), "cgroup");
    // An explicit cap wins, including 0 (none).
    for (flag, want) in [("1gb", 1u64 << 30), ("0", 0)] {
        let mut c = parse(&["--cgroup-root", root_arg, "--maxmemory", flag]);
        c.detect_memory_limit();
        assert_eq!(c.effective_maxmemory(), want);
        assert_eq!(c.maxmemory_source(), "maxmemory");
    }
    // No limit, no cap.
    let none = cgroup_fixture(&[("memory.max", "max")]);
    let mut c = parse(&["--cgroup-root", none.path().to_str().unwrap()]);
    c.detect_memory_limit();
    assert_eq!(c.effective_maxmemory(), 0);
    assert_eq!(c.maxmemory_source(), "none");
}

#[test]
fn the_wal_sync_policy_follows_the_seed_variable_unless_the_flag_overrides_it() {
    let p = |args: &[&str]| {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        ServerConfig::try_parse_from(v).unwrap().wal_sync_policy()
    };
    assert_eq!(p(&["--wal-sync-interval-ms", "0"]), SyncPolicy::Always);
    assert_eq!(
        p(&["--wal-sync-interval-ms", "250"]),
        SyncPolicy::Interval(250)
    );
    assert_eq!(
        p(&["--wal-sync-interval-ms", "0", "--wal-sync", "never"]),
        SyncPolicy::Never
    );
    assert_eq!(
        p(&["--wal-sync-interval-ms", "0", "--wal-sync", "interval"]),
        SyncPolicy::Interval(1000)
    );
    assert_eq!(
        p(&["--wal-sync-interval-ms", "70", "--wal-sync", "ALWAYS"]),
        SyncPolicy::Always
    );
    assert!(ServerConfig::try_parse_from(["x", "--wal-sync", "sometimes"]).is_err());
    assert!(ServerConfig::try_parse_from(["x", "--wal-io", "mmap"]).is_err());
    let c = ServerConfig::try_parse_from([
        "x",
        "--wal-io",
        "sync",
        "--checkpoint-interval-seconds",
        "7",
        "--checkpoint-wal-bytes",
        "1mb",
        "--wal-segment-size",
        "256kb",
        "--index-min-elements",
        "64",
    ])
    .unwrap();
    let e = c.engine_config();
    assert_eq!(e.wal_segment_bytes, 256 << 10);
    assert_eq!(e.index_min_elements, 64);
    let defaults = ServerConfig::default().engine_config();
    assert_eq!(
        defaults.wal_segment_bytes,
        EngineConfig::default().wal_segment_bytes
    );
    assert_eq!(
        defaults.index_min_elements,
        EngineConfig::default().index_min_elements
    );
    assert_eq!(e.wal_io, IoChoice::Sync);
    assert_eq!(e.checkpoint_interval_ms, 7000);
    assert_eq!(e.checkpoint_wal_bytes, 1 << 20);
    assert!(e.data_dir.is_some());
}

#[test]
fn the_seed_variables_are_all_read() {
    let names = ServerConfig::env_var_names();
    for v in [
        "STORAGE_PATH",
        "STORAGE_PORT",
        "VECTOR_DIMENSION",
        "SUTRA_ROLE",
        "CACHE_MODE",
        "MAX_CONCEPTS",
        "EVICTION_POLICY",
        "DEFAULT_TTL_SECONDS",
        "MMAP_ENABLED",
        "WAL_SYNC_INTERVAL_MS",
        "RUST_LOG",
    ] {
        assert!(names.iter().any(|n| n == v), "{v} is not read");
    }
}
