//! Outbound webhooks against a receiver on loopback: every item event once,
//! signed; retried after 500s; a dead receiver never slows the engine.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::TestServer;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard::webhooks::WebhookConfig;

const SECRET: &str = "webhook-test-secret";

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    status: u16,
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Requests answered 500 before it starts answering 200.
    fail_first: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let fail = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    r.got.lock().unwrap().push(Received {
        headers,
        body,
        status: status.as_u16(),
    });
    status
}

/// A receiver on a free loopback port; its URL and what it records.
async fn receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver {
        got: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), r)
}

async fn server(url: String, adjust: impl FnOnce(&mut WebhookConfig)) -> TestServer {
    let mut wh = WebhookConfig::new(vec![url], SECRET.into());
    wh.first_backoff = Duration::from_millis(50);
    adjust(&mut wh);
    TestServer::start_config(Duration::from_secs(10), |c| c.webhooks = Some(wh)).await
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name}"))
        .to_str()
        .unwrap()
}

/// Checks a request's headers and signature; returns its body.
fn verified(r: &Received) -> Value {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(r, "x-switchboard-signature"), expected, "signature");
    assert_eq!(header(r, "content-type"), "application/json");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(header(r, "x-switchboard-event"), body["event"]);
    assert_eq!(header(r, "x-switchboard-delivery"), body["id"]);
    assert!(body["at"].as_u64().unwrap() > 0);
    body
}

/// The (event, item id) pairs answered 200, once all `want` arrived (or
/// after 10 s), plus a short wait for duplicates.
async fn delivered(r: &Receiver, want: usize) -> Vec<(String, u64, Value)> {
    let collect = || {
        r.got
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.status == 200)
            .map(|x| {
                let b = verified(x);
                (
                    b["event"].as_str().unwrap().to_string(),
                    b["item"]["id"].as_u64().unwrap(),
                    b,
                )
            })
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while collect().len() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    collect()
}

fn events_of(got: &[(String, u64, Value)], item: &Value) -> Vec<String> {
    let id = item["id"].as_u64().unwrap();
    let mut e: Vec<String> = got
        .iter()
        .filter(|(_, i, _)| *i == id)
        .map(|(e, _, _)| e.clone())
        .collect();
    e.sort();
    e
}

