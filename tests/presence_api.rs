//! Presence for integrations over HTTP: agents with their status, paged
//! and filtered by group within the key's scope, a group's live figures
//! per channel, and an agent's status, availability and cells set by a
//! permitted key (or a person), on one node and across two sharing Redis.

mod common;

use std::time::Duration;

use common::{TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);

/// A key of a new integration scoped to `groups`, made by the admin.
async fn key_for(s: &TestServer, groups: &[&str]) -> String {
    let admin = s.login("admin").await;
    let r: Value = s
        .http
        .post(s.url("/api/admin/integrations"))
        .bearer_auth(admin)
        .json(&json!({ "name": format!("wfm-{}", groups.join("-")), "groups": groups }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["key"].as_str().expect("a key").to_string()
}

async fn get(s: &TestServer, path: &str, key: &str) -> (u16, Value) {
    let r = s
        .http
        .get(s.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_integration_lists_the_agents_of_its_groups_paged_and_reads_group_figures() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let key = key_for(&s, &["g1"]).await;
    let mut alice = s.console("alice").await;
    let ok = alice
        .request("set_active_row", json!({ "group": "g1", "active": true }))
        .await;
    assert_eq!(ok["type"], "ok");
    let (status, all) = get(&s, "/api/agents?group=g1", &key).await;
    assert_eq!(status, 200, "{all}");
    let ids: Vec<&str> = all["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"alice") && ids.contains(&"bob"), "{ids:?}");
    assert!(!ids.contains(&"carol"), "carol is in g2 only");
    let alice_row = all["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "alice")
        .unwrap();
    assert_eq!(alice_row["logged_in"], true);
    let (_, page) = get(&s, "/api/agents?group=g1&limit=1&offset=1", &key).await;
    assert_eq!(page["agents"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], all["total"]);
    let (status, _) = get(&s, "/api/agents?group=g2", &key).await;
    assert_eq!(status, 403, "g2 is outside the key's scope");
    let (_, unfiltered) = get(&s, "/api/agents", &key).await;
    assert!(
        unfiltered["agents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["agent"] != "carol"),
        "without a filter, still only the agents of its groups"
    );

    s.create_work("g1", "ticket", 0).await;
    let (status, stats) = get(&s, "/api/groups/g1/stats", &key).await;
    assert_eq!(status, 200, "{stats}");
    let chat = &stats["channels"]["chat"];
    assert_eq!(chat["logged_in"], 1, "{stats}");
    assert_eq!(chat["receiving"], 1, "{stats}");
    assert_eq!(chat["unavailable"], 0);
    assert_eq!(stats["online"], true);
    let (status, _) = get(&s, "/api/groups/g2/stats", &key).await;
    assert_eq!(status, 403);
    s.stop().await;
}

/// A presence write: status and body.
async fn put(s: &TestServer, path: &str, auth: Auth<'_>, body: Value) -> (u16, Value) {
    let r = s.http.put(s.url(path)).json(&body);
    let r = match auth {
        Auth::Key(k) => r.header("x-api-key", k),
        Auth::Token(t) => r.bearer_auth(t),
    };
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Who calls.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Key(&'a str),
    Token(&'a str),
}

fn code(r: &Value) -> &str {
    r["error"]["code"].as_str().unwrap_or("?")
}

#[tokio::test]
async fn a_permitted_integration_sets_status_availability_and_cells_in_its_scope_only() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let admin = s.login("admin").await;
    let key = key_for(&s, &["g1"]).await;
    let k = Auth::Key(&key);
    let mut alice = s.console("alice").await;

    // Not without the permission an admin gives.
    let (status, r) = put(
        &s,
        "/api/agents/alice/status",
        k,
        json!({ "status": "Lunch" }),
    )
    .await;
    assert_eq!((status, code(&r)), (403, "forbidden"), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set_presence")
    );
    let (_, allowed) = s
        .patch(
            "/api/admin/integrations/wfm-g1",
            &admin,
            json!({ "set_presence": true }),
        )
        .await;
    assert_eq!(allowed["integration"]["set_presence"], true, "{allowed}");

    // A status with a reason: the answer and the console both say so.
    let (status, r) = put(
        &s,
        "/api/agents/alice/status",
        k,
        json!({ "status": "Lunch" }),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (&r["status"], &r["available"]),
        (&json!("Lunch"), &json!(false))
    );
    let pushed = alice
        .push_where("agent_status", |p| p["status"]["status"] == "Lunch")
        .await;
    assert_eq!(pushed["status"]["agent"], "alice");

    // Availability.
    let (status, r) = put(
        &s,
        "/api/agents/alice/availability",
        k,
        json!({ "available": true }),
    )
    .await;
    assert_eq!((status, &r["status"]), (200, &json!("Available")), "{r}");

    // Cells, all or nothing, only in the key's groups.
    let cell = |g: &str, c: &str, on: bool| json!({ "group": g, "channel": c, "active": on });
    let (status, r) = put(
        &s,
        "/api/agents/alice/cells",
        k,
        json!({ "cells": [cell("g1", "chat", true), cell("g1", "ticket", true)] }),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(common::status_cell(&r, "g1", "chat"), "on", "{r}");
    assert_eq!(common::status_cell(&r, "g1", "ticket"), "on", "{r}");
    let (status, r) = put(
        &s,
        "/api/agents/alice/cells",
        k,
        json!({ "cells": [cell("g1", "chat", false), cell("g2", "chat", true)] }),
    )
    .await;
    assert_eq!(
        (status, &r["error"]["details"]["field"]),
        (403, &json!("cells")),
        "{r}"
    );
    let (_, now) = get(&s, "/api/agents/alice", &key).await;
    assert_eq!(
        common::status_cell(&now, "g1", "chat"),
        "on",
        "nothing changed: {now}"
    );

    // Out of scope, unknown, malformed.
    let (status, r) = put(
        &s,
        "/api/agents/carol/status",
        k,
        json!({ "status": "Lunch" }),
    )
    .await;
    assert_eq!(
        (status, code(&r)),
        (403, "forbidden"),
        "carol is in g2 only: {r}"
    );
    let (status, r) = put(
        &s,
        "/api/agents/nobody/status",
        k,
        json!({ "status": "Lunch" }),
    )
    .await;
    assert_eq!((status, code(&r)), (404, "not_found"), "{r}");
    let (status, r) = put(
        &s,
        "/api/agents/alice/status",
        k,
        json!({ "status": "Nap" }),
    )
    .await;
    assert_eq!(
        (status, &r["error"]["details"]["field"]),
        (400, &json!("status")),
        "{r}"
    );
    let (status, r) = put(
        &s,
        "/api/agents/alice/cells",
        k,
        json!({ "cells": [cell("g1", "fax", true)] }),
    )
    .await;
    assert_eq!(
        (status, &r["error"]["details"]["field"]),
        (400, &json!("channel")),
        "{r}"
    );
    let (status, r) = put(
        &s,
        "/api/agents/alice/status",
        k,
        json!({ "status": "Lunch", "x": 1 }),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused: {r}");

    // Audited under the integration's name.
    let (_, audit) = s.get("/api/audit?agent=alice", &admin).await;
    let by_wfm: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter(|e| e["by"] == "wfm-g1")
        .collect();
    assert!(
        by_wfm.len() >= 4,
        "status, availability and two cells: {audit}"
    );
    s.stop().await;
}

#[tokio::test]
async fn people_set_presence_over_http_by_the_consoles_rules() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let (alice, bob, mgr) = (
        s.login("alice").await,
        s.login("bob").await,
        s.login("mgr").await,
    );
    // Itself.
    let (status, r) = put(
        &s,
        "/api/agents/bob/status",
        Auth::Token(&bob),
        json!({ "status": "Meeting" }),
    )
    .await;
    assert_eq!((status, &r["status"]), (200, &json!("Meeting")), "{r}");
    // Not another agent's.
    let (status, r) = put(
        &s,
        "/api/agents/bob/availability",
        Auth::Token(&alice),
        json!({ "available": true }),
    )
    .await;
    assert_eq!((status, code(&r)), (403, "forbidden"), "{r}");
    // A manager of the group sets a member's cells.
    let (status, r) = put(
        &s,
        "/api/agents/bob/cells",
        Auth::Token(&mgr),
        json!({ "cells": [{ "group": "g1", "channel": "chat", "active": false }] }),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_ne!(common::status_cell(&r, "g1", "chat"), "on", "{r}");
    s.stop().await;
}

#[tokio::test]
async fn a_status_set_through_one_node_reaches_the_agents_console_on_the_other() {
    let redis = common::TestRedis::start();
    const WFM: &str = "key-of-the-wfm-integration-0001";
    let dir = format!(
        "{}\n[[integrations]]\nname = \"wfm\"\nkey_sha256 = \"{}\"\ngroups = [\"g1\"]\nset_presence = true\n",
        test_directory(),
        switchboard::integrations::key_digest_hex(WFM)
    );
    let one = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let two = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let mut alice = two.console("alice").await;
    let (status, r) = put(
        &one,
        "/api/agents/alice/status",
        Auth::Key(WFM),
        json!({ "status": "Meeting" }),
    )
    .await;
    assert_eq!((status, &r["status"]), (200, &json!("Meeting")), "{r}");
    alice
        .push_where("agent_status", |p| p["status"]["status"] == "Meeting")
        .await;
    let (_, seen) = get(&two, "/api/agents/alice", WFM).await;
    assert_eq!(seen["status"], "Meeting", "{seen}");
    one.stop().await;
    two.stop().await;
}
