//! Statuses with reasons over the wire: the console lists them, sets one,
//! the board sees it with its time, the audit records it, routing keeps new
//! chats from an agent at lunch, admins change the reasons live, and
//! managers set a member's status only when the help desk allows it; on one
//! node and on two sharing a log.

mod common;

use std::time::Duration;

use common::{TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);

fn names(statuses: &Value) -> Vec<String> {
    statuses
        .as_array()
        .expect("a list of statuses")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

async fn patch_settings(s: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let r = s
        .http
        .patch(s.url("/api/admin/settings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_agent_goes_to_lunch_and_the_board_the_audit_and_routing_agree() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let mut bob = s.console("bob").await;
    assert_eq!(bob.welcome["agent"]["status"], "Available");
    assert_eq!(
        names(&bob.welcome["statuses"]),
        [
            "Available",
            "Unavailable",
            "Lunch",
            "Break",
            "Meeting",
            "Training"
        ]
    );
    assert_eq!(bob.welcome["statuses"][2]["takes_chats"], false);
    let mut mgr = s.console("mgr").await;
    let snap = mgr.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(snap["type"], "ok", "{snap}");

    let a = bob
        .request("set_status", json!({ "status": "Lunch" }))
        .await;
    assert_eq!(a["type"], "ok", "{a}");
    assert_eq!(a["data"]["status"], "Lunch");
    assert_eq!(a["data"]["available"], false);
    let p = mgr
        .push_where("agent_status", |f| f["status"]["agent"] == "bob")
        .await;
    assert_eq!(p["status"]["status"], "Lunch");
    assert_eq!(p["status"]["change"]["what"], "status");
    assert!(p["status"]["since"].as_u64().unwrap() > 0);

    // Bob is the only one active for chat in g1: at lunch he gets none.
    let chat = s.create_work("g1", "chat", 0).await;
    assert_eq!(chat["state"], "queued", "{chat}");

    let admin = s.login("admin").await;
    let (_, audit) = s.get("/api/audit?agent=bob", &admin).await;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "status")
        .unwrap_or_else(|| panic!("a status entry: {audit}"))
        .clone();
    assert_eq!(entry["old"], "Available");
    assert_eq!(entry["new"], "Lunch");
    assert_eq!(entry["by"], "bob");

    // Back from lunch: the queued chat comes to him at once.
    let a = bob
        .request("set_status", json!({ "status": "Available" }))
        .await;
    assert_eq!(a["type"], "ok", "{a}");
    let offered = bob
        .push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    assert_eq!(offered["item"]["assignee"], "bob", "{offered}");

    let a = bob
        .request("set_status", json!({ "status": "Napping" }))
        .await;
    assert_eq!(a["code"], "invalid_field", "{a}");
    s.stop().await;
}

#[tokio::test]
async fn admins_change_the_reasons_live_and_decide_whether_managers_set_statuses() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let mut alice = s.console("alice").await;
    let mut mgr = s.console("mgr").await;
    let admin = s.login("admin").await;

    let a = mgr
        .request(
            "set_status",
            json!({ "agent": "bob", "status": "Unavailable" }),
        )
        .await;
    assert_eq!(a["code"], "forbidden", "{a}");

    let (status, body) = patch_settings(
        &s,
        &admin,
        json!({
            "managers_set_status": true,
            "status_reasons": [
                { "name": "Lunch", "takes_chats": false },
                { "name": "Coaching", "takes_chats": true },
            ],
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["managers_set_status"], true);
    assert_eq!(body["status_reasons"][1]["name"], "Coaching");
    let pushed = alice.push("groups_changed").await;
    assert_eq!(
        names(&pushed["statuses"]),
        ["Available", "Unavailable", "Lunch", "Coaching"]
    );

    let a = mgr
        .request(
            "set_status",
            json!({ "agent": "bob", "status": "Unavailable" }),
        )
        .await;
    assert_eq!(a["type"], "ok", "{a}");
    assert_eq!(a["data"]["status"], "Unavailable");
    // bob is not in a group omgr manages.
    let mut omgr = s.console("omgr").await;
    let a = omgr
        .request("set_status", json!({ "agent": "bob", "status": "Lunch" }))
        .await;
    assert_eq!(a["code"], "forbidden", "{a}");

    for bad in [
        json!({ "status_reasons": [{ "name": "Available" }] }),
        json!({ "status_reasons": [{ "name": "A" }, { "name": "a" }] }),
        json!({ "status_reasons": [{ "name": "A", "colour": "red" }] }),
    ] {
        let (status, body) = patch_settings(&s, &admin, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let mgr_token = s.login("mgr").await;
    let (status, _) = patch_settings(&s, &mgr_token, json!({ "managers_set_status": false })).await;
    assert_eq!(status, 403);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_status_set_on_one_node_shows_on_the_board_of_another() {
    let log = switchboard::store::memory::MemoryLog::default();
    let a = TestServer::start_shared(&log, &test_directory(), GRACE).await;
    let b = TestServer::start_shared(&log, &test_directory(), GRACE).await;
    let mut mgr = b.console("mgr").await;
    let snap = mgr.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(snap["type"], "ok", "{snap}");
    let mut bob = a.console("bob").await;
    let r = bob
        .request("set_status", json!({ "status": "Meeting" }))
        .await;
    assert_eq!(r["type"], "ok", "{r}");
    let p = mgr
        .push_where("agent_status", |f| {
            f["status"]["agent"] == "bob" && f["status"]["status"] == "Meeting"
        })
        .await;
    assert_eq!(p["status"]["available"], false);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn on_two_nodes_sharing_redis_a_status_and_a_ready_travel_between_nodes() {
    let redis = common::TestRedis::start();
    let mut ticket_wrap_up = test_directory();
    // g2's tickets get a wrap-up long enough that only `ready` ends it here.
    ticket_wrap_up = ticket_wrap_up.replacen(
        "ticket = { enabled = true }\nvoice = { enabled = true }",
        "ticket = { enabled = true, wrap_up = \"1h\" }\nvoice = { enabled = true }",
        1,
    );
    assert!(
        ticket_wrap_up.contains("wrap_up"),
        "g2 found in the test directory"
    );
    let a = TestServer::start_node(&redis.url(), &ticket_wrap_up, GRACE).await;
    let b = TestServer::start_node(&redis.url(), &ticket_wrap_up, GRACE).await;
    let mut omgr = b.console("omgr").await;
    let snap = omgr.request("watch", json!({ "group": "g2" })).await;
    assert_eq!(snap["type"], "ok", "{snap}");
    let mut carol = a.console("carol").await;

    let r = carol
        .request("set_status", json!({ "status": "Training" }))
        .await;
    assert_eq!(r["type"], "ok", "{r}");
    omgr.push_where("agent_status", |f| {
        f["status"]["agent"] == "carol" && f["status"]["status"] == "Training"
    })
    .await;

    // carol is the only one active for g2 tickets: a ticket made through
    // node B comes to her on node A; closing it starts her wrap-up, seen on B.
    let first = b.create_work("g2", "ticket", 0).await;
    assert_eq!(first["assignee"], "carol", "{first}");
    let closed = carol.request("close", json!({ "item": first["id"] })).await;
    assert_eq!(closed["type"], "ok", "{closed}");
    omgr.push_where("agent_status", |f| {
        f["status"]["agent"] == "carol" && f["status"]["wrap_up"]["ticket"].is_u64()
    })
    .await;
    let second = b.create_work("g2", "ticket", 0).await;
    assert_eq!(second["state"], "queued", "in wrap-up: {second}");
    let ready = carol.request("ready", json!({})).await;
    assert_eq!(ready["type"], "ok", "{ready}");
    let got = carol
        .push_where("item", |f| f["item"]["id"] == second["id"])
        .await;
    assert_eq!(got["item"]["assignee"], "carol");
    a.stop().await;
    b.stop().await;
}
