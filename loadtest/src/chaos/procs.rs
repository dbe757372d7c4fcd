//! The processes a chaos case runs and hurts: one redis-server and the
//! switchboard nodes, each a child of this program, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Namespace;

/// A redis-server with an append-only file fsynced on every write, so that
/// `kill -9` loses nothing it acknowledged.
pub struct Redis {
    bin: PathBuf,
    dir: PathBuf,
    /// Its port on every address it listens on.
    pub port: u16,
    bind: Vec<String>,
    /// Extra `redis-server` arguments (`--replicaof HOST PORT`).
    args: Vec<String>,
    child: Option<Child>,
}

impl Redis {
    /// Starts it in `dir`, listening on loopback and `extra` addresses (a
    /// network namespace's link), and waits until it answers.
    pub async fn start(bin: &Path, dir: &Path, extra: &[String]) -> Result<Redis, String> {
        Self::start_with(bin, dir, extra, &[]).await
    }

    /// As [`Redis::start`], with extra `redis-server` arguments.
    pub async fn start_with(
        bin: &Path,
        dir: &Path,
        extra: &[String],
        args: &[String],
    ) -> Result<Redis, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut bind = vec!["127.0.0.1".to_string()];
        bind.extend(extra.iter().cloned());
        let mut r = Redis {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            port: free_port()?,
            bind,
            args: args.to_vec(),
            child: None,
        };
        r.spawn().await?;
        Ok(r)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("redis.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind"])
            .args(&self.bind)
            // A namespace's node is not on loopback; the addresses are ours.
            .args(["--protected-mode", "no"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if ping(self.port).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "redis-server on port {} did not answer within 20 s (log: {})",
            self.port,
            self.dir.join("redis.log").display()
        ))
    }

    /// `redis://HOST:PORT/`.
    pub fn url(&self, host: &str) -> String {
        format!("redis://{host}:{}/", self.port)
    }

    /// `kill -9`: nothing flushed, nothing said.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and files (the AOF is replayed).
    pub async fn restart(&mut self) -> Result<(), String> {
        self.spawn().await
    }

    /// Sends a signal (`-STOP`, `-CONT`) to the process.
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        match &self.child {
            Some(c) => signal(c.id(), sig),
            None => Err("redis-server is not running".into()),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.signal("-CONT");
        self.kill9();
    }
}

/// Whether something on `port` answers a Redis `PING` with `+PONG`.
pub async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// A `switchboard serve` node.
pub struct Node {
    child: Option<tokio::process::Child>,
    /// `http://host:port`.
    pub base: String,
}

impl Node {
    /// Starts `bin serve ARGS` listening on a free port (on loopback, or on
    /// every address inside `ns`, reached through its console link) and
    /// waits until `/readyz` answers 200.
    pub async fn start(
        bin: &Path,
        args: &[String],
        log: PathBuf,
        ns: Option<&Namespace>,
    ) -> Result<Node, String> {
        let port = free_port()?;
        let (listen, host) = match ns {
            Some(ns) => (format!("0.0.0.0:{port}"), ns.node_addr()),
            None => (format!("127.0.0.1:{port}"), "127.0.0.1".to_string()),
        };
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", &ns.name]).arg(bin);
                c
            }
            None => tokio::process::Command::new(bin),
        };
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = cmd
            .args(["serve", "--listen", &listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let base = format!("http://{host}:{port}");
        crate::multi::wait_ready(&base, &mut child, &log).await?;
        Ok(Node {
            child: Some(child),
            base,
        })
    }

    /// `kill -9`.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}

fn signal(pid: u32, sig: &str) -> Result<(), String> {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("kill {sig} {pid}: {st}"))
    }
}

pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
