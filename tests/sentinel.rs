//! Redis high availability: a primary, two replicas and three Sentinels on
//! loopback; two nodes find the primary through the Sentinels and wait for
//! one replica before acknowledging a write. The primary is killed (`kill
//! -9`) under load: every acknowledged item must survive the failover,
//! none may exist twice, and writes must succeed again by themselves. (Two
//! replicas: after the failover the new primary still has one to wait for.)

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::API_KEY;
use common::binary::{BinaryNode, free_port};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The name the Sentinels monitor the primary under.
const PRIMARY_NAME: &str = "sb";

/// A redis-server (data node or Sentinel) of this test; killed when dropped.
struct RedisProcess {
    port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// `redis-server` with `args` on `port`, waited for until it answers.
    fn start(port: u16, dir: &Path, args: &[&str]) -> RedisProcess {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/test.sh)");
        let process = RedisProcess {
            port,
            child: Some(child),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return process;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on {port} did not start");
    }

    /// A data node in `dir`: the primary, or a replica of `primary`.
    fn data(dir: &Path, primary: Option<u16>) -> RedisProcess {
        let port = free_port();
        let dir = dir.join(format!("data-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let replica_of = primary.map(|p| p.to_string());
        let mut args = vec![
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ];
        if let Some(p) = &replica_of {
            args.extend(["--replicaof", "127.0.0.1", p]);
        }
        Self::start(port, &dir, &args)
    }

    /// A Sentinel watching `primary`, deciding within about a second.
    fn sentinel(dir: &Path, primary: u16) -> RedisProcess {
        let port = free_port();
        let conf = dir.join(format!("sentinel-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {PRIMARY_NAME} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {PRIMARY_NAME} 1000\n\
                 sentinel failover-timeout {PRIMARY_NAME} 5000\n\
                 sentinel parallel-syncs {PRIMARY_NAME} 1\n"
            ),
        )
        .unwrap();
        let conf = conf.to_str().unwrap().to_string();
        Self::start(port, dir, &[&conf, "--sentinel"])
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn query(&self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        cmd.query_async(&mut conn).await
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Entries of an array reply (Sentinel answers lists of maps).
fn entries(v: &redis::Value) -> usize {
    match v {
        redis::Value::Array(a) => a.len(),
        _ => 0,
    }
}

/// Waits until both replicas hold the primary's data (a first full sync
/// takes seconds: a replica promoted before it would be empty) and every
/// Sentinel knows both replicas and the other two: only then can they agree
/// on a failover and re-point the other replica.
async fn replication_ready(replicas: &[RedisProcess], sentinels: &[RedisProcess]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ready = true;
        for r in replicas {
            let info = r.query(redis::cmd("INFO").arg("replication")).await;
            ready &= matches!(info, Ok(redis::Value::BulkString(text))
                if String::from_utf8_lossy(&text).contains("master_link_status:up"));
        }
        for s in sentinels {
            let replicas = s
                .query(redis::cmd("SENTINEL").arg("REPLICAS").arg(PRIMARY_NAME))
                .await;
            let peers = s
                .query(redis::cmd("SENTINEL").arg("SENTINELS").arg(PRIMARY_NAME))
                .await;
            ready &=
                matches!((replicas, peers), (Ok(r), Ok(p)) if entries(&r) == 2 && entries(&p) == 2);
        }
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not sync or the Sentinels did not find each other"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One group `work` whose tickets queue (nobody is logged in).
fn directory_file(dir: &Path) -> PathBuf {
    let h = common::cheap_hash(common::PASSWORD);
    let text = format!(
        "[[agents]]\nid = \"w1\"\nname = \"W1\"\nroles = [\"agent\"]\npassword_hash = \"{h}\"\n\n\
         [[groups]]\nid = \"work\"\nname = \"Work\"\nticket = {{ enabled = true }}\nqueue_when_offline = true\n\n\
         [[memberships]]\nagent = \"w1\"\ngroup = \"work\"\n"
    );
    let path = dir.join("directory.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// What the writers saw.
#[derive(Default)]
struct Tally {
    /// Acknowledged items: title → id.
    acknowledged: HashMap<String, u64>,
    /// Answers `outcome_unknown` (each retried with its key).
    unknown: usize,
    /// Answers `unavailable` (retried).
    unavailable: usize,
    /// Requests that got no answer in time or lost their connection: their
    /// outcome is unknown to the client, which retries with the same key
    /// (what a client must do; the server may legitimately hold a write
    /// while the store fails over and its tailer reconnects).
    unanswered: Vec<String>,
    /// The first acknowledgement of a request sent after the kill.
    back_at: Option<Instant>,
}

/// Creates the ticket `title` with its own idempotency key, retrying the
/// same key until an answer is definite (201, or `stop`).
async fn create_until_known(
    node: &BinaryNode,
    title: &str,
    killed_at: &Mutex<Option<Instant>>,
    tally: &Mutex<Tally>,
    stop: &AtomicBool,
) {
    loop {
        let sent = Instant::now();
        let r = node
            .http
            .post(node.url("/api/work"))
            .header("x-api-key", API_KEY)
            .header("idempotency-key", title)
            .timeout(Duration::from_secs(10))
            .json(&json!({ "group": "work", "channel": "ticket", "title": title }))
            .send()
            .await;
        let (status, body) = match r {
            Ok(r) => (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or_default(),
            ),
            Err(e) => (0, json!({ "transport": e.to_string() })),
        };
        let mut t = tally.lock().await;
        match (status, body["error"]["code"].as_str()) {
            (0, _) => t.unanswered.push(format!("{title}: {}", body["transport"])),
            (201, _) => {
                let id = body["item"]["id"].as_u64().expect("an item id");
                t.acknowledged.insert(title.to_string(), id);
                if t.back_at.is_none() && killed_at.lock().await.is_some_and(|k| sent > k) {
                    t.back_at = Some(Instant::now());
                }
                return;
            }
            (503, Some("outcome_unknown")) => t.unknown += 1,
            (503, Some("unavailable")) => t.unavailable += 1,
            other => panic!("unexpected answer {other:?}: {body}"),
        }
        drop(t);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The queued items of `work` on `node`: title → ids.
async fn queued(node: &BinaryNode) -> HashMap<String, Vec<u64>> {
    let q: Value = node
        .http
        .get(node.url("/api/groups/work/queue"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut by_title: HashMap<String, Vec<u64>> = HashMap::new();
    for item in q["items"].as_array().expect("a queue") {
        by_title
            .entry(item["title"].as_str().unwrap().to_string())
            .or_default()
            .push(item["id"].as_u64().unwrap());
    }
    by_title
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_under_load_loses_no_acknowledged_item() {
    let dir = std::env::temp_dir().join(format!("sb-sentinel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut primary = RedisProcess::data(&dir, None);
    let replicas: Vec<RedisProcess> = (0..2)
        .map(|_| RedisProcess::data(&dir, Some(primary.port)))
        .collect();
    let sentinels: Vec<RedisProcess> = (0..3)
        .map(|_| RedisProcess::sentinel(&dir, primary.port))
        .collect();
    replication_ready(&replicas, &sentinels).await;

    let hosts: Vec<String> = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let url = format!("redis+sentinel://{}/{PRIMARY_NAME}", hosts.join(","));
    let directory = directory_file(&dir);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let args: Vec<OsString> = [
            "--redis-url",
            &url,
            "--redis-min-replicas",
            "1",
            "--redis-replica-timeout",
            "1s",
            "--heartbeat-ttl",
            "10s",
            "--directory",
            directory.to_str().unwrap(),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        nodes.push(Arc::new(BinaryNode::start(args).await));
    }

    let tally = Arc::new(Mutex::new(Tally::default()));
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (node, tally, killed_at, stop) = (
            nodes[w % 2].clone(),
            tally.clone(),
            killed_at.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let title = format!("w{w}-{i}");
                create_until_known(&node, &title, &killed_at, &tally, &stop).await;
                i += 1;
            }
        }));
    }

    // Under load first: at least 50 items acknowledged, and 2 s of writes.
    let started = Instant::now();
    loop {
        let acknowledged = tally.lock().await.acknowledged.len();
        if acknowledged >= 50 && started.elapsed() >= Duration::from_secs(2) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {acknowledged} writes succeeded before the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = tally.lock().await.acknowledged.len();
    primary.kill();
    *killed_at.lock().await = Some(Instant::now());
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(60);
    while tally.lock().await.back_at.is_none() {
        assert!(
            Instant::now() < deadline,
            "writes did not succeed again within a minute of the failover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Keep the load on a little after the recovery.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let t = tally.lock().await;
    let recovered = t.back_at.unwrap() - killed;
    // Both nodes converge on the same queue; every acknowledged item is in
    // it exactly once.
    let mut lost = Vec::new();
    let mut doubled = Vec::new();
    for node in &nodes {
        let mut agreed = false;
        let mut items = HashMap::new();
        for _ in 0..100 {
            items = queued(node).await;
            if t.acknowledged.keys().all(|k| items.contains_key(k)) {
                agreed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !agreed {
            lost = t
                .acknowledged
                .keys()
                .filter(|k| !items.contains_key(*k))
                .cloned()
                .collect();
        }
        doubled.extend(
            items
                .iter()
                .filter(|(_, ids)| ids.len() > 1)
                .map(|(k, _)| k.clone()),
        );
        for (title, id) in &t.acknowledged {
            if let Some(ids) = items.get(title) {
                assert_eq!(ids, &vec![*id], "{title} is the item acknowledged");
            }
        }
    }
    println!(
        "sentinel failover: {} acknowledged ({before} before the kill), lost {}, doubled {}, \
         {} outcome_unknown and {} unavailable answers and {} unanswered requests \
         (retried with their key: {:?}), writes succeeded again {} ms after the kill",
        t.acknowledged.len(),
        lost.len(),
        doubled.len(),
        t.unknown,
        t.unavailable,
        t.unanswered.len(),
        t.unanswered,
        recovered.as_millis()
    );
    assert!(lost.is_empty(), "acknowledged items lost: {lost:?}");
    assert!(doubled.is_empty(), "items created twice: {doubled:?}");
    assert!(
        t.acknowledged.len() > before,
        "writes were acknowledged after the failover"
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}
