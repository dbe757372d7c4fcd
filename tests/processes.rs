//! Fault tests with the real binary: `kill -9` of a node under load, and
//! SIGTERM. Each test starts its own redis-server.

mod common;

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

use common::binary::BinaryNode;
use common::{API_KEY, Client, TestRedis};
use serde_json::{Value, json};

/// A node of the cluster: the binary over `redis`, with short timers.
async fn start_node(redis: &TestRedis, directory: &std::path::Path, extra: &[&str]) -> BinaryNode {
    let mut args: Vec<OsString> = vec!["--redis-url".into(), redis.url().into()];
    args.extend(["--directory".into(), directory.into()]);
    for a in [
        "--grace",
        "1s",
        "--heartbeat-ttl",
        "1s",
        "--shutdown-timeout",
        "2s",
    ] {
        args.push(a.into());
    }
    args.extend(extra.iter().map(OsString::from));
    BinaryNode::start(args).await
}

/// Creates an item in group `work`; its id when acknowledged.
async fn create(node: &BinaryNode, channel: &str) -> Option<u64> {
    let r = node
        .http
        .post(node.url("/api/work"))
        .header("x-api-key", API_KEY)
        .json(&json!({ "group": "work", "channel": channel }))
        .send()
        .await
        .ok()?;
    if r.status() != 201 {
        return None;
    }
    r.json::<Value>().await.ok()?["item"]["id"].as_u64()
}

/// Two workers and a manager in one group whose chats are handed off one
/// second after their agent is logged out.
fn directory_file(redis: &TestRedis) -> std::path::PathBuf {
    directory_file_with(redis, "")
}

