//! End-to-end tests of the routing rules beyond the basics (issue: complete
//! routing): calls, hand-offs, transfers, take-over, offline, explanations.

mod common;

use std::time::Duration;

use common::{API_KEY, TestServer};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_millis(300);

#[tokio::test(start_paused = true)]
async fn a_call_rings_one_agent_times_out_then_rings_the_next_who_answers() {
    let s = TestServer::start(GRACE).await;
    let c1 = s.console("c1").await;
    let c2 = s.console("c2").await;
    let call = s.create_work("calls", "voice", 0).await;
    let first = call["assignee"].as_str().unwrap().to_string();
    let (mut rung, mut next) = if first == "c1" { (c1, c2) } else { (c2, c1) };
    let ringing = rung
        .push_where("item", |f| f["item"]["id"] == call["id"])
        .await;
    assert_eq!(ringing["item"]["state"], "assigned");
    // Nobody answers: after the ring timeout the other agent is rung.
    let moved = next
        .push_where("item", |f| f["item"]["id"] == call["id"])
        .await;
    assert_eq!(moved["reason"], "handed_off");
    assert_ne!(moved["item"]["assignee"], first.as_str());
    assert_eq!(moved["item"]["history"][0]["why"], "ring_timeout");
    assert_eq!(
        moved["item"]["created_at"], call["created_at"],
        "wait time kept"
    );
    let gone = rung
        .push_where("item", |f| {
            f["item"]["id"] == call["id"] && f["reason"] == "handed_off"
        })
        .await;
    assert_ne!(
        gone["item"]["assignee"],
        first.as_str(),
        "the first agent is told it moved"
    );
    let a = next.request("answer", json!({ "item": call["id"] })).await;
    assert_eq!(a["data"]["state"], "active");
    // An agent on a call is not offered another: a second call waits for c-first.
    let second = s.create_work("calls", "voice", 0).await;
    assert_eq!(second["assignee"], first.as_str());
    let d = rung
        .request("decline", json!({ "item": second["id"] }))
        .await;
    assert_eq!(d["type"], "ok");
    let (_, q) = s.get("/api/groups/calls/queue", &s.login("c1").await).await;
    assert_eq!(
        q["items"][0]["id"], second["id"],
        "declined by one, the other on a call: it waits"
    );
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_chat_not_accepted_in_time_moves_to_the_next_agent_and_keeps_its_wait() {
    let s = TestServer::start(GRACE).await;
    let mut h1 = s.console("h1").await;
    let mut h2 = s.console("h2").await;
    let chat = s.create_work("handoff", "chat", 0).await;
    let first = chat["assignee"].as_str().unwrap().to_string();
    let other = if first == "h1" { &mut h2 } else { &mut h1 };
    let moved = other
        .push_where("item", |f| {
            f["item"]["id"] == chat["id"] && f["reason"] == "handed_off"
        })
        .await;
    assert_ne!(
        moved["item"]["assignee"],
        first.as_str(),
        "never straight back"
    );
    assert_eq!(moved["item"]["created_at"], chat["created_at"]);
    assert_eq!(moved["item"]["history"][0]["why"], "no_response");
    let a = other.request("accept", json!({ "item": chat["id"] })).await;
    assert_eq!(a["data"]["state"], "active");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_dead_tab_is_handed_off_after_the_limit_not_before() {
    let s = TestServer::start(GRACE).await;
    let h1 = s.console("h1").await;
    let mut h2 = s.console("h2").await;
    // h2 goes unavailable so that the chat goes to h1.
    h2.request("set_availability", json!({ "available": false }))
        .await;
    let chat = s.create_work("handoff", "chat", 0).await;
    assert_eq!(chat["assignee"], "h1");
    let tok = s.login("h1").await;
    let mut h1b = common::Client::connect(s.addr, &tok).await;
    h1b.request("accept", json!({ "item": chat["id"] })).await;
    h1.close().await;
    h1b.close().await;
    h2.request("set_availability", json!({ "available": true }))
        .await;
    // Grace (300 ms) + disconnect limit (700 ms): still h1's at 700 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, st) = s.get("/api/agents/h1", &tok).await;
    assert_eq!(st["load"]["chat"], 1, "not handed off before the limit");
    let moved = h2
        .push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    assert_eq!(moved["item"]["assignee"], "h2");
    assert_eq!(moved["item"]["history"][0]["why"], "disconnected");
    s.stop().await;
}

#[tokio::test]
async fn transfer_to_a_group_and_to_a_named_member() {
    let s = TestServer::start(GRACE).await;
    let mut h1 = s.console("h1").await;
    let mut h3 = s.console("h3").await;
    let mut h2 = s.console("h2").await;
    h2.request("set_availability", json!({ "available": false }))
        .await;
    let t = s.create_work("handoff", "ticket", 0).await;
    let holder = t["assignee"].as_str().unwrap().to_string();
    let holder_client = if holder == "h1" { &mut h1 } else { &mut h2 };
    // To a group: routed by xfer's rules (h3 is the only active member there).
    let a = holder_client
        .request(
            "transfer",
            json!({ "item": t["id"], "group": "xfer", "note": "needs a specialist" }),
        )
        .await;
    assert_eq!(a["type"], "ok", "{a}");
    let got = h3.push_where("item", |f| f["item"]["id"] == t["id"]).await;
    assert_eq!(got["reason"], "transferred", "{got} / created {t}");
    assert_eq!(got["item"]["group"], "xfer");
    let hist = &got["item"]["history"][0];
    assert_eq!(hist["by"], holder.as_str());
    assert_eq!(hist["note"], "needs a specialist");
    // To a named member: h3 hands it to h1 (inactive in xfer, named anyway).
    let a = h3
        .request(
            "transfer",
            json!({ "item": t["id"], "group": "xfer", "agent": "h1" }),
        )
        .await;
    assert_eq!(a["type"], "ok", "{a}");
    let got = h1
        .push_where("item", |f| {
            f["item"]["id"] == t["id"]
                && f["reason"] == "transferred"
                && f["item"]["assignee"] == "h1"
        })
        .await;
    assert_eq!(got["item"]["history"][1]["by"], "h3");
    // A non-member of the target group may not name its members.
    let a = h2
        .request(
            "transfer",
            json!({ "item": t["id"], "group": "xfer", "agent": "h3" }),
        )
        .await;
    assert_eq!(a["code"], "forbidden");
    s.stop().await;
}

#[tokio::test]
async fn take_over_tells_the_previous_owner() {
    let s = TestServer::start(GRACE).await;
    let mut h1 = s.console("h1").await;
    let mut h2 = s.console("h2").await;
    h2.request("set_availability", json!({ "available": false }))
        .await;
    let chat = s.create_work("handoff", "chat", 0).await;
    assert_eq!(chat["assignee"], "h1");
    let refused = h2.request("take_over", json!({ "item": chat["id"] })).await;
    assert_eq!(
        refused["code"], "forbidden",
        "plain agents may not take over"
    );
    let mut mgr = s.console("mgr").await;
    let a = mgr
        .request("take_over", json!({ "item": chat["id"] }))
        .await;
    assert_eq!(a["data"]["assignee"], "mgr", "{a}");
    let told = h1
        .push_where("item", |f| {
            f["item"]["id"] == chat["id"] && f["reason"] == "taken_over"
        })
        .await;
    assert_eq!(told["item"]["assignee"], "mgr");
    s.stop().await;
}

#[tokio::test]
async fn an_offline_group_refuses_a_chat_with_409_and_accepts_a_ticket() {
    let s = TestServer::start(GRACE).await;
    let status: Value = s
        .http
        .get(s.url("/api/groups/offline/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["online"], false);
    let r = s
        .http
        .post(s.url("/api/work"))
        .header("x-api-key", API_KEY)
        .json(&json!({ "group": "offline", "channel": "chat" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "offline");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tickets")
    );
    let t = s.create_work("offline", "ticket", 0).await;
    assert_eq!(t["state"], "queued");
    let _o1 = s.console("o1").await;
    let status: Value = s
        .http
        .get(s.url("/api/groups/offline/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["online"], true);
    let chat = s.create_work("offline", "chat", 0).await;
    assert_eq!(chat["assignee"], "o1");
    s.stop().await;
}

#[tokio::test]
async fn an_explanation_names_the_rule_that_kept_each_member_out() {
    let s = TestServer::start(GRACE).await;
    // e1 stays logged out; e2 unavailable; e3 inactive; e4 excluded; e5 pull.
    let mut e2 = s.console("e2").await;
    e2.request("set_availability", json!({ "available": false }))
        .await;
    let _e3 = s.console("e3").await;
    let _e4 = s.console("e4").await;
    let _e5 = s.console("e5").await;
    let mut e6 = s.console("e6").await;
    let chat = s.create_work("explain", "chat", 0).await;
    assert_eq!(chat["assignee"], "e6");
    e6.request("accept", json!({ "item": chat["id"] })).await;
    let r: Value = s
        .http
        .get(s.url(&format!("/api/items/{}/explain", chat["id"])))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verdict = |a: &str| -> String {
        r["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["agent"] == a)
            .unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("e1"), "logged_out");
    assert_eq!(verdict("e2"), "unavailable");
    assert_eq!(verdict("e3"), "inactive");
    assert_eq!(verdict("e4"), "excluded");
    assert_eq!(verdict("e5"), "pull_only");
    assert_eq!(verdict("e6"), "holds");
    s.stop().await;
}

#[tokio::test]
async fn a_visitor_sees_its_position_fall_then_the_agent_join_and_messages_go_both_ways() {
    let s = TestServer::start(GRACE).await;
    let mut h1 = s.console("h1").await;
    let mut h3 = s.console("h3").await;
    h3.request("set_availability", json!({ "available": false }))
        .await;
    let mut tokens = Vec::new();
    let mut items = Vec::new();
    for who in ["Ann", "Ben", "Cat"] {
        let r: Value = s
            .http
            .post(s.url("/api/visitor/chats"))
            .json(&json!({ "group": "xfer", "name": who, "text": format!("help {who}") }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["item"]["state"], "queued", "{r}");
        tokens.push(r["visitor_token"].as_str().unwrap().to_string());
        items.push(r["item"]["id"].clone());
    }
    let mut cat = common::visitor_socket(s.addr, &tokens[2]).await;
    let hello = common::visitor_next(&mut cat).await;
    assert_eq!(hello["type"], "chat");
    assert_eq!(hello["messages"][0]["text"], "help Cat");
    assert_eq!(common::visitor_next(&mut cat).await["position"], 3);
    h1.request("take", json!({ "item": items[0] })).await;
    assert_eq!(common::visitor_next(&mut cat).await["position"], 2);
    h1.request("take", json!({ "item": items[1] })).await;
    assert_eq!(common::visitor_next(&mut cat).await["position"], 1);
    let took = h1.request("take", json!({ "item": items[2] })).await;
    assert_eq!(took["type"], "ok", "{took}");
    assert_eq!(common::visitor_next(&mut cat).await["type"], "connecting");
    let accepted = h1.request("accept", json!({ "item": items[2] })).await;
    assert_eq!(accepted["data"]["messages"][0]["text"], "help Cat");
    let joined = common::visitor_next(&mut cat).await;
    assert_eq!(joined["type"], "agent_joined");
    assert_eq!(joined["name"], "H1");
    let sent = h1
        .request("message", json!({ "item": items[2], "text": "Hello Cat" }))
        .await;
    assert_eq!(sent["type"], "ok", "{sent}");
    let m = common::visitor_next(&mut cat).await;
    assert_eq!(m["message"]["text"], "Hello Cat");
    assert_eq!(m["message"]["from"], "agent");
    common::visitor_say(&mut cat, "Hi there").await;
    let back = h1
        .push_where("message", |f| f["message"]["from"] == "visitor")
        .await;
    assert_eq!(back["message"]["text"], "Hi there");
    assert_eq!(back["item"], items[2]);
    h1.request("close", json!({ "item": items[2] })).await;
    // The visitor hears its own echo, then `closed`.
    loop {
        let f = common::visitor_next(&mut cat).await;
        if f["type"] == "closed" {
            break;
        }
    }
    // A finished chat's token no longer opens a socket.
    let mut again = common::visitor_socket(s.addr, &tokens[2]).await;
    assert_eq!(
        common::visitor_next(&mut again).await["code"],
        "unauthorized"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_agent_without_manage_own_status_is_refused_but_its_manager_may() {
    let s = TestServer::start(GRACE).await;
    let mut bob = s.console("bob").await;
    let a = bob
        .request("set_active_row", json!({ "group": "g1", "active": false }))
        .await;
    assert_eq!(a["type"], "ok", "bob may manage himself: {a}");
    let mut dora = s.console("dora").await;
    let refused = dora
        .request("set_active_row", json!({ "group": "g1", "active": false }))
        .await;
    assert_eq!(refused["code"], "forbidden");
    let mut mgr = s.console("mgr").await;
    let ok = mgr
        .request(
            "set_active_row",
            json!({ "agent": "dora", "group": "g1", "active": false }),
        )
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn auto_away_fires_only_when_enabled_and_is_audited_as_the_systems() {
    // Off by default: an idle agent stays available.
    let s = TestServer::start(GRACE).await;
    let _carol = s.console("carol").await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mgr = s.login("omgr").await;
    let (_, st) = s.get("/api/agents/carol", &mgr).await;
    assert_eq!(st["available"], true, "no auto-away unless enabled");
    s.stop().await;

    let s = TestServer::start_config(GRACE, |c| {
        c.auto_away = Some(Duration::from_millis(400));
    })
    .await;
    let mut carol = s.console("carol").await;
    let mut bob = s.console("bob").await;
    // bob keeps working, carol goes idle.
    for _ in 0..6 {
        bob.request("ping", json!({})).await;
        bob.request("set_availability", json!({ "available": true }))
            .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let told = carol
        .push_where("agent_status", |f| f["status"]["change"]["by"] == "system")
        .await;
    assert_eq!(told["status"]["available"], false);
    assert_eq!(told["status"]["change"]["what"], "availability");
    let mgr = s.login("omgr").await;
    let (_, audit) = s.get("/api/audit?agent=carol", &mgr).await;
    let away = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "availability")
        .expect("audited");
    assert_eq!(away["by"], "system");
    assert_eq!(away["new"], "unavailable");
    let bob_status = s.get("/api/agents/bob", &s.login("bob").await).await.1;
    assert_eq!(
        bob_status["available"], true,
        "an active agent is left alone"
    );
    s.stop().await;
}

#[tokio::test]
async fn routing_metrics_are_exported() {
    let s = TestServer::start(GRACE).await;
    let mut t1 = s.console("t01").await;
    let mut t2 = s.console("t02").await;
    let item = s.create_work("pullg", "ticket", 0).await;
    t1.request("take", json!({ "item": item["id"] })).await;
    let lost = t2.request("take", json!({ "item": item["id"] })).await;
    assert_eq!(lost["code"], "already_taken");
    let text = s.metrics().await;
    for needle in [
        "switchboard_takes_total{result=\"won\"}",
        "switchboard_takes_total{result=\"lost\"}",
        "switchboard_queue_depth{group=\"pullg\",channel=\"ticket\"}",
        "switchboard_routing_decisions_total{how=\"taken\",channel=\"ticket\"}",
        "switchboard_queue_wait_seconds",
        "switchboard_engine_busy_seconds_count",
    ] {
        assert!(text.contains(needle), "missing {needle} in /metrics");
    }
    s.stop().await;
}

#[tokio::test]
async fn demo_traffic_creates_work_only_when_asked() {
    let quiet = TestServer::start(GRACE).await;
    let s = TestServer::start_config(GRACE, |c| c.demo = true).await;
    let explain = |server: &TestServer, id: u64| {
        server
            .http
            .get(server.url(&format!("/api/items/{id}/explain")))
            .header("x-api-key", common::API_KEY)
            .send()
    };
    let mut seen = false;
    for _ in 0..60 {
        for id in 1..=3 {
            if explain(&s, id).await.unwrap().status() == 200 {
                seen = true;
            }
        }
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(seen, "--demo creates work by itself");
    assert_eq!(
        explain(&quiet, 1).await.unwrap().status(),
        404,
        "no demo, no work"
    );
    s.stop().await;
    quiet.stop().await;
}
