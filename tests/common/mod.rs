//! Test harness: a real server on a free port, real HTTP and WebSocket
//! clients.
#![allow(dead_code, missing_docs)]

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::directory_file;
use switchboard::domain::CoreConfig;
use switchboard::server::{ServerConfig, Storage, run};
use switchboard::store::redis_config::RedisConfig;
use switchboard::transport::TransportConfig;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub mod binary;
pub mod receiver;

pub const API_KEY: &str = "test-api-key-0123456789";
pub const PASSWORD: &str = "pw";

/// A cheap argon2 hash, so that tests log in fast.
pub fn cheap_hash(password: &str) -> String {
    let a = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8, 1, 1, None).unwrap(),
    );
    a.hash_password_with_salt(password.as_bytes(), b"saltsaltsaltsalt")
        .unwrap()
        .to_string()
}

/// The test directory: g1 (chat+ticket auto), g2 (all channels auto),
/// pullg (tickets, pull) with twenty takers t01..t20.
pub fn test_directory() -> String {
    let h = cheap_hash(PASSWORD);
    let mut s = String::new();
    let mut agent = |id: &str, roles: &str| {
        s.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\nname = \"{}\"\nroles = [{roles}]\npassword_hash = \"{h}\"\n\n",
            id.to_uppercase()
        ));
    };
    agent("alice", "\"agent\"");
    agent("bob", "\"agent\"");
    agent("carol", "\"agent\"");
    agent("mgr", "\"agent\", \"manager\"");
    agent("omgr", "\"agent\", \"manager\"");
    agent("admin", "\"agent\", \"admin\"");
    for i in 1..=20 {
        agent(&format!("t{i:02}"), "\"agent\"");
    }
    s.push_str(
        r#"
[[groups]]
id = "g1"
name = "Group One"
department = "Dept A"
chat = { enabled = true, distribution = "auto" }
ticket = { enabled = true, distribution = "auto" }
queue_when_offline = true
no_response_timeout = "1h"

[[groups]]
id = "g2"
name = "Group Two"
department = "Dept B"
chat = { enabled = true }
ticket = { enabled = true }
voice = { enabled = true }
queue_when_offline = true

[[groups]]
id = "pullg"
name = "Pull Group"
department = "Dept B"
ticket = { enabled = true, distribution = "pull" }

[[memberships]]
agent = "alice"
group = "g1"
active = []

[[memberships]]
agent = "alice"
group = "g2"
voice = "excluded"
active = []

[[memberships]]
agent = "bob"
group = "g1"
ticket = "excluded"
active = ["chat"]

[[memberships]]
agent = "carol"
group = "g2"
active = ["ticket"]

[[memberships]]
agent = "mgr"
group = "g1"
active = []

[[memberships]]
agent = "omgr"
group = "g2"
active = []

[[memberships]]
agent = "admin"
group = "g2"
active = []
"#,
    );
    for i in 1..=20 {
        s.push_str(&format!(
            "\n[[memberships]]\nagent = \"t{i:02}\"\ngroup = \"pullg\"\n"
        ));
    }
    s.push_str(&routing_directory(&h));
    s
}

