//! Wrap-up and Not Responding over the wire, on paused time: a closed
//! ticket holds the next one for the group's wrap-up or until `ready`; an
//! agent who lets offers run out is Not Responding (by `system`) and gets
//! nothing until it says it is ready.

mod common;

use std::time::Duration;

use common::{TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);

/// The test directory plus a group `wrap`: tickets with a 3 s wrap-up,
/// chats handed on after 2 s without an answer, Not Responding after two
/// offers run out; `t01` its only member.
fn directory() -> String {
    format!(
        "{}\n{}",
        test_directory(),
        r#"
[[groups]]
id = "wrap"
name = "Wrap"
chat = { enabled = true }
ticket = { enabled = true, wrap_up = "3s" }
queue_when_offline = true
no_response_timeout = "2s"
not_responding_after = 2

[[memberships]]
agent = "t01"
group = "wrap"
active = ["chat", "ticket"]
"#
    )
}

fn held_by(item: &Value) -> Option<&str> {
    item["assignee"].as_str()
}

#[tokio::test(start_paused = true)]
async fn a_closed_ticket_holds_the_next_for_the_wrap_up_or_until_ready() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let mut t01 = s.console("t01").await;
    let first = s.create_work("wrap", "ticket", 0).await;
    assert_eq!(held_by(&first), Some("t01"), "{first}");
    let closed = t01.request("close", json!({ "item": first["id"] })).await;
    assert_eq!(closed["type"], "ok", "{closed}");
    let status = t01
        .push_where("agent_status", |f| {
            f["status"]["wrap_up"]["ticket"].is_u64()
        })
        .await;
    let until = status["status"]["wrap_up"]["ticket"].as_u64().unwrap();
    assert_eq!(status["status"]["change"]["what"], "wrap_up");

    let second = s.create_work("wrap", "ticket", 0).await;
    assert_eq!(second["state"], "queued", "in wrap-up: {second}");
    let chat = s.create_work("wrap", "chat", 0).await;
    assert_eq!(held_by(&chat), Some("t01"), "chats have no wrap-up here");

    let ready = t01.request("ready", json!({})).await;
    assert_eq!(ready["type"], "ok", "{ready}");
    assert!(ready["data"].get("wrap_up").is_none(), "{ready}");
    let got = t01
        .push_where("item", |f| f["item"]["id"] == second["id"])
        .await;
    assert_eq!(got["item"]["assignee"], "t01");

    // Without `ready`, the wrap-up runs out by itself.
    t01.request("close", json!({ "item": second["id"] })).await;
    let third = s.create_work("wrap", "ticket", 0).await;
    assert_eq!(third["state"], "queued");
    let got = t01
        .push_where("item", |f| f["item"]["id"] == third["id"])
        .await;
    assert_eq!(got["item"]["assignee"], "t01");
    assert!(until > 0);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn two_offers_run_out_and_the_agent_is_not_responding_until_ready() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let mut t01 = s.console("t01").await;
    for _ in 0..2 {
        let chat = s.create_work("wrap", "chat", 0).await;
        assert_eq!(held_by(&chat), Some("t01"), "{chat}");
        let gone = t01
            .push_where("item", |f| {
                f["item"]["id"] == chat["id"] && f["reason"] == "handed_off"
            })
            .await;
        assert_eq!(gone["item"]["history"][0]["why"], "no_response");
    }
    let status = t01
        .push_where("agent_status", |f| {
            f["status"]["status"] == "Not Responding"
        })
        .await;
    assert_eq!(status["status"]["change"]["by"], "system");
    assert_eq!(status["status"]["available"], true);

    let ticket = s.create_work("wrap", "ticket", 0).await;
    assert_eq!(ticket["state"], "queued", "no new offers: {ticket}");

    let ready = t01.request("ready", json!({})).await;
    assert_eq!(ready["data"]["status"], "Available", "{ready}");
    let got = t01
        .push_where("item", |f| f["item"]["id"] == ticket["id"])
        .await;
    assert_eq!(got["item"]["assignee"], "t01");

    let admin = s.login("admin").await;
    let (_, audit) = s.get("/api/audit?agent=t01", &admin).await;
    let statuses: Vec<(&str, &str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "status")
        .map(|e| {
            (
                e["old"].as_str().unwrap(),
                e["new"].as_str().unwrap(),
                e["by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("Available", "Not Responding", "system"),
            ("Not Responding", "Available", "t01")
        ]
    );
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_groups_own_auto_away_switches_its_idle_members_unavailable() {
    let dir = format!(
        "{}\n{}",
        test_directory(),
        r#"
[[groups]]
id = "idle"
name = "Idle"
ticket = { enabled = true }
auto_away = "1s"

[[memberships]]
agent = "t03"
group = "idle"
"#
    );
    // No server-wide --auto-away: the group's own applies to its members only.
    let s = TestServer::start_directory(&dir, GRACE, |_| {}).await;
    let mut t03 = s.console("t03").await;
    let _t04 = s.console("t04").await;
    let told = t03
        .push_where("agent_status", |f| f["status"]["change"]["by"] == "system")
        .await;
    assert_eq!(told["status"]["available"], false);
    assert_eq!(told["status"]["status"], "Unavailable");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mgr = s.login("admin").await;
    let (_, t04) = s.get("/api/agents/t04", &mgr).await;
    assert_eq!(
        t04["available"], true,
        "not in the group: left alone: {t04}"
    );
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn on_two_nodes_wrap_up_and_not_responding_hold_wherever_the_work_comes_from() {
    let log = switchboard::store::memory::MemoryLog::default();
    let a = TestServer::start_shared(&log, &directory(), GRACE).await;
    let b = TestServer::start_shared(&log, &directory(), GRACE).await;
    let mut t01 = a.console("t01").await;
    // Wrap-up: the ticket closed on node A holds the next one created on B.
    let first = b.create_work("wrap", "ticket", 0).await;
    assert_eq!(held_by(&first), Some("t01"), "{first}");
    t01.request("close", json!({ "item": first["id"] })).await;
    let second = b.create_work("wrap", "ticket", 0).await;
    assert_eq!(second["state"], "queued", "in wrap-up: {second}");
    let got = t01
        .push_where("item", |f| f["item"]["id"] == second["id"])
        .await;
    assert_eq!(got["item"]["assignee"], "t01", "after the wrap-up");
    // Not Responding: two chats from node B run out on A.
    for _ in 0..2 {
        let chat = b.create_work("wrap", "chat", 0).await;
        t01.push_where("item", |f| {
            f["item"]["id"] == chat["id"] && f["reason"] == "handed_off"
        })
        .await;
    }
    t01.push_where("agent_status", |f| {
        f["status"]["status"] == "Not Responding"
    })
    .await;
    let third = b.create_work("wrap", "ticket", 0).await;
    assert_eq!(third["state"], "queued", "{third}");
    let ready = t01.request("ready", json!({})).await;
    assert_eq!(ready["type"], "ok", "{ready}");
    t01.push_where("item", |f| f["item"]["id"] == third["id"])
        .await;
    a.stop().await;
    b.stop().await;
}
