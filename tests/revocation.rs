//! Integrations' scoped API keys, `switchboard new-api-key`, logout closing
//! the sessions of its login, and admins disabling accounts, over real
//! sockets: on one node in memory, and across two nodes sharing a Redis.

mod common;

use std::time::Duration;

use common::{Client, TestRedis, TestServer, test_directory};
use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::integrations::key_digest_hex;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const GRACE: Duration = Duration::from_secs(5);
const KEY_G1: &str = "key-of-the-g1-integration-0001";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn directory_with_integration() -> String {
    format!(
        "{}\n[[integrations]]\nname = \"crm-g1\"\nkey_sha256 = \"{}\"\ngroups = [\"g1\"]\n",
        test_directory(),
        key_digest_hex(KEY_G1)
    )
}

async fn start() -> TestServer {
    TestServer::start_directory(&directory_with_integration(), GRACE, |c| {
        c.transport.login_attempts_per_ip_per_min = 0;
        c.transport.login_attempts_per_username_per_min = 0;
    })
    .await
}

/// A raw console socket (so the test sees the close frame).
async fn open(s: &TestServer, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", s.addr))
        .await
        .unwrap();
    let first = next_text(&mut ws).await.expect("welcome");
    assert_eq!(first["type"], "welcome");
    ws
}

