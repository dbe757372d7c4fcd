//! The `sentinel-failover` case's Redis: a primary, two replicas and three
//! Sentinels on loopback, each a child of this program. The nodes find the
//! primary through the Sentinels and wait for one replica before they
//! acknowledge a write (`--redis-min-replicas 1`), so a failover loses
//! nothing acknowledged; two replicas, so that one is left to confirm
//! writes once the other is promoted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::procs::{Redis, free_port, ping};

/// The name the Sentinels know the primary by.
const PRIMARY_NAME: &str = "sb";

/// A primary, its replicas and the Sentinels watching them.
pub struct SentinelSet {
    primary: Redis,
    /// Kept so that they run until the case ends.
    _replicas: Vec<Redis>,
    sentinels: Vec<(u16, Child)>,
}

impl SentinelSet {
    /// Starts them in `dir` and waits until both replicas hold the
    /// primary's data and every Sentinel knows the others and both
    /// replicas (a failover before that could promote an empty replica).
    pub async fn start(bin: &Path, dir: &Path) -> Result<SentinelSet, String> {
        let primary = Redis::start(bin, &dir.join("primary"), &[]).await?;
        let of = vec![
            "--replicaof".to_string(),
            "127.0.0.1".to_string(),
            primary.port.to_string(),
        ];
        let mut replicas = Vec::new();
        for i in 0..2 {
            replicas
                .push(Redis::start_with(bin, &dir.join(format!("replica{i}")), &[], &of).await?);
        }
        let mut sentinels = Vec::new();
        for i in 0..3 {
            sentinels
                .push(start_sentinel(bin, &dir.join(format!("sentinel{i}")), primary.port).await?);
        }
        let set = SentinelSet {
            primary,
            _replicas: replicas,
            sentinels,
        };
        set.wait_ready().await?;
        Ok(set)
    }

    /// `redis+sentinel://` naming every Sentinel.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+sentinel://{}/{PRIMARY_NAME}", hosts.join(","))
    }

    /// `kill -9` of the primary; the Sentinels promote a replica.
    pub fn kill_primary(&mut self) {
        self.primary.kill9();
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut ready = true;
            for r in &self._replicas {
                ready &= query(r.port, &["INFO", "replication"])
                    .await
                    .is_some_and(|t| t.contains("master_link_status:up"));
            }
            for (port, _) in &self.sentinels {
                for what in ["REPLICAS", "SENTINELS"] {
                    ready &= query(*port, &["SENTINEL", what, PRIMARY_NAME])
                        .await
                        .is_some_and(|t| t.starts_with("*2\r\n"));
                }
            }
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the replicas did not sync or the Sentinels did not find each other within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for (_, c) in &mut self.sentinels {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Sentinel watching the primary on `primary`, deciding within about a
/// second.
async fn start_sentinel(bin: &Path, dir: &Path, primary: u16) -> Result<(u16, Child), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let conf: PathBuf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {PRIMARY_NAME} 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds {PRIMARY_NAME} 1000\n\
             sentinel failover-timeout {PRIMARY_NAME} 5000\n\
             sentinel parallel-syncs {PRIMARY_NAME} 1\n",
            dir.display()
        ),
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    let log = std::fs::File::create(dir.join("sentinel.log")).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .arg(&conf)
        .arg("--sentinel")
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if ping(port).await {
            return Ok((port, child));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the Sentinel on port {port} did not answer within 20 s"
    ))
}

/// One command in RESP, and the start of its reply as text.
async fn query(port: u16, args: &[&str]) -> Option<String> {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).await.ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
}
