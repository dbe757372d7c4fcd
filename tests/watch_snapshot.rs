//! The `watch` answer: built as JSON text and reused while nothing changed
//! (`src/engine/board.rs`), so these pin that a reused snapshot is the same
//! and that a change is never hidden behind one.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_millis(600);

/// The status of `agent` in a `watch` answer.
fn status_of<'a>(answer: &'a Value, agent: &str) -> &'a Value {
    answer["data"]["agents"]
        .as_array()
        .expect("agents listed")
        .iter()
        .find(|s| s["agent"] == agent)
        .unwrap_or_else(|| panic!("{agent} listed in {answer}"))
}

#[tokio::test]
async fn a_second_watch_sees_the_same_board_and_a_change_is_never_hidden() {
    let s = TestServer::start(GRACE).await;
    let mut alice = s.console("alice").await;
    let mut first = s.console("mgr").await;
    let mut second = s.console("mgr").await;

    let a = first.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(a["type"], "ok", "{a}");
    assert_eq!(a["data"]["groups"][0]["id"], "g1");
    assert_eq!(a["data"]["groups"][0]["queues"]["chat"]["depth"], 0);
    let b = second.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(a["data"], b["data"]);
    let before = status_of(&a, "alice")["available"].as_bool().unwrap();

    let ok = alice
        .request("set_availability", json!({ "available": !before }))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let mut third = s.console("mgr").await;
    let c = third.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(status_of(&c, "alice")["available"], !before);
    assert_eq!(status_of(&c, "alice")["logged_in"], true);
    assert!(status_of(&c, "alice").get("change").is_none());
    s.stop().await;
}

#[tokio::test]
async fn watch_answers_echo_any_request_id() {
    let s = TestServer::start(GRACE).await;
    let mut mgr = s.console("mgr").await;
    mgr.send_raw(r#"{"type":"watch","id":"board-1"}"#).await;
    let ok = mgr.answer(json!("board-1")).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    assert!(!ok["data"]["agents"].as_array().unwrap().is_empty());

    mgr.send_raw(r#"{"type":"watch","id":"q\"uote"}"#).await;
    let ok = mgr.answer(json!("q\"uote")).await;
    assert_eq!(ok["type"], "ok", "{ok}");

    mgr.send_raw(r#"{"type":"watch","group":"g2","id":7}"#)
        .await;
    let refused = mgr.answer(json!(7)).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "forbidden");
    s.stop().await;
}

/// The test directory with `extra` more agents (x0001…) in g1, so that a
/// board snapshot of g1 takes several pieces.
fn directory_with(extra: usize) -> String {
    let mut d = common::test_directory();
    let hash = common::cheap_hash("pw");
    for i in 1..=extra {
        d.push_str(&format!(
            "\n[[agents]]\nid = \"x{i:04}\"\nname = \"Extra Agent With A Long Name {i:04}\"\nroles = [\"agent\"]\npassword_hash = \"{hash}\"\n\n[[memberships]]\nagent = \"x{i:04}\"\ngroup = \"g1\"\nactive = [\"chat\"]\n"
        ));
    }
    d
}

/// Reads frames until the `ok` answering `id`, returning the `watch_agents`
/// pieces before it (as text lengths and values) and the `ok`.
async fn pieces_until_ok(c: &mut common::Client, id: u64) -> (Vec<(usize, Value)>, Value) {
    let mut pieces = Vec::new();
    loop {
        let (len, f) = c
            .next_text_within(Duration::from_secs(5))
            .await
            .expect("a frame before the timeout");
        if f["type"] == "watch_agents" {
            assert_eq!(f["id"], id, "{f}");
            pieces.push((len, f));
        } else if f["type"] == "ok" && f["id"] == id {
            return (pieces, f);
        }
    }
}

#[tokio::test]
async fn a_watch_in_pieces_sends_the_same_board_in_bounded_frames() {
    let s = TestServer::start_directory(&directory_with(400), GRACE, |_| {}).await;
    let mut whole = s.console("mgr").await;
    let plain = whole.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(plain["type"], "ok", "{plain}");
    let seq = plain["data"]["seq"]
        .as_u64()
        .expect("the snapshot says its seq");

    let mut board = s.console("mgr").await;
    board
        .send_raw(r#"{"id":1,"type":"watch","group":"g1","pieces":true}"#)
        .await;
    let (pieces, ok) = pieces_until_ok(&mut board, 1).await;
    assert!(pieces.len() >= 3, "{} pieces", pieces.len());
    for (len, _) in &pieces {
        assert!(*len <= 20 * 1024, "a piece of {len} bytes");
    }
    assert_eq!(ok["data"]["pieces"], pieces.len());
    assert_eq!(ok["data"]["agents"], json!([]));
    assert_eq!(ok["data"]["groups"], plain["data"]["groups"]);
    assert!(ok["data"]["seq"].as_u64().unwrap() >= seq);
    let agents: Vec<Value> = pieces
        .iter()
        .flat_map(|(_, p)| p["agents"].as_array().unwrap().clone())
        .collect();
    assert_eq!(Value::Array(agents), plain["data"]["agents"]);
    s.stop().await;
}

#[tokio::test]
async fn a_board_watching_in_pieces_gets_statuses_batched_and_always_the_last_one() {
    let s = TestServer::start(GRACE).await;
    let mut alice = s.console("alice").await;
    let mut board = s.console("mgr").await;
    board
        .send_raw(r#"{"id":1,"type":"watch","group":"g1","pieces":true}"#)
        .await;
    pieces_until_ok(&mut board, 1).await;
    let mut available = alice.welcome["agent"]["available"].as_bool().unwrap();
    const CHANGES: usize = 40;
    for _ in 0..CHANGES {
        available = !available;
        let a = alice
            .request("set_availability", json!({ "available": available }))
            .await;
        assert_eq!(a["type"], "ok", "{a}");
    }
    // Batches until none comes for a while (one is due every 100 ms at most);
    // never a lone agent_status, and the last one says alice's last state.
    let mut frames = 0;
    let mut last_seen = None;
    while let Some((_, f)) = board.next_text_within(Duration::from_millis(600)).await {
        assert_ne!(
            f["type"], "agent_status",
            "a batching board gets no single status: {f}"
        );
        if f["type"] != "agent_status_batch" {
            continue;
        }
        frames += 1;
        let mut seqs = Vec::new();
        for p in f["pushes"].as_array().unwrap() {
            assert_eq!(p["type"], "agent_status", "{p}");
            seqs.push(p["seq"].as_u64().unwrap());
            if p["status"]["agent"] == "alice" {
                last_seen = Some(p["status"]["available"].as_bool().unwrap());
            }
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in seq order: {f}");
    }
    assert_eq!(last_seen, Some(available), "the last state is never lost");
    assert!(frames < CHANGES, "{frames} batches for {CHANGES} changes");
    s.stop().await;
}
