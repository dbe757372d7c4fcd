//! Several nodes sharing one log: in Redis (every such test starts its own
//! redis-server on a free port), and, for timers, in-process on paused time.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{API_KEY, Client, TestRedis, TestServer, cheap_hash};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_millis(800);

/// 50 racers in a pull group, 10 workers in an auto ticket group, one
/// manager of both.
fn cluster_directory() -> String {
    let h = cheap_hash(common::PASSWORD);
    let mut s = String::new();
    let mut agent = |id: &str, roles: &str| {
        s.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\nname = \"{}\"\nroles = [{roles}]\npassword_hash = \"{h}\"\n\n",
            id.to_uppercase()
        ));
    };
    for i in 1..=50 {
        agent(&format!("r{i:02}"), "\"agent\"");
    }
    for i in 1..=10 {
        agent(&format!("w{i:02}"), "\"agent\"");
    }
    agent("boss", "\"agent\", \"manager\"");
    s.push_str(
        "[[groups]]\nid = \"race\"\nname = \"Race\"\nticket = { enabled = true, distribution = \"pull\" }\n\n\
         [[groups]]\nid = \"work\"\nname = \"Work\"\nticket = { enabled = true }\nchat = { enabled = true }\nqueue_when_offline = true\ndisconnect_timeout = \"1s\"\n\n",
    );
    for i in 1..=50 {
        s.push_str(&format!(
            "[[memberships]]\nagent = \"r{i:02}\"\ngroup = \"race\"\n\n"
        ));
    }
    for i in 1..=10 {
        s.push_str(&format!(
            "[[memberships]]\nagent = \"w{i:02}\"\ngroup = \"work\"\n\n"
        ));
    }
    s.push_str("[[memberships]]\nagent = \"boss\"\ngroup = \"work\"\nactive = []\n\n");
    s.push_str("[[memberships]]\nagent = \"boss\"\ngroup = \"race\"\nactive = []\n");
    s
}

