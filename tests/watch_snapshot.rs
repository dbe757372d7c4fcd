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