/// Groups and agents for the routing rules: calls with a short ring timeout,
/// chats with short hand-off limits, an offline group, and a group whose
/// members are kept out for different reasons.
fn routing_directory(h: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "\n[[agents]]\nid = \"dora\"\nname = \"Dora\"\nmanage_own_status = false\npassword_hash = \"{h}\"\n"
    ));
    for id in [
        "c1", "c2", "h1", "h2", "h3", "o1", "e1", "e2", "e3", "e4", "e5", "e6",
    ] {
        s.push_str(&format!(
            "\n[[agents]]\nid = \"{id}\"\nname = \"{}\"\npassword_hash = \"{h}\"\n",
            id.to_uppercase()
        ));
    }
    s.push_str(
        r#"
[[groups]]
id = "calls"
name = "Calls"
voice = { enabled = true }
ring_timeout = "400ms"

[[groups]]
id = "handoff"
name = "Hand-offs"
chat = { enabled = true }
ticket = { enabled = true }
queue_when_offline = true
no_response_timeout = "500ms"
disconnect_timeout = "700ms"

[[groups]]
id = "xfer"
name = "Transfers"
chat = { enabled = true }
ticket = { enabled = true }
queue_when_offline = true

[[groups]]
id = "offline"
name = "Offline"
chat = { enabled = true }
ticket = { enabled = true }

[[groups]]
id = "explain"
name = "Explain"
chat = { enabled = true }
queue_when_offline = true

[[memberships]]
agent = "dora"
group = "g1"

[[memberships]]
agent = "c1"
group = "calls"

[[memberships]]
agent = "c2"
group = "calls"

[[memberships]]
agent = "h1"
group = "handoff"

[[memberships]]
agent = "h2"
group = "handoff"

[[memberships]]
agent = "h1"
group = "xfer"
active = []

[[memberships]]
agent = "h3"
group = "xfer"

[[memberships]]
agent = "mgr"
group = "handoff"
active = []

[[memberships]]
agent = "o1"
group = "offline"

[[memberships]]
agent = "e1"
group = "explain"

[[memberships]]
agent = "e2"
group = "explain"

[[memberships]]
agent = "e3"
group = "explain"
active = []

[[memberships]]
agent = "e4"
group = "explain"
chat = "excluded"

[[memberships]]
agent = "e5"
group = "explain"
chat = "pull"

[[memberships]]
agent = "e6"
group = "explain"
"#,
    );
    s
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(grace: Duration) -> TestServer {
        Self::start_with(grace, 1024).await
    }

    pub async fn start_with(grace: Duration, outbox_capacity: usize) -> TestServer {
        Self::start_config(grace, |c| c.transport.outbox_capacity = outbox_capacity).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn login(&self, user: &str) -> String {
        let r = self
            .http
            .post(self.url("/api/login"))
            .json(&json!({ "username": user, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login of {user}");
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Logs in and opens a console session.
    pub async fn console(&self, user: &str) -> Client {
        let token = self.login(user).await;
        Client::connect(self.addr, &token).await
    }

    pub async fn create_work(&self, group: &str, channel: &str, priority: i32) -> Value {
        let r = self
            .http
            .post(self.url("/api/work"))
            .header("x-api-key", API_KEY)
            .json(
                &json!({ "group": group, "channel": channel, "priority": priority, "title": "t" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["item"].clone()
    }

    /// Creates `n` chat items in `group` at once through the API, each with
    /// `title`, and checks each was created.
    pub async fn create_chats(&self, group: &str, title: &str, n: usize) {
        let batch: Vec<_> = (0..n)
            .map(|_| {
                self.http
                    .post(self.url("/api/work"))
                    .header("x-api-key", API_KEY)
                    .json(&json!({ "group": group, "channel": "chat", "title": title }))
                    .send()
            })
            .collect();
        for r in futures_util::future::join_all(batch).await {
            assert_eq!(r.unwrap().status(), 201);
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// A `PATCH` with a token and a JSON body: status and answer.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    buffered: VecDeque<Value>,
    pub welcome: Value,
}

const WAIT: Duration = Duration::from_secs(5);

impl Client {
    /// A console, when the node takes it: `None` when the upgrade fails or
    /// the node sends it away (`closing`) instead of a `welcome`.
    pub async fn try_connect(addr: SocketAddr, token: &str) -> Option<Client> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
            .await
            .ok()?;
        let mut c = Client {
            ws,
            next_id: 1,
            buffered: VecDeque::new(),
            welcome: Value::Null,
        };
        let first = c.read().await?;
        if first["type"] != "welcome" {
            return None;
        }
        c.welcome = first;
        Some(c)
    }

    pub async fn connect(addr: SocketAddr, token: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
            .await
            .unwrap();
        let mut c = Client {
            ws,
            next_id: 1,
            buffered: VecDeque::new(),
            welcome: Value::Null,
        };
        let first = c.read().await.expect("a first frame");
        assert_eq!(first["type"], "welcome", "first frame is welcome: {first}");
        c.welcome = first;
        c
    }

    async fn read(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Sends a request and returns its answer frame (`ok` or `error`),
    /// keeping pushes that arrive meanwhile.
    pub async fn request(&mut self, kind: &str, mut fields: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        fields["id"] = json!(id);
        fields["type"] = json!(kind);
        self.send_raw(&fields.to_string()).await;
        self.answer(json!(id)).await
    }

    /// The answer frame with this id.
    pub async fn answer(&mut self, id: Value) -> Value {
        loop {
            let f = self.read().await.expect("answer before timeout");
            if (f["type"] == "ok" || f["type"] == "error") && f["id"] == id {
                return f;
            }
            self.buffered.push_back(f);
        }
    }

    /// The next push of a type (buffered ones first).
    pub async fn push(&mut self, kind: &str) -> Value {
        if let Some(i) = self.buffered.iter().position(|f| f["type"] == kind) {
            return self.buffered.remove(i).unwrap();
        }
        loop {
            let f = self
                .read()
                .await
                .unwrap_or_else(|| panic!("no {kind} push before timeout"));
            if f["type"] == kind {
                return f;
            }
            self.buffered.push_back(f);
        }
    }

    /// The next push matching a predicate.
    pub async fn push_where(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let f = self.push(kind).await;
            if pred(&f) {
                return f;
            }
        }
    }

    /// Whether a push of this type arrives within `d`.
    pub async fn gets_push_within(&mut self, kind: &str, d: Duration) -> bool {
        if self.buffered.iter().any(|f| f["type"] == kind) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let f: Value = serde_json::from_str(t.as_str()).unwrap();
                    if f["type"] == kind {
                        self.buffered.push_back(f);
                        return true;
                    }
                    self.buffered.push_back(f);
                }
                Ok(Some(Ok(_))) => continue,
                _ => return false,
            }
        }
    }

    /// The next text frame read within `d` (buffered ones aside), with the
    /// length of its text: for tests that bound frame sizes.
    pub async fn next_text_within(&mut self, d: Duration) -> Option<(usize, Value)> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some((t.len(), serde_json::from_str(t.as_str()).unwrap()));
                }
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The cell state of (group, channel) in a welcome's Active Groups view.
pub fn welcome_cell(welcome: &Value, group: &str, channel: &str) -> String {
    welcome["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == group)
        .unwrap_or_else(|| panic!("group {group} in welcome"))["cells"][channel]
        .as_str()
        .unwrap()
        .to_string()
}

/// The cell state in an agent status.
pub fn status_cell(status: &Value, group: &str, channel: &str) -> String {
    status["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == group && c["channel"] == channel)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

impl TestServer {
    /// A server whose configuration a test adjusts first (limits, token
    /// lifetime, allowed origins…); otherwise as [`TestServer::start_with`].
    pub async fn start_config(
        grace: Duration,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = base_config(&test_directory(), grace);
        adjust(&mut config);
        Self::spawn(config).await
    }

    /// Serves `config` in this process on a free port.
    async fn spawn(config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            addr,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }
}

/// The configuration every test server starts from: in memory, the given
/// directory, the test API key.
pub fn base_config(directory: &str, grace: Duration) -> ServerConfig {
    ServerConfig {
        directory: directory_file::parse(directory).unwrap(),
        api_key: API_KEY.into(),
        core: CoreConfig {
            grace_ms: grace.as_millis() as u64,
        },
        token_ttl: Duration::from_secs(3600),
        transport: TransportConfig::default(),
        shutdown_timeout: Duration::from_secs(2),
        storage: Storage::Memory,
        heartbeat_ttl: Duration::from_secs(15),
        snapshot_interval: Duration::from_secs(60),
        auto_away: None,
        webhooks: None,
        events: Default::default(),
        demo: false,
    }
}

/// A redis-server of the test's own, on a free port, with an AOF fsynced on
/// every write in its own directory; killed when dropped.
pub struct TestRedis {
    pub port: u16,
    pub dir: std::path::PathBuf,
    child: Option<std::process::Child>,
    /// The addresses it listens on (loopback, and a test's own).
    bind: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestRedis {
    pub fn start() -> TestRedis {
        Self::start_bound_to(&[])
    }

    /// Listening on loopback and on `extra` addresses too (a network
    /// namespace's link).
    pub fn start_bound_to(extra: &[&str]) -> TestRedis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("sb-redis-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bind = vec!["127.0.0.1".to_string()];
        bind.extend(extra.iter().map(|a| a.to_string()));
        let mut r = TestRedis {
            port,
            dir,
            child: None,
            bind,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The string value of `key` (a test looking into the store).
    pub async fn get(&self, key: &str) -> Option<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Starts (again) on the same port and directory: the AOF is reloaded.
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind"])
            .args(&self.bind)
            // Clients from a test's own network namespace are not on
            // loopback: let them in (the addresses are the test's own).
            .args([
                "--protected-mode",
                if self.bind.len() > 1 { "no" } else { "yes" },
            ])
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
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/test.sh)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }

    /// Sends a signal to the running redis-server (`STOP` hangs it, `CONT`
    /// wakes it).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis is running").id();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} {pid}");
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestServer {
    /// A server over another directory (e.g. with `[[integrations]]`),
    /// whose configuration the test adjusts first.
    pub async fn start_directory(
        directory: &str,
        grace: Duration,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = base_config(directory, grace);
        adjust(&mut config);
        Self::spawn(config).await
    }

    /// A node sharing state through Redis, with the given directory.
    /// A node of an in-process cluster: its log is `log`, shared with the
    /// other nodes started over it (paused-time tests of several nodes).
    pub async fn start_shared(
        log: &switchboard::store::memory::MemoryLog,
        directory: &str,
        grace: Duration,
    ) -> TestServer {
        let mut config = base_config(directory, grace);
        config.storage = Storage::Shared(log.clone());
        config.transport.login_attempts_per_ip_per_min = 0;
        config.transport.login_attempts_per_username_per_min = 0;
        Self::spawn(config).await
    }

    pub async fn start_node(redis_url: &str, directory: &str, grace: Duration) -> TestServer {
        Self::start_node_with(redis_url, directory, grace, |_| {}).await
    }

    /// A cluster node with its configuration adjusted.
    pub async fn start_node_with(
        redis_url: &str,
        directory: &str,
        grace: Duration,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = base_config(directory, grace);
        adjust(&mut config);
        config.transport.login_attempts_per_ip_per_min = 0;
        config.transport.login_attempts_per_username_per_min = 0;
        config.storage = Storage::Redis(RedisConfig::new(redis_url));
        config.heartbeat_ttl = Duration::from_secs(2);
        let s = Self::spawn(config).await;
        for _ in 0..100 {
            if let Ok(r) = s.http.get(s.url("/readyz")).send().await
                && r.status() == 200
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node not ready");
    }
}

impl Client {
    /// Reconnects with the last sequence seen; returns the client and its
    /// first frame (`resumed`, or `welcome` when too old).
    pub async fn resume(addr: SocketAddr, token: &str, seen: u64) -> (Client, Value) {
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}&resume={seen}"))
                .await
                .unwrap();
        let mut c = Client {
            ws,
            next_id: 1,
            buffered: VecDeque::new(),
            welcome: Value::Null,
        };
        let first = c.read().await.expect("a first frame");
        (c, first)
    }

    /// The largest `seq` among the frames read so far and still buffered.
    pub fn last_seq(&self) -> u64 {
        self.buffered
            .iter()
            .chain(std::iter::once(&self.welcome))
            .filter_map(|f| f["seq"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Reads every frame arriving within `d` into the buffer.
    pub async fn drain_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Message::Text(t) = m {
                self.buffered
                    .push_back(serde_json::from_str(t.as_str()).unwrap());
            }
        }
    }

    /// Frames read so far (buffered, not yet taken).
    pub fn buffered(&self) -> Vec<Value> {
        self.buffered.iter().cloned().collect()
    }
}

/// A visitor's chat socket (`/visitor`).
pub type VisitorSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a visitor socket for the chat of `token` on the server at `addr`.
pub async fn visitor_socket(addr: SocketAddr, token: &str) -> VisitorSocket {
    let url = format!("ws://{addr}/visitor?token={token}");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The visitor's next JSON frame (within 5 s).
pub async fn visitor_next(ws: &mut VisitorSocket) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a visitor frame before the timeout")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// The visitor writes `text` in its chat.
pub async fn visitor_say(ws: &mut VisitorSocket, text: &str) {
    let frame = json!({ "type": "message", "text": text }).to_string();
    ws.send(Message::Text(frame.into())).await.unwrap();
}

/// Everything the server logs in this test process, as JSON lines, at the
/// levels of `filter`. The subscriber is process-wide: the first call's
/// filter holds for every later one.
pub fn captured_logs(filter: &str) -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The visitor's next frame of type `kind`, skipping others.
pub async fn visitor_frame(ws: &mut VisitorSocket, kind: &str) -> Value {
    loop {
        let v = visitor_next(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}