async fn three_nodes(redis: &TestRedis) -> Vec<TestServer> {
    let dir = cluster_directory();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(TestServer::start_node(&redis.url(), &dir, GRACE).await);
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_takers_on_three_nodes_exactly_one_wins_and_everyone_is_told() {
    let redis = TestRedis::start();
    let nodes = three_nodes(&redis).await;
    let mut racers = Vec::new();
    for i in 1..=50 {
        racers.push(nodes[i % 3].console(&format!("r{i:02}")).await);
    }
    // Created on node 0; every racer on every node sees it arrive.
    let item = nodes[0].create_work("race", "ticket", 0).await;
    for r in racers.iter_mut() {
        let q = r
            .push_where("queue", |f| f["item"]["id"] == item["id"])
            .await;
        assert_eq!(q["op"], "added");
    }
    for (i, r) in racers.iter_mut().enumerate() {
        r.send_raw(&json!({ "id": 5000 + i, "type": "take", "item": item["id"] }).to_string())
            .await;
    }
    let mut winners = Vec::new();
    let mut told = Vec::new();
    for (i, r) in racers.iter_mut().enumerate() {
        let a = r.answer(json!(5000 + i)).await;
        if a["type"] == "ok" {
            winners.push(format!("r{:02}", i + 1));
        } else {
            assert_eq!(a["code"], "already_taken", "{a}");
            told.push(a["details"]["winner"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner across three nodes");
    assert_eq!(told.len(), 49);
    assert!(
        told.iter().all(|w| *w == winners[0]),
        "all losers are told the same winner"
    );
    // Every node removed it from the queue.
    for r in racers.iter_mut() {
        let gone = r
            .push_where("queue", |f| {
                f["item"]["id"] == item["id"] && f["op"] == "removed"
            })
            .await;
        assert_eq!(gone["reason"], "taken");
    }
    for n in nodes {
        n.stop().await;
    }
}

/// Three nodes over one in-process log, on paused time: the grace is a
/// timer of the replicated core, fired through the log, whichever node's
/// tab closed last.
#[tokio::test(start_paused = true)]
async fn tabs_on_two_nodes_log_out_only_after_the_last_closes_plus_the_grace() {
    let log = switchboard::store::memory::MemoryLog::default();
    let dir = cluster_directory();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(TestServer::start_shared(&log, &dir, GRACE).await);
    }
    // In-process nodes keep login tokens each in its own memory (Redis
    // shares them): a login per node.
    let token_a = nodes[0].login("w01").await;
    let token_b = nodes[1].login("w01").await;
    let tab_a = Client::connect(nodes[0].addr, &token_a).await;
    let tab_b = Client::connect(nodes[1].addr, &token_b).await;
    let boss = nodes[2].login("boss").await;
    tab_a.close().await;
    tokio::time::sleep(GRACE * 2).await;
    let (_, st) = nodes[2].get("/api/agents/w01", &boss).await;
    assert_eq!(
        st["logged_in"], true,
        "the tab on the other node keeps it logged in"
    );
    tab_b.close().await;
    tokio::time::sleep(GRACE / 3).await;
    let (_, st) = nodes[2].get("/api/agents/w01", &boss).await;
    assert_eq!(st["logged_in"], true, "still within the grace");
    tokio::time::sleep(GRACE * 2).await;
    let (_, st) = nodes[2].get("/api/agents/w01", &boss).await;
    assert_eq!(st["logged_in"], false);
    for n in &nodes {
        let (_, audit) = n.get("/api/audit?agent=w01", &n.login("boss").await).await;
        let whats: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["what"].as_str().unwrap())
            .collect();
        assert_eq!(
            whats,
            vec!["login", "logout"],
            "every node has the same audit"
        );
    }
    for n in nodes {
        n.stop().await;
    }
}

/// Watches every `item` push of the workers and checks nobody else was ever
/// given an item already given.
fn record(assigned: &mut HashMap<u64, String>, f: &Value) {
    let reason = f["reason"].as_str().unwrap_or("");
    if !matches!(reason, "routed" | "drained") {
        return;
    }
    let id = f["item"]["id"].as_u64().unwrap();
    let who = f["item"]["assignee"].as_str().unwrap().to_string();
    if let Some(prev) = assigned.insert(id, who.clone()) {
        assert_eq!(prev, who, "item {id} assigned twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_items_on_random_nodes_while_cells_toggle_are_each_assigned_once() {
    let redis = TestRedis::start();
    let nodes = three_nodes(&redis).await;
    let mut workers = Vec::new();
    for i in 1..=10 {
        workers.push(nodes[i % 3].console(&format!("w{i:02}")).await);
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.url("/api/work")).collect();
    let http = reqwest::Client::new();
    let creators = tokio::spawn(async move {
        let mut created = Vec::new();
        for batch in 0..100 {
            let mut futs = Vec::new();
            for k in 0..20 {
                let url = urls[(batch + k) % 3].clone();
                let http = http.clone();
                futs.push(async move {
                    let r = http
                        .post(url)
                        .header("x-api-key", API_KEY)
                        .json(&json!({ "group": "work", "channel": "ticket" }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    r.json::<Value>().await.unwrap()["item"]["id"]
                        .as_u64()
                        .unwrap()
                });
            }
            created.extend(futures_util::future::join_all(futs).await);
        }
        created
    });
    // Meanwhile workers toggle their ticket cell on their own nodes.
    for round in 0..20 {
        for (i, w) in workers.iter_mut().enumerate() {
            let on = (round + i) % 3 != 0;
            let a = w
                .request(
                    "set_active_column",
                    json!({ "channel": "ticket", "active": on }),
                )
                .await;
            assert_eq!(a["type"], "ok", "{a}");
        }
    }
    let created = creators.await.unwrap();
    assert_eq!(created.len(), 2000);
    for w in workers.iter_mut() {
        w.request(
            "set_active_column",
            json!({ "channel": "ticket", "active": true }),
        )
        .await;
    }
    // Every item reaches exactly one worker (no ticket cap: all drain).
    let mut assigned: HashMap<u64, String> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while assigned.len() < created.len() && tokio::time::Instant::now() < deadline {
        for w in workers.iter_mut() {
            while w.gets_push_within("item", Duration::from_millis(20)).await {
                let f = w.push("item").await;
                record(&mut assigned, &f);
            }
        }
    }
    let mut ids: Vec<u64> = created.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2000, "item ids are unique across nodes");
    for id in &created {
        assert!(assigned.contains_key(id), "item {id} was lost");
    }
    // All three replicas agree on every worker's load.
    let boss = nodes[0].login("boss").await;
    for i in 1..=10 {
        let mut loads = Vec::new();
        for n in &nodes {
            let (_, st) = n.get(&format!("/api/agents/w{i:02}"), &boss).await;
            assert!(
                st["load"].is_object(),
                "a token from node 0 works everywhere: {st}"
            );
            loads.push(st["load"]["ticket"].clone());
        }
        assert!(
            loads.windows(2).all(|p| p[0] == p[1]),
            "replicas disagree: {loads:?}"
        );
    }
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_loses_no_acknowledged_item() {
    let mut redis = TestRedis::start();
    let nodes = three_nodes(&redis).await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..300 {
        if i == 100 {
            redis.kill();
        }
        if i == 200 {
            redis.restart();
            // Service comes back by itself.
            let mut back = false;
            for _ in 0..100 {
                let r = nodes[0]
                    .http
                    .get(nodes[0].url("/readyz"))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    back = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(back, "ready again after Redis restarted");
        }
        let n = &nodes[i % 3];
        let r = n
            .http
            .post(n.url("/api/work"))
            .header("x-api-key", API_KEY)
            .json(&json!({ "group": "work", "channel": "ticket" }))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => acknowledged.push(
                r.json::<Value>().await.unwrap()["item"]["id"]
                    .as_u64()
                    .unwrap(),
            ),
            503 => {
                let body: Value = r.json().await.unwrap();
                // A write in flight when Redis died may have reached it:
                // its outcome is unknown; every other one is refused unsent.
                let code = body["error"]["code"].as_str();
                assert!(
                    matches!(code, Some("unavailable" | "outcome_unknown")),
                    "request {i}: {body}"
                );
                refused += 1;
                if (100..200).contains(&i) {
                    let ready = n.http.get(n.url("/readyz")).send().await.unwrap();
                    assert_eq!(ready.status(), 503, "not ready while Redis is away");
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        refused >= 90,
        "writes are refused while Redis is down ({refused})"
    );
    assert!(acknowledged.len() >= 190);
    // A node started now replays the log from Redis: every acknowledged item
    // is there (queued: nobody is logged in).
    let fresh = TestServer::start_node(&redis.url(), &cluster_directory(), GRACE).await;
    let boss = fresh.login("boss").await;
    let (_, q) = fresh.get("/api/groups/work/queue", &boss).await;
    let present: Vec<u64> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(present.contains(id), "acknowledged item {id} lost");
    }
    fresh.stop().await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_resumes_on_another_node_with_exactly_the_events_it_missed() {
    let redis = TestRedis::start();
    let dir = cluster_directory();
    let a = TestServer::start_node(&redis.url(), &dir, Duration::from_secs(5)).await;
    let b = TestServer::start_node(&redis.url(), &dir, Duration::from_secs(5)).await;
    let tok = a.login("w01").await;
    let mut on_a = Client::connect(a.addr, &tok).await;
    let first = a.create_work("work", "ticket", 0).await;
    on_a.push_where("item", |f| f["item"]["id"] == first["id"])
        .await;
    on_a.drain_for(Duration::from_millis(100)).await;
    let seen = on_a.last_seq();
    on_a.close().await;
    let mut missed = Vec::new();
    for _ in 0..5 {
        missed.push(b.create_work("work", "chat", 0).await["id"].clone());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut on_b, head) = Client::resume(b.addr, &tok, seen).await;
    assert_eq!(head["type"], "resumed", "{head}");
    on_b.drain_for(Duration::from_millis(300)).await;
    let frames = on_b.buffered();
    for id in &missed {
        assert!(
            frames.iter().any(|f| f["item"]["id"] == *id),
            "missed item {id} not replayed on the other node"
        );
    }
    assert!(frames.iter().all(|f| f["seq"].as_u64().unwrap() > seen));
    a.stop().await;
    b.stop().await;
}

/// A visitor's chat started on node a, its socket on node b, its agent on
/// node a: the messages go both ways across nodes, and a node started later
/// (from a snapshot, the log trimmed) has the whole conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chat_spans_nodes() {
    let redis = TestRedis::start();
    let dir = common::test_directory();
    let fast = |c: &mut switchboard::server::ServerConfig| {
        c.snapshot_interval = Duration::from_millis(200)
    };
    let a = TestServer::start_node_with(&redis.url(), &dir, GRACE, fast).await;
    let b = TestServer::start_node_with(&redis.url(), &dir, GRACE, fast).await;
    let mut h1 = a.console("h1").await;
    let started: Value = a
        .http
        .post(a.url("/api/visitor/chats"))
        .json(&json!({ "group": "xfer", "name": "Cat", "text": "help Cat" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = started["visitor_token"]
        .as_str()
        .expect("a token")
        .to_string();
    let item = started["item"]["id"].clone();
    // Node b knows the token once it applied the chat's entry, a few
    // milliseconds after a answered: until then it refuses (`error`, then
    // close), and the visitor's widget connects again.
    let (mut cat, hello) = {
        let mut tries = 0;
        loop {
            let mut ws = common::visitor_socket(b.addr, &token).await;
            let first = common::visitor_next(&mut ws).await;
            if first["type"] == "chat" {
                break (ws, first);
            }
            assert_eq!(first["code"], "unauthorized", "{first}");
            tries += 1;
            assert!(tries < 100, "node b never learnt the chat");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert_eq!(hello["messages"][0]["text"], "help Cat", "{hello}");
    let took = h1.request("take", json!({ "item": item })).await;
    assert_eq!(took["type"], "ok", "{took}");
    let accepted = h1.request("accept", json!({ "item": item })).await;
    assert_eq!(accepted["data"]["messages"][0]["text"], "help Cat");
    assert_eq!(
        common::visitor_frame(&mut cat, "agent_joined").await["name"],
        "H1"
    );
    let sent = h1
        .request("message", json!({ "item": item, "text": "Hello Cat" }))
        .await;
    assert_eq!(sent["type"], "ok", "{sent}");
    let m = common::visitor_frame(&mut cat, "message").await;
    assert_eq!(m["message"]["text"], "Hello Cat");
    assert_eq!(m["message"]["from"], "agent");
    common::visitor_say(&mut cat, "Hi there").await;
    let back = h1
        .push_where("message", |f| f["message"]["from"] == "visitor")
        .await;
    assert_eq!(back["message"]["text"], "Hi there");
    // A node that joins now, from the snapshot, has the chat and its
    // messages.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        redis.get("{sb}:log_trimmed").await.is_some(),
        "a snapshot was taken and the log trimmed"
    );
    let c = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let mut again = common::visitor_socket(c.addr, &token).await;
    let texts: Vec<Value> = common::visitor_frame(&mut again, "chat").await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![json!("help Cat"), json!("Hello Cat"), json!("Hi there")]
    );
    h1.request("close", json!({ "item": item })).await;
    common::visitor_frame(&mut cat, "closed").await;
    common::visitor_frame(&mut again, "closed").await;
}

/// A Redis that hangs (SIGSTOP: no call fails, none is answered) for longer
/// than the heartbeat lives: the nodes' heartbeats lapse and a node may drop
/// the others' sessions when it beats again. No console may stay on a
/// session the cluster dropped: one told to go (`closing`) reconnects, and
/// after the grace its agent is logged in and gets the work routed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_hang_longer_than_the_heartbeat_leaves_no_console_on_a_dropped_session() {
    let redis = TestRedis::start();
    let dir = cluster_directory();
    let a = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let b = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let boss = b.login("boss").await;
    let mut consoles = Vec::new();
    for (i, node) in [&a, &b].into_iter().enumerate() {
        let agent = format!("w{:02}", i + 1);
        let token = node.login(&agent).await;
        let console = Client::connect(node.addr, &token).await;
        consoles.push((agent, token, console));
    }
    // The nodes' heartbeats live 2 s (`start_node`): a 4 s hang outlives them.
    redis.signal("STOP");
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.signal("CONT");
    for (_, token, console) in consoles.iter_mut() {
        if !console
            .gets_push_within("closing", Duration::from_secs(5))
            .await
        {
            continue;
        }
        // Sent away: to any node that takes it (one still rejoining sends
        // it away again), as a browser behind a load balancer.
        let mut again = None;
        for k in 0..100 {
            let node = if k % 2 == 0 { &a } else { &b };
            if let Some(c) = Client::try_connect(node.addr, token).await {
                again = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        *console = again.expect("a node takes the console again");
    }
    tokio::time::sleep(GRACE + Duration::from_secs(1)).await;
    for (agent, _, console) in consoles.iter_mut() {
        let (_, st) = b.get(&format!("/api/agents/{agent}"), &boss).await;
        assert_eq!(st["logged_in"], true, "{agent} has a console open: {st}");
        let set = console
            .request(
                "set_active_column",
                json!({ "channel": "ticket", "active": true }),
            )
            .await;
        assert_eq!(set["type"], "ok", "{agent}'s console works: {set}");
    }
}