/// [`directory_file`] with more settings of the group `work`.
fn directory_file_with(redis: &TestRedis, group_settings: &str) -> std::path::PathBuf {
    let h = common::cheap_hash(common::PASSWORD);
    let mut s = String::new();
    for (id, roles) in [
        ("w1", "\"agent\""),
        ("w2", "\"agent\""),
        ("boss", "\"agent\", \"manager\""),
    ] {
        s.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [{roles}]\npassword_hash = \"{h}\"\nchat_cap = 1000\n\n"
        ));
    }
    s.push_str(
        "[[groups]]\nid = \"work\"\nname = \"Work\"\nchat = { enabled = true }\nticket = { enabled = true }\n\
         queue_when_offline = true\ndisconnect_timeout = \"1s\"\n",
    );
    s.push_str(group_settings);
    s.push('\n');
    for id in ["w1", "w2"] {
        s.push_str(&format!(
            "[[memberships]]\nagent = \"{id}\"\ngroup = \"work\"\n\n"
        ));
    }
    s.push_str("[[memberships]]\nagent = \"boss\"\ngroup = \"work\"\nactive = []\n");
    let path = redis.dir.join("directory.toml");
    std::fs::write(&path, s).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_node_under_load_loses_nothing_and_its_chats_are_handed_off() {
    let redis = TestRedis::start();
    let dir = directory_file(&redis);
    let mut a = start_node(&redis, &dir, &[]).await;
    let b = start_node(&redis, &dir, &[]).await;
    // w1 works on node A, w2 on node B but unavailable for now.
    let mut w1 = Client::connect(a.addr(), &a.login("w1").await).await;
    let mut w2 = Client::connect(b.addr(), &b.login("w2").await).await;
    w2.request("set_availability", json!({ "available": false }))
        .await;
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { &a } else { &b };
        acknowledged.push(create(node, "chat").await.expect("created"));
    }
    let held = acknowledged[0];
    w1.request("accept", json!({ "item": held })).await;
    // Under load, node A dies without a word.
    let load = {
        let http = reqwest::Client::new();
        let url = b.url("/api/work");
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..60 {
                let r = http
                    .post(&url)
                    .header("x-api-key", API_KEY)
                    .json(&json!({ "group": "work", "channel": "ticket" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                ids.push(
                    r.json::<Value>().await.unwrap()["item"]["id"]
                        .as_u64()
                        .unwrap(),
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ids
        })
    };
    a.child.kill().unwrap();
    let _ = a.child.wait();
    w2.request("set_availability", json!({ "available": true }))
        .await;
    acknowledged.extend(load.await.unwrap());
    // Heartbeat TTL (1 s) + grace (1 s) + disconnect limit (1 s): w1's chats
    // move to w2, the accepted one included.
    // Polled rather than awaited as a push: on a loaded machine the three
    // seconds may stretch past a push wait.
    let mut moved = Value::Null;
    for _ in 0..100 {
        let v: Value = b
            .http
            .get(b.url(&format!("/api/items/{held}/explain")))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["item"]["assignee"] == "w2" {
            moved = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        moved["item"]["assignee"], "w2",
        "the dead node's chat was handed off"
    );
    assert_eq!(moved["item"]["history"][0]["why"], "disconnected");
    let told = w2
        .push_where("item", |f| {
            f["item"]["id"] == held && f["reason"] == "handed_off"
        })
        .await;
    assert_eq!(told["item"]["assignee"], "w2", "and w2's console was told");
    // Nothing acknowledged is lost: each item is held by w2 or still queued.
    let boss = b.login("boss").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queue = b.get("/api/groups/work/queue", &boss).await;
    let queued: Vec<u64> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    let explain_ok = |v: &Value| v["item"]["id"].is_u64();
    for id in &acknowledged {
        let r = b
            .http
            .get(b.url(&format!("/api/items/{id}/explain")))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(
            explain_ok(&v) || queued.contains(id),
            "acknowledged item {id} lost after kill -9: {v}"
        );
        // Chats follow the disconnect hand-off rule; tickets stay assigned.
        if v["item"]["channel"] == "chat" && v["item"]["assignee"].is_string() {
            assert_eq!(
                v["item"]["assignee"], "w2",
                "chat {id} still with the dead node's agent"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_node_hands_its_agents_tickets_on_after_the_group_setting() {
    let redis = TestRedis::start();
    let dir = directory_file_with(&redis, "reassign_tickets_after_logout = \"1s\"\n");
    let mut a = start_node(&redis, &dir, &[]).await;
    let b = start_node(&redis, &dir, &[]).await;
    // w1, on node A, is the only one logged in: every ticket is its.
    let _w1 = Client::connect(a.addr(), &a.login("w1").await).await;
    let mut tickets = Vec::new();
    for _ in 0..10 {
        tickets.push(create(&a, "ticket").await.expect("created"));
    }
    let boss = b.login("boss").await;
    let mut created_at = Vec::new();
    for id in &tickets {
        let v = b.get(&format!("/api/items/{id}/explain"), &boss).await;
        assert_eq!(v["item"]["assignee"], "w1", "{v}");
        created_at.push(v["item"]["created_at"].clone());
    }
    let _w2 = Client::connect(b.addr(), &b.login("w2").await).await;
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let killed = std::time::Instant::now();
    // Heartbeat TTL (1 s, found within 4/3 of it) + grace (1 s) + the
    // group's setting (1 s); polled with a bound for a loaded machine.
    let mut moved = Vec::new();
    while killed.elapsed() < Duration::from_secs(20) {
        moved.clear();
        for id in &tickets {
            let v = b.get(&format!("/api/items/{id}/explain"), &boss).await;
            if v["item"]["assignee"] == "w2" {
                moved.push(v);
            }
        }
        if moved.len() == tickets.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        moved.len(),
        tickets.len(),
        "every ticket of the dead node's agent went to w2 within {:?}",
        killed.elapsed()
    );
    let took = killed.elapsed();
    assert!(
        took >= Duration::from_millis(2_500),
        "not before TTL + grace + setting: {took:?}"
    );
    for (v, created) in moved.iter().zip(&created_at) {
        assert_eq!(&v["item"]["created_at"], created, "wait kept: {v}");
        let history = &v["item"]["history"][0];
        assert_eq!(history["why"], "disconnected", "{v}");
        assert_eq!(history["from"], "w1", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_every_console_loses_nothing_and_audits_no_logout() {
    let redis = TestRedis::start();
    let dir = directory_file(&redis);
    let mut a = start_node(&redis, &dir, &[]).await;
    let b = start_node(&redis, &dir, &[]).await;
    let token = a.login("w1").await;
    let mut consoles = Vec::new();
    for _ in 0..5 {
        consoles.push(Client::connect(a.addr(), &token).await);
    }
    let mut acknowledged = Vec::new();
    for _ in 0..30 {
        acknowledged.push(create(&a, "ticket").await.expect("created"));
    }
    let pid = a.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    for c in consoles.iter_mut() {
        let closing = c.push("closing").await;
        assert_eq!(closing["reason"], "server_going_away");
    }
    // The console reconnects to the other node at once, as a console told
    // `server_going_away` does, within the grace (1 s): not after the old
    // node exited, which on a loaded machine can take longer than that.
    let mut again = Client::connect(b.addr(), &token).await;
    assert_eq!(again.welcome["agent"]["id"], "w1");
    let exited = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Some(status)) = a.child.try_wait() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("exits within the shutdown bound");
    assert!(exited.success(), "clean exit: {exited:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let boss = b.login("boss").await;
    let audit = b.get("/api/audit?agent=w1", &boss).await;
    let logouts = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "logout")
        .count();
    assert_eq!(logouts, 0, "a restart is not a logout: {audit}");
    let status = b.get("/api/agents/w1", &boss).await;
    assert_eq!(
        status["load"]["ticket"],
        acknowledged.len(),
        "every ticket still w1's"
    );
    let _ = again.request("ping", json!({})).await;
}

/// Sends a signal to a node's process.
fn signal(node: &BinaryNode, sig: &str) {
    let pid = node.child.id().to_string();
    assert!(
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_a_trimmed_log_resynchronises_and_a_new_node_joins_from_the_snapshot() {
    let redis = TestRedis::start();
    let dir = directory_file(&redis);
    let fast = ["--snapshot-interval", "300ms"];
    let a = start_node(&redis, &dir, &fast).await;
    let b = start_node(&redis, &dir, &fast).await;
    let token = b.login("w1").await;
    let mut console = Client::connect(b.addr(), &token).await;
    let mut created = Vec::new();
    for _ in 0..10 {
        created.push(create(&a, "ticket").await.expect("created"));
    }
    // b stops reading: it is dropped after its heartbeat TTL (1 s), and a
    // snapshots and trims the log past where b stopped.
    signal(&b, "-STOP");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..10 {
        created.push(
            create(&a, "ticket")
                .await
                .expect("created while b is paused"),
        );
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert!(
        redis.get("{sb}:log_trimmed").await.is_some(),
        "the log was trimmed"
    );
    let left: u64 = redis::cmd("XLEN")
        .arg("{sb}:log")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left < 20, "the log holds {left} entries after the trim");

    // b wakes up behind the trim, dropped by a meanwhile: it tells its
    // console to reconnect, as resynchronising from the snapshot
    // (`server_going_away`) or as dropped by another node (`cut_off`),
    // whichever it learns first.
    signal(&b, "-CONT");
    let closing = console.push("closing").await;
    assert!(
        closing["reason"] == "server_going_away" || closing["reason"] == "cut_off",
        "{closing}"
    );

    // A node started now restores the snapshot instead of replaying.
    let c = start_node(&redis, &dir, &fast).await;
    let boss = a.login("boss").await;
    let more = create(&b, "ticket").await.expect("b takes writes again");
    created.push(more);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let want = a.get("/api/groups/work/queue", &boss).await;
    for node in [&b, &c] {
        let mut same = false;
        for _ in 0..50 {
            if node.get("/api/groups/work/queue", &boss).await == want {
                same = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(same, "every node has the same queue: {want}");
    }
    for id in created {
        let v = c.get(&format!("/api/items/{id}/explain"), &boss).await;
        assert!(
            v.get("error").is_none(),
            "item {id} known on the new node: {v}"
        );
    }
    // The audit: c has the history from before its snapshot (from the shared
    // audit stream), the same as a, and the stream holds each record once.
    let audit_a = a.get("/api/audit", &boss).await["entries"].clone();
    let audit_c = c.get("/api/audit", &boss).await["entries"].clone();
    let logins = audit_a
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "login" && e["agent"] == "w1")
        .count();
    assert!(logins >= 1, "w1's login is audited: {audit_a}");
    assert_eq!(audit_a, audit_c, "the new node has the same audit");
    let streamed: u64 = redis::cmd("XLEN")
        .arg("{sb}:audit")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        streamed as usize,
        audit_a.as_array().unwrap().len(),
        "each record once in the shared audit stream"
    );
}
