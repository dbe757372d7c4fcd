//! The nginx configuration of docs/operations.md (deploy/nginx.conf), run
//! for real in front of three nodes sharing one Redis: logins, consoles and
//! work go through it to any node.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{API_KEY, Client, TestRedis, TestServer};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_the_documented_nginx_config() {
    let redis = TestRedis::start();
    let dir = common::test_directory();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(TestServer::start_node(&redis.url(), &dir, Duration::from_secs(2)).await);
    }
    let front = free_port();
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    let conf = template
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{front}"))
        .replace("127.0.0.1:8081", &nodes[0].addr.to_string())
        .replace("127.0.0.1:8082", &nodes[1].addr.to_string())
        .replace("127.0.0.1:8083", &nodes[2].addr.to_string())
        .replace(
            "/tmp/switchboard-nginx.pid",
            &redis.dir.join("nginx.pid").display().to_string(),
        );
    let conf_path = redis.dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nginx (installed by scripts/test.sh)");
    let mut child = Command::new(nginx)
        .args(["-g", "daemon off;", "-p"])
        .arg(&redis.dir)
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let through = |path: &str| format!("http://127.0.0.1:{front}{path}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(through("/readyz")).send().await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "nginx forwards to the nodes");
    // Round robin: a login on one node, the console and the work on others.
    let login: serde_json::Value = http
        .post(through("/api/login"))
        .json(&json!({ "username": "carol", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let front_addr: std::net::SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();
    let mut carol = Client::connect(front_addr, &token).await;
    assert_eq!(carol.welcome["agent"]["id"], "carol");
    for _ in 0..3 {
        let r = http
            .post(through("/api/work"))
            .header("x-api-key", API_KEY)
            .json(&json!({ "group": "g2", "channel": "ticket" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let item: serde_json::Value = r.json().await.unwrap();
        let pushed = carol
            .push_where("item", |f| f["item"]["id"] == item["item"]["id"])
            .await;
        assert_eq!(pushed["item"]["assignee"], "carol");
    }
    // SIGTERM lets the master stop its workers (SIGKILL would orphan them).
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    for n in nodes {
        n.stop().await;
    }
}
