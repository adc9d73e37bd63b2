//! The server's integration tests (one binary: CI links it once): the RESP/HTTP server
//! on port 0 or the `sutra-cache` binary driven from outside, one module per concern.
//! Run one module with `cargo test --test server server_resp::`.

mod server_support;

mod analytics_query;
mod cli_bench;
mod cli_check;
mod cli_config_file;
mod cli_dump;
mod cli_migrate;
mod deploy_cluster_compose;
mod deploy_compose;
mod deploy_k8s;
mod server_acl;
mod server_cluster;
mod server_cluster_crash;
mod server_cluster_tools;
mod server_config;
mod server_crash_campaign;
mod server_dashboard;
mod server_databases;
mod server_dump;
mod server_durability;
mod server_hash;
mod server_hostile;
mod server_http;
mod server_observability;
mod server_replication;
mod server_resp;
mod server_resp_admin;
mod server_resp_vset;
mod server_soak;
mod server_tls;
mod server_tools;
mod server_tracking;
mod server_tx;
mod server_uring;
mod server_vset_compat;
mod server_warmup;
