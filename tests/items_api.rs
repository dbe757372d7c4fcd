//! The items API of integrations over the wire: every endpoint with a
//! scoped key and with a key out of scope, a CRM's close freeing the
//! agent's cap at once, idempotent retries, and a write on one node of two
//! sharing Redis seen by the other.

mod common;

use std::time::Duration;

use common::{TestRedis, TestServer, test_directory};
use serde_json::{Value, json};
use switchboard::integrations::key_digest_hex;

const GRACE: Duration = Duration::from_secs(5);
/// Scoped to g1 and xfer, allowed to assign over the cap.
const CRM: &str = "key-of-the-crm-integration-0001";
/// Scoped to g2.
const OTHER: &str = "key-of-the-other-integration-02";

fn directory() -> String {
    format!(
        "{}\n[[integrations]]\nname = \"crm\"\nkey_sha256 = \"{}\"\ngroups = [\"g1\", \"xfer\"]\noverride_capacity = true\n\n\
         [[integrations]]\nname = \"other\"\nkey_sha256 = \"{}\"\ngroups = [\"g2\"]\n",
        test_directory(),
        key_digest_hex(CRM),
        key_digest_hex(OTHER)
    )
}

/// A request with a key, its status and body.
async fn call(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.http.request(method, s.url(path)).header("x-api-key", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(s: &TestServer, path: &str, key: &str) -> (u16, Value) {
    call(s, reqwest::Method::GET, path, key, None).await
}

async fn post(s: &TestServer, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    call(s, reqwest::Method::POST, path, key, body).await
}

async fn ticket(s: &TestServer, group: &str, key: &str) -> Value {
    let (status, r) = post(
        s,
        "/api/work",
        key,
        Some(json!({ "group": group, "channel": "ticket", "title": "case" })),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    r["item"].clone()
}

fn field(r: &Value) -> &Value {
    &r["error"]["details"]["field"]
}

fn code(r: &Value) -> &str {
    r["error"]["code"].as_str().unwrap_or("?")
}

#[tokio::test]
async fn each_endpoint_with_a_scoped_key_and_with_one_out_of_scope() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    // Nobody logged in handles g1 tickets: they wait.
    let a = ticket(&s, "g1", CRM).await;
    let id = a["id"].as_u64().unwrap();
    let path = format!("/api/items/{id}");

    // Get.
    let (status, item) = get(&s, &path, CRM).await;
    assert_eq!(
        (status, &item["id"], &item["state"]),
        (200, &a["id"], &json!("queued"))
    );
    let (status, r) = get(&s, &path, OTHER).await;
    assert_eq!((status, code(&r)), (403, "forbidden"), "{r}");
    let (status, r) = get(&s, "/api/items/999999", CRM).await;
    assert_eq!((status, code(&r)), (404, "not_found"), "{r}");
    let (status, r) = get(&s, "/api/items/abc", CRM).await;
    assert_eq!((status, code(&r)), (400, "bad_request"), "{r}");

    // List, paged.
    ticket(&s, "g1", CRM).await;
    ticket(&s, "g1", CRM).await;
    let (status, page) = get(&s, "/api/items?group=g1&state=queued&limit=2", CRM).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_u64().expect("a next page");
    let (_, rest) = get(&s, &format!("/api/items?group=g1&cursor={cursor}"), CRM).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null);
    let (status, r) = get(&s, "/api/items?group=g1", OTHER).await;
    assert_eq!((status, field(&r)), (403, &json!("group")), "{r}");
    let (status, r) = get(&s, "/api/items?agent=nobody", CRM).await;
    assert_eq!((status, field(&r)), (404, &json!("agent")), "{r}");
    let (_, mine) = get(&s, "/api/items", OTHER).await;
    assert_eq!(mine["items"], json!([]), "g1's items are not another's");
    let (status, r) = get(&s, "/api/items?state=closed", CRM).await;
    assert_eq!((status, field(&r)), (400, &json!("state")));

    // Update.
    let patch = |key, body| call(&s, reqwest::Method::PATCH, &path, key, Some(body));
    let (status, item) = patch(CRM, json!({ "title": "refund", "priority": 3 })).await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        (&item["title"], &item["priority"]),
        (&json!("refund"), &json!(3))
    );
    let (status, r) = patch(OTHER, json!({ "priority": 1 })).await;
    assert_eq!((status, code(&r)), (403, "forbidden"));
    let (status, r) = patch(CRM, json!({})).await;
    assert_eq!((status, code(&r)), (400, "invalid_field"));
    let (status, r) = patch(CRM, json!({ "title": "x".repeat(201) })).await;
    assert_eq!((status, field(&r)), (400, &json!("title")));

    // Move: the target must be in scope too; created_at is kept.
    let move_path = format!("{path}/move");
    let move_to = |key, body| post(&s, &move_path, key, Some(body));
    let (status, r) = move_to(CRM, json!({ "group": "g2" })).await;
    assert_eq!((status, field(&r)), (403, &json!("group")), "{r}");
    let (status, r) = move_to(CRM, json!({ "group": "nope" })).await;
    assert_eq!((status, code(&r)), (404, "not_found"));
    let (status, r) = move_to(OTHER, json!({ "group": "g2" })).await;
    assert_eq!((status, code(&r)), (403, "forbidden"));
    let (status, moved) = move_to(CRM, json!({ "group": "xfer", "note": "wrong queue" })).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["group"], "xfer");
    assert_eq!(moved["created_at"], a["created_at"]);
    assert_eq!(moved["history"][0]["note"], "wrong queue");

    // Assign to a named member; an outsider is refused naming the field.
    let assign_path = format!("{path}/assign");
    let assign = |key, body| post(&s, &assign_path, key, Some(body));
    let (status, r) = assign(CRM, json!({ "agent": "carol" })).await;
    assert_eq!((status, field(&r)), (400, &json!("agent")), "{r}");
    let (status, r) = assign(OTHER, json!({ "agent": "h3" })).await;
    assert_eq!((status, code(&r)), (403, "forbidden"));
    let (status, item) = assign(CRM, json!({ "agent": "h3", "override_capacity": true })).await;
    assert_eq!((status, &item["assignee"]), (200, &json!("h3")), "{item}");

    // Cancel and close: answered with the ended item, then forgotten.
    let (status, r) = post(&s, &format!("{path}/cancel"), OTHER, None).await;
    assert_eq!((status, code(&r)), (403, "forbidden"));
    let (status, ended) = post(&s, &format!("{path}/cancel"), CRM, None).await;
    assert_eq!(
        (status, &ended["state"], &ended["id"]),
        (200, &json!("closed"), &a["id"])
    );
    let (status, _) = get(&s, &path, CRM).await;
    assert_eq!(status, 404);
    let b = rest["items"][0]["id"].as_u64().unwrap();
    let (status, r) = post(&s, &format!("/api/items/{b}/close"), OTHER, None).await;
    assert_eq!((status, code(&r)), (403, "forbidden"));
    let (status, ended) = post(&s, &format!("/api/items/{b}/close"), CRM, None).await;
    assert_eq!(
        (status, &ended["state"]),
        (200, &json!("closed")),
        "{ended}"
    );

    // Audited under the integration's name.
    let admin = s.login("admin").await;
    let (_, audit) = s.get("/api/audit?group=xfer", &admin).await;
    let whats: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["by"].as_str().unwrap(), e["what"].as_str().unwrap()))
        .collect();
    assert_eq!(
        whats,
        vec![
            ("crm", "item_moved"),
            ("crm", "item_assigned"),
            ("crm", "item_cancelled")
        ],
        "{audit}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_ticket_closed_by_the_crm_frees_the_agents_cap_and_the_next_one_comes() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let admin = s.login("admin").await;
    let r = s
        .http
        .patch(s.url("/api/admin/memberships/g2/carol"))
        .bearer_auth(&admin)
        .json(&json!({ "ticket_cap": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut carol = s.console("carol").await;
    let first = ticket(&s, "g2", OTHER).await;
    assert_eq!(first["assignee"], "carol", "{first}");
    let second = ticket(&s, "g2", OTHER).await;
    assert_eq!(second["state"], "queued", "carol is at her ticket cap");
    let (status, r) = post(
        &s,
        &format!("/api/items/{}/close", first["id"]),
        OTHER,
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let push = carol
        .push_where("item", |p| p["item"]["id"] == second["id"])
        .await;
    assert_eq!(push["item"]["assignee"], "carol", "{push}");
    assert_eq!(push["reason"], "drained");
    s.stop().await;
}

#[tokio::test]
async fn a_retried_write_with_its_idempotency_key_is_not_applied_twice() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let item = ticket(&s, "g1", CRM).await;
    let close = |key: &'static str| {
        s.http
            .post(s.url(&format!("/api/items/{}/close", item["id"])))
            .header("x-api-key", CRM)
            .header("idempotency-key", key)
            .send()
    };
    let first = close("close-1").await.unwrap();
    assert_eq!(first.status(), 200);
    let retry = close("close-1").await.unwrap();
    assert_eq!(retry.status(), 200, "the first outcome, not no_such_item");
    let again: Value = retry.json().await.unwrap();
    assert_eq!(
        (&again["id"], &again["state"]),
        (&item["id"], &json!("closed"))
    );
    let fresh = close("close-2").await.unwrap();
    assert_eq!(fresh.status(), 404, "a new key is a new write");
    let other = ticket(&s, "g1", CRM).await;
    let bump = |key: &'static str| {
        s.http
            .patch(s.url(&format!("/api/items/{}", other["id"])))
            .header("x-api-key", CRM)
            .header("idempotency-key", key)
            .json(&json!({ "title": "once" }))
            .send()
    };
    assert_eq!(bump("patch-1").await.unwrap().status(), 200);
    assert_eq!(bump("patch-1").await.unwrap().status(), 200);
    let admin = s.login("admin").await;
    let (_, audit) = s.get("/api/audit?group=g1", &admin).await;
    let updates = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "item_updated")
        .count();
    assert_eq!(updates, 1, "{audit}");
    s.stop().await;
}