async fn next_text(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return None;
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Reads until the server closes: the `closing` frame's reason and the
/// close frame's code and reason.
async fn closed_with(ws: &mut Ws) -> (String, u16, String) {
    let mut closing = String::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the server closes the session within 5 s");
        match m {
            Some(Ok(Message::Text(t))) => {
                let f: Value = serde_json::from_str(t.as_str()).unwrap();
                if f["type"] == "closing" {
                    closing = f["reason"].as_str().unwrap().to_string();
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => {
                return (closing, frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                return (closing, 0, String::new());
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Whether a socket is still served: a ping gets its `ok`.
async fn alive(ws: &mut Ws) -> bool {
    use futures_util::SinkExt;
    let ping = json!({ "id": "p", "type": "ping" }).to_string();
    if ws.send(Message::Text(ping.into())).await.is_err() {
        return false;
    }
    while let Some(f) = next_text(ws).await {
        if f["id"] == "p" {
            return f["type"] == "ok";
        }
    }
    false
}

async fn upgrade_status(s: &TestServer, token: &str) -> u16 {
    match tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", s.addr)).await {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

async fn post(s: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn login_status(s: &TestServer, user: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/api/login"))
        .json(&json!({ "username": user, "password": common::PASSWORD }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn work_with_key(s: &TestServer, key: &str, group: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/api/work"))
        .header("x-api-key", key)
        .json(&json!({ "group": group, "channel": "ticket", "title": "t" }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

// 1. Integrations ------------------------------------------------------------

#[tokio::test]
async fn a_scoped_key_creates_work_only_in_its_groups_and_the_log_names_it() {
    let logs = common::captured_logs("switchboard=info");
    let s = start().await;
    let (status, body) = work_with_key(&s, KEY_G1, "g1").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = work_with_key(&s, KEY_G1, "g2").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = work_with_key(&s, "not-a-key-at-all-000", "g1").await;
    assert_eq!(status, 401, "{body}");
    // The --api-key stays an every-group key.
    assert_eq!(work_with_key(&s, common::API_KEY, "g2").await.0, 201);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    let named = |what: &str, who: &str| {
        text.lines()
            .any(|l| l.contains(what) && l.contains(&format!("\"integration\":\"{who}\"")))
    };
    assert!(named("work created", "crm-g1"), "logs:\n{text}");
    assert!(named("work refused", "crm-g1"), "logs:\n{text}");
    assert!(named("work created", "cli"), "logs:\n{text}");
    assert!(!text.contains(KEY_G1), "the key is never logged");
    s.stop().await;
}

#[tokio::test]
async fn new_api_key_prints_a_key_and_an_entry_the_directory_accepts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["new-api-key", "web-form", "--group", "g2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .lines()
        .find(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("a 256-bit hex key in:\n{text}"))
        .to_string();
    let entry = &text[text.find("[[integrations]]").expect("an entry")..];
    assert!(entry.contains(&key_digest_hex(&key)), "{entry}");
    assert!(!entry.contains(&key), "the entry holds only the digest");
    let directory = format!("{}\n{entry}", test_directory());
    let s = TestServer::start_directory(&directory, GRACE, |_| {}).await;
    assert_eq!(work_with_key(&s, &key, "g2").await.0, 201);
    assert_eq!(work_with_key(&s, &key, "g1").await.0, 403);
    s.stop().await;
}

// 3. Logout ------------------------------------------------------------------

#[tokio::test]
async fn logout_closes_the_sessions_of_that_login_only() {
    let s = start().await;
    let tok = s.login("alice").await;
    let other = s.login("alice").await;
    let mut a1 = open(&s, &tok).await;
    let mut a2 = open(&s, &tok).await;
    let mut b = open(&s, &other).await;
    assert_eq!(post(&s, "/api/logout", &tok).await.0, 204);
    for ws in [&mut a1, &mut a2] {
        assert_eq!(
            closed_with(ws).await,
            ("logged_out".to_string(), 4000, "logged_out".to_string())
        );
    }
    assert!(alive(&mut b).await, "another login's session stays open");
    assert_eq!(upgrade_status(&s, &tok).await, 401);
    // Alice still has a session: still logged in.
    let status = s.get("/api/agents/alice", &other).await.1;
    assert_eq!(status["logged_in"], true);
    s.stop().await;
}

// 2. Disable -----------------------------------------------------------------

#[tokio::test]
async fn a_disabled_agent_is_closed_refused_and_audited_then_enabled_again() {
    let s = start().await;
    let admin = s.login("admin").await;
    let alice = s.login("alice").await;
    let mut ws = open(&s, &alice).await;
    // Neither a manager nor the agent itself may disable.
    let mgr = s.login("mgr").await;
    assert_eq!(post(&s, "/api/agents/alice/disable", &mgr).await.0, 403);
    assert_eq!(post(&s, "/api/agents/alice/disable", &alice).await.0, 403);

    let (status, body) = post(&s, "/api/agents/alice/disable", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["logged_in"], false, "logged out at once, no grace");
    assert_eq!(
        closed_with(&mut ws).await,
        ("revoked".to_string(), 4000, "revoked".to_string())
    );
    // Her token is revoked, her logins refused.
    assert_eq!(s.get("/api/agents/alice", &alice).await.0, 401);
    assert_eq!(upgrade_status(&s, &alice).await, 401);
    let (status, body) = login_status(&s, "alice").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "account_disabled");
    // The audit names the admin.
    let (_, audit) = s.get("/api/audit?agent=alice", &admin).await;
    let entries = audit["entries"].as_array().unwrap();
    let account = entries
        .iter()
        .find(|e| e["what"] == "account")
        .unwrap_or_else(|| panic!("an account entry in {audit}"));
    assert_eq!(account["by"], "admin");
    assert_eq!(
        (account["old"].as_str(), account["new"].as_str()),
        (Some("enabled"), Some("disabled"))
    );
    let logout = entries
        .iter()
        .rev()
        .find(|e| e["what"] == "logout")
        .unwrap();
    assert_eq!(logout["by"], "admin");

    let (status, body) = post(&s, "/api/agents/alice/enable", &admin).await;
    assert_eq!(status, 200, "{body}");
    let again = s.login("alice").await;
    let mut ws = open(&s, &again).await;
    assert!(alive(&mut ws).await);
    s.stop().await;
}

// Two nodes ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_two_nodes_logout_and_disable_close_the_other_nodes_sessions() {
    let redis = TestRedis::start();
    let n0 = TestServer::start_node(&redis.url(), &directory_with_integration(), GRACE).await;
    // The second node brings a directory without the integration: the one
    // stored in Redis, with it, wins.
    let n1 = TestServer::start_node(&redis.url(), &test_directory(), GRACE).await;
    assert_eq!(work_with_key(&n1, KEY_G1, "g1").await.0, 201);
    assert_eq!(work_with_key(&n1, KEY_G1, "g2").await.0, 403);

    // Logout on node 0 closes the session that login opened on node 1.
    let tok = n0.login("alice").await;
    let other = n1.login("alice").await;
    let mut on_n1 = open(&n1, &tok).await;
    let mut kept = open(&n0, &other).await;
    assert_eq!(post(&n0, "/api/logout", &tok).await.0, 204);
    assert_eq!(closed_with(&mut on_n1).await.0, "logged_out");
    assert!(alive(&mut kept).await);

    // Disable on node 1 closes bob's sessions on node 0 and revokes his
    // tokens everywhere.
    let bob = n0.login("bob").await;
    let mut bob_n0 = open(&n0, &bob).await;
    let admin = n1.login("admin").await;
    let (status, body) = post(&n1, "/api/agents/bob/disable", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        closed_with(&mut bob_n0).await,
        ("revoked".to_string(), 4000, "revoked".to_string())
    );
    assert_eq!(n0.get("/api/agents/bob", &bob).await.0, 401);
    assert_eq!(upgrade_status(&n0, &bob).await, 401);
    let (status, body) = login_status(&n0, "bob").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("account_disabled"))
    );
    let status = n0.get("/api/agents/bob", &admin).await.1;
    assert_eq!(status["logged_in"], false);

    assert_eq!(post(&n0, "/api/agents/bob/enable", &admin).await.0, 200);
    let bob = n1.login("bob").await;
    let mut c = Client::connect(n0.addr, &bob).await;
    assert_eq!(c.request("ping", json!({})).await["type"], "ok");
    n0.stop().await;
    n1.stop().await;
}
