//! Integration events against real receivers and a real server: webhooks
//! per integration over HTTPS under a private CA, signed; presence events;
//! dead letters and their redelivery; the event stream resuming after a
//! disconnect with no gap and no duplicate; scope; the journal's retention.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::receiver::{
    Receiver, create_integration, create_ticket, http_receiver, https_receiver,
};
use common::{API_KEY, TestServer};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const WITHIN: Duration = Duration::from_secs(20);

/// A server whose webhooks retry `attempts` times, 20 ms apart at first,
/// trusting `ca` (PEM) besides the system's roots; keeping `retention`
/// events.
async fn server(attempts: u32, ca: Option<String>, retention: usize) -> TestServer {
    TestServer::start_config(Duration::from_secs(10), |c| {
        c.events.capacity = retention;
        c.events.delivery.max_attempts = attempts;
        c.events.delivery.first_backoff = Duration::from_millis(20);
        c.events.delivery.ca_pem = ca.map(String::into_bytes);
    })
    .await
}

fn base(s: &TestServer) -> String {
    s.url("")
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

fn signed(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhooks_of_an_integration_go_over_https_signed_and_scoped() {
    let receiver = Receiver::default();
    let (ca, url) = https_receiver(&receiver).await;
    let s = server(3, Some(ca), 100_000).await;
    let admin = s.login("admin").await;
    let (_, secret) = create_integration(&s.http, &base(&s), &admin, "crm", &["g1"], &[&url]).await;
    assert_eq!(secret.len(), 32, "a secret is drawn and shown once");
    let other = create_ticket(&s.http, &base(&s), API_KEY, "g2").await;
    let mine = create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    let events = receiver
        .wait_for(WITHIN, |e| e.iter().any(|e| e["event"] == "item.queued"))
        .await;
    assert_eq!(names(&events), ["item.created", "item.queued"]);
    assert!(
        events
            .iter()
            .all(|e| e["item"]["id"] == mine && e["groups"] == json!(["g1"]))
    );
    assert!(!events.iter().any(|e| e["item"]["id"] == other));
    for got in receiver.got.lock().unwrap().iter() {
        let v = got.json();
        assert_eq!(
            got.header("x-switchboard-signature"),
            signed(&secret, &got.body)
        );
        assert_eq!(
            got.header("x-switchboard-event"),
            v["event"].as_str().unwrap()
        );
        assert_eq!(
            got.header("x-switchboard-delivery"),
            v["id"].as_str().unwrap()
        );
    }
    // The integration shows its URL, never its secret.
    let (_, list) = s.get("/api/admin/integrations", &admin).await;
    let crm = &list["integrations"][0];
    assert_eq!(crm["webhook_urls"], json!([url]));
    assert_eq!(crm["webhook_secret_set"], true);
    assert!(!list.to_string().contains(&secret));
}

#[tokio::test]
async fn presence_events_reach_the_integrations_of_the_agents_groups() {
    let receiver = Receiver::default();
    let url = http_receiver(&receiver, 0).await;
    let s = server(3, None, 100_000).await;
    let admin = s.login("admin").await;
    create_integration(&s.http, &base(&s), &admin, "wfm", &["g1"], &[&url]).await;
    let mut bob = s.console("bob").await;
    bob.request("set_availability", json!({ "available": false }))
        .await;
    // bob's chat in g1 was active: switch the row off.
    bob.request("set_active_row", json!({ "group": "g1", "active": false }))
        .await;
    // carol is only in g2: none of hers.
    let _carol = s.console("carol").await;
    let events = receiver
        .wait_for(WITHIN, |e| e.iter().any(|e| e["event"] == "agent.active"))
        .await;
    let bobs: Vec<&Value> = events
        .iter()
        .filter(|e| e["agent"]["agent"] == "bob")
        .collect();
    let seen: Vec<&str> = bobs.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for want in ["agent.login", "agent.availability", "agent.active"] {
        assert!(seen.contains(&want), "{want} missing from {seen:?}");
    }
    assert!(events.iter().all(|e| e["agent"]["agent"] != "carol"));
    let availability = bobs
        .iter()
        .find(|e| e["event"] == "agent.availability")
        .unwrap();
    assert!(
        availability["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("g1"))
    );
}

#[tokio::test]
async fn failed_deliveries_become_dead_letters_an_admin_redelivers() {
    let receiver = Receiver::default();
    receiver.failing.store(true, Ordering::SeqCst);
    let url = http_receiver(&receiver, 0).await;
    let s = server(2, None, 100_000).await;
    let admin = s.login("admin").await;
    create_integration(&s.http, &base(&s), &admin, "crm", &["g1"], &[&url]).await;
    let item = create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    let path = "/api/admin/integrations/crm/dead-letters";
    let deadline = std::time::Instant::now() + WITHIN;
    let letters = loop {
        let (_, v) = s.get(path, &admin).await;
        let letters = v["dead_letters"].as_array().cloned().unwrap_or_default();
        if letters.len() == 2 {
            break letters;
        }
        assert!(std::time::Instant::now() < deadline, "dead letters: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        receiver.refused.load(Ordering::SeqCst),
        4,
        "2 events × 2 attempts"
    );
    for l in &letters {
        assert_eq!(l["url"], url);
        assert_eq!(l["attempts"], 2);
        assert_eq!(l["event"]["item"]["id"], item);
        assert!(l["error"].as_str().unwrap().contains("500"), "{l}");
    }
    // Not for agents, and not for an integration that does not exist.
    let alice = s.login("alice").await;
    let r = s
        .http
        .get(s.url(path))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .http
        .get(s.url("/api/admin/integrations/nope/dead-letters"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    receiver.failing.store(false, Ordering::SeqCst);
    let r: Value = s
        .http
        .post(s.url("/api/admin/integrations/crm/dead-letters/redeliver"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({ "redelivered": 2, "failed": 0 }));
    assert_eq!(names(&receiver.events()), ["item.created", "item.queued"]);
    let (_, v) = s.get(path, &admin).await;
    assert_eq!(v["dead_letters"], json!([]));
}

/// A reader of `GET /api/events`.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

/// One server-sent event: its id, name and data.
type Sent = (String, String, Value);

impl Stream {
    async fn open(s: &TestServer, key: &str, last: Option<&str>) -> Stream {
        let mut r = s.http.get(s.url("/api/events")).header("x-api-key", key);
        if let Some(id) = last {
            r = r.header("last-event-id", id);
        }
        let response = r.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `within`, if any.
    async fn next(&mut self, within: Duration) -> Option<Sent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    return Some((id, event, serde_json::from_str(&data).unwrap()));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Sent> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(self.next(WITHIN).await.expect("an event"));
        }
        out
    }
}

#[tokio::test]
async fn the_event_stream_resumes_after_a_disconnect_without_gap_or_duplicate() {
    let s = server(3, None, 100_000).await;
    let admin = s.login("admin").await;
    let (key, _) = create_integration(&s.http, &base(&s), &admin, "crm", &["g1"], &[]).await;
    let mut stream = Stream::open(&s, &key, None).await;
    let a = create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    let first = stream.take(2).await;
    assert_eq!(first[0].1, "item.created");
    assert_eq!(first[1].1, "item.queued");
    assert!(
        first
            .iter()
            .all(|(id, _, v)| v["id"] == id.as_str() && v["item"]["id"] == a)
    );
    let last = first[1].0.clone();
    drop(stream);

    // Missed while away: two tickets in g1, one in g2 (not this one's).
    let b = create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    create_ticket(&s.http, &base(&s), API_KEY, "g2").await;
    let c = create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    let mut stream = Stream::open(&s, &key, Some(&last)).await;
    let missed = stream.take(4).await;
    let items: Vec<(&str, Value)> = missed
        .iter()
        .map(|(_, e, v)| (e.as_str(), v["item"]["id"].clone()))
        .collect();
    assert_eq!(
        items,
        [
            ("item.created", json!(b)),
            ("item.queued", json!(b)),
            ("item.created", json!(c)),
            ("item.queued", json!(c)),
        ]
    );
    // Then live ones, after the replay.
    let d = create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    let live = stream.take(2).await;
    assert!(live.iter().all(|(_, _, v)| v["item"]["id"] == d));
    let mut ids: Vec<&String> = first
        .iter()
        .chain(&missed)
        .chain(&live)
        .map(|(id, _, _)| id)
        .collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "no duplicate");
    assert!(
        stream.next(Duration::from_millis(300)).await.is_none(),
        "nothing more"
    );

    // `?after=` works as the header does.
    let r = s
        .http
        .get(s.url(&format!("/api/events?after={}", missed[3].0)))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let mut after = Stream {
        response: r,
        buffer: String::new(),
    };
    assert_eq!(after.take(1).await[0].2["item"]["id"], d);
    // A console token is not an integration; a bad position is refused.
    let alice = s.login("alice").await;
    let r = s
        .http
        .get(s.url("/api/events"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .http
        .get(s.url("/api/events?after=yesterday"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn resuming_before_what_the_journal_keeps_is_refused_not_skipped() {
    let s = server(3, None, 4).await;
    let admin = s.login("admin").await;
    let (key, _) = create_integration(&s.http, &base(&s), &admin, "crm", &["*"], &[]).await;
    let mut stream = Stream::open(&s, &key, None).await;
    create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    let first = stream.take(1).await[0].0.clone();
    for _ in 0..4 {
        create_ticket(&s.http, &base(&s), API_KEY, "g1").await;
    }
    stream.take(9).await;
    let r = s
        .http
        .get(s.url("/api/events"))
        .header("x-api-key", &key)
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "events_expired");
    assert!(v["error"]["details"]["oldest"].is_string(), "{v}");
}

/// Two nodes over one Redis: a change made through one node reaches the
/// integration's webhook (one deliverer in the cluster) and the event
/// stream of the other node, under the same id.
#[tokio::test]
async fn in_a_cluster_events_reach_webhooks_and_streams_of_any_node() {
    let redis = common::TestRedis::start();
    let receiver = Receiver::default();
    let url = http_receiver(&receiver, 0).await;
    let directory = common::test_directory();
    let grace = Duration::from_secs(10);
    let a = TestServer::start_node(&redis.url(), &directory, grace).await;
    let b = TestServer::start_node(&redis.url(), &directory, grace).await;
    let admin = a.login("admin").await;
    let (key, _) = create_integration(&a.http, &base(&a), &admin, "crm", &["g1"], &[&url]).await;
    // b learns the key from the log.
    let deadline = std::time::Instant::now() + WITHIN;
    while b
        .http
        .get(b.url("/api/events?after=0-0"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(std::time::Instant::now() < deadline, "b never took the key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut on_b = Stream::open(&b, &key, None).await;
    let item = create_ticket(&a.http, &base(&a), API_KEY, "g1").await;
    let streamed = on_b.take(2).await;
    assert!(streamed.iter().all(|(_, _, v)| v["item"]["id"] == item));
    let events = receiver
        .wait_for(WITHIN, |e| e.iter().any(|e| e["event"] == "item.queued"))
        .await;
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.dedup();
    let streamed_ids: Vec<&str> = streamed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, streamed_ids, "the same ids on every path");
}
