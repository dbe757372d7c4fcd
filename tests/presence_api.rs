//! Presence for integrations over HTTP: agents with their status, paged
//! and filtered by group within the key's scope, and a group's live
//! figures per channel.

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
