//! What a client written from docs/protocol.md alone expects, over the wire:
//! error codes of bodies and keys, the console's answers, and what the
//! group endpoints show.

mod common;

use std::time::Duration;

use common::{API_KEY, TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);

async fn post_raw(s: &TestServer, path: &str, body: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(path))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_bad_request_and_a_bad_field_is_named() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    for body in ["{", "not json", "[1,2]", "42", "\"work\""] {
        let (status, r) = post_raw(&s, "/api/work", body).await;
        assert_eq!(status, 400, "{body}: {r}");
        assert_eq!(r["error"]["code"], "bad_request", "{body}: {r}");
    }
    let (status, r) = post_raw(
        &s,
        "/api/work",
        r#"{"group":"g1","channel":"ticket","priority":"high"}"#,
    )
    .await;
    assert_eq!(
        (status, &r["error"]["code"]),
        (400, &json!("invalid_field"))
    );
    assert_eq!(r["error"]["details"]["field"], "priority", "{r}");
    let (_, r) = post_raw(
        &s,
        "/api/work",
        r#"{"group":"g1","channel":"ticket","x":1}"#,
    )
    .await;
    assert_eq!(r["error"]["code"], "invalid_field", "{r}");
    let (_, r) = post_raw(&s, "/api/work", r#"{"channel":"ticket"}"#).await;
    assert_eq!(r["error"]["code"], "invalid_field", "{r}");
    s.stop().await;
}

#[tokio::test]
async fn a_ping_with_an_unknown_field_is_refused_like_any_request() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let mut alice = s.console("alice").await;
    let r = alice.request("ping", json!({ "extra": 1 })).await;
    assert_eq!(
        (&r["type"], &r["code"]),
        (&json!("error"), &json!("invalid_field")),
        "{r}"
    );
    let r = alice.request("ping", json!({})).await;
    assert_eq!(r["type"], "ok", "{r}");
    s.stop().await;
}

#[tokio::test]
async fn a_console_close_answers_the_closed_item() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let mut alice = s.console("alice").await;
    let ok = alice
        .request("set_active_row", json!({ "group": "g1", "active": true }))
        .await;
    assert_eq!(ok["type"], "ok");
    let item = s.create_work("g1", "ticket", 0).await;
    assert_eq!(item["assignee"], "alice", "{item}");
    let r = alice.request("close", json!({ "item": item["id"] })).await;
    assert_eq!(r["type"], "ok", "{r}");
    let closed = &r["data"];
    assert_eq!(closed["id"], item["id"]);
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["group"], "g1");
    assert_eq!(closed["channel"], "ticket");
    assert_eq!(closed["assignee"], "alice");
    assert_eq!(closed["created_at"], item["created_at"]);
    assert!(closed["history"].is_array(), "{closed}");
    s.stop().await;
}

#[tokio::test]
async fn an_unknown_api_key_is_named_as_such() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let r = s
        .http
        .get(s.url("/api/groups/g1/queue"))
        .header("x-api-key", "no-such-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("unknown API key"), "{message}");
    let r = s
        .http
        .get(s.url("/api/groups/g1/queue"))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_members_queue_over_http_hides_the_channels_it_is_excluded_from() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    // Nobody in g1 is active for tickets; bob (excluded from g1's tickets)
    // is active for chat, so only the ticket stays queued.
    let ticket = s.create_work("g1", "ticket", 0).await;
    assert_eq!(ticket["state"], "queued", "{ticket}");
    let bob = s.login("bob").await;
    let (status, q) = s.get("/api/groups/g1/queue", &bob).await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["items"], json!([]), "bob is excluded from g1's tickets");
    let alice = s.login("alice").await;
    let (_, q) = s.get("/api/groups/g1/queue", &alice).await;
    assert_eq!(q["items"][0]["id"], ticket["id"], "{q}");
    let r = s
        .http
        .get(s.url("/api/groups/g1/queue"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let q: Value = r.json().await.unwrap();
    assert_eq!(q["items"][0]["id"], ticket["id"], "{q}");
    s.stop().await;
}

#[tokio::test]
async fn the_group_status_gives_the_queue_length_of_each_channel() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    s.create_work("g2", "ticket", 0).await;
    s.create_work("g2", "ticket", 0).await;
    s.create_work("g2", "chat", 0).await;
    let r = s
        .http
        .get(s.url("/api/groups/g2/status"))
        .send()
        .await
        .unwrap();
    let status: Value = r.json().await.unwrap();
    // Nobody is logged in: everything waits.
    assert_eq!(
        status["queue_lengths"],
        json!({ "chat": 1, "ticket": 2, "voice": 0 }),
        "{status}"
    );
    assert_eq!(status["queue_length"], 1, "the chats waiting");
    s.stop().await;
}