#[tokio::test]
async fn an_item_moved_through_one_node_is_moved_on_the_other() {
    let redis = TestRedis::start();
    let dir = directory();
    let one = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let two = TestServer::start_node(&redis.url(), &dir, GRACE).await;
    let item = ticket(&one, "g1", CRM).await;
    let path = format!("/api/items/{}", item["id"]);
    let (status, moved) = post(
        &two,
        &format!("{path}/move"),
        CRM,
        Some(json!({ "group": "xfer" })),
    )
    .await;
    assert_eq!((status, &moved["group"]), (200, &json!("xfer")), "{moved}");
    let (status, seen) = get(&one, &path, CRM).await;
    assert_eq!((status, &seen["group"]), (200, &json!("xfer")), "{seen}");
    let (status, ended) = post(&one, &format!("{path}/close"), CRM, None).await;
    assert_eq!((status, &ended["state"]), (200, &json!("closed")));
    let (status, _) = get(&two, &path, CRM).await;
    assert_eq!(status, 404, "closed on both");
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_members_console_sees_a_queued_items_update() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let mut alice = s.console("alice").await;
    let item = ticket(&s, "g1", CRM).await;
    assert_eq!(item["state"], "queued", "alice's g1 cells are off");
    let (status, _) = call(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/items/{}", item["id"]),
        CRM,
        Some(json!({ "title": "renamed" })),
    )
    .await;
    assert_eq!(status, 200);
    let push = alice.push_where("queue", |p| p["op"] == "updated").await;
    assert_eq!(
        (&push["item"]["id"], &push["item"]["title"]),
        (&item["id"], &json!("renamed"))
    );
    s.stop().await;
}

