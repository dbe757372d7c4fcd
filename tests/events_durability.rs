//! Webhooks are durable: the real binary in its default (embedded) mode is
//! killed with `kill -9` while its receiver refuses deliveries; after a
//! restart every event is delivered, each id at least once, none missing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::binary::{BinaryNode, free_port};
use common::receiver::{Receiver, create_integration, create_ticket, http_receiver};
use common::{API_KEY, test_directory};
use switchboard::store::events::EventId;

async fn start(data: &Path, directory: &Path) -> BinaryNode {
    let mut args: Vec<OsString> = vec!["--data-dir".into(), data.into()];
    args.extend(["--directory".into(), directory.into()]);
    for a in [
        "--webhook-attempts",
        "100",
        "--webhook-backoff",
        "100ms",
        "--snapshot-interval",
        "1s",
        "--heartbeat-ttl",
        "1s",
    ] {
        args.push(a.into());
    }
    BinaryNode::start(args).await
}

#[tokio::test]
async fn events_survive_a_kill_9_between_the_change_and_the_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("directory.toml");
    std::fs::write(&directory, test_directory()).unwrap();
    let data = dir.path().join("data");
    let receiver = Receiver::default();
    receiver.failing.store(true, Ordering::SeqCst);
    let url = http_receiver(&receiver, free_port()).await;

    let mut node = start(&data, &directory).await;
    let base = node.url("");
    let admin = node.login("admin").await;
    create_integration(&node.http, &base, &admin, "crm", &["g1"], &[&url]).await;
    let mut items = Vec::new();
    for _ in 0..5 {
        items.push(create_ticket(&node.http, &base, API_KEY, "g1").await);
    }
    // Deliveries were tried and refused; a snapshot and a trim may have
    // passed meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while receiver.refused.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery was tried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    node.kill_9();
    assert!(receiver.events().is_empty());

    receiver.failing.store(false, Ordering::SeqCst);
    let node = start(&data, &directory).await;
    let got = receiver
        .wait_for(Duration::from_secs(30), |events| {
            let seen: BTreeSet<(String, u64)> = events
                .iter()
                .map(|e| {
                    (
                        e["event"].as_str().unwrap().to_string(),
                        e["item"]["id"].as_u64().unwrap(),
                    )
                })
                .collect();
            items.iter().all(|i| {
                seen.contains(&("item.created".to_string(), *i))
                    && seen.contains(&("item.queued".to_string(), *i))
            })
        })
        .await;
    // Each id stands for one event, whichever delivery carried it.
    let mut by_id: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for e in &got {
        let what = (
            e["event"].as_str().unwrap().to_string(),
            e["item"]["id"].as_u64().unwrap(),
        );
        let before = by_id.insert(e["id"].as_str().unwrap().to_string(), what.clone());
        assert!(before.is_none_or(|b| b == what), "one id, two events");
    }
    assert_eq!(
        by_id.len(),
        items.len() * 2,
        "every event, under one id each"
    );
    // Ids follow the log: each item's creation comes before its queueing.
    let id_of = |what: &str, item: u64| {
        by_id
            .iter()
            .find(|(_, w)| w.0 == what && w.1 == item)
            .map(|(id, _)| EventId::parse(id).unwrap())
            .unwrap()
    };
    for i in &items {
        assert!(id_of("item.created", *i) < id_of("item.queued", *i));
    }
    drop(node);
}
