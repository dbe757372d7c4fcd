//! Abandoned chats over the wire, on paused time: a visitor who closes its
//! page while its chat waits and stays away past the group's limit loses
//! its place; the chat leaves the queue as `abandoned`, is counted, and
//! never reaches an agent. A visitor who comes back in time keeps it.

mod common;

use std::time::Duration;

use common::{TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);

/// The test directory plus a group `widget` that queues chats while nobody
/// is online and abandons them 3 s after their visitor left; `t02` is its
/// member, `mgr` its manager (watching).
fn directory() -> String {
    format!(
        "{}\n{}",
        test_directory(),
        r#"
[[groups]]
id = "widget"
name = "Widget"
chat = { enabled = true }
queue_when_offline = true
abandon_after = "3s"

[[memberships]]
agent = "t02"
group = "widget"
active = ["chat"]

[[memberships]]
agent = "mgr"
group = "widget"
active = []
"#
    )
}

async fn start_chat(s: &TestServer, who: &str, state: &str) -> (String, Value) {
    let r: Value = s
        .http
        .post(s.url("/api/visitor/chats"))
        .json(&json!({ "group": "widget", "name": who, "text": "hello?" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["item"]["state"], state, "{r}");
    (
        r["visitor_token"].as_str().unwrap().to_string(),
        r["item"]["id"].clone(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_visitor_gone_past_the_limit_loses_the_chat_and_no_agent_ever_gets_it() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let mut mgr = s.console("mgr").await;
    let snap = mgr.request("watch", json!({ "group": "widget" })).await;
    assert_eq!(snap["type"], "ok", "{snap}");

    let (gone_token, gone) = start_chat(&s, "Gus", "queued").await;
    let (stays_token, stays) = start_chat(&s, "Sue", "queued").await;
    let mut gus = common::visitor_socket(s.addr, &gone_token).await;
    assert_eq!(common::visitor_next(&mut gus).await["type"], "chat");
    gus.close(None).await.unwrap();
    // Sue's page closes too, but she is back within the limit.
    let mut sue = common::visitor_socket(s.addr, &stays_token).await;
    assert_eq!(common::visitor_next(&mut sue).await["type"], "chat");
    sue.close(None).await.unwrap();
    let mut sue = common::visitor_socket(s.addr, &stays_token).await;
    assert_eq!(common::visitor_next(&mut sue).await["type"], "chat");

    let removed = mgr
        .push_where("queue", |f| f["item"]["id"] == gone && f["op"] == "removed")
        .await;
    assert_eq!(removed["reason"], "abandoned", "{removed}");

    let admin = s.login("mgr").await;
    let (_, queue) = s.get("/api/groups/widget/queue", &admin).await;
    let ids: Vec<&Value> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, [&stays], "{queue}");

    let metrics = s.metrics().await;
    assert!(
        metrics.contains("switchboard_items_total{event=\"abandoned\"} 1"),
        "counted"
    );

    // An agent logging in now gets Sue's chat, never Gus's.
    let mut t02 = s.console("t02").await;
    let work: Vec<Value> = t02.welcome["work"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert!(!work.contains(&gone));
    if !work.contains(&stays) {
        let got = t02.push("item").await;
        assert_eq!(got["item"]["id"], stays, "{got}");
    }
    let (_, explain) = s.get(&format!("/api/items/{gone}/explain"), &admin).await;
    assert_eq!(explain["error"]["code"], "not_found", "{explain}");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_agent_sees_when_the_visitor_of_its_chat_leaves_and_comes_back() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let mut t02 = s.console("t02").await;
    let (token, id) = start_chat(&s, "Val", "assigned").await;
    let a = t02.request("accept", json!({ "item": id })).await;
    assert_eq!(a["type"], "ok", "{a}");
    let mut val = common::visitor_socket(s.addr, &token).await;
    assert_eq!(common::visitor_next(&mut val).await["type"], "chat");
    val.close(None).await.unwrap();
    let left = t02
        .push_where("item", |f| f["reason"] == "visitor_left")
        .await;
    assert!(left["item"]["visitor_left_at"].as_u64().is_some(), "{left}");
    let mut val = common::visitor_socket(s.addr, &token).await;
    assert_eq!(common::visitor_next(&mut val).await["type"], "chat");
    let back = t02
        .push_where("item", |f| f["reason"] == "visitor_back")
        .await;
    assert!(back["item"].get("visitor_left_at").is_none(), "{back}");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn on_two_nodes_the_visitor_on_one_and_the_board_on_the_other_agree() {
    let log = switchboard::store::memory::MemoryLog::default();
    let a = TestServer::start_shared(&log, &directory(), GRACE).await;
    let b = TestServer::start_shared(&log, &directory(), GRACE).await;
    let mut mgr = b.console("mgr").await;
    let snap = mgr.request("watch", json!({ "group": "widget" })).await;
    assert_eq!(snap["type"], "ok", "{snap}");
    let (token, id) = start_chat(&a, "Nel", "queued").await;
    let mut nel = common::visitor_socket(a.addr, &token).await;
    assert_eq!(common::visitor_next(&mut nel).await["type"], "chat");
    nel.close(None).await.unwrap();
    let removed = mgr
        .push_where("queue", |f| f["item"]["id"] == id && f["op"] == "removed")
        .await;
    assert_eq!(removed["reason"], "abandoned", "{removed}");
    // An agent logging in on the first node gets nothing of it.
    let t02 = a.console("t02").await;
    assert!(t02.welcome["work"].as_array().unwrap().is_empty());
    a.stop().await;
    b.stop().await;
}
