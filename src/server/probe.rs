//! `sutra-cache health`: asks a running server's `GET /health` whether it is up (the
//! container's health check; no shell or curl needed in the image).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest answer read (a /health body is a few hundred bytes).
const MAX_ANSWER: u64 = 64 << 10;

/// Asks `host:port` for `GET /health` within `timeout` (connect, write and read together).
/// `Ok` carries a one-line summary when the server answers 200 with `"status":"ok"`;
/// `Err` says what went wrong.
pub fn check_health(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer from {host}:{port} within {timeout:?}"))
    };
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    let mut s = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("{host}:{port}: {e}");
    s.set_write_timeout(Some(left()?)).map_err(io)?;
    s.write_all(format!("GET /health HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .map_err(io)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left()?)).map_err(io)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() as u64 > MAX_ANSWER {
                    return Err(format!("{host}:{port}: answer over {MAX_ANSWER} bytes"));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    judge(&answer).map_err(|why| format!("{host}:{port}: {why}"))
}

/// ", warm" or ", warming (phase, hot p/n paged)" from /health's `warmup` (nothing when a
/// server older than it answers).
fn warm_words(json: &serde_json::Value) -> String {
    let Some(w) = json.get("warmup") else {
        return String::new();
    };
    if w.get("warm").and_then(|v| v.as_bool()) == Some(true) {
        return ", warm".into();
    }
    format!(
        ", warming ({}, hot set {}/{} paged in)",
        w.get("phase").and_then(|v| v.as_str()).unwrap_or("?"),
        w.get("hot_paged").and_then(|v| v.as_u64()).unwrap_or(0),
        w.get("hot_elements").and_then(|v| v.as_u64()).unwrap_or(0),
    )
}

/// Reads an HTTP answer to `GET /health`: 200 with a JSON body whose `status` is `ok`.
fn judge(answer: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(answer);
    if text.starts_with('-') {
        // A RESP error (protected mode's DENIED, max clients): say its first words.
        let line = text.lines().next().unwrap_or_default();
        return Err(format!(
            "the server refused: {}",
            line.chars().take(120).collect::<String>()
        ));
    }
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "not an HTTP answer".to_string())?;
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("answered '{status_line}'"));
    }
    let json: serde_json::Value =
        serde_json::from_str(body.trim()).map_err(|e| format!("body is not JSON: {e}"))?;
    match json.get("status").and_then(|s| s.as_str()) {
        Some("ok") => Ok(format!(
            "ok: version {}, role {}, up {} s{}",
            json.get("version").and_then(|v| v.as_str()).unwrap_or("?"),
            json.get("role").and_then(|v| v.as_str()).unwrap_or("?"),
            json.get("uptime_seconds")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            warm_words(&json),
        )),
        Some(other) => Err(format!("status is '{other}'")),
        None => Err("the body has no status".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn only_a_200_with_status_ok_is_healthy() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n\
                   {\"status\":\"ok\",\"version\":\"1\",\"role\":\"cache_shard\",\"uptime_seconds\":3}";
        assert_eq!(
            judge(ok).unwrap(),
            "ok: version 1, role cache_shard, up 3 s"
        );
        let warming =
            b"HTTP/1.0 200 OK\r\n\r\n{\"status\":\"ok\",\"version\":\"1\",\"role\":\"r\",\
                        \"uptime_seconds\":1,\"warmup\":{\"warm\":false,\"phase\":\"rest\",\
                        \"hot_paged\":2,\"hot_elements\":5}}";
        assert_eq!(
            judge(warming).unwrap(),
            "ok: version 1, role r, up 1 s, warming (rest, hot set 2/5 paged in)"
        );
        let warm = b"HTTP/1.0 200 OK\r\n\r\n{\"status\":\"ok\",\"warmup\":{\"warm\":true}}";
        assert!(judge(warm).unwrap().ends_with(", warm"));
        let down = b"HTTP/1.0 200 OK\r\n\r\n{\"status\":\"loading\"}";
        assert!(judge(down).unwrap_err().contains("loading"));
        let missing = b"HTTP/1.0 404 Not Found\r\n\r\nnot found";
        assert!(judge(missing).unwrap_err().contains("404"));
        let denied = b"-DENIED Redis is running in protected mode because ...\r\n";
        assert!(judge(denied).unwrap_err().contains("DENIED"));
        assert!(judge(b"").is_err());
        assert!(judge(b"HTTP/1.0 200 OK\r\n\r\nnot json").is_err());
    }
}
