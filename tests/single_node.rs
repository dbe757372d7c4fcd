//! End-to-end tests of one node over real sockets (issue: single-node server).

mod common;

use std::time::Duration;

use common::{TestServer, status_cell, welcome_cell};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_millis(600);

#[tokio::test]
async fn login_shows_active_groups_with_na_cells() {
    let s = TestServer::start(GRACE).await;
    let bob = s.console("bob").await;
    let w = &bob.welcome;
    assert_eq!(w["agent"]["id"], "bob");
    assert_eq!(w["agent"]["available"], true);
    assert_eq!(w["grace_ms"], 600);
    // g1: chat on (initially active), ticket excluded for bob → N/A, voice disabled → N/A.
    assert_eq!(welcome_cell(w, "g1", "chat"), "on");
    assert_eq!(welcome_cell(w, "g1", "ticket"), "na");
    assert_eq!(welcome_cell(w, "g1", "voice"), "na");
    assert_eq!(w["groups"][0]["department"], "Dept A");
    assert_eq!(w["groups"].as_array().unwrap().len(), 1);
    let carol = s.console("carol").await;
    assert_eq!(welcome_cell(&carol.welcome, "g2", "chat"), "off");
    assert_eq!(welcome_cell(&carol.welcome, "g2", "ticket"), "on");
    assert_eq!(welcome_cell(&carol.welcome, "g2", "voice"), "off");
    s.stop().await;
}

#[tokio::test]
async fn setting_a_na_cell_is_refused_and_nothing_changes() {
    let s = TestServer::start(GRACE).await;
    let mut bob = s.console("bob").await;
    let cells = json!({ "cells": [
        { "group": "g1", "channel": "chat", "active": false },
        { "group": "g1", "channel": "ticket", "active": true } ] });
    let a = bob.request("set_active", cells).await;
    assert_eq!(a["type"], "error");
    assert_eq!(a["code"], "not_applicable");
    assert!(a["message"].as_str().unwrap().contains("N/A"));
    // Atomic: the valid chat cell in the same request did not change.
    let tok = s.login("bob").await;
    let (_, status) = s.get("/api/agents/bob", &tok).await;
    assert_eq!(status_cell(&status, "g1", "chat"), "on");
    s.stop().await;
}

#[tokio::test]
async fn unavailable_agent_gets_no_new_chat_but_still_tickets() {
    let s = TestServer::start(GRACE).await;
    let mut alice = s.console("alice").await;
    let ok = alice
        .request("set_active_row", json!({ "group": "g1", "active": true }))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let ok = alice
        .request("set_availability", json!({ "available": false }))
        .await;
    assert_eq!(ok["data"]["available"], false);
    // bob is active for chat in g1 too: make him unavailable as well.
    let mut bob = s.console("bob").await;
    bob.request("set_availability", json!({ "available": false }))
        .await;
    let chat = s.create_work("g1", "chat", 0).await;
    assert_eq!(chat["state"], "queued", "nobody available takes the chat");
    let ticket = s.create_work("g1", "ticket", 0).await;
    assert_eq!(ticket["assignee"], "alice", "tickets ignore availability");
    let pushed = alice
        .push_where("item", |f| f["item"]["id"] == ticket["id"])
        .await;
    assert_eq!(pushed["reason"], "routed");
    // Going available drains the queued chat to her at once.
    alice
        .request("set_availability", json!({ "available": true }))
        .await;
    let got = alice
        .push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    assert_eq!(got["reason"], "drained");
    s.stop().await;
}

#[tokio::test]
async fn queued_work_goes_to_the_first_agent_who_turns_active_oldest_first() {
    let s = TestServer::start(GRACE).await;
    let mut alice = s.console("alice").await;
    let first = s.create_work("g2", "ticket", 0).await;
    let second = s.create_work("g2", "ticket", 0).await;
    let urgent = s.create_work("g2", "chat", 0).await;
    // carol is active for tickets in g2 but not logged in: all queued.
    assert_eq!(first["state"], "queued");
    assert_eq!(second["state"], "queued");
    assert_eq!(urgent["state"], "queued");
    let q = alice
        .push_where("queue", |f| f["item"]["id"] == second["id"])
        .await;
    assert_eq!(q["op"], "added");
    alice
        .request(
            "set_active",
            json!({ "cells": [{ "group": "g2", "channel": "ticket", "active": true }] }),
        )
        .await;
    let a = alice.push("item").await;
    let b = alice.push("item").await;
    assert_eq!(a["item"]["id"], first["id"], "oldest first");
    assert_eq!(b["item"]["id"], second["id"]);
    assert_eq!(a["reason"], "drained");
    let (_, queue) = s.get("/api/groups/g2/queue", &s.login("alice").await).await;
    let ids: Vec<&Value> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, vec![&urgent["id"]], "only the chat still waits");
    s.stop().await;
}

