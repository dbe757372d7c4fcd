//! A node cut off from Redis by a real network partition heals without
//! zombie consoles: node A runs in its own network namespace with two links
//! to the host, one to Redis and one for its consoles; taking the Redis
//! link down cuts A from the cluster while its consoles stay connected.
//! A tells them to reconnect (`closing` `cut_off`) once its heartbeat has
//! lapsed; after the heal it rejoins as a new node, and a console
//! connected to it again gets work routed by the cluster.
//!
//! Needs root (`ip netns`, as `scripts/test.sh` runs in CI); everything it
//! creates is named after the test's process id and removed when it ends.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{API_KEY, Client, PASSWORD, TestRedis, TestServer, test_directory};
use serde_json::{Value, json};

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with two veth links to the host: `redis` (host
/// `10.231.N.1`, namespace `.2`) and `consoles` (host `10.232.N.1`,
/// namespace `.2`).
struct Namespace {
    name: String,
    redis_link: String,
    console_link: String,
    n: u32,
}

impl Namespace {
    fn create() -> Namespace {
        let n = std::process::id() % 250 + 1;
        let ns = Namespace {
            name: format!("sbpart{n}"),
            redis_link: format!("sbr{n}h"),
            console_link: format!("sbc{n}h"),
            n,
        };
        ns.remove();
        ip(&["netns", "add", &ns.name]);
        for (host, net) in [(&ns.redis_link, 231), (&ns.console_link, 232)] {
            let inner = host.replace('h', "n");
            ip(&["link", "add", host, "type", "veth", "peer", "name", &inner]);
            ip(&["link", "set", &inner, "netns", &ns.name]);
            ip(&["addr", "add", &format!("10.{net}.{n}.1/30"), "dev", host]);
            ip(&["link", "set", host, "up"]);
            let addr = format!("10.{net}.{n}.2/30");
            ip(&[
                "netns", "exec", &ns.name, "ip", "addr", "add", &addr, "dev", &inner,
            ]);
            ip(&["netns", "exec", &ns.name, "ip", "link", "set", &inner, "up"]);
        }
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        ns
    }

    fn redis_host(&self) -> String {
        format!("10.231.{}.1", self.n)
    }

    fn node_addr(&self) -> String {
        format!("10.232.{}.2", self.n)
    }

    /// Takes the Redis link down (`false`) or up again (`true`).
    fn redis_link_up(&self, up: bool) {
        ip(&[
            "link",
            "set",
            &self.redis_link,
            if up { "up" } else { "down" },
        ]);
    }

    fn remove(&self) {
        for link in [&self.redis_link, &self.console_link] {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `switchboard serve` inside the namespace.
struct NodeInNamespace {
    child: Child,
    base: String,
    _directory: tempfile::NamedTempFile,
}

impl Drop for NodeInNamespace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_in(ns: &Namespace, redis_port: u16) -> NodeInNamespace {
    let directory = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(directory.path(), test_directory()).unwrap();
    let port = 18_000 + ns.n as u16;
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_switchboard")])
        .args(["serve", "--listen", &format!("0.0.0.0:{port}")])
        .args([
            "--redis-url",
            &format!("redis://{}:{redis_port}/", ns.redis_host()),
        ])
        .args([
            "--api-key",
            API_KEY,
            "--heartbeat-ttl",
            "2s",
            "--grace",
            "1m",
        ])
        .args([
            "--login-attempts-per-ip",
            "0",
            "--login-attempts-per-user",
            "0",
        ])
        .arg("--directory")
        .arg(directory.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let node = NodeInNamespace {
        child,
        base: format!("http://{}:{port}", ns.node_addr()),
        _directory: directory,
    };
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{}/readyz", node.base)).send().await
            && r.status() == 200
        {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node in the namespace did not start");
}

async fn login(base: &str, user: &str) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&json!({ "username": user, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().expect("a token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_sends_its_consoles_away_and_rejoins_after_the_heal() {
    let ns = Namespace::create();
    let redis = TestRedis::start_bound_to(&[&ns.redis_host()]);
    let b = TestServer::start_node(&redis.url(), &test_directory(), Duration::from_secs(60)).await;
    let a = start_in(&ns, redis.port).await;
    let a_addr: std::net::SocketAddr = a.base.trim_start_matches("http://").parse().unwrap();

    // bob: a console on node A, active for chat in g1.
    let token = login(&a.base, "bob").await;
    let mut bob = Client::connect(a_addr, &token).await;
    let ok = bob
        .request("set_active_row", json!({ "group": "g1", "active": true }))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");

    // The partition: A loses Redis, its consoles' link stays up.
    ns.redis_link_up(false);
    let closing = tokio::time::timeout(Duration::from_secs(20), bob.push("closing"))
        .await
        .expect("node A tells its consoles within its heartbeat's life and a margin");
    assert_eq!(closing["reason"], "cut_off", "{closing}");

    // The console goes to another node (as behind a load balancer) and is
    // still bob, logged in (the grace covered the move).
    let mut bob_on_b = Client::connect(b.addr, &token).await;
    assert_eq!(bob_on_b.welcome["agent"]["id"], "bob");

    // The heal: A rejoins; a console on A works again and gets work the
    // cluster routes. Until A has rejoined under a new id, a console is
    // sent away (`closing` `cut_off`) and tries again, as a browser does.
    ns.redis_link_up(true);
    let mut bob_on_a = None;
    for _ in 0..200 {
        if let Some(c) = Client::try_connect(a_addr, &token).await {
            bob_on_a = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut bob_on_a = bob_on_a.expect("node A takes consoles again after the heal");
    let chat = b.create_work("g1", "chat", 0).await;
    assert_eq!(chat["assignee"], "bob", "{chat}");
    bob_on_a
        .push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    bob_on_b
        .push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    let status = b.get("/api/agents/bob", &b.login("admin").await).await.1;
    assert_eq!(status["logged_in"], true, "{status}");
    drop(a);
    b.stop().await;
}