fn sorted(e: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = e.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_item_event_arrives_once_signed() {
    let (url, r) = receiver(0).await;
    let s = server(url, |_| {}).await;
    // A chat routed at once to bob (active for chat in g1), accepted, closed.
    let mut bob = s.console("bob").await;
    let chat = s.create_work("g1", "chat", 0).await;
    assert_eq!(chat["assignee"], "bob");
    let a = bob.request("accept", json!({ "item": chat["id"] })).await;
    assert_eq!(a["type"], "ok", "{a}");
    let c = bob.request("close", json!({ "item": chat["id"] })).await;
    assert_eq!(c["type"], "ok", "{c}");
    // A ticket queued in a pull group, then taken.
    let mut t01 = s.console("t01").await;
    let ticket = s.create_work("pullg", "ticket", 0).await;
    assert_eq!(ticket["state"], "queued");
    let t = t01.request("take", json!({ "item": ticket["id"] })).await;
    assert_eq!(t["type"], "ok", "{t}");

    let got = delivered(&r, 7).await;
    assert_eq!(
        events_of(&got, &chat),
        sorted(&[
            "item.created",
            "item.assigned",
            "item.accepted",
            "item.closed"
        ]),
        "{got:?}"
    );
    assert_eq!(
        events_of(&got, &ticket),
        sorted(&["item.created", "item.queued", "item.assigned"]),
        "{got:?}"
    );
    assert_eq!(got.len(), 7, "no other delivery: {got:?}");
    let mut ids: Vec<&str> = got
        .iter()
        .map(|(_, _, b)| b["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "delivery ids are unique");
    // The payload's item is the protocol's item.
    let closed = got.iter().find(|(e, _, _)| e == "item.closed").unwrap();
    assert_eq!(closed.2["item"]["state"], "closed");
    assert_eq!(closed.2["item"]["group"], "g1");
    assert_eq!(closed.2["item"]["channel"], "chat");
    let assigned = got
        .iter()
        .find(|(e, i, _)| e == "item.assigned" && json!(i) == ticket["id"])
        .unwrap();
    assert_eq!(assigned.2["item"]["assignee"], "t01");
    // Every request was a success at once: nothing was retried.
    assert_eq!(r.got.lock().unwrap().len(), 7);
    s.stop().await;
}

#[tokio::test]
async fn failed_deliveries_are_retried_then_delivered_once() {
    let (url, r) = receiver(2).await;
    let s = server(url, |w| w.concurrency = 1).await;
    let ticket = s.create_work("pullg", "ticket", 0).await;
    let got = delivered(&r, 2).await;
    assert_eq!(
        events_of(&got, &ticket),
        sorted(&["item.created", "item.queued"]),
        "{got:?}"
    );
    let all = r.got.lock().unwrap().clone();
    let failed: Vec<&Received> = all.iter().filter(|x| x.status == 500).collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(all.len(), 4, "two 500s, then one success per event");
    // The retries carried the same delivery id and body.
    for f in failed {
        let b = verified(f);
        let ok = got.iter().find(|(_, _, g)| g["id"] == b["id"]).unwrap();
        assert_eq!(ok.2, b);
    }
    s.stop().await;
}

#[tokio::test]
async fn a_dead_receiver_never_slows_the_engine() {
    // Connections are accepted by the kernel but never answered: every
    // attempt waits for its timeout.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", hole.local_addr().unwrap());
    let s = server(url, |w| {
        w.timeout = Duration::from_secs(5);
        w.queue_capacity = 4;
        w.concurrency = 2;
    })
    .await;
    let mut t01 = s.console("t01").await;
    for _ in 0..20 {
        s.create_work("pullg", "ticket", 0).await;
    }
    let ticket = s.create_work("pullg", "ticket", 0).await;
    let started = Instant::now();
    let t = t01.request("take", json!({ "item": ticket["id"] })).await;
    assert_eq!(t["type"], "ok", "{t}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "take answered in {:?}",
        started.elapsed()
    );
    drop(hole);
    s.stop().await;
}

/// Two nodes on one Redis, both sending webhooks to one receiver: every event
/// of items created on either node arrives exactly once (the node that
/// proposed the change sends it; the other replica stays quiet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_mode_each_event_is_delivered_once() {
    let redis = common::TestRedis::start();
    let (url, r) = receiver(0).await;
    let node = |redis_url: String, url: String| async move {
        let mut wh = WebhookConfig::new(vec![url], SECRET.into());
        wh.first_backoff = Duration::from_millis(50);
        TestServer::start_node_with(
            &redis_url,
            &common::test_directory(),
            Duration::from_secs(10),
            |c| c.webhooks = Some(wh),
        )
        .await
    };
    let a = node(redis.url(), url.clone()).await;
    let b = node(redis.url(), url).await;
    let mut t01 = b.console("t01").await;
    let first = a.create_work("pullg", "ticket", 0).await;
    let second = b.create_work("pullg", "ticket", 0).await;
    for item in [&first, &second] {
        let t = t01.request("take", json!({ "item": item["id"] })).await;
        assert_eq!(t["type"], "ok", "{t}");
    }
    let got_all = delivered(&r, 6).await;
    for item in [&first, &second] {
        assert_eq!(
            events_of(&got_all, item),
            sorted(&["item.created", "item.queued", "item.assigned"]),
            "{got_all:?}"
        );
    }
    assert_eq!(got_all.len(), 6, "each event once: {got_all:?}");
}

#[tokio::test]
async fn an_integrations_item_changes_are_sent_as_their_own_events() {
    let (url, r) = receiver(0).await;
    let s = server(url, |_| {}).await;
    let ticket = s.create_work("pullg", "ticket", 0).await;
    let path = |what: &str| s.url(&format!("/api/items/{}{what}", ticket["id"]));
    let key = common::API_KEY;
    let sent = [
        s.http
            .patch(path(""))
            .header("x-api-key", key)
            .json(&json!({ "priority": 2 })),
        s.http
            .post(path("/assign"))
            .header("x-api-key", key)
            .json(&json!({ "agent": "t01" })),
        s.http.post(path("/cancel")).header("x-api-key", key),
    ];
    for req in sent {
        let answer = req.send().await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    let got = delivered(&r, 5).await;
    assert_eq!(
        events_of(&got, &ticket),
        sorted(&[
            "item.created",
            "item.queued",
            "item.updated",
            "item.assigned",
            "item.cancelled"
        ])
    );
    s.stop().await;
}