#[tokio::test]
async fn twenty_takers_race_exactly_one_wins_and_the_others_learn_who() {
    let s = TestServer::start(GRACE).await;
    let mut clients = Vec::new();
    for i in 1..=20 {
        clients.push(s.console(&format!("t{i:02}")).await);
    }
    let item = s.create_work("pullg", "ticket", 0).await;
    assert_eq!(item["state"], "queued", "pull groups never auto-assign");
    for c in clients.iter_mut() {
        let q = c.push("queue").await;
        assert_eq!(q["sound"], true, "pull arrivals are announced with a sound");
    }
    // Send all twenty takes before reading any answer.
    for (i, c) in clients.iter_mut().enumerate() {
        c.send_raw(&json!({ "id": 1000 + i, "type": "take", "item": item["id"] }).to_string())
            .await;
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        let a = c.answer(json!(1000 + i)).await;
        if a["type"] == "ok" {
            winners.push(format!("t{:02}", i + 1));
        } else {
            assert_eq!(a["code"], "already_taken");
            losers.push(a);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner");
    for l in &losers {
        assert_eq!(l["details"]["winner"], winners[0].as_str());
        assert_eq!(l["details"]["winner_name"], winners[0].to_uppercase());
    }
    s.stop().await;
}

#[tokio::test]
async fn membership_gates_queues_and_boards_whatever_the_role() {
    let s = TestServer::start(GRACE).await;
    let omgr = s.login("omgr").await;
    let (status, body) = s.get("/api/groups/g1/queue", &omgr).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = s.get("/api/groups/g2/queue", &omgr).await;
    assert_eq!(status, 200);
    let mut c = common::Client::connect(s.addr, &omgr).await;
    let a = c.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(a["code"], "forbidden");
    // An admin who is not a member of g1 may not watch it either.
    let mut admin = s.console("admin").await;
    let a = admin.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(a["code"], "forbidden");
    // A plain agent may not take from a group it is not in.
    let item = s.create_work("pullg", "ticket", 0).await;
    let mut alice = s.console("alice").await;
    let a = alice.request("take", json!({ "item": item["id"] })).await;
    assert_eq!(a["code"], "forbidden");
    // No token, no data.
    let (status, _) = s.get("/api/groups/g2/queue", "bogus").await;
    assert_eq!(status, 401);
    s.stop().await;
}

#[tokio::test]
async fn manager_switches_an_agent_inactive_and_both_tabs_are_told() {
    let s = TestServer::start(GRACE).await;
    let tok = s.login("alice").await;
    let mut tab1 = common::Client::connect(s.addr, &tok).await;
    let mut tab2 = common::Client::connect(s.addr, &tok).await;
    let mut mgr = s.console("mgr").await;
    let snap = mgr.request("watch", json!({ "group": "g1" })).await;
    assert_eq!(snap["type"], "ok");
    assert!(snap["data"]["agents"].as_array().unwrap().len() >= 3);
    // Turn alice active (as herself), then the manager switches her off.
    tab1.request(
        "set_active_column",
        json!({ "channel": "ticket", "active": true }),
    )
    .await;
    let a = mgr
        .request(
            "set_active",
            json!({ "agent": "alice", "cells": [{ "group": "g1", "channel": "ticket", "active": false }] }),
        )
        .await;
    assert_eq!(a["type"], "ok", "{a}");
    for tab in [&mut tab1, &mut tab2] {
        let p = tab
            .push_where("agent_status", |f| f["status"]["change"]["by"] == "mgr")
            .await;
        assert_eq!(status_cell(&p["status"], "g1", "ticket"), "off");
        assert!(p["seq"].as_u64().unwrap() > 0);
    }
    // The board saw it too.
    let p = mgr
        .push_where("agent_status", |f| f["status"]["change"]["by"] == "mgr")
        .await;
    assert_eq!(p["status"]["agent"], "alice");
    // A manager of another group may not.
    let mut omgr = s.console("omgr").await;
    let a = omgr
        .request(
            "set_active",
            json!({ "agent": "alice", "cells": [{ "group": "g1", "channel": "chat", "active": false }] }),
        )
        .await;
    assert_eq!(a["code"], "forbidden");
    s.stop().await;
}

async fn logouts_of(s: &TestServer, manager_token: &str, agent: &str) -> usize {
    let (status, body) = s
        .get(&format!("/api/audit?agent={agent}"), manager_token)
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "logout")
        .count()
}

#[tokio::test(start_paused = true)]
async fn reload_within_the_grace_is_not_a_logout_and_past_it_is() {
    let s = TestServer::start(GRACE).await;
    let mgr = s.login("mgr").await;
    let tok = s.login("alice").await;
    let tab = common::Client::connect(s.addr, &tok).await;
    tab.close().await;
    tokio::time::sleep(GRACE / 3).await;
    let tab = common::Client::connect(s.addr, &tok).await;
    tokio::time::sleep(GRACE * 2).await;
    assert_eq!(
        logouts_of(&s, &mgr, "alice").await,
        0,
        "a reload is not a logout"
    );
    let (_, status) = s.get("/api/agents/alice", &mgr).await;
    assert_eq!(status["logged_in"], true);
    tab.close().await;
    tokio::time::sleep(GRACE * 3).await;
    assert_eq!(
        logouts_of(&s, &mgr, "alice").await,
        1,
        "past the grace, logged out"
    );
    let (_, status) = s.get("/api/agents/alice", &mgr).await;
    assert_eq!(status["logged_in"], false);
    let (_, audit) = s.get("/api/audit?agent=alice", &mgr).await;
    let whats: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(whats, vec!["login", "logout"]);
    s.stop().await;
}

#[tokio::test]
async fn malformed_frames_get_errors_with_their_id_and_the_session_lives_on() {
    let s = TestServer::start(GRACE).await;
    let mut c = s.console("alice").await;
    let mut other = s.console("bob").await;
    c.send_raw("{not json").await;
    let e = c.answer(Value::Null).await;
    assert_eq!(e["code"], "bad_request");
    c.send_raw(r#"{"id":41,"type":"teleport"}"#).await;
    assert_eq!(c.answer(json!(41)).await["code"], "unknown_type");
    c.send_raw(r#"{"id":42,"type":"take","item":"seven"}"#)
        .await;
    assert_eq!(c.answer(json!(42)).await["code"], "invalid_field");
    c.send_raw(r#"{"id":"x","type":"take","item":1,"bogus":1}"#)
        .await;
    assert_eq!(c.answer(json!("x")).await["code"], "invalid_field");
    c.send_raw(r#"{"id":43,"type":"take","item":99999}"#).await;
    assert_eq!(c.answer(json!(43)).await["code"], "not_found");
    c.send_raw(r#"{"id":44,"type":"set_active_row","group":"nope","active":true}"#)
        .await;
    assert_eq!(c.answer(json!(44)).await["code"], "not_found");
    let ok = c.request("ping", json!({})).await;
    assert_eq!(ok["type"], "ok", "the session still works");
    assert!(
        !other
            .gets_push_within("error", Duration::from_millis(200))
            .await,
        "no other session notices"
    );
    let ok = other.request("ping", json!({})).await;
    assert_eq!(ok["type"], "ok");
    s.stop().await;
}

#[tokio::test]
async fn accept_and_close_free_capacity_and_the_queue_drains() {
    let s = TestServer::start(GRACE).await;
    let mut carol = s.console("carol").await;
    let t = s.create_work("g2", "ticket", 0).await;
    assert_eq!(t["assignee"], "carol");
    let a = carol.request("accept", json!({ "item": t["id"] })).await;
    assert_eq!(a["data"]["state"], "active");
    let again = carol.request("accept", json!({ "item": t["id"] })).await;
    assert_eq!(again["code"], "invalid_state");
    let c = carol.request("close", json!({ "item": t["id"] })).await;
    assert_eq!(c["data"]["state"], "closed");
    let gone = carol.request("close", json!({ "item": t["id"] })).await;
    assert_eq!(gone["code"], "not_found");
    s.stop().await;
}

#[tokio::test]
async fn a_console_that_reconnects_with_its_last_seq_gets_exactly_what_it_missed() {
    let s = TestServer::start(Duration::from_secs(5)).await;
    let tok = s.login("carol").await;
    let mut carol = common::Client::connect(s.addr, &tok).await;
    let first = s.create_work("g2", "ticket", 0).await;
    carol
        .push_where("item", |f| f["item"]["id"] == first["id"])
        .await;
    carol.drain_for(Duration::from_millis(100)).await;
    let seen = carol.last_seq();
    assert!(seen > 0);
    carol.close().await;
    // While she is away (within the grace): three chats queue in her group,
    // a ticket is routed to her.
    let mut missed_ids = Vec::new();
    for _ in 0..3 {
        missed_ids.push(s.create_work("g2", "chat", 0).await["id"].clone());
    }
    let ticket = s.create_work("g2", "ticket", 0).await;
    assert_eq!(ticket["assignee"], "carol");
    let (mut back, head) = common::Client::resume(s.addr, &tok, seen).await;
    assert_eq!(head["type"], "resumed", "{head}");
    back.drain_for(Duration::from_millis(300)).await;
    let frames = back.buffered();
    assert_eq!(head["missed"].as_u64().unwrap() as usize, frames.len());
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.iter().all(|&q| q > seen),
        "only what came after {seen}: {seqs:?}"
    );
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "in order: {seqs:?}");
    for id in &missed_ids {
        assert!(
            frames
                .iter()
                .any(|f| f["type"] == "queue" && f["item"]["id"] == *id),
            "missed queue arrival {id}"
        );
    }
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "item" && f["item"]["id"] == ticket["id"])
    );
    assert!(
        !frames.iter().any(|f| f["item"]["id"] == first["id"]),
        "nothing seen twice"
    );
    // A sequence the server cannot vouch for gets a fresh snapshot instead.
    let (_, head) = common::Client::resume(s.addr, &tok, 10_000_000).await;
    assert_eq!(head["type"], "welcome");
    s.stop().await;
}
