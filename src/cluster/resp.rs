//! The manager's blocking RESP2 client: one connection per node, commands as byte strings,
//! replies parsed into [`Reply`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text (simple or bulk string), or an error naming what came instead.
    pub fn text(&self) -> Result<String, String> {
        match self {
            Reply::Simple(s) => Ok(s.clone()),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            other => Err(format!("expected a string, got {other:?}")),
        }
    }

    /// The reply as an integer.
    pub fn int(&self) -> Result<i64, String> {
        match self {
            Reply::Int(n) => Ok(*n),
            other => Err(format!("expected an integer, got {other:?}")),
        }
    }

    /// `Ok` unless the reply is an error.
    pub fn ok(self) -> Result<Reply, String> {
        match self {
            Reply::Error(e) => Err(e),
            r => Ok(r),
        }
    }
}

/// A connection to one node.
pub struct Conn {
    /// `host:port`, for messages.
    pub addr: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    /// Connects to `addr` (`host:port`).
    pub fn open(addr: &str, timeout: Duration) -> Result<Conn, String> {
        use std::net::ToSocketAddrs;
        let sock = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let s = TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("{addr}: {e}"))?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        let writer = s.try_clone().map_err(|e| e.to_string())?;
        Ok(Conn {
            addr: addr.to_string(),
            reader: BufReader::new(s),
            writer,
        })
    }

    /// Sends one command and reads its reply (an error reply is `Ok(Reply::Error)`; a
    /// broken connection is `Err`).
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.writer
            .write_all(&req)
            .map_err(|e| format!("{}: {e}", self.addr))?;
        self.read().map_err(|e| format!("{}: {e}", self.addr))
    }

    /// Sends many commands at once, then reads their replies (one round trip).
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, String> {
        let mut req = Vec::new();
        for args in cmds {
            req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args {
                req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                req.extend_from_slice(a);
                req.extend_from_slice(b"\r\n");
            }
        }
        self.writer
            .write_all(&req)
            .map_err(|e| format!("{}: {e}", self.addr))?;
        cmds.iter()
            .map(|_| self.read().map_err(|e| format!("{}: {e}", self.addr)))
            .collect()
    }

    /// [`Conn::call`] with text arguments.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Reply, String> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut l = Vec::new();
        self.reader
            .read_until(b'\n', &mut l)
            .map_err(|e| e.to_string())?;
        if l.len() < 2 || !l.ends_with(b"\r\n") {
            return Err("connection closed or bad reply".into());
        }
        l.truncate(l.len() - 2);
        Ok(String::from_utf8_lossy(&l).into_owned())
    }

    fn read(&mut self) -> Result<Reply, String> {
        let l = self.line()?;
        let (kind, rest) = l.split_at(1.min(l.len()));
        let num = || {
            rest.parse::<i64>()
                .map_err(|_| format!("bad reply line {l:?}"))
        };
        Ok(match kind {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(num()?),
            "$" => {
                let n = num()?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.reader.read_exact(&mut b).map_err(|e| e.to_string())?;
                    b.truncate(n as usize);
                    Reply::Bulk(Some(b))
                }
            }
            "*" => {
                let n = num()?;
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::with_capacity(n.min(1 << 16) as usize);
                    for _ in 0..n {
                        v.push(self.read()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => return Err(format!("unexpected reply line {l:?}")),
        })
    }
}