/// `(status, body)` of `method path` with an admin's token (or none) and a
/// raw JSON body (or none).
async fn send_raw(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut r = s.http.request(method.parse().unwrap(), s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let json = r.headers()["content-type"] == "application/json";
    assert!(json, "{method} {path}: not JSON ({status})");
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn a_json_array_is_no_object_body_even_where_every_field_is_optional() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let admin = s.login("admin").await;
    for body in ["[null, null]", "[]", "[true, false, []]"] {
        let (status, r) =
            send_raw(&s, "PATCH", "/api/admin/settings", Some(&admin), Some(body)).await;
        assert_eq!(
            (status, &r["error"]["code"]),
            (400, &json!("bad_request")),
            "{body}: {r}"
        );
    }
    let (status, r) = send_raw(&s, "PATCH", "/api/admin/settings", Some(&admin), Some("{}")).await;
    assert_eq!(status, 200, "{r}");
    s.stop().await;
}

#[tokio::test]
async fn the_administration_api_refuses_a_stranger_before_reading_its_body() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    for (method, path, body) in [
        ("PATCH", "/api/admin/integrations/x", r#"{"groups": []}"#),
        (
            "POST",
            "/api/admin/integrations",
            r#"{"name": "x", "groups": []}"#,
        ),
        (
            "PATCH",
            "/api/admin/memberships/g1/alice",
            r#"{"agent": ""}"#,
        ),
        ("POST", "/api/admin/agents", "not json"),
        ("POST", "/api/password", "[]"),
    ] {
        let (status, r) = send_raw(&s, method, path, None, Some(body)).await;
        assert_eq!(
            (status, &r["error"]["code"]),
            (401, &json!("unauthorized")),
            "{method} {path}: {r}"
        );
    }
    let (status, _) = send_raw(&s, "GET", "/api/admin/agents?bogus=1", None, None).await;
    assert_eq!(status, 401);
    let admin = s.login("admin").await;
    let (status, r) = send_raw(
        &s,
        "POST",
        "/api/admin/integrations",
        Some(&admin),
        Some(r#"{"name": "x", "groups": []}"#),
    )
    .await;
    assert_eq!(
        (status, &r["error"]["code"]),
        (400, &json!("invalid_field")),
        "{r}"
    );
    s.stop().await;
}

#[tokio::test]
async fn what_axum_refuses_before_a_handler_is_answered_in_the_error_shape_too() {
    let s = TestServer::start_directory(&test_directory(), GRACE, |_| {}).await;
    let admin = s.login("admin").await;
    for (path, token) in [
        ("/api/items/null,null/explain", Some(admin.as_str())),
        ("/ws", None),
        ("/visitor?token=x", None),
    ] {
        let (status, r) = send_raw(&s, "GET", path, token, None).await;
        assert_eq!(
            (status, &r["error"]["code"]),
            (400, &json!("bad_request")),
            "{path}: {r}"
        );
        assert!(!r["error"]["message"].as_str().unwrap().is_empty(), "{r}");
    }
    for path in ["/api/items/0", "/api/items/x"] {
        let r = s
            .http
            .get(s.url(path))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}: not a positive integer");
    }
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        "ok",
        "successes keep their own bodies"
    );
    s.stop().await;
}
