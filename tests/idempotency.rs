//! Writes with an idempotency key: a retry gets the first outcome instead
//! of a second change, and an answer tells the truth about what happened
//! when the store hangs (`outcome_unknown` when the write may have been
//! applied, `unavailable` only when it certainly was not).

mod common;

use std::time::Duration;

use common::{API_KEY, TestRedis, TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);

async fn create(s: &TestServer, key: Option<&str>) -> (u16, Value) {
    let mut req = s
        .http
        .post(s.url("/api/work"))
        .header("x-api-key", API_KEY)
        .json(&json!({ "group": "pullg", "channel": "ticket", "title": "from the crm" }));
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

async fn queued(s: &TestServer) -> usize {
    let v: Value = s
        .http
        .get(s.url("/api/groups/pullg/queue"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_creates_once_and_answers_the_same_item() {
    let s = TestServer::start(GRACE).await;
    let (status, first) = create(&s, Some("crm-ticket-1")).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = create(&s, Some("crm-ticket-1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["item"]["id"], first["item"]["id"]);
    assert_eq!(queued(&s).await, 1, "one item, not two");
    let (_, other) = create(&s, Some("crm-ticket-2")).await;
    assert_ne!(other["item"]["id"], first["item"]["id"]);
    let (status, bad) = create(&s, Some("")).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["details"]["field"], "Idempotency-Key");
    s.stop().await;
}

#[tokio::test]
async fn a_console_retry_of_a_take_gets_the_first_answer_not_already_taken() {
    let s = TestServer::start(GRACE).await;
    let (_, created) = create(&s, None).await;
    let item = created["item"]["id"].clone();
    let mut t01 = s.console("t01").await;
    let first = t01
        .request("take", json!({ "item": item, "key": "take-once" }))
        .await;
    assert_eq!(first["type"], "ok", "{first}");
    let again = t01
        .request("take", json!({ "item": item, "key": "take-once" }))
        .await;
    assert_eq!(
        again["type"], "ok",
        "the retry is answered as the take was: {again}"
    );
    let unkeyed = t01.request("take", json!({ "item": item })).await;
    assert_eq!(unkeyed["code"], "already_taken", "{unkeyed}");
    let bad = t01.request("take", json!({ "item": item, "key": 7 })).await;
    assert_eq!(bad["code"], "invalid_field", "{bad}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_hangs_no_answer_lies_and_retries_with_the_key_create_once() {
    let redis = TestRedis::start();
    let s = TestServer::start_node(&redis.url(), &test_directory(), GRACE).await;
    redis.signal("STOP");
    // Each write during the hang: either refused unsent (`unavailable`) or
    // of unknown outcome (it reached Redis, or may have). Never a `201`
    // that did not happen, never a refusal of what will happen.
    let keys: Vec<String> = (0..6).map(|i| format!("hang-{i}")).collect();
    let mut answers = Vec::new();
    for k in &keys {
        let (status, body) = create(&s, Some(k)).await;
        let code = body["error"]["code"].as_str().unwrap_or("").to_string();
        assert_eq!(status, 503, "{body}");
        assert!(code == "unavailable" || code == "outcome_unknown", "{body}");
        answers.push(code);
    }
    assert_eq!(answers[0], "outcome_unknown", "the first write was sent");
    redis.signal("CONT");
    // Retry every write with its key until the node answers: each makes
    // exactly one item, whatever its first answer said.
    let mut ids = Vec::new();
    for k in &keys {
        let mut tries = 0;
        loop {
            let (status, body) = create(&s, Some(k)).await;
            if status == 201 {
                ids.push(body["item"]["id"].as_u64().unwrap());
                break;
            }
            tries += 1;
            assert!(tries < 200, "no answer after the heal: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "one item per key: {ids:?}");
    assert_eq!(queued(&s).await, keys.len(), "no duplicate in the queue");
    s.stop().await;
}
