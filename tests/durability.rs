//! The default mode is durable: the real binary keeps its state in a data
//! directory (embedded SQLite). A `kill -9` in the middle of a burst of
//! creates loses no acknowledged item and routes none twice; a restart keeps
//! active cells, availability, a disabled account, queue order and wait
//! times, and a console reconnects with its old token.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::binary::BinaryNode;
use common::{API_KEY, Client};
use serde_json::{Value, json};

/// The binary in its default mode over the data directory `data`.
async fn start(data: &Path, directory: &Path) -> BinaryNode {
    let mut args: Vec<OsString> = vec!["--data-dir".into(), data.into()];
    args.extend(["--directory".into(), directory.into()]);
    for a in [
        "--grace",
        "1h",
        "--heartbeat-ttl",
        "1s",
        "--shutdown-timeout",
        "2s",
    ] {
        args.push(a.into());
    }
    BinaryNode::start(args).await
}

/// An item as the explain endpoint shows it.
async fn item(node: &BinaryNode, id: u64) -> Value {
    node.http
        .get(node.url(&format!("/api/items/{id}/explain")))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["item"]
        .clone()
}

/// A group's queue, in queue order.
async fn queue(node: &BinaryNode, group: &str) -> Vec<Value> {
    let v: Value = node
        .http
        .get(node.url(&format!("/api/groups/{group}/queue")))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

/// Runs `switchboard serve` to its end; it must fail, saying `why`.
fn refused(data: &Path, directory: &Path, why: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--directory")
        .arg(directory)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(why), "{stderr}");
}