#[tokio::test]
async fn an_admin_allows_a_key_to_assign_over_the_cap_without_changing_its_scope() {
    let s = TestServer::start_directory(&directory(), GRACE, |_| {}).await;
    let admin = s.login("admin").await;
    let created: Value = s
        .http
        .post(s.url("/api/admin/integrations"))
        .bearer_auth(&admin)
        .json(&json!({ "name": "desk", "groups": ["g1"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(created["integration"]["override_capacity"], false);
    let item = ticket(&s, "g1", &key).await;
    let path = format!("/api/items/{}/assign", item["id"]);
    let over = json!({ "agent": "alice", "override_capacity": true });
    let (status, r) = post(&s, &path, &key, Some(over.clone())).await;
    assert_eq!(
        (status, field(&r)),
        (403, &json!("override_capacity")),
        "{r}"
    );
    let (_, patched) = s
        .patch(
            "/api/admin/integrations/desk",
            &admin,
            json!({ "override_capacity": true }),
        )
        .await;
    assert_eq!(
        patched["integration"]["override_capacity"], true,
        "{patched}"
    );
    assert_eq!(patched["integration"]["groups"], json!(["g1"]));
    let (status, r) = post(&s, &path, &key, Some(over)).await;
    assert_eq!((status, &r["assignee"]), (200, &json!("alice")), "{r}");
    s.stop().await;
}
