//! `deploy/k8s/`: the StatefulSet, its headless Service, the PodDisruptionBudget and the Job
//! running `sutra-cache cluster create`. No Kubernetes here, so the test checks every field
//! the server and the manager depend on, and the objects' references to each other (the
//! selectors, the service name, the ports by name, the volume), then runs what they
//! describe with the binary: one process per replica with exactly the container's
//! environment (`valueFrom: metadata.name` resolved to the pod's name; the port and data
//! path moved to the test's), the readiness probe's command against each, and the Job's
//! arguments with each pod's DNS name pointed at its process; `cluster check` must then pass.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_norway::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Value {
    let path = root().join("deploy/k8s").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn s<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: a string, got {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("a list: {v:?}"))
        .iter()
        .map(|x| x.as_str().expect("a string").to_string())
        .collect()
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .unwrap_or_else(|| panic!("a map of labels: {v:?}"))
        .iter()
        .map(|(k, v)| (s(k, "label").to_string(), s(v, "label value").to_string()))
        .collect()
}

fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| pod.get(k) == Some(v))
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

fn run(args: &[String], env: &[(String, String)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_kubernetes_manifests_run_three_shards_and_the_job_creates_the_cluster() {
    let svc = load("service.yaml");
    let sts = load("statefulset.yaml");
    let pdb = load("pdb.yaml");
    let job = load("cluster-create-job.yaml");
    for (v, api, kind) in [
        (&svc, "v1", "Service"),
        (&sts, "apps/v1", "StatefulSet"),
        (&pdb, "policy/v1", "PodDisruptionBudget"),
        (&job, "batch/v1", "Job"),
    ] {
        assert_eq!(v["apiVersion"].as_str(), Some(api), "{kind}");
        assert_eq!(v["kind"].as_str(), Some(kind));
    }
    let name = s(&sts["metadata"]["name"], "StatefulSet name");
    let spec = &sts["spec"];
    let replicas = spec["replicas"].as_u64().expect("replicas") as usize;
    assert_eq!(replicas, 3);
    // The selectors: the StatefulSet's picks its own pods, the Service and the budget pick
    // the same pods, and the Job's pod is none of them.
    let pod_labels = labels(&spec["template"]["metadata"]["labels"]);
    let sts_selector = labels(&spec["selector"]["matchLabels"]);
    assert!(selects(&sts_selector, &pod_labels));
    assert!(selects(&labels(&svc["spec"]["selector"]), &pod_labels));
    assert_eq!(
        labels(&pdb["spec"]["selector"]["matchLabels"]),
        sts_selector
    );
    assert_eq!(pdb["spec"]["maxUnavailable"].as_u64(), Some(1));
    let job_pod = labels(&job["spec"]["template"]["metadata"]["labels"]);
    assert!(
        !selects(&sts_selector, &job_pod),
        "the budget must not cover the Job's pod"
    );
    // The headless Service named by serviceName gives the pods their DNS names.
    let svc_name = s(&svc["metadata"]["name"], "Service name");
    assert_eq!(spec["serviceName"].as_str(), Some(svc_name));
    assert_eq!(svc["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(
        svc["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    // The container: the image's entrypoint is the binary, args its arguments.
    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(docker.contains("ENTRYPOINT [\"/usr/local/bin/sutra-cache\"]"));
    let pod = &spec["template"]["spec"];
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(strings(&c["args"]), ["serve"]);
    let image = s(&c["image"], "image");
    let job_pod_spec = &job["spec"]["template"]["spec"];
    let jc = &job_pod_spec["containers"][0];
    assert_eq!(
        jc["image"].as_str(),
        Some(image),
        "the Job runs the shards' image"
    );
    assert!(matches!(
        job_pod_spec["restartPolicy"].as_str(),
        Some("OnFailure" | "Never")
    ));
    assert!(job["spec"]["backoffLimit"].as_u64().unwrap_or(6) >= 6);
    // The environment: every variable is one the server reads; metadata.name is the node id.
    let read = sutra_cache::server::ServerConfig::env_var_names();
    let mut env: Vec<(String, Option<String>)> = Vec::new();
    for e in c["env"].as_sequence().expect("env") {
        let k = s(&e["name"], "env name").to_string();
        assert!(read.contains(&k), "{k} is not read by the server");
        match (e.get("value"), e.get("valueFrom")) {
            (Some(v), None) => env.push((k, Some(s(v, "env value").to_string()))),
            (None, Some(from)) => {
                assert_eq!(
                    from["fieldRef"]["fieldPath"].as_str(),
                    Some("metadata.name"),
                    "{k}"
                );
                env.push((k, None));
            }
            _ => panic!("{k}: one of value and valueFrom"),
        }
    }
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("SUTRA_CLUSTER_MODE"), Some(Some("yes".into())));
    assert_eq!(get("SUTRA_CLUSTER_NODE_ID"), Some(None), "the pod name");
    let port = get("STORAGE_PORT").flatten().expect("STORAGE_PORT");
    let data = get("STORAGE_PATH").flatten().expect("STORAGE_PATH");
    // The port: the container's named port is STORAGE_PORT, the Service's targets it.
    let ports = c["ports"].as_sequence().expect("ports");
    let resp = ports
        .iter()
        .find(|p| p["name"].as_str() == Some("resp"))
        .expect("a port named resp");
    assert_eq!(
        resp["containerPort"].as_u64().map(|p| p.to_string()),
        Some(port.clone())
    );
    let sp = &svc["spec"]["ports"][0];
    assert_eq!(sp["targetPort"].as_str(), Some("resp"));
    assert_eq!(
        sp["port"].as_u64().map(|p| p.to_string()),
        Some(port.clone())
    );
    // The data directory is the claim template's volume.
    let claim = s(
        &spec["volumeClaimTemplates"][0]["metadata"]["name"],
        "claim name",
    );
    let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
    assert!(mounts
        .iter()
        .any(|m| m["name"].as_str() == Some(claim) && m["mountPath"].as_str() == Some(&data)));
    // Readiness and liveness run the binary's health check on its own port.
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            strings(&c[probe]["exec"]["command"])[..2],
            ["sutra-cache", "health"],
            "{probe}"
        );
    }
    let probe: Vec<String> = strings(&c["readinessProbe"]["exec"]["command"])[1..].to_vec();

    // Run it: one process per replica, as the pod sutra-cache-<i> would.
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Vec::new();
    let mut local = BTreeMap::new();
    for i in 0..replicas {
        let pod_name = format!("{name}-{i}");
        let p = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
        cmd.args(strings(&c["args"]))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &env {
            cmd.env(k, v.clone().unwrap_or_else(|| pod_name.clone()));
        }
        cmd.env("STORAGE_PORT", p.to_string())
            .env("STORAGE_PATH", dir.path().join(&pod_name))
            .env("SUTRA_BIND", "127.0.0.1")
            .env("RUST_LOG", "warn");
        procs.push(Killed(cmd.spawn().expect("binary starts")));
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{pod_name} did not start"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        // The readiness probe passes before the cluster is created (the Job needs that).
        let probe_env = [("STORAGE_PORT".to_string(), p.to_string())];
        let start = Instant::now();
        loop {
            let (ok, text) = run(&probe, &probe_env);
            if ok {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{pod_name}: {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        local.insert(
            format!("{pod_name}.{svc_name}:{port}"),
            format!("127.0.0.1:{p}"),
        );
    }
    // The Job: `cluster create` with every pod's stable name, each pointed at its process.
    let job_args = strings(&jc["args"]);
    assert_eq!(job_args[..2], ["cluster", "create"]);
    let named: Vec<&String> = local.keys().collect();
    assert_eq!(job_args[2..].iter().collect::<Vec<_>>(), named);
    let args: Vec<String> = job_args
        .iter()
        .map(|a| local.get(a).cloned().unwrap_or_else(|| a.clone()))
        .collect();
    let (ok, text) = run(&args, &[]);
    assert!(ok, "{text}");
    let (ok, text) = run(&args, &[]);
    assert!(ok, "re-running the Job is harmless: {text}");
    let seed = local.values().next().unwrap().clone();
    let (ok, check) = run(&["cluster".into(), "check".into(), seed.clone()], &[]);
    assert!(
        ok && check.contains("ok: 3 nodes agree on epoch 1"),
        "{check}"
    );
    let (_, status) = run(&["cluster".into(), "status".into(), seed], &[]);
    for i in 0..replicas {
        assert!(
            status.contains(&format!("{name}-{i} 127.0.0.1:")),
            "{status}"
        );
    }
    drop(procs);
}