/// Two workers with room for every ticket in group `work`; an admin; group
/// `held` where nobody is active, so its items wait in the queue.
fn directory_file(dir: &Path) -> PathBuf {
    let h = common::cheap_hash(common::PASSWORD);
    let mut s = String::new();
    for (id, roles) in [
        ("w1", "\"agent\""),
        ("w2", "\"agent\""),
        ("w3", "\"agent\""),
        ("root", "\"agent\", \"admin\""),
    ] {
        s.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [{roles}]\npassword_hash = \"{h}\"\n\n"
        ));
    }
    for g in ["work", "held"] {
        s.push_str(&format!(
            "[[groups]]\nid = \"{g}\"\nname = \"{g}\"\nchat = {{ enabled = true }}\n\
             ticket = {{ enabled = true }}\nqueue_when_offline = true\n\n"
        ));
    }
    for id in ["w1", "w2", "w3"] {
        s.push_str(&format!(
            "[[memberships]]\nagent = \"{id}\"\ngroup = \"work\"\nticket_cap = 100000\n\n\
             [[memberships]]\nagent = \"{id}\"\ngroup = \"held\"\nactive = []\n\n"
        ));
    }
    s.push_str("[[memberships]]\nagent = \"root\"\ngroup = \"held\"\nactive = []\n");
    let path = dir.join("directory.toml");
    std::fs::write(&path, s).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_acknowledged_item_and_routes_none_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let directory = directory_file(tmp.path());
    let data = tmp.path().join("data");
    let mut node = start(&data, &directory).await;
    let tokens = [node.login("w1").await, node.login("w2").await];
    let mut consoles = Vec::new();
    for t in &tokens {
        consoles.push(Client::connect(node.addr(), t).await);
    }
    // 2,000 creates from 16 concurrent clients; the node dies once about
    // half are acknowledged. Every 201 is recorded.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let one_more = Arc::new(tokio::sync::Notify::new());
    let url = node.url("/api/work");
    let mut senders = Vec::new();
    for c in 0..16 {
        let (acknowledged, url, one_more) = (acknowledged.clone(), url.clone(), one_more.clone());
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..125 {
                let r = http
                    .post(&url)
                    .header("x-api-key", API_KEY)
                    .json(&json!({ "group": "work", "channel": "ticket", "title": format!("{c}-{i}") }))
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status() != 201 {
                    continue;
                }
                let Ok(body) = r.json::<Value>().await else {
                    return;
                };
                let id = body["item"]["id"].as_u64().unwrap();
                acknowledged.lock().unwrap().push(id);
                one_more.notify_one();
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 1_000 {
        one_more.notified().await;
    }
    node.kill_9();
    for s in senders {
        s.await.unwrap();
    }
    drop(consoles);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 1_000);

    let node = start(&data, &directory).await;
    // Every acknowledged item is there, assigned to exactly one agent.
    let mut holders = std::collections::HashMap::new();
    for id in &acknowledged {
        let item = item(&node, *id).await;
        assert_eq!(item["id"], *id, "acknowledged item {id} lost after kill -9");
        assert_eq!(item["state"], "assigned", "item {id}: {item}");
        holders.insert(*id, item["assignee"].as_str().unwrap().to_string());
    }
    // The consoles reconnect with their old tokens; together they hold each
    // acknowledged item exactly once.
    let mut held = Vec::new();
    for t in &tokens {
        let console = Client::connect(node.addr(), t).await;
        let welcome = &console.welcome;
        for item in welcome["work"].as_array().unwrap() {
            held.push((
                item["id"].as_u64().unwrap(),
                welcome["agent"]["id"].as_str().unwrap().to_string(),
            ));
        }
    }
    let mut ids: Vec<u64> = held.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "an item is held twice");
    for (id, agent) in &held {
        if let Some(expected) = holders.get(id) {
            assert_eq!(expected, agent, "item {id}");
        }
    }
    for id in &acknowledged {
        assert!(ids.binary_search(id).is_ok(), "item {id} held by nobody");
    }
    assert!(queue(&node, "work").await.is_empty(), "nothing left queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_cells_availability_accounts_queues_and_logins() {
    let tmp = tempfile::tempdir().unwrap();
    let directory = directory_file(tmp.path());
    let data = tmp.path().join("data");
    let mut node = start(&data, &directory).await;
    let w1 = node.login("w1").await;
    let root = node.login("root").await;
    let mut console = Client::connect(node.addr(), &w1).await;
    console
        .request(
            "set_active",
            json!({ "cells": [ { "group": "work", "channel": "chat", "active": false } ] }),
        )
        .await;
    console
        .request("set_availability", json!({ "available": false }))
        .await;
    let disabled = node
        .http
        .post(node.url("/api/agents/w3/disable"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    let mut queued = Vec::new();
    for (priority, title) in [(0, "first"), (5, "urgent"), (0, "second")] {
        let r: Value = node
            .http
            .post(node.url("/api/work"))
            .header("x-api-key", API_KEY)
            .json(&json!({ "group": "held", "channel": "ticket", "priority": priority, "title": title }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        queued.push(r["item"].clone());
    }
    let queue_before = queue(&node, "held").await;
    assert_eq!(queue_before.len(), 3);
    let status_before = item(&node, queued[0]["id"].as_u64().unwrap()).await;
    node.terminate();
    let _ = node.child.wait();
    drop(console);

    let node = start(&data, &directory).await;
    // The queue: same items, same order, same creation times (so the same
    // wait).
    let queue_after = queue(&node, "held").await;
    let brief = |q: &[Value]| -> Vec<(Value, Value, Value)> {
        q.iter()
            .map(|i| (i["id"].clone(), i["title"].clone(), i["created_at"].clone()))
            .collect()
    };
    assert_eq!(brief(&queue_before), brief(&queue_after));
    assert_eq!(
        item(&node, queued[0]["id"].as_u64().unwrap()).await["created_at"],
        status_before["created_at"]
    );
    // The old token still opens a console, which finds its cells and its
    // availability as they were set.
    let console = Client::connect(node.addr(), &w1).await;
    let welcome = &console.welcome;
    assert_eq!(welcome["agent"]["available"], false);
    assert_eq!(common::welcome_cell(welcome, "work", "chat"), "off");
    assert_eq!(common::welcome_cell(welcome, "work", "ticket"), "on");
    // The disabled account stays disabled.
    let login = node
        .http
        .post(node.url("/api/login"))
        .json(&json!({ "username": "w3", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    // The admin's login survived too, and the audit kept the disable.
    let audit: Value = node
        .http
        .get(node.url("/api/audit?agent=w3"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["what"] == "account"),
        "the disable is in the audit after the restart: {audit}"
    );
}

/// A second server on the same data directory is refused at once, with a
/// message naming the directory, while the first keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let directory = directory_file(tmp.path());
    let data = tmp.path().join("data");
    let node = start(&data, &directory).await;
    refused(
        &data,
        &directory,
        "another Switchboard server is using the data directory",
    );
    assert_eq!(
        node.http
            .get(node.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A data directory keeps the state of one directory file: started with
/// another (other agents and groups), the server refuses to start and says
/// what to do, instead of applying the old state to the wrong people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_refuses_another_directory_file() {
    let tmp = tempfile::tempdir().unwrap();
    let directory = directory_file(tmp.path());
    let data = tmp.path().join("data");
    let mut node = start(&data, &directory).await;
    node.terminate();
    let _ = node.child.wait();
    let other = tmp.path().join("other.toml");
    let text = std::fs::read_to_string(&directory).unwrap();
    std::fs::write(&other, text.replace("name = \"held\"", "name = \"Held\"")).unwrap();
    refused(&data, &other, "holds the state of another directory file");
}
